# Two entry points for a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## demo: generate, train, quantize, convert, C-sim check, ONNX export, report (runs/jet_mlp_demo/)
demo: $(STAMP)
	$(VENV)/bin/nanotrig run configs/jet_mlp.yml --force

## test: lint, unit tests, firmware (C-sim) tests, executed notebooks
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

## bench: throughput figures (printed, not pass/fail): ONNX runtimes, sample generator, C-sim, scans
bench: $(STAMP)
	$(PY) benchmarks/onnx_bench.py
	$(PY) benchmarks/samples_bench.py
	$(PY) benchmarks/csim_bench.py
	$(PY) benchmarks/scan_bench.py

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache
