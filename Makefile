# Two commands do all the set-up: `make serve` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: serve test lint openapi bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The tape VM's interpreter is compiled here once (numba caches it on disk), not by the first
# server start or request.
WARM_VM := $(PY) -c "import engine.vm; engine.vm.warm()"

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	$(WARM_VM)
	touch $@

$(DEV_STAMP): pyproject.toml clients/python/pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]' -e clients/python
	if pkg-config --exists ipopt; then $(PY) -m pip install -q 'cyipopt>=1.5'; fi
	$(WARM_VM)
	touch $@ $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/diffapi serve

test: $(DEV_STAMP)
	$(WARM_VM)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: $(DEV_STAMP)
	$(PY) -m ruff check .

openapi: $(DEV_STAMP)
	$(PY) -m app.export_openapi openapi/openapi.json

bench: $(DEV_STAMP)
	$(PY) -m pip install -q torch==2.13.0 casadi==3.8.2
	$(PY) -m benchmarks
