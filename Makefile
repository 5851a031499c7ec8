# Two entry points for a fresh clone: `make demo` and `make test`. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: venv yosys demo demo-rtl test lint bench clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

venv: $(STAMP)

## yosys: Debian's yosys for the RTL stage's LUT/FF figures (nanotrig rtl); skipped with a
## message where it cannot be installed (not root, no apt): the figures are then left out
yosys:
	@if command -v yosys >/dev/null 2>&1; then \
		echo "yosys: $$(yosys -V)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -q yosys >/dev/null || \
		{ apt-get update -q >/dev/null && apt-get install -y -q yosys >/dev/null; } || \
		echo "yosys: apt-get install failed; nanotrig rtl will skip the LUT/FF figures"; \
	else \
		echo "yosys: not installed and apt-get not usable here (needs root on Debian):" \
			"nanotrig rtl skips the LUT/FF figures; install yosys to get them"; \
	fi

## demo: generate, train, quantize, convert, C-sim check, ONNX export, report (runs/jet_mlp_demo/)
demo: $(STAMP)
	$(VENV)/bin/nanotrig run configs/jet_mlp.yml --force

## demo-rtl: after `make demo`, the rtl stage on the demo's model (Verilog, Verilator on the verified,
## edge and 1M stress events, Yosys) and the report's RTL section: configs/jet_mlp.yml with
## rtl.enabled true, resumed (only the rtl stage runs); 5 min on 2 quiet cores, 12 at load 5, 28 at load 12
demo-rtl: $(STAMP) yosys
	@mkdir -p runs
	sed 's/^  enabled: false /  enabled: true  /' configs/jet_mlp.yml > runs/jet_mlp_rtl.yml
	$(VENV)/bin/nanotrig run runs/jet_mlp_rtl.yml --resume

## test: lint, unit tests, firmware (C-sim) tests, executed notebooks
test: $(STAMP) yosys
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest

## bench: throughput figures (printed, not pass/fail): ONNX runtimes, sample generator, C-sim, scans,
## RTL (Verilator events/s, Yosys LUT/FF, pipeline depth)
bench: $(STAMP) yosys
	$(PY) benchmarks/onnx_bench.py
	$(PY) benchmarks/samples_bench.py
	$(PY) benchmarks/csim_bench.py
	$(PY) benchmarks/scan_bench.py
	$(PY) benchmarks/rtl_bench.py

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) runs .pytest_cache
