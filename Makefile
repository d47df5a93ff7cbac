# Two commands: `make run` and `make test`. Both bootstrap .venv and are idempotent:
# a stamp keyed on pyproject.toml and the lock files makes the second run skip the install.
# Python packages install from requirements*.lock with --require-hashes (`make lock`
# regenerates them after a change to pyproject.toml's dependencies).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
HASH := $(shell cat pyproject.toml $(LOCK) $(DEV_LOCK) | sha1sum | cut -c1-12)
RUN_STAMP := $(VENV)/.stamp-run-$(HASH)
DEV_STAMP := $(VENV)/.stamp-dev-$(HASH)
# Dashboard JS libraries: pinned in package-lock.json, installed with `npm ci` and
# copied into the app's static files (served by the app itself, never a CDN).
VENDOR := dashboard/static/vendor
VENDOR_STAMP := $(VENDOR)/.stamp-$(shell sha1sum package-lock.json | cut -c1-12)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test lint bench bench-full browser clean vendor lock

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Hash-checked dependencies first, then obsmem itself without resolving anything more.
$(RUN_STAMP): pyproject.toml $(LOCK) | $(BIN)/python
	@echo "==> installing obsmem and its dependencies into $(VENV) (first time: a few minutes)"
	$(BIN)/pip install -q --require-hashes -r $(LOCK)
	$(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.stamp-run-*; touch $@

$(DEV_STAMP): pyproject.toml $(DEV_LOCK) | $(BIN)/python
	@echo "==> installing obsmem with its dev tools into $(VENV) (first time: a few minutes)"
	$(BIN)/pip install -q --require-hashes -r $(DEV_LOCK)
	$(BIN)/pip install -q --no-deps -e .
	rm -f $(VENV)/.stamp-dev-* $(VENV)/.stamp-run-*; touch $@ $(RUN_STAMP)

$(VENDOR_STAMP): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm is missing: apt-get install -y npm (needed for the dashboard's JS libraries)"; exit 1; }
	@echo "==> installing the dashboard's JS libraries (npm ci, versions from package-lock.json)"
	npm ci --no-audit --no-fund --loglevel=error
	rm -rf $(VENDOR); mkdir -p $(VENDOR)
	cp node_modules/cytoscape/dist/cytoscape.min.js node_modules/cytoscape/LICENSE $(VENDOR)/
	mv $(VENDOR)/LICENSE $(VENDOR)/cytoscape.LICENSE
	sed '/sourceMappingURL/d' node_modules/chart.js/dist/chart.umd.min.js > $(VENDOR)/chart.umd.min.js
	cp node_modules/chart.js/LICENSE.md $(VENDOR)/chart.js.LICENSE.md
	touch $@

vendor: $(VENDOR_STAMP)

run: $(RUN_STAMP) $(VENDOR_STAMP)
	@echo "==> installed; starting obsmem (embedded FalkorDB + PostgreSQL in the data dir, the embedding model, the demo set on a first run)"
	@$(BIN)/obsmem serve

# Debian's chromium drives the dashboard tests; never a browser download.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: run 'sudo apt-get install -y chromium' (browser tests will skip)"; fi; }

# Its own temp root: concurrent pytest runs on one machine prune each other's
# /tmp/pytest-of-$USER dirs, data dirs of running servers included.
test: $(DEV_STAMP) $(VENDOR_STAMP) browser
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
	rm -rf $(VENV) .obsmem .pytest_cache .ruff_cache node_modules $(VENDOR)

# Regenerate the hash-locked requirements from pyproject.toml (needs the package index).
# torch resolves to the CPU wheel these machines keep on local disk (pip's find-links).
lock: | $(BIN)/python
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links -o $(LOCK) pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url \
	  --no-emit-find-links --extra dev -o $(DEV_LOCK) pyproject.toml
