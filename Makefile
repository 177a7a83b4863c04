# Salpimi — set-up, demo, tests, benchmarks.  Needs only Python 3.11+ and the package registries.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATE ?= 2026-11-24
PORT ?= 8000

.PHONY: demo test lint bench clean fixtures plan-demo serve venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

plan-demo: $(STAMP)
	$(BIN)/salpimi plan fixtures/problems/gwanak.json --date $(DATE) --time-limit 20 --out plan-gwanak.json
	$(BIN)/salpimi check fixtures/problems/gwanak.json plan-gwanak.json

# Plan the day on the command line, then serve the API with the Gwanak fixture loaded (Ctrl-C stops it).
demo: plan-demo
	$(BIN)/salpimi serve --demo --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check planner api tests bench fixtures
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest -q

fixtures: $(STAMP)
	$(BIN)/python -m fixtures.generate

bench: $(STAMP)
	$(BIN)/python bench/matrix.py
	$(BIN)/python bench/solomon.py --time-limit 5
	$(BIN)/python bench/solomon.py --time-limit 30 --instances first
	$(BIN)/python bench/district.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
