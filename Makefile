# The two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.runtime-installed
DEV_STAMP := $(VENV)/.dev-installed
PORT ?= 8000

.PHONY: help install run test lint format bench clean

help:
	@echo "make run    - the service on its embedded default (SQLite, in-process broker, sandbox)"
	@echo "make test   - lint, then the whole test suite on this machine's PostgreSQL/RabbitMQ/Redis"
	@echo "make lint   - ruff check + ruff format --check"
	@echo "make format - ruff format + ruff check --fix"
	@echo "make bench  - benchmarks; writes docs/benchmarks.md and its plot"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUNTIME_STAMP): requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(RUNTIME_STAMP) $@

install: $(DEV_STAMP)

run: $(RUNTIME_STAMP)
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi seed
	@echo ""
	@echo "Payments service on http://127.0.0.1:$(PORT)"
	@echo "  Swagger UI:      http://127.0.0.1:$(PORT)/docs  (Authorize with an X-API-Key above)"
	@echo "  Merchant inbox:  http://127.0.0.1:$(PORT)/sandbox/merchant"
	@echo ""
	GUNICORN_WORKERS=$${GUNICORN_WORKERS:-1} GUNICORN_THREADS=$${GUNICORN_THREADS:-8} \
	GUNICORN_BIND=$${GUNICORN_BIND:-127.0.0.1:$(PORT)} SERVICE_URL=$${SERVICE_URL:-http://127.0.0.1:$(PORT)} \
	exec $(BIN)/gunicorn wsgi:app

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(DEV_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache test-output
