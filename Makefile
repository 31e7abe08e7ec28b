# commbase: `make run` serves the demo on SQLite, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for `make pytest` (0: one process). Each worker gets its own
# PostgreSQL database and Redis index (see tests/conftest.py).
PYTEST_WORKERS ?= 2

.PHONY: run test install dev lint typecheck pytest bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.dev-installed

run: install
	$(BIN)/commbase migrate
	$(BIN)/commbase demo
	$(BIN)/commbase serve --host $(HOST) --port $(PORT)

lint: dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: dev
	$(BIN)/mypy

pytest: dev
	$(BIN)/pytest -n $(PYTEST_WORKERS) --durations=15

test: lint typecheck pytest

bench: dev
	$(BIN)/python bench/auth.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache commbase.db commbase.db-*
