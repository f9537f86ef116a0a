# Thin wrappers; the README names them. Every target installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS ?= redis://127.0.0.1:6379/0

.PHONY: setup demo test test-pg lint format worker bench loadtest chromium

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's chromium for the browser tests (Playwright drives it; no browser download).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## Run PulseCRM with demo data on SQLite at http://$(HOST):$(PORT)
demo: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver $(HOST):$(PORT)

## Run the whole test suite (SQLite by default; DATABASE_URL/REDIS_URL switch it) in JOBS
## processes (pytest-xdist: each has its own test database and Redis db, a module's tests
## stay in one process; JOBS=0 runs in this process)
JOBS ?= 2
test: setup chromium
	$(PY) -m pytest -n $(JOBS) --dist loadfile $(ARGS)

## The same suite on the running PostgreSQL and Redis
test-pg: setup chromium
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS) $(PY) -m pytest -n $(JOBS) --dist loadfile $(ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

## Celery worker with the beat scheduler (needs REDIS_URL)
worker: setup
	$(VENV)/bin/celery -A pulse worker --beat --loglevel=info

bench: setup
	$(PY) -m bench $(ARGS)

## Load test: 100 users for 5 minutes against gunicorn (4 workers); needs generated data
loadtest: setup
	$(PY) -m bench.load $(ARGS)
