# flowtime — developer entry points. `make demo` and `make test` create the venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-installed-stamp
PORT ?= 8080
# -qq: errors only (pip warnings about this machine's index settings are not ours); setuptools
# always announces an editable install, nothing for a user to act on.
PIP_INSTALL := PYTHONWARNINGS=ignore::UserWarning:setuptools.command.editable_wheel \
	$(PY) -m pip install -qq --disable-pip-version-check

.PHONY: demo serve test lint bench clean venv test-deps

## What running needs (the main job): the package and its runtime dependencies.
$(STAMP): pyproject.toml
	@echo "setting up $(VENV) with flowtime and its runtime dependencies (first run only)…"
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PIP_INSTALL) -e '.[fast]'
	@touch $(STAMP)

## What the tests need on top: test libraries, the S3 and Dask extras, system tools.
$(TEST_STAMP): $(STAMP)
	@echo "adding the test dependencies to $(VENV)…"
	@$(PIP_INSTALL) -e '.[test,s3,dask,fast]'
	@touch $(TEST_STAMP)

venv: $(STAMP)

test-deps: $(TEST_STAMP)
	@bash scripts/install-test-tools.sh

## Run a shipped template in simulation mode and show where its bundle is.
demo: $(STAMP)
	$(VENV)/bin/flowtime templates list
	$(VENV)/bin/flowtime run --template-id it-system --deterministic-run-id
	$(VENV)/bin/flowtime runs list

## Serve the HTTP API on http://127.0.0.1:$(PORT) (docs at /schema).
serve: $(STAMP)
	@echo "try: curl -s -X POST http://127.0.0.1:$(PORT)/v1/runs -H 'content-type: application/json' -d '{\"templateId\":\"it-system\"}'"
	$(VENV)/bin/flowtime serve --port $(PORT)

## The whole test suite (what CI runs); installs what the tests need when it is missing.
test: test-deps
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(PY) -m pytest -q

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts

bench: $(TEST_STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
