# flowmetrics — run `make` for the list of targets.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install lint format test test-fast test-full bench soak demo clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev,demo,cluster]"
	@touch $(STAMP)

install: $(STAMP) ## create .venv and install flowmetrics with its dev tools

lint: $(STAMP) ## ruff (lint and format check), mypy (strict) and the import boundaries
	$(BIN)/ruff check etl metrics_api jobs synthetic tests bench tools
	$(BIN)/ruff format --check etl metrics_api jobs synthetic tests bench tools
	$(BIN)/mypy
	$(BIN)/python tools/check_imports.py

format: $(STAMP) ## format and auto-fix
	$(BIN)/ruff format etl metrics_api jobs synthetic tests bench tools
	$(BIN)/ruff check --fix etl metrics_api jobs synthetic tests bench tools

test: $(STAMP) ## the test suite (real PostgreSQL: DATABASE_URL or an embedded one)
	$(BIN)/pytest -q -m "not full"

test-fast: $(STAMP) ## `make test` without the slow tests and the pip-installed client matrix, while developing
	$(BIN)/pytest -q -m "not full and not slow and not network"

test-full: $(STAMP) ## the suite plus the large differential runs
	$(BIN)/pytest -q

OLD ?= HEAD~1
bench: $(STAMP) ## this tree vs commit OLD= (default HEAD~1; none: skip) at 1M and 10M sessions; bench/results/
	$(BIN)/python -m bench.run --old $(OLD)

soak: $(STAMP) ## 50 clients for 60 s across 10 publishes and SIGKILLed refreshes; prints the figures
	$(BIN)/python -m bench.soak

# `make demo HOST=0.0.0.0 PORT=8001`. HOST is taken from the command line only: some shells
# export HOST as the machine's name.
ifneq ($(origin HOST),command line)
HOST := 127.0.0.1
endif
PORT ?= 8000
demo: $(STAMP) ## embedded PostgreSQL, synthetic data, nightly refresh, API on HOST:PORT (127.0.0.1:8000)
	$(BIN)/flowmetrics demo --host $(HOST) --port $(PORT)

clean: ## stop the demo PostgreSQL and delete data/ and caches
	-@[ -f data/postgres/postmaster.pid ] && $(BIN)/python -c "from pathlib import Path; from synthetic.embedded import stop_embedded; stop_embedded(Path('data/postgres'))"
	rm -rf data .pytest_cache .mypy_cache .ruff_cache
