# flowtime — developer entry points. `make demo` and `make test` create the venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
TEST_STAMP := $(VENV)/.test-installed-stamp
PORT ?= 8080
.PHONY: demo serve test check lint bench soak clean venv test-deps lock test-latest

# Installs come from the lock files in requirements/ (exact versions with hashes, one set for
# every platform): runtime.txt for what running needs, test.txt for the tests (every extra
# included). uv installs them; it is itself installed from requirements/uv.txt by pip with
# hash checking, so a fresh machine still needs only python3 and make. pyproject.toml keeps
# the ranges that `pip install flowtime` users get; `make lock` re-resolves them.
UV := $(VENV)/bin/uv
UV_INSTALL := VIRTUAL_ENV=$(abspath $(VENV)) $(UV) pip install -q --python $(PY)
LOCK_EXTRAS := --extra test --extra s3 --extra dask --extra fast --extra pandas --extra arrow \
	--extra postgres --extra otlp --extra mcp
LOCK_FLAGS := --universal --python-version 3.11 --generate-hashes -q

$(UV):
	@test -x $(PY) || python3 -m venv $(VENV)
	@PIP_CONSTRAINT= $(PY) -m pip install -qq --disable-pip-version-check --require-hashes -r requirements/uv.txt

## What running needs (the main job): the package and its locked runtime dependencies.
$(STAMP): pyproject.toml requirements/runtime.txt | $(UV)
	@echo "setting up $(VENV) with flowtime and its runtime dependencies (first run only)…"
	@$(UV_INSTALL) --require-hashes -r requirements/runtime.txt
	@$(UV_INSTALL) --no-deps -e .
	@# byte-compiled now: in a shell with PYTHONDONTWRITEBYTECODE set, every command would
	@# otherwise compile the package's modules again (~100 ms a start)
	@$(PY) -m compileall -q src
	@touch $(STAMP)

## What the tests need on top: the locked test set (test libraries, every extra), system tools.
$(TEST_STAMP): $(STAMP) requirements/test.txt
	@echo "adding the test dependencies to $(VENV)…"
	@$(UV_INSTALL) --require-hashes -r requirements/test.txt
	@touch $(TEST_STAMP)

venv: $(STAMP)

test-deps: $(TEST_STAMP)
	@bash scripts/install-test-tools.sh

## Re-resolve the locks from pyproject.toml's ranges (newest versions they allow).
lock: | $(UV)
	$(UV) pip compile pyproject.toml $(LOCK_EXTRAS) $(LOCK_FLAGS) --upgrade -o requirements/test.txt
	$(UV) pip compile pyproject.toml --extra fast --extra mcp $(LOCK_FLAGS) -c requirements/test.txt \
		-o requirements/runtime.txt
	@echo "locks written: requirements/runtime.txt requirements/test.txt (review, run make test, commit)"

## The suite against the newest versions pyproject.toml allows (drift found on purpose), in
## a separate venv so the locked one stays as it is.
LATEST := .venv-latest
test-latest: | $(UV)
	@test -x $(LATEST)/bin/python || python3 -m venv $(LATEST)
	VIRTUAL_ENV=$(abspath $(LATEST)) $(UV) pip install -q --python $(LATEST)/bin/python --upgrade \
		--refresh -e '.[test,s3,dask,fast,pandas,arrow,postgres,otlp,mcp]'
	@bash scripts/install-test-tools.sh
	$(LATEST)/bin/python -m pip list --format=freeze 2>/dev/null | grep -iE '^(msgspec|litestar|numpy)=' || true
	$(LATEST)/bin/ruff check src tests benchmarks scripts
	FLOWTIME_TEST_LATEST=1 $(LATEST)/bin/python -m pytest -q

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

## ruff and the unit tier: the quick check before a commit (well under 30 s).
check: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(PY) -m pytest -q -p no:cacheprovider tests/unit -m "not slow"

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check src tests benchmarks scripts

bench: $(TEST_STAMP)
	$(PY) -m benchmarks

## Memory under steady mixed load (MINUTES=10): RSS every 10 s, growth per 1,000 runs.
MINUTES ?= 10
soak: $(TEST_STAMP)
	$(PY) -m benchmarks.soak --minutes $(MINUTES)

clean:
	rm -rf $(VENV) $(LATEST) build *.egg-info .pytest_cache .ruff_cache
