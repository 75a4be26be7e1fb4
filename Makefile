# poanalytics: `make help` lists every target.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
USERS ?= 2000
WEEKS ?= 16
SEED ?= 7

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -e '.[dev,spark]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install poanalytics with its dev tools
	$(BIN)/python -m ipykernel install --sys-prefix --name poanalytics --display-name "poanalytics" >/dev/null
	@# notebooks are committed without outputs: a git filter strips them on `git add` (a git checkout only)
	@if git rev-parse --git-dir >/dev/null 2>&1; then $(BIN)/nbstripout --install --attributes .gitattributes; fi

run: setup ## the main job: demo data -> data/warehouse.duckdb -> status -> weekly HTML report
	$(BIN)/poanalytics demo --users $(USERS) --weeks $(WEEKS) --seed $(SEED)
	$(BIN)/poanalytics status
	$(BIN)/poanalytics report weekly

test: setup browser spark ## run the whole test suite
	$(BIN)/python -m pytest -q

browser: ## install Debian's chromium for the browser tests when it is missing (never `playwright install`)
	scripts/ensure-chromium.sh

spark: ## install Debian's Java (17+) for the Spark engine and its tests when it is missing
	scripts/ensure-java.sh

lint: setup ## ruff (lint + format check) and mypy
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

docs: setup ## regenerate docs/errors.md (every error code, its meaning and what to do) and docs/api.md (the public API) from the code
	$(BIN)/python -m poanalytics.errors_doc
	$(BIN)/python -m poanalytics.api_doc

bench: setup ## ingest benchmark on 10M generated events (prints rows/s)
	$(BIN)/python benchmarks/ingest.py

bench-metrics: setup ## metrics benchmark (funnel, retention, lifecycle) vs chDB and pandas
	$(BIN)/uv pip install --python $(BIN)/python --quiet chdb
	$(BIN)/python benchmarks/metrics.py --out data/bench/metrics_results.md

bench-scale: setup ## scale benchmark: funnel, retention, lifecycle on 1M-300M generated events under memory_limit 2GB (spills; ~17 GB of disk, hours on 2 cores)
	$(BIN)/python benchmarks/scale.py --write

bench-spark: setup spark ## Spark benchmark: DuckDB vs Spark local[1] / local[2] at 10M events (benchmarks/spark.py)
	$(BIN)/python benchmarks/spark.py

bench-voice: setup ## voice benchmark: theme assignment, discovery, near-duplicates on 100k generated tickets
	$(BIN)/python benchmarks/voice.py

# `make lab LAB_ARGS="--ip=0.0.0.0 --no-browser"` in a container; as root (uid 0), --allow-root is added
LAB_UID ?= $(shell id -u)
bench-report: setup browser ## weekly report benchmark: wall time and page size vs nbconvert's default export
	$(BIN)/python benchmarks/report.py

LAB_ARGS ?=
lab: setup ## open JupyterLab on the notebooks (as root, e.g. in a container, too)
	$(BIN)/jupyter lab --notebook-dir notebooks $(if $(filter 0,$(LAB_UID)),--allow-root) $(LAB_ARGS)

clean: ## remove the venv, generated data and reports
	rm -rf $(VENV) data/demo data/warehouse.duckdb data/warehouse.duckdb.wal data/bench reports/*.html \
		reports/20??-W?? reports/.run-* reports/.run.lock

.PHONY: help setup browser run test lint docs bench bench-metrics bench-report bench-scale bench-voice lab clean
