# Two commands after cloning:  `make lab` opens the workbench, `make test` runs every test.
# Both bootstrap .venv idempotently: dependencies are reinstalled only when pyproject.toml changes,
# and the native extension is rebuilt only when its sources change.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PORT   ?= 8888
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: lab test native bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $@

native: $(STAMP)
	$(PY) -m halkit.build

# Idle BLAS/OpenMP threads sleep instead of spinning, so notebook benchmarks compare fairly (halkit/bench/idle_threads.py).
lab: native
	OPENBLAS_THREAD_TIMEOUT=4 OMP_WAIT_POLICY=PASSIVE $(PY) -m jupyter lab --ip=127.0.0.1 --port=$(PORT) --no-browser $(ROOT_FLAG) --ServerApp.root_dir=notebooks

# HALKIT_FAST=1 runs the notebooks in their quick mode.
test: native
	HALKIT_FAST=1 $(PY) -m pytest tests --nbmake notebooks --nbmake-timeout=300 --durations=15

bench: native
	$(PY) -m halkit.bench

clean:
	rm -rf build halkit/_native*.so
