# sac: `make demo` runs the bundled example agents; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# uv installs the locked set (uv.lock); it is itself pinned by hash in build/uv-requirements.txt.
UV     := build/.uv/bin/uv
# Never let uv fetch a Python of its own: use the interpreter named by PYTHON.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
STALE  := uv.lock is out of date with the pyproject files: run `make lock` and commit uv.lock

.PHONY: dev lock demo docs lint test test-fast pyz pyz-lean pyz-full bench mutate mutate-recheck clean screenshots

$(UV): build/uv-requirements.txt
	@echo 'make: installing uv (pinned by hash in build/uv-requirements.txt) into build/.uv ...' >&2
	$(PYTHON) -m venv build/.uv
	build/.uv/bin/python -m pip install -q --require-hashes -r build/uv-requirements.txt
	touch $@

# Exactly what uv.lock says, every workspace package editable; refuses a stale lock.
$(VENV)/.installed: $(UV) uv.lock pyproject.toml hookspecs/pyproject.toml plugins/*/pyproject.toml
	@$(UV) lock --check -q || { echo 'make: $(STALE)' >&2; exit 1; }
	@echo 'make: installing sac, its plugins and every locked dependency into $(VENV) (about a minute the first time) ...' >&2
	$(UV) sync --locked --python $(PYTHON) -q
	touch $@
	@echo 'make: done: run $(VENV)/bin/sac, or put $(CURDIR)/$(VENV)/bin on PATH' >&2

dev: $(VENV)/.installed  ## .venv with every package installed editable, from uv.lock

lock: $(UV)  ## re-resolve uv.lock to the newest allowed versions (then run make test, commit)
	$(UV) lock --upgrade

demo: dev  ## two example agents, end to end, on the best runtime here, offline
	bash examples/demo.sh

test: lint  ## the quality gate, then the whole suite (builds the pyz too)
	$(PY) -m pytest

docs: dev  ## docs/plugin-reference.md from sac_hookspecs' docstrings (tests/test_docs.py fails when it is stale)
	$(PY) build/plugin_reference.py

screenshots: dev  ## docs/screenshots/ from the dashboard's browser tests (needs /usr/bin/chromium)
	SAC_SCREENSHOTS=docs/screenshots $(PY) -m pytest tests/live/test_dashboard.py -q

lint: dev  ## ruff (lint, import order), ruff format --check, mypy: all must be clean
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy sac hookspecs/sac_hookspecs $(wildcard plugins/*/sac_*)

test-fast: dev  ## everything but the slow tests
	$(PY) -m pytest -m "not slow"

pyz: pyz-lean pyz-full  ## dist/sac.pyz (with the claude CLI) and dist/sac-lean.pyz

pyz-lean: dev
	$(PY) build/pyz.py --lean -o dist/sac-lean.pyz

pyz-full: dev
	$(PY) build/pyz.py -o dist/sac.pyz

bench: dev  ## start-up times and pyz sizes, printed as numbers
	$(PY) bench/startup.py

# By hand, not in CI (hours on 2 cores; `exec` resumes an interrupted session): cosmic-ray
# rewrites modules in place while it runs, so run it in a clean clone, and `git checkout sac/ hookspecs/`
# after an interruption (a killed run leaves its mutant). Not in uv.lock: a pinned tool, run
# by uv in its own environment.
CR := $(UV) tool run --from cosmic-ray==8.7.0
# MUTATE=build/mutate-lifecycle.toml: lifecycle.py against live agents (use SAMPLE=N: minutes a mutant)
MUTATE ?= build/mutate.toml
MUTATE_DB = build/.$(basename $(notdir $(MUTATE))).sqlite
SAMPLE ?=
mutate: dev  ## mutation testing of the core's security (MUTATE=...lifecycle.toml: lifecycle) modules
	$(CR) cosmic-ray init $(MUTATE) $(MUTATE_DB) --force
	$(CR) cr-filter-operators $(MUTATE_DB) $(MUTATE)
	$(if $(SAMPLE),$(UV) run -q --no-project --with cosmic-ray==8.7.0 python build/mutate_sample.py $(MUTATE_DB) $(SAMPLE))
	$(CR) cosmic-ray exec $(MUTATE) $(MUTATE_DB)
	$(CR) cosmic-ray dump $(MUTATE_DB) | $(PY) build/mutate_report.py
# After adding tests: the same survivors against the tests as they are now.
mutate-recheck: dev
	$(CR) cosmic-ray dump $(MUTATE_DB) | $(PY) build/mutate_recheck.py $(MUTATE)

clean:
	rm -rf dist build/.cache build/.uv .pytest_cache .demo
