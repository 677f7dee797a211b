# Two commands matter: `make quickstart` and `make test` (both install first; installing is idempotent).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install quickstart test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

quickstart: install
	$(BIN)/spotlab run examples/quickstart.yaml

test: install
	$(BIN)/python -m pytest -q
