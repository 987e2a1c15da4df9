# sac: `make demo` runs the bundled example agents; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PACKAGES := -e hookspecs -e . -e plugins/runtime_apptainer -e plugins/runtime_docker \
            -e plugins/provider_deepseek -e plugins/transport_a2a

.PHONY: dev demo test test-fast pyz pyz-lean pyz-full bench clean

$(VENV)/.installed: pyproject.toml hookspecs/pyproject.toml plugins/*/pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(PACKAGES) -r requirements-dev.txt
	touch $@

dev: $(VENV)/.installed  ## .venv with every package installed editable

demo: dev  ## two example agents, end to end, on the best runtime here, offline
	bash examples/demo.sh

test: dev  ## the whole suite (builds the pyz too)
	$(PY) -m pytest

test-fast: dev  ## everything but the slow tests
	$(PY) -m pytest -m "not slow"

pyz: pyz-lean pyz-full  ## dist/sac.pyz (with the claude CLI) and dist/sac-lean.pyz

pyz-lean: dev
	$(PY) build/pyz.py --lean -o dist/sac-lean.pyz

pyz-full: dev
	$(PY) build/pyz.py -o dist/sac.pyz

bench: dev  ## start-up times and pyz sizes, printed as numbers
	$(PY) bench/startup.py

clean:
	rm -rf dist build/.cache .pytest_cache .demo
