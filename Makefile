# MI Portal: `make run` starts the app with demo data; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS := .tools
BUN := $(TOOLS)/node_modules/.bin/bun
# Reflex uses the bun installed from the npm registry, never its own web installer.
export REFLEX_USE_SYSTEM_BUN := 1
export PATH := $(CURDIR)/$(TOOLS)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export REFLEX_TELEMETRY_ENABLED := false

.PHONY: run prod test setup lint format typecheck test-unit test-browser test-faults seed db-upgrade clean

$(VENV)/.installed: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

$(BUN):
	npm install --prefix $(TOOLS) --no-audit --no-fund --loglevel=error bun@1
	@$(BUN) --version >/dev/null

setup: $(VENV)/.installed $(BUN)

db-upgrade: setup
	$(BIN)/mi-portal db upgrade

seed: db-upgrade
	$(BIN)/mi-portal seed

run: seed
	@echo "Starting MI Portal on http://localhost:3000 (Ctrl+C to stop)"
	$(BIN)/reflex run --env prod --single-port --frontend-port 3000 --backend-port 3000

# The production shape on this machine (README "Production shape"): PostgreSQL as owner + app
# role, Reflex state in Redis, photos in S3 (moto on loopback), WORKERS backend workers on PORT.
# The database is kept between starts; FRESH=1 drops it (only one it made) and seeds it again.
WORKERS ?= 2
PORT ?= 3000
prod: setup $(BUN)
	WORKERS=$(WORKERS) PORT=$(PORT) $(BIN)/python -m mi_portal.jobs.prod

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: setup
	$(BIN)/pyright

test-unit: setup
	$(BIN)/python -m pytest -m "not browser and not faults" -q

test-browser: setup
	$(BIN)/python -m pytest -m browser -q -p no:cacheprovider tests/browser

# Faults against the production shape (private PostgreSQL, Redis and S3): minutes, not default.
test-faults: setup $(BUN)
	$(BIN)/python -m pytest -m faults -q -s -p no:cacheprovider tests/faults

test: lint test-unit test-browser

clean:
	rm -rf .web .states data/test-*
