"""The edge: capture, detection, alerting and publishing for cameras and sensors."""
