# The two commands a newcomer needs are `make demo` and `make test`; each sets itself up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install dagster-home demo dev test lint unit faults production e2e bench examples clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(BIN)/.installed

# Dagster reads dagster.yaml only from DAGSTER_HOME: link the repo's copy there.
dagster-home:
	@mkdir -p "$(DAGSTER_HOME)"
	@ln -sf "$(CURDIR)/dagster.yaml" "$(DAGSTER_HOME)/dagster.yaml"

demo: install dagster-home
	$(BIN)/engagement-ranker demo

dev: install dagster-home
	$(BIN)/engagement-ranker dev

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

unit: install
	$(BIN)/pytest -q -n 2 -m "not faults" --ignore=engagement_ranker_tests/e2e \
		--ignore=engagement_ranker_tests/bench --ignore=engagement_ranker_tests/production

# One test per row; the rows run a few at a time in processes of their own (the matrix's pool).
faults: install
	$(BIN)/pytest -q -m faults engagement_ranker_tests/faults

# deploy/ on a real PostgreSQL (Debian's `postgresql`): one stack for the session, not split.
production: install
	$(BIN)/pytest -q engagement_ranker_tests/production

e2e: install
	$(BIN)/pytest -q engagement_ranker_tests/e2e

test: lint unit faults production e2e

bench: install
	$(BIN)/python -m engagement_ranker_tests.bench

examples: install
	$(BIN)/python -m engagement_ranker_tests.examples

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache .ruff_cache test-artifacts
