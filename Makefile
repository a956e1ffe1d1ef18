# Every target does its own set-up, idempotently: OS packages (as root), the .venv, the images.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
# The product's code: linted, format-checked and type-checked.
PRODUCT := executor container statemachine chalice_app controlplane localaws dispatchview covalent_eventbatch/cli.py covalent_eventbatch/__init__.py


.PHONY: help setup os-packages demo test lint typecheck unit e2e bench clean-local generated validators

help:
	@echo "make demo   run an example Covalent workflow on the local stack (AWS stand-in)"
	@echo "make test   lint, type-check and run the test suite (unit + end to end)"
	@echo "make bench  compare against a polling executor on the local stack"

os-packages:
	@bash scripts/install-os-packages.sh

$(STAMP): pyproject.toml executor/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c executor/constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: os-packages $(STAMP)

# Third-party validators (checkov, parliament; asl-validator from npm), pinned, apart from .venv:
# checkov's own pins would downgrade the dev venv's boto3 (tools/validators/requirements.txt).
VALIDATORS := .venv-validators
VALIDATORS_STAMP := $(VALIDATORS)/.installed
ASL_STAMP := tools/validators/node_modules/.installed

$(VALIDATORS_STAMP): tools/validators/requirements.txt
	rm -rf $(VALIDATORS)
	$(PYTHON) -m venv $(VALIDATORS)
	$(VALIDATORS)/bin/pip install --quiet --upgrade pip
	$(VALIDATORS)/bin/pip install --quiet -r tools/validators/requirements.txt
	touch $@

$(ASL_STAMP): tools/validators/package.json tools/validators/package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for asl-validator (apt-get install npm)" >&2; exit 1; }
	cd tools/validators && npm ci --no-audit --no-fund --loglevel=error
	touch $@

validators: $(VALIDATORS_STAMP) $(ASL_STAMP)

demo: setup
	@bash scripts/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check $(PRODUCT) tests benchmarks examples app.py
	$(BIN)/ruff format --check $(PRODUCT) tests benchmarks examples app.py

typecheck: $(STAMP)
	$(BIN)/mypy -p covalent_eventbatch

unit: $(STAMP) validators
	EVENTBATCH_REQUIRE_VALIDATORS=1 $(BIN)/pytest -m "not e2e" -q

e2e: setup
	$(BIN)/pytest -m e2e -q

test: setup lint typecheck validators
	EVENTBATCH_REQUIRE_VALIDATORS=1 $(BIN)/pytest -q -rs

bench: setup
	$(PY) -m benchmarks.compare $(BENCH_ARGS)

# The committed CloudFormation merge template and IAM policies, regenerated from the code; the
# root's Chalice project files (app.py, .chalice/, requirements.txt), copied from the ones the
# package ships (controlplane/chalice-project/).
generated: $(STAMP)
	$(PY) -m covalent_eventbatch.controlplane.template controlplane/control-plane.json
	$(PY) -m covalent_eventbatch.controlplane.iampolicy controlplane/executor-policy.json
	$(PY) -m covalent_eventbatch.controlplane.iampolicy --deployer controlplane/deployer-policy.json
	$(PY) -m covalent_eventbatch.controlplane.chalice_project .

clean-local: $(STAMP)
	$(BIN)/eventbatch local down
