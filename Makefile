# Salpimi — set-up, demo, tests, benchmarks.  Needs only Python 3.11+ and the package registries.
PYTHON ?= python3
VENV ?= .venv
# Homberger 200 at 30 s: the first three instances of each family (60 instances x 3 solvers would take 1 h 40).
HOMBERGER_30 ?= $(shell printf "%s_2_1,%s_2_2,%s_2_3," C1 C1 C1 C2 C2 C2 R1 R1 R1 R2 R2 R2 RC1 RC1 RC1 RC2 RC2 RC2)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATE ?= 2026-11-24
PORT ?= 8000

.PHONY: demo test lint bench bench-quick clean fixtures plan-demo serve venv web

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP) web

# The dispatcher web page: npm packages from the lockfile, bundled into api/web/ (served by the API at /).
# Without npm it says so in one line; the API then shows how to build it and the web tests skip.
WEB_BUILT := api/web/index.html
web: $(WEB_BUILT)

$(WEB_BUILT): package.json package-lock.json web/build.mjs $(wildcard web/src/*)
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; \
	else echo "npm not found: the web page is not built and its tests skip (install Node.js and npm, then make web)"; fi

plan-demo: $(STAMP)
	$(BIN)/salpimi plan fixtures/problems/gwanak.json --date $(DATE) --time-limit 20 --out plan-gwanak.json
	$(BIN)/salpimi check fixtures/problems/gwanak.json plan-gwanak.json

# Plan the day on the command line, then serve the API with the Gwanak fixture loaded (Ctrl-C stops it).
demo: plan-demo web
	$(BIN)/salpimi serve --demo --port $(PORT)

test: $(STAMP) web
	$(BIN)/ruff check planner api tests bench fixtures
	@if [ -d node_modules ]; then npm run --silent lint; fi
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
	$(BIN)/python bench/solomon.py --set homberger400 --time-limit 30 --instances first --solvers salpimi,pyvrp --raw bench/results/homberger400_30s.jsonl --resume
	$(BIN)/python bench/solomon.py --set homberger400 --time-limit 60 --instances first --solvers salpimi,pyvrp --raw bench/results/homberger400_60s.jsonl --resume
	$(BIN)/python bench/bigday.py

# About 5 minutes: one Solomon instance per family at 5 s and the Gwanak day at 10 s.
bench-quick: $(STAMP)
	$(BIN)/python bench/solomon.py --time-limit 5 --instances first --out bench/results/quick_solomon_5s.md
	$(BIN)/python bench/district.py --skip-scaling --out bench/results/quick_district.md

# The README's scenario charts (docs/img/scenarios/), from real simulations on the local pool: a few minutes.
scenario-charts: $(STAMP)
	$(BIN)/python bench/scenario_charts.py

# Sweep throughput (bench/results/sweep.md): 40 runs per configuration, 10-18 minutes on 2 shared cores.
bench-sweep: $(STAMP)
	$(BIN)/python bench/sweep.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
