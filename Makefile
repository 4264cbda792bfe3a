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

.PHONY: venv install demo test lint wheel-check clean

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

clean:
	rm -rf build dist out *.egg-info $(WHEEL_VENV)
