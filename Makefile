# Two commands on a fresh Debian machine: `make demo` and `make test`.
# Each installs what it needs: Debian packages (with sudo when not root) and a .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# PP-OCR's models ship in this wheel (ocr/ppocr.py reads its recogniser; nothing downloads one)
RAPIDOCR := 1.4.4
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := tesseract-ocr tesseract-ocr-rus tesseract-ocr-kaz tesseract-ocr-eng tesseract-ocr-osd ffmpeg \
	poppler-utils libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 libmagic1 \
	libheif-examples openssl fonts-dejavu-core fonts-dejavu-extra fonts-liberation2 \
	fonts-noto-core \
	fonts-dkg-handwriting fonts-breip fonts-femkeklaver fonts-humor-sans fonts-comic-neue \
	fonts-kristi fonts-dancingscript fonts-bwht fonts-ecolier-court fonts-rufscript \
	fonts-kaushanscript fonts-klee \
	chromium chromium-driver nodejs golang-go golang-golang-x-mod-dev postgresql
# (the handwriting fonts render the synthetic protocols the OCR tests, demo and benchmark use;
# chromium, chromium-driver and nodejs run the observers' pages and their JavaScript in tests;
# Go and golang.org/x/mod read the published log tiles with Go's own sumdb code in a test;
# PostgreSQL's server is started by the tests in a temporary folder, never as a service)

.PHONY: demo test lint deps venv bench clean-demo

deps: .deps-stamp
.deps-stamp: Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml Makefile
	@$(PYTHON) -m venv $(VENV) || { $(SUDO) apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps rapidocr-onnxruntime==$(RAPIDOCR)
	@touch $@

# The layout, style and types are checked before any test runs (CI runs this target too).
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy base evidence ocr pipeline app cli web testing

# Two test processes (pytest-xdist): each starts its own PostgreSQL, SeaweedFS and TSA servers
# on free ports of 127.0.0.1; TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2
test: deps venv lint
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS)

demo: deps venv
	$(BIN)/python demo/demo.py

bench: deps venv
	$(BIN)/python bench/append_bench.py
	$(BIN)/python bench/serve_bench.py
	$(BIN)/python bench/startup_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/timestamp_bench.py --ingest
	$(BIN)/python bench/ocr_bench.py
	$(BIN)/python bench/dossier_bench.py
	$(BIN)/python bench/workspace_bench.py
	$(BIN)/python bench/review_bench.py
	$(BIN)/python bench/results_bench.py
	$(BIN)/python bench/coverage_bench.py
	$(BIN)/python bench/tiles_bench.py

clean-demo:
	rm -rf demo/out
