# flowtime — developer entry points. `make demo` and `make test` create the venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PORT ?= 8080

.PHONY: demo serve test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,s3,dask]'
	touch $(STAMP)

venv: $(STAMP)

## Run a shipped template in simulation mode and show where its bundle is.
demo: $(STAMP)
	$(VENV)/bin/flowtime templates list
	$(VENV)/bin/flowtime run --template-id it-system --deterministic-run-id
	$(VENV)/bin/flowtime runs list

## Serve the HTTP API on http://127.0.0.1:$(PORT) (docs at /schema).
serve: $(STAMP)
	@echo "try: curl -s -X POST http://127.0.0.1:$(PORT)/v1/runs -H 'content-type: application/json' -d '{\"templateId\":\"it-system\"}'"
	$(VENV)/bin/flowtime serve --port $(PORT)

## The whole test suite (what CI runs).
test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
