# Two commands matter: `make demo` and `make test`. Each builds its own virtualenv.
# Deploying: `make synth` (cdk.out/, offline, no Docker) after `make lambda-asset`; see docs/deploy.md.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: demo test lint typecheck unit venv clean bench lambda-asset synth caller-template checkov-venv asset-size

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install --python $(BIN)/python -q -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/batcheval demo

lint: $(STAMP)
	$(BIN)/ruff check functions tests benchmarks infra
	$(BIN)/ruff format --check functions tests benchmarks infra

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(CHECKOV_STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

# ---- deployment -------------------------------------------------------------------------------
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
# The Lambda code asset: the package plus its runtime dependencies as CPython 3.13 x86_64 wheels,
# installed by pip for the target platform (no Docker). Rebuilt only when the package changes.
ASSET := build/lambda
ASSET_STAMP := build/.lambda-asset.stamp
PACKAGE_SOURCES := $(shell find functions -type f -not -path '*/__pycache__/*' -not -name '*.pyc')

$(ASSET_STAMP): $(STAMP) pyproject.toml constraints.txt $(PACKAGE_SOURCES)
	rm -rf $(ASSET) build/wheel
	$(BIN)/uv build -q --wheel --out-dir build/wheel .
	$(BIN)/python -m pip install -q --platform manylinux2014_x86_64 --python-version 3.13 \
		--implementation cp --only-binary=:all: --no-compile --target $(ASSET) \
		-c constraints.txt build/wheel/batcheval-*.whl
	rm -rf $(ASSET)/bin
	touch $@

lambda-asset: $(ASSET_STAMP)

asset-size: $(ASSET_STAMP)
	$(BIN)/python -m infra.asset_size $(ASSET)

synth: $(ASSET_STAMP)
	$(BIN)/python -m infra.app $(if $(CONFIG),-c batchevalConfigFile=$(CONFIG))

# The caller stack as a plain CloudFormation template (committed; a test keeps it current).
caller-template: $(STAMP)
	$(BIN)/python -m infra.app --caller-template infra/templates/caller-access.template.json

# checkov pins an old boto3, so it lives in its own virtualenv (tests/infra runs it from there).
$(CHECKOV_STAMP): infra/checkov-requirements.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q -r infra/checkov-requirements.txt
	touch $@

checkov-venv: $(CHECKOV_STAMP)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .mypy_cache .ruff_cache .pytest_cache build cdk.out
