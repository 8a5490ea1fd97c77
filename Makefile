# Every target bootstraps .venv from nothing, with the pinned versions in constraints.txt.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help run test test-fast test-embedded test-scaled check bench lock clean system-packages demo

# Debian packages the tests drive as real programs (a browser, a load balancer). Installed
# by the test command itself, only when one is missing.
SYSTEM_PACKAGES := chromium nginx
SYSTEM_PROGRAMS := /usr/bin/chromium /usr/sbin/nginx

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit("Tessera needs Python 3.11 or newer") if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: $(STAMP) ## start Tessera at http://127.0.0.1:8000 (SQLite + local files)
	$(BIN)/tessera serve

demo: $(STAMP) ## fill the instance with demo people, photos, likes and comments; prints log-ins
	$(BIN)/tessera demo

check: $(STAMP) ## ruff, mypy and the import-linter boundaries
	$(BIN)/ruff check tessera tests bench
	$(BIN)/ruff format --check tessera tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test-embedded: $(STAMP) ## the suite on SQLite + local files
	TESSERA_TEST_BACKEND=embedded $(BIN)/pytest

test-scaled: $(STAMP) ## the suite on PostgreSQL + Redis (required when CI=true)
	TESSERA_TEST_BACKEND=scaled $(BIN)/pytest

test-fast: $(STAMP) ## the embedded suite without the end-to-end tests
	TESSERA_TEST_BACKEND=embedded $(BIN)/pytest -m "not e2e"

system-packages: ## apt-get install what the tests need ($(SYSTEM_PACKAGES)), if missing
	@for program in $(SYSTEM_PROGRAMS); do test -x $$program || missing=1; done; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

test: check system-packages test-embedded test-scaled ## everything CI runs

bench: $(STAMP) ## req/s against a ceiling, the photo pipeline, home timeline and fan-out on seeded data
	$(BIN)/python bench/run.py

lock: ## re-pin every dependency after changing pyproject.toml
	rm -rf $(VENV) && $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip freeze --exclude-editable > constraints.txt

clean: ## remove the virtual environment and caches (not the data in ./var)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
