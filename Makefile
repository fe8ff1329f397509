# make demo   train tasks/multitask.toml (8 cognitive tasks, bias-only), its figures, run.h5 and
#             its analysis (task variance, clusters, tonic input vs selectivity, fixed points)
# make demo-sine   the same for the sine generator (half a minute)
# make demo-fit    after make demo: fit a bias-only circuit of another seed to 64 units of
#                  runs/multitask/run.h5 (tasks/fit_recording.toml, docs/fitting.md)
# make test   the default test suite (a few minutes on 2 cores)
# make test-slow   the long training tests (the issue's must-show numbers)
# make docs   the documentation site into site/ (mkdocs build --strict; installs the docs extra;
#             runs the tutorials with NEUROBIAS_TUTORIAL_FAST=1, their small settings)
# make mutation   mutation testing (mutmut) of circuit, train, NeuroGym scoring, task variance and
#             fixed points against their test files ([tool.mutmut] in pyproject.toml); results
#             in mutants/ (delete it to start afresh). Not run in CI.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: demo demo-sine demo-fit test test-slow mutation bench lint docs clean

$(VENV)/.installed: setup.cfg pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	touch $@

$(VENV)/.docs-installed: $(VENV)/.installed
	$(PIP) install -q -c constraints.txt -e ".[docs]"
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/neurobias train tasks/multitask.toml --out runs/multitask --force
	$(VENV)/bin/neurobias plot runs/multitask
	$(VENV)/bin/neurobias export runs/multitask -o runs/multitask/run.h5 --trials 256 --force
	$(VENV)/bin/neurobias analyze runs/multitask
	$(VENV)/bin/neurobias info runs/multitask/run.h5

demo-sine: $(VENV)/.installed
	$(VENV)/bin/neurobias train tasks/sine.toml --out runs/sine --force
	$(VENV)/bin/neurobias plot runs/sine
	$(VENV)/bin/neurobias export runs/sine -o runs/sine/run.h5 --trials 64 --force
	$(VENV)/bin/neurobias info runs/sine/run.h5

demo-fit: $(VENV)/.installed runs/multitask/run.h5
	$(VENV)/bin/neurobias train tasks/fit_recording.toml --out runs/fit_recording --force
	$(VENV)/bin/neurobias plot runs/fit_recording
	$(VENV)/bin/neurobias export runs/fit_recording -o runs/fit_recording/run.h5 --trials 48 --force
	$(VENV)/bin/neurobias analyze runs/fit_recording
	$(VENV)/bin/neurobias info runs/fit_recording/run.h5

runs/multitask/run.h5:
	@echo "runs/multitask/run.h5 is missing: run make demo first" >&2; exit 2

test: $(VENV)/.installed
	$(PY) -m pytest -q

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

mutation: $(VENV)/.installed
	NEUROBIAS_TEST_THREADS=1 OMP_NUM_THREADS=1 $(PY) tests/mutation.py run --max-children 2
	$(PY) tests/mutation.py report

# FixedPointFinder, the fixed-point benchmark's peer (Apache-2.0), is cloned here, not vendored
FPF ?= .cache/fixed-point-finder

bench: $(VENV)/.installed
	$(PY) benchmarks/train_step.py --install-neuralrnn
	$(PY) benchmarks/export.py
	test -d $(FPF) || git clone --depth 1 https://github.com/mattgolub/fixed-point-finder $(FPF)
	$(PY) benchmarks/fixed_points.py --fpf $(FPF)
	OMP_NUM_THREADS=1 $(PY) benchmarks/reaching.py --threads 1 --install-motornet
	$(PY) benchmarks/export_nwb.py
	OMP_NUM_THREADS=1 $(PY) benchmarks/mixed_batches.py --threads 1

docs: $(VENV)/.docs-installed
	NEUROBIAS_TUTORIAL_FAST=1 NO_MKDOCS_2_WARNING=1 OMP_NUM_THREADS=1 \
		$(PY) -m mkdocs build --strict -d site

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check neurobias tests benchmarks

clean:
	rm -rf $(VENV) runs *.egg-info mutants site .cache/mkdocs-jupyter
