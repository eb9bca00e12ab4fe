# The two commands of the README. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
OUT ?= demo_out
# the upstream release next to the project (as in CI): the tests that need it run instead of skipping
UPSTREAM_DATA := $(abspath ../shared/data/scigenbench-upstream)
ifneq ($(wildcard $(UPSTREAM_DATA)),)
export SCIGENBENCH_DATA_DIR ?= $(UPSTREAM_DATA)
endif

# RapidOCR pulls opencv-python, which needs libGL; where the system has none, the headless build replaces it
HEADLESS_CV2 = $(BIN)/python -c "import cv2" 2>/dev/null || { echo "no libGL: using opencv-python-headless"; \
  $(BIN)/pip uninstall -y -q opencv-python && $(BIN)/pip install -q opencv-python-headless; }

.PHONY: demo test system-tools system-tools-test clean

# system tools first (apt when root or passwordless sudo; otherwise a list of what is missing and what it skips)
demo: system-tools $(VENV)/.installed-demo
	$(BIN)/scigenbench demo --out $(OUT)
	@echo "Next: . $(VENV)/bin/activate, then the README's Quick start (or call $(BIN)/scigenbench directly)"

test: system-tools-test $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

system-tools:
	@sh tools/install-system-tools.sh demo --brief

# the tests' tools too (tesseract, Chromium); without apt rights it lists what is missing and which tests skip
system-tools-test:
	@sh tools/install-system-tools.sh test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e ".[openai,ocr]"
	@$(HEADLESS_CV2)
	touch $@

# torch 2.13.0 first: a local CPU build where one is provided, so nothing pulls CUDA wheels
$(VENV)/.installed-test: pyproject.toml training/recipes/requirements-verl-cpu.txt | $(VENV)/bin/python
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[all]"
	$(BIN)/pip install -q --no-deps -r training/recipes/requirements-verl-cpu.txt
	@$(HEADLESS_CV2)
	touch $@ $(VENV)/.installed-demo

clean:
	rm -rf $(VENV) $(OUT)
