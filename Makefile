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

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(DEV_STAMP): pyproject.toml clients/python/pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]' -e clients/python
	touch $@ $(STAMP)

serve: $(STAMP)
	$(VENV)/bin/diffapi serve

test: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest

lint: $(DEV_STAMP)
	$(PY) -m ruff check .

openapi: $(DEV_STAMP)
	$(PY) -m app.export_openapi openapi/openapi.json

bench: $(DEV_STAMP)
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m benchmarks
