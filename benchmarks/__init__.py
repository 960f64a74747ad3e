"""Speed and quality benchmarks: `make bench` (python -m benchmarks [NAME ...])."""
