# Two commands matter: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed

.PHONY: install run test test-sqlite test-postgres bench lint format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,postgres]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/supplychain db upgrade
	$(BIN)/supplychain seed-demo
	@if [ -n "$$SUPPLYCHAIN_SMTP_URL" ]; then echo "Mail: sent through SUPPLYCHAIN_SMTP_URL"; \
	else echo "Mail: written as .eml files to $${SUPPLYCHAIN_MAIL_DIR:-$(CURDIR)/instance/mail}"; fi
	$(BIN)/supplychain serve --host $${HOST:-127.0.0.1} --port $(PORT)

# The SQLite and PostgreSQL passes run at once, one a core: the PostgreSQL pass writes its output
# to a log printed when both are done; either failing fails the target.
PG_LOG := .pytest-postgres.log

test: $(STAMP)
	$(BIN)/ruff check supplychain tests
	$(BIN)/ruff format --check supplychain tests
	@tests/with_postgres.sh $(BIN)/python -m pytest -p no:cacheprovider > $(PG_LOG) 2>&1 & pg=$$!; \
	$(BIN)/python -m pytest; sqlite=$$?; \
	wait $$pg; postgres=$$?; \
	echo "--- PostgreSQL pass ---"; cat $(PG_LOG); \
	test $$sqlite -eq 0 && test $$postgres -eq 0

test-sqlite: $(STAMP)
	$(BIN)/python -m pytest

test-postgres: $(STAMP)
	tests/with_postgres.sh --require $(BIN)/python -m pytest

# `make bench` runs every benchmark; `make bench notifications statements` runs the named ones.
BENCH_NAMES := $(filter-out bench,$(MAKECMDGOALS))

bench: $(STAMP)
	$(BIN)/python -m tests.bench $(BENCH_NAMES)

ifneq ($(filter bench,$(MAKECMDGOALS)),)
$(BENCH_NAMES):
	@:
endif

lint: $(STAMP)
	$(BIN)/ruff check supplychain tests
	$(BIN)/ruff format --check supplychain tests

format: $(STAMP)
	$(BIN)/ruff format supplychain tests
	$(BIN)/ruff check --fix supplychain tests

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
