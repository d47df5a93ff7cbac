# Two commands: `make run` and `make test`. Both bootstrap .venv and are idempotent:
# a stamp keyed on pyproject.toml makes the second run skip the install.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
RUN_STAMP := $(VENV)/.stamp-run-$(HASH)
DEV_STAMP := $(VENV)/.stamp-dev-$(HASH)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint bench bench-full browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	rm -f $(VENV)/.stamp-run-*; touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.stamp-dev-* $(VENV)/.stamp-run-*; touch $@ $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/obsmem serve

# Debian's chromium drives the dashboard tests; never a browser download.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install -y chromium' (browser tests will skip)"; fi; }

# Its own temp root: concurrent pytest runs on one machine prune each other's
# /tmp/pytest-of-$USER dirs, data dirs of running servers included.
test: $(DEV_STAMP) browser
	$(BIN)/ruff check obsmem dashboard scripts tests bench
	$(BIN)/ruff format --check obsmem dashboard scripts tests bench
	$(BIN)/mypy
	@tmp=$$(mktemp -d /tmp/obsmem-test.XXXXXX); \
	$(BIN)/python -m pytest --basetemp="$$tmp"; rc=$$?; rm -rf "$$tmp"; exit $$rc

lint: $(DEV_STAMP)
	$(BIN)/ruff check obsmem dashboard scripts tests bench
	$(BIN)/ruff format --check obsmem dashboard scripts tests bench
	$(BIN)/mypy

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

bench-full: $(DEV_STAMP)
	$(BIN)/python -m bench --full

clean:
	rm -rf $(VENV) .obsmem .pytest_cache .ruff_cache
