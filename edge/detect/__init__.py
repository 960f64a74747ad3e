"""The detection engine (the edge hot path): background model, blobs, tracker, rules,
tamper and falling-object detection. Pure functions and objects over numpy arrays:
no I/O, no clock reads, no logging; time comes in with each frame."""
from edge.detect.engine import Detector
from edge.detect.events import Event

__all__ = ["Detector", "Event"]
