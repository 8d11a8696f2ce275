# The two commands a newcomer needs are `make demo` and `make test`; each sets itself up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home

.PHONY: install lock dagster-home demo dev test lint unit faults production e2e bench examples clean

# The tested versions (requirements.lock) constrain what pyproject.toml asks for.
$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	touch $@

install: $(BIN)/.installed

# After changing dependencies: install afresh without the old pins, then pin what came.
lock:
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	{ sed -n '1,2p' requirements.lock; $(BIN)/pip freeze --exclude-editable; } > requirements.lock.new
	mv requirements.lock.new requirements.lock
	touch $(BIN)/.installed

# Dagster reads dagster.yaml only from DAGSTER_HOME: link the repo's copy there.
dagster-home:
	@mkdir -p "$(DAGSTER_HOME)"
	@ln -sf "$(CURDIR)/dagster.yaml" "$(DAGSTER_HOME)/dagster.yaml"

demo: install dagster-home
	$(BIN)/engagement-ranker demo

dev: install dagster-home
	$(BIN)/engagement-ranker dev

# The tests' scratch files in memory where there is room: SQLite (Dagster), DuckDB and
# PostgreSQL sync every commit, which on a disk is much of a run's time. Elsewhere, the default.
SCRATCH_MIN_KB := 2000000
TEST_TMPDIR := $(shell [ -w /dev/shm ] && [ "$$(df --output=avail -k /dev/shm | tail -1)" -ge $(SCRATCH_MIN_KB) ] && echo /dev/shm)
TEST_ENV := $(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR))
# A stage that hangs fails by its deadline, named, instead of holding CI forever: SIGTERM to all
# it started in its process group, SIGKILL 10 s later (a CI in the background ignores SIGTERM).
STAGE_DEADLINE_SECONDS ?= 1800
# `$(call timed,STAGE,COMMAND)`: the command, then the stage's wall time; its exit status kept.
# COMMAND runs as `bash -c '…'`: no single quotes in it.
timed = start=$$SECONDS; timeout -k 10 $(STAGE_DEADLINE_SECONDS) bash -c '$(2)'; status=$$?; \
	if [ $$status -ne 0 ] && [ $$((SECONDS - start)) -ge $(STAGE_DEADLINE_SECONDS) ]; then \
		echo "$(1): stopped at its deadline of $(STAGE_DEADLINE_SECONDS) s: a test or a process hangs" \
			"(its output above; STAGE_DEADLINE_SECONDS=N to allow more)"; fi; \
	echo "$(1): $$((SECONDS - start)) s"; exit $$status

# Style, types, and the definitions as Dagster loads them (in a throwaway instance; the
# command's notice that `dg check defs` supersedes it is silenced: `dg` is not installed).
lint: install
	@$(call timed,lint,$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy \
		&& home=$$(mktemp -d) && touch "$$home/dagster.yaml" \
		&& DAGSTER_HOME=$$home PYTHONWARNINGS=ignore::FutureWarning \
			$(BIN)/dagster definitions validate -m engagement_ranker.definitions)

unit: install
	@$(call timed,unit,$(TEST_ENV) $(BIN)/pytest -q -n 2 -m "not faults" \
		--ignore=engagement_ranker_tests/e2e --ignore=engagement_ranker_tests/bench \
		--ignore=engagement_ranker_tests/production)

# One test per row; the rows run a few at a time in processes of their own (the matrix's pool).
faults: install
	@$(call timed,faults,$(TEST_ENV) $(BIN)/pytest -q -m faults engagement_ranker_tests/faults)

# deploy/ on a real PostgreSQL (Debian's `postgresql`): one stack for the session, not split.
production: install
	@$(call timed,production,$(TEST_ENV) $(BIN)/pytest -q engagement_ranker_tests/production)

e2e: install
	@$(call timed,e2e,$(TEST_ENV) $(BIN)/pytest -q engagement_ranker_tests/e2e)

# The five stages at once, once installed. Lint (seconds of one core, and the commonest
# failure) ends and prints first; the unit tests and the fault matrix compute; the production
# and browser stages mostly wait (for servers, the daemon's ticks, runs, a browser), so on
# two cores they fit beside them, and the browser stage, the longest, starts at once.
# --output-sync prints each stage whole when it ends, with its time: nothing interleaves.
test: install
	@$(MAKE) --no-print-directory --output-sync=target --jobs=5 --keep-going \
		lint unit faults production e2e

bench: install
	$(BIN)/python -m engagement_ranker_tests.bench

examples: install
	$(BIN)/python -m engagement_ranker_tests.examples

clean:
	rm -rf $(VENV) .dagster_home .pytest_cache .ruff_cache test-artifacts
