# jaxfair — set-up, demo and tests. Everything runs inside .venv (created on demand).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test test-all docs bench clean

# torch==2.13.0 first: a local CPU wheel exists; installing botorch without it would pull a
# multi-GB CUDA build of torch from the registry.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0" || $(PY) -m pip install --quiet "torch>=2.5,<=2.14.1"
	$(PY) -m pip install --quiet -e ".[test,distributed,ax,docs]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/jaxfair surface --scenario toy --users 20000 --grid 101 --out results/surface-toy
	$(VENV)/bin/jaxfair bo --scenario toy --methods random,ei,fair-ehvi --trials 3 --iterations 8 --out results/bo-toy
	$(VENV)/bin/jaxfair report results/bo-toy

# Lint and format (ruff, configured in pyproject.toml) first; the docs site is part of the tests:
# a broken link, anchor or API page fails the build. `make test` leaves out the tests marked
# `slow` (each repeats a path a faster test of the default run covers; pyproject.toml's marker);
# `make test-all` runs every test.
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n 2 -m "not slow" tests
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test-all: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -n 2 tests
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

# Full benchmark suite (long: ~1 h on 2 cores, most of it the BO protocol); results land in
# benchmarks/results/ (small summaries, committed) and results/ (large rows, git-ignored).
bench: $(STAMP)
	$(PY) benchmarks/bench_engine.py --out benchmarks/results
	$(PY) benchmarks/bench_scenarios.py --out benchmarks/results
	$(PY) benchmarks/bench_logs.py --out benchmarks/results
	$(PY) benchmarks/bench_diagnose.py
	$(PY) benchmarks/bench_scale.py --out benchmarks/results
	$(PY) benchmarks/bench_bo.py --scenarios toy,synthetic,movielens --out benchmarks/results

clean:
	rm -rf $(VENV) results build/site .pytest_cache .hypothesis
