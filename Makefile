# `make demo` and `make test` each work on a fresh machine: they create .venv and install into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint bench clean

$(VENV)/.demo-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[demo,grafana]'
	touch $@

$(VENV)/.test-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test,demo,grafana,torch,explain,multivariate]'
	touch $@ $(VENV)/.demo-installed

demo: $(VENV)/.demo-installed
	$(VENV)/bin/driftline demo --out driftline-out

test: $(VENV)/.test-installed
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.test-installed
	$(PY) -m ruff check .
	$(PY) -m mypy

bench: $(VENV)/.test-installed
	$(PY) bench/bench_sdk.py
	$(PY) bench/bench_ingest.py
	$(PY) bench/bench_drift.py

clean:
	rm -rf $(VENV) driftline-out .pytest_cache .ruff_cache .mypy_cache
