# `make demo` and `make test` each work on a fresh machine: they create .venv and install into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --quiet --disable-pip-version-check

.PHONY: demo test lint bench clean model-servers

$(VENV)/.demo-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[demo,grafana]'
	touch $@

$(VENV)/.test-installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -e '.[test,demo,grafana,torch,explain,multivariate]'
	touch $@ $(VENV)/.demo-installed

# MLServer and KServe pin FastAPI and Starlette older than the collector's, so they get a virtual environment
# of their own, from [tool.driftline] model-servers in pyproject.toml (tests/test_model_servers.py runs them).
SERVERS := $(VENV)/model-servers
$(SERVERS)/.installed: pyproject.toml
	test -x $(SERVERS)/bin/python || $(PYTHON) -m venv $(SERVERS)
	$(SERVERS)/bin/python -m pip install --quiet --disable-pip-version-check \
		$$($(PYTHON) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['tool']['driftline']['model-servers']))")
	touch $@

model-servers: $(SERVERS)/.installed

demo: $(VENV)/.demo-installed
	$(VENV)/bin/driftline demo --out driftline-out

test: $(VENV)/.test-installed $(SERVERS)/.installed
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
