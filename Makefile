# The two commands of the README: `make dev` and `make test`. Each installs what it needs.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The whole dependency tree, pinned (requirements/README.md): what `make dev|test` install.
LOCK   := requirements/dev.lock
UV     := uv==0.13.9
# pytest-xdist workers for `make test`: two more than the cores, as tests also wait on their
# servers (docs/testing.md); `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= $(shell echo $$(( $$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2) + 2 )))

.PHONY: dev test lint install lock clean

# uv (from PyPI, into the venv) installs exactly the lock in seconds; where uv cannot be
# installed or cannot reach its index, pip installs the same lock (pip.conf's indexes).
# Bytecode compiled at install, as pip does: where PYTHONDONTWRITEBYTECODE is set, nothing
# else would write it for the modules pytest imports before tests/__init__.py (docs/testing.md).
$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	if $(BIN)/pip install --quiet --disable-pip-version-check $(UV) \
	  && $(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python $(LOCK) \
	  && $(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e . ; then :; \
	else \
	  echo "uv could not install the lock: installing it with pip"; \
	  $(BIN)/pip install --quiet --disable-pip-version-check -r $(LOCK) \
	  && $(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e . ; \
	fi
	touch $(STAMP)

install: $(STAMP)

dev: $(STAMP)
	$(BIN)/lifecycles dev

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# After a pin changes in pyproject.toml: re-resolve the locks (keeps every other pin as it is).
lock:
	test -x $(BIN)/uv || { test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); $(BIN)/pip install $(UV); }
	$(BIN)/uv pip compile --quiet pyproject.toml --extra dev --universal --python-version 3.11 \
	  -o requirements/dev.lock
	$(BIN)/uv pip compile --quiet pyproject.toml --universal --python-version 3.11 \
	  -c requirements/dev.lock -o requirements/runtime.lock

clean:
	rm -rf $(VENV) .pytest_cache
