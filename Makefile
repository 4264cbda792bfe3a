# The two commands of the README:
#   make demo   creates .venv, installs msau (base install) and colorizes the examples with the shipped model
#   make test   creates .venv, installs msau with the test extras and runs the test suite
# CI (.ci/run) runs `make test`, `make lint` and `make wheel-check`.
# Needs only python3 (3.10+), pip and the package index; torch is pinned to 2.13.0 in setup.cfg's extras.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUFF_VERSION := 0.17.5
WHEEL_DIR := build/wheel
WHEEL_VENV ?= /tmp/msau-wheel-venv

.PHONY: venv install demo test lint wheel-check clean gpu-check

venv: $(BIN)/python

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -U pip

# Stamps: reinstall only when the packaging metadata changes (the install is editable: code changes need none).
$(VENV)/.installed-base: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	touch $@

$(VENV)/.installed-test: setup.cfg pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

install: $(VENV)/.installed-base

demo: install
	$(BIN)/msau-run examples/gray -o out/examples --hints examples/hints --reference examples/color --side-by-side

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q

lint: $(BIN)/python
	$(BIN)/python -m pip install -q ruff==$(RUFF_VERSION)
	$(BIN)/ruff check .

# Builds the wheel, installs it (with the [train] extra, so torch is present and its absence from
# msau.runtime means something) into a fresh venv, and imports msau.* from outside the checkout.
wheel-check: $(BIN)/python
	rm -rf $(WHEEL_DIR) build/lib build/bdist.*  # setuptools reuses build/lib: a stale module would ship
	$(BIN)/python -m pip wheel --no-deps -w $(WHEEL_DIR) .
	bash .ci/wheel-check $(WHEEL_DIR)/msau-*.whl $(WHEEL_VENV)

# The first machine with an NVIDIA GPU: installs msau[test,gpu,tensorrt] into $(GPU_VENV) where the package index
# has them (onnxruntime-gpu then replaces the CPU onnxruntime there; system packages such as a preinstalled
# TensorRT stay visible), runs the gpu/tensorrt tests, builds the shipped model's FP16 engine, compares engine,
# ONNX Runtime CUDA and torch CUDA with ONNX Runtime CPU fp32 and times them (export/gpu_check.py, 9 minutes at
# most). One results file, $(GPU_CHECK_OUT); every step it could not run says why. No GPU: "skipped" lines, exit 0.
GPU_VENV ?= .venv-gpu
GPU_CHECK_OUT ?= gpu-check.json

gpu-check:
	@if ! nvidia-smi -L >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory $(VENV)/.installed-test >/dev/null && \
		$(BIN)/python -m msau.export.gpu_check --out $(GPU_CHECK_OUT); exit $$?; \
	fi; \
	test -x $(GPU_VENV)/bin/python || $(PYTHON) -m venv --system-site-packages $(GPU_VENV); \
	if timeout 600 $(GPU_VENV)/bin/python -m pip install -q -e '.[test,gpu,tensorrt]'; then \
		$(GPU_VENV)/bin/python -m pip uninstall -q -y onnxruntime; \
		$(GPU_VENV)/bin/python -m pip install -q --force-reinstall --no-deps onnxruntime-gpu; \
	else \
		echo "gpu-check: could not install msau[test,gpu,tensorrt] (package index unreachable?): checking with what is installed"; \
		$(GPU_VENV)/bin/python -m pip install -q --no-deps --no-build-isolation -e .; \
	fi; \
	$(GPU_VENV)/bin/python -m msau.export.gpu_check --out $(GPU_CHECK_OUT)

clean:
	rm -rf build dist out *.egg-info $(WHEEL_VENV)
