"""The edge: capture, detection, alerting and publishing for cameras and sensors."""
import os

# Capture reports every failure itself, in a clear sentence on the camera status; FFmpeg's and
# OpenCV's own stderr lines for each retry of a dead camera would only bury that. (Read when
# cv2 is first imported, so set here, before any edge module imports it.)
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
