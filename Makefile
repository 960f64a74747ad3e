# gridwatch: `make demo` runs the whole system, `make test` runs every test.
PY      ?= python3.11
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := mosquitto postgresql ffmpeg chromium fonts-noto-cjk docker-compose openssl gir1.2-gst-rtsp-server-1.0 python3-gi \
            gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad \
            gstreamer1.0-plugins-ugly gstreamer1.0-libav gir1.2-gstreamer-1.0

.PHONY: install system-deps demo test test-quick test-slow test-all lint bench schema clean

$(STAMP): pyproject.toml
	@command -v $(PY) >/dev/null || { echo "need $(PY)"; exit 1; }
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	# test-only: an ONVIF camera on loopback (its own deps would pin ours, hence --no-deps);
	# the RTSP server in tests is Debian's GStreamer one (system-deps)
	$(BIN)/pip install -q --no-deps ipycam==1.3.0
	touch $(STAMP)

install: $(STAMP)

# Debian packages the integration and browser tests use; installs only what is missing.
system-deps:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $$missing; \
	fi

demo: install
	$(BIN)/python -m gateway demo

test: install system-deps
	$(BIN)/python -m pytest -q

# the service-free tests (engine, contracts, detectors' units, house rules), in under a minute
test-quick: install
	$(BIN)/python -m pytest -q -m quick

# the house rules alone: ruff, the import-linter contracts, mypy (tests/test_house.py runs them in make test)
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test-slow: install system-deps
	$(BIN)/python -m pytest -q -m slow

test-all: install system-deps
	$(BIN)/python -m pytest -q -m ''

bench: install system-deps
	$(BIN)/python -m benchmarks

schema: install
	$(BIN)/python -m alerts > alerts/alert.schema.json

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
