# Two commands do all setup on a fresh machine: `make demo` and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.neuralab-installed
# The shared real datasets, when this checkout sits beside them.
SHARED  := $(abspath ../shared/datasets)
export NEURALAB_DATA ?= $(if $(wildcard $(SHARED)),$(SHARED),)
# ... and the shared pretrained checkpoints beside them.
WEIGHTS := $(abspath ../shared/weights)
export NEURALAB_WEIGHTS ?= $(if $(wildcard $(WEIGHTS)),$(WEIGHTS),)

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test,tensorflow]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/neuralab run demo

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/loader.py

clean:
	rm -rf $(VENV) .pytest_cache build src/*.egg-info
