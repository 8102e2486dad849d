# fieldteam — the two commands of the README, and a few helpers.
#
#   make run    virtualenv + install + translations + migrate + reference/demo data, then serve on
#               http://127.0.0.1:8000/
#   make test   virtualenv + install + translations, then the test suite
#
# The virtualenv is made with python3.11 when there is one (else python3). Packages are installed
# again only when requirements*.txt change (a stamp file in .venv records the last install).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3 2>/dev/null)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1:8000
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k scope -x"`. Parallel by default.
PYTEST_ARGS ?= -n auto

.PHONY: help run test lint lint-imports typecheck messages compilemessages install migrate data clean

help:
	@echo "make run       install, migrate the embedded SQLite db, load reference + demo data, serve on $(HOST)"
	@echo "make test      install, then run the test suite ($(BIN)/pytest $(PYTEST_ARGS))"
	@echo "make lint      ruff check"
	@echo "make lint-imports  the layers and no import cycles (import-linter, [tool.importlinter] in pyproject.toml)"
	@echo "make typecheck mypy over fieldteam/ and backend/ (configured in pyproject.toml)"
	@echo "make messages  extract translatable strings into locale/vi and compile them"

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 (python3.11 or python3) is needed" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

install: $(STAMP)

# Compiles every locale/*/LC_MESSAGES/*.po; skipped (with a note) where gettext is not installed.
compilemessages: $(STAMP)
	@if ! command -v msgfmt >/dev/null 2>&1; then \
		echo "note: gettext (msgfmt) not found, translations not compiled: the interface stays in English" >&2; \
	elif [ -z "$$(find locale -name '*.po' 2>/dev/null | head -n 1)" ]; then \
		echo "note: no translations in locale/ yet" >&2; \
	else \
		$(MANAGE) compilemessages --ignore='$(VENV)*' -v 0; \
	fi

migrate: $(STAMP)
	$(MANAGE) migrate --noinput

data: migrate
	$(MANAGE) load_admin_units
	$(MANAGE) load_reference
	$(MANAGE) seed_demo

run: compilemessages data
	$(MANAGE) runserver $(HOST)

test: compilemessages
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

lint-imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

typecheck: $(STAMP)
	$(BIN)/mypy

messages: $(STAMP)
	mkdir -p locale/vi/LC_MESSAGES
	$(MANAGE) makemessages -l vi --ignore='$(VENV)*' --ignore='staticfiles/*' --no-obsolete
	$(MANAGE) compilemessages --ignore='$(VENV)*' -v 0

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis .ruff_cache .mypy_cache
