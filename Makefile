# TraceQR — the two quick-start commands are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYTEST_WORKERS ?= auto

.PHONY: run test test-fast test-pg test-browser lint translations bench clean install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installing writes a stamp file so a second `make run` starts at once.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(VENV)/.installed $@

install: $(VENV)/.installed translations
install-dev: $(VENV)/.installed-dev translations

## Compile the message catalogues (the wheel build does the same).
translations: $(VENV)/.installed
	@$(BIN)/pybabel compile -d traceqr/translations 2>&1 | grep -v '^compiling' || true

## Refresh the catalogue template and merge new messages into each language.
extract-messages: | $(BIN)/python
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 -k N_ --no-location --omit-header \
	  --sort-output -o traceqr/translations/messages.pot .
	$(BIN)/pybabel update -i traceqr/translations/messages.pot -d traceqr/translations \
	  --no-fuzzy-matching --ignore-obsolete -w 100

## Install, create the database and keys in instance/, load demo data, serve on :5000.
run: install
	$(BIN)/traceqr init
	@$(BIN)/traceqr demo
	$(BIN)/traceqr serve --host 127.0.0.1 --port 5000

## The whole suite (SQLite; set TRACEQR_TEST_DATABASE_URL for PostgreSQL).
test: install-dev
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

## The inner loop: domain and service tests only, stop at the first failure.
test-fast: install-dev
	$(BIN)/python -m pytest -q -x tests/unit tests/integration

## The whole suite on PostgreSQL (each run creates and drops its own database).
test-pg: install-dev
	TRACEQR_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/python -m pytest -n $(PYTEST_WORKERS) -q

lint: install-dev
	$(BIN)/ruff check traceqr tests $(wildcard bench)
	$(BIN)/ruff format --check traceqr tests $(wildcard bench)

bench: install-dev
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
	find traceqr/translations -name '*.mo' -delete
