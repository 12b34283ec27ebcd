# idflow: `make run` serves the API on the SQLite default; `make test` runs every test.
# Both create .venv and install what they need; nothing else is required but Python 3.11+.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint format openapi bench bench-http clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "idflow needs Python 3.11 or newer; set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install idflow with its dev tools (quick when nothing changed).

run: install ## Migrate the store, make the secret key, and serve the API on 127.0.0.1:8080 (SQLite at var/idflow.db).
	$(BIN)/idflow migrate
	$(BIN)/idflow init
	$(BIN)/idflow serve

test: install ## Run every test; starts local PostgreSQL and MariaDB if installed and down.
	@scripts/ensure-postgres.sh
	@scripts/ensure-mariadb.sh
	$(BIN)/pytest --cov=idflow --cov-branch --cov-report=term:skip-covered

test-fast: install ## Unit tests only.
	$(BIN)/pytest tests/unit -q

lint: install ## Check formatting, lint rules and types.
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

format: install ## Format and fix what ruff can.
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

openapi: install ## Regenerate docs/openapi.json from the route table (a test holds it to the served one).
	$(BIN)/python -m idflow.api.openapi docs/openapi.json

bench: install ## Measure runs per second; results go to bench/RESULTS.md by hand.
	$(BIN)/python bench/engine_runs.py

bench-http: install ## Measure runs per second over HTTP with wrk (installs it from Debian's packages).
	@scripts/install-bench-tools.sh
	$(BIN)/python bench/http_runs.py

clean: ## Remove the virtual environment and caches (keeps var/).
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
