"""Speed and quality benchmarks: `make bench` (python -m benchmarks [NAME ...])."""
import edge  # noqa: F401  (quiets FFmpeg/OpenCV retry noise before cv2 is imported)
