"""The edge: cameras and sensors in, alerts out over MQTT. One folder per stage:

    camera/    capture, the pipeline (masks, detectors, snapshot), clips, the camera worker
    detect/    the detectors, the numpy hot path (pure)
    onvif/     ONVIF devices: stream URIs, device information, their own events
    sensors/   the sensor bridge: Zigbee2MQTT, ChirpStack, generic MQTT sensors
    delivery/  the spool and MQTT publisher, media upload
    commands/  `python -m edge ...`

`config.py` reads the edge YAML."""
import os

# Capture reports every failure itself, in a clear sentence on the camera status; FFmpeg's and
# OpenCV's own stderr lines for each retry of a dead camera would only bury that. (Read when
# cv2 is first imported, so set here, before any edge module imports it.)
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
