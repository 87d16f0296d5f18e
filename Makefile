# jaxfair — set-up, demo and tests. Everything runs inside .venv (created on demand).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test bench clean

# torch==2.13.0 first: a local CPU wheel exists; installing botorch without it would pull a
# multi-GB CUDA build of torch from the registry.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0" || $(PY) -m pip install --quiet "torch>=2.5,<=2.14.1"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/jaxfair surface --scenario toy --users 20000 --grid 101 --out results/surface-toy
	$(VENV)/bin/jaxfair bo --scenario toy --methods random,ei,fair-ehvi --trials 3 --iterations 8 --out results/bo-toy
	$(VENV)/bin/jaxfair report results/bo-toy

test: $(STAMP)
	$(PY) -m pytest -n 2 tests

bench: $(STAMP)
	$(PY) benchmarks/run_all.py --out benchmarks/results

clean:
	rm -rf $(VENV) results .pytest_cache .hypothesis
