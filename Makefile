# The two commands of the README. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin
OUT ?= demo_out

.PHONY: demo test install install-test clean

demo: $(VENV)/.installed-demo
	$(BIN)/scigenbench demo --out $(OUT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(VENV)/bin/python
	$(BIN)/pip install -q -e ".[openai,ocr]"
	touch $@

# torch 2.13.0 first: a local CPU build where one is provided, so nothing pulls CUDA wheels
$(VENV)/.installed-test: pyproject.toml training/recipes/requirements-verl-cpu.txt | $(VENV)/bin/python
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[all]"
	$(BIN)/pip install -q --no-deps -r training/recipes/requirements-verl-cpu.txt
	touch $@ $(VENV)/.installed-demo

clean:
	rm -rf $(VENV) $(OUT)
