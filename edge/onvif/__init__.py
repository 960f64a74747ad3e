"""ONVIF as a first-class camera source: the device client (profiles, stream and snapshot
URIs, device information) and the PullPoint event listener."""
