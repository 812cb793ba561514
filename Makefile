# Two commands set up a fresh machine that has Python 3.11 and pip:
#   make test        create .venv, install pinned dependencies, run the test suite
#   make reproduce   the same set-up, then the main reproduction on embedded data (no download)
# Every install goes through constraints.txt, which pins torch==2.13.0 (an unpinned torch pulls CUDA wheels).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
EXTRAS ?= test,backpack,curvlinops,bench,dev
STAMP := $(VENV)/.installed
JOBS ?= 2
# One BLAS thread per pytest worker: 2 workers on 2 cores.
TEST_ENV := OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg

.PHONY: install test test-fast reproduce reproduce-all report bench bench-quick bench-report lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"

$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PIP) install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	@touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) --timeout 600

test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(JOBS) -m "not slow and not montecarlo"

reproduce: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/prunebench reproduce obd-digits --out results/obd-digits

reproduce-all: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/prunebench reproduce all --out results
	MPLBACKEND=Agg $(VENV)/bin/prunebench report --results results --out results

report: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/prunebench report --results results --out results

# make bench [BENCH=regex] [ASV_RANGE=range]: asv on HEAD by default (docs/benchmarks.md lists subsets).
ASV_RANGE ?= HEAD^!
bench: $(STAMP)
	$(VENV)/bin/asv machine --yes --config asv.conf.json >/dev/null
	$(VENV)/bin/asv run --config asv.conf.json --show-stderr $(if $(BENCH),--bench "$(BENCH)") $(ASV_RANGE)

bench-quick: $(STAMP)
	$(PY) -m pytest benchmarks/quick --benchmark-only --benchmark-autosave --benchmark-compare \
		--benchmark-storage=.benchmarks -p no:xdist -p no:randomly

bench-report: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/prunebench bench-report --out results/bench

lint: $(STAMP)
	$(VENV)/bin/ruff check reference tests benchmarks

clean:
	rm -rf $(VENV) .tox .asv/env build *.egg-info
