# Salpimi — set-up, demo, tests, benchmarks.  Needs only Python 3.11+ and the package registries.
PYTHON ?= python3
VENV ?= .venv
# Homberger 200 at 30 s: the first three instances of each family (60 instances x 3 solvers would take 1 h 40).
HOMBERGER_30 ?= $(shell printf "%s_2_1,%s_2_2,%s_2_3," C1 C1 C1 C2 C2 C2 R1 R1 R1 R2 R2 R2 RC1 RC1 RC1 RC2 RC2 RC2)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATE ?= 2026-11-24
PORT ?= 8000

.PHONY: demo test lint bench bench-quick clean fixtures plan-demo serve venv

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

# The whole set takes about 3 hours on 2 cores; the raw rows let an interrupted run resume where it stopped.
bench: $(STAMP)
	$(BIN)/python bench/matrix.py
	$(BIN)/python bench/solomon.py --time-limit 5 --raw bench/results/solomon_5s.jsonl --resume
	$(BIN)/python bench/solomon.py --time-limit 30 --solvers salpimi,pyvrp,vroom --raw bench/results/solomon_30s.jsonl --resume
	$(BIN)/python bench/solomon.py --set homberger --time-limit 5 --raw bench/results/homberger_5s.jsonl --resume
	$(BIN)/python bench/solomon.py --set homberger --time-limit 30 --instances $(HOMBERGER_30) --solvers salpimi,pyvrp,vroom --raw bench/results/homberger_30s.jsonl --resume
	$(BIN)/python bench/district.py

# About 5 minutes: one Solomon instance per family at 5 s and the Gwanak day at 10 s.
bench-quick: $(STAMP)
	$(BIN)/python bench/solomon.py --time-limit 5 --instances first --out bench/results/quick_solomon_5s.md
	$(BIN)/python bench/district.py --skip-scaling --out bench/results/quick_district.md

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
