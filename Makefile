# batteryfx: `make demo` runs the main job, `make test` runs the test suite.
# Both create .venv on first use from a Python >= 3.12 found on the machine (tools/find-python).
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEMO_OUT ?= out/coupon_pi_ag_vs_cu
# make demo: the pouch-cell comparison at demo resolution (4 mm in-plane cells, 0.5 mm on the
# hot spot; the README gives the full-resolution numbers)
DEMO_SET ?= --set geometry.mesh_size=4mm --set geometry.regions[0].mesh_size=0.5mm
MPI_TIMEOUT ?= 1200

.PHONY: demo demo-coupon test test-slow bench lint clean venv

venv: $(STAMP)

$(STAMP): pyproject.toml
	@set -e; if [ ! -x $(BIN)/python ]; then \
	  py=$$(tools/find-python); echo "creating $(VENV) with $$py"; "$$py" -m venv $(VENV); fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[wheel,test]'
	@touch $(STAMP)

demo: $(STAMP)
	@echo "running the PI-Ag and the Cu pouch cell side by side (one core each, ~3 min)"
	@$(BIN)/batteryfx run pouch_hotspot_piag_vs_cu $(DEMO_SET) --out out/pouch_piag -q & a=$$!; \
	 $(BIN)/batteryfx run pouch_hotspot_piag_vs_cu $(DEMO_SET) --set geometry.unit=cu_20li_ncm811 \
	  --out out/pouch_cu -q & b=$$!; wait $$a && wait $$b
	$(BIN)/batteryfx compare out/pouch_piag out/pouch_cu --out out/pouch_compare
	@echo "report: out/pouch_compare/compare.md  figures: out/pouch_compare/figures/"

demo-coupon: $(STAMP)
	$(BIN)/batteryfx run coupon_pi_ag_vs_cu --out $(DEMO_OUT)
	@echo "figures: $(DEMO_OUT)/figures/  (summary: $(DEMO_OUT)/summary.json)"

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
	timeout $(MPI_TIMEOUT) $(BIN)/mpiexec -n 2 $(BIN)/python -m pytest -m mpi -p no:cacheprovider

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_heat_operator_reuse.py

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) out *.egg-info
