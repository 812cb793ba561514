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

.PHONY: install test test-fast reproduce reproduce-all report saliency-checks bench bench-quick bench-report lint clean

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
# The saliency-vs-measured-dE report of every method on trained XOR, MONK-1 and digits models (seed 0).
SALIENCY_TASKS ?= xor monks-1 digits
SALIENCY_METHODS ?= random magnitude magnitude:scope=layer obd:curvature=lecun-lm obd:curvature=lecun \
	obd:curvature=exact obd:curvature=ggn obd:curvature=fisher obd:curvature=hutchinson obs:hessian=recursion \
	obs:hessian=exact:on_indefinite=damp obs:hessian=ggn:damping=1e-8 obs:hessian=fisher:damping=1e-8 \
	obs:hessian=block-diagonal
saliency-checks: $(STAMP)
	@for task in $(SALIENCY_TASKS); do for spec in $(SALIENCY_METHODS); do \
		method=$${spec%%:*}; params=$$(echo "$$spec" | cut -s -d: -f2- | tr ':' ' '); \
		tag=$$(echo "$$spec" | tr ':=' '--'); \
		args=""; for p in $$params; do args="$$args --param $$p"; done; \
		echo "check-saliency $$task $$spec"; \
		MPLBACKEND=Agg $(VENV)/bin/prunebench check-saliency --task $$task --method $$method $$args \
			--json results/saliency-check/$$task/$$tag.json --plot results/saliency-check/$$task/$$tag.png \
			|| exit 1; \
	done; done

bench: $(STAMP)
	$(VENV)/bin/asv machine --yes --config asv.conf.json >/dev/null
	$(VENV)/bin/asv run --config asv.conf.json --show-stderr $(if $(BENCH),--bench "$(BENCH)") $(ASV_RANGE)

bench-quick: $(STAMP)
	$(PY) -m pytest benchmarks/quick --benchmark-only --benchmark-autosave --benchmark-compare \
		--benchmark-storage=.benchmarks -p no:xdist -p no:randomly

bench-report: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/prunebench bench-report --clock cpu --out results/bench

lint: $(STAMP)
	$(VENV)/bin/ruff check reference tests benchmarks

clean:
	rm -rf $(VENV) .tox .asv/env build *.egg-info
