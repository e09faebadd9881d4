# Everyday commands. Each target is the command a person would type; `make help` lists them.
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: help install serve test mutation lint format migrate downgrade migration history bench lock

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

install:  ## create .venv and install the locked versions (with the test tools)
	python3 -m venv $(VENV) && $(BIN)/pip install -c requirements.lock -e '.[dev]'

serve:  ## serve on http://127.0.0.1:8000 (embedded PostgreSQL unless DATABASE_URL is set)
	$(BIN)/python -m service

test:  ## the whole suite (what CI runs)
	$(BIN)/pytest

mutation:  ## mutation testing of service/orm/ and the pool, prints the score (see docs/testing.md)
	$(BIN)/python -m tests.mutation

lint:  ## ruff (lint + format check) and mypy --strict
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy

format:  ## let ruff fix what it can and format
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

migrate:  ## apply pending migrations (aerich upgrade)
	$(BIN)/aerich -c aerich.ini upgrade

downgrade:  ## revert the latest migration (aerich downgrade)
	$(BIN)/aerich -c aerich.ini downgrade --yes

history:  ## list the migrations
	$(BIN)/aerich -c aerich.ini history

migration:  ## generate a migration from the models: make migration name=what_changed
	@test -n "$(name)" || { echo 'usage: make migration name=what_changed'; exit 2; }
	$(BIN)/aerich -c aerich.ini migrate --name $(name)

bench:  ## the benchmark against the raw-driver baseline (about 7 minutes)
	$(BIN)/python -m bench

lock:  ## refresh requirements.lock from pyproject.toml (exact versions for Python 3.11+, every platform)
	$(BIN)/pip install -q uv && $(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
	  --no-header -o requirements.lock
