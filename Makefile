# Two commands matter: `make demo` and `make test`. Each builds its own virtualenv.
# Deploying: `make synth` (cdk.out/, offline, no Docker) after `make lambda-asset`; see docs/deploy.md.
# Every install comes from a lock with hashes: uv.lock (.venv and the Lambda asset),
# infra/checkov-requirements.txt (.venv-checkov), uv-requirements.txt (uv itself). `make lock`
# updates them after a change to pyproject.toml; `make lock-upgrade` bumps every pin.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
# uv in its own virtualenv: `uv sync` makes .venv exactly the lock, so the installer cannot live there.
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
UV_STAMP := $(UV_VENV)/.installed
LOCKED_HINT := uv.lock must match pyproject.toml; if uv says it needs to be updated, run: make lock

.PHONY: demo test lint typecheck unit venv clean bench lambda-asset synth caller-template checkov-venv \
	asset-size lock lock-upgrade FORCE

# The interpreter's own pip (from ensurepip, never upgraded) installs the hashed uv pin.
$(UV_STAMP): uv-requirements.txt
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install -q --disable-pip-version-check --require-hashes -r uv-requirements.txt
	touch $@

# --locked: a uv.lock that disagrees with pyproject.toml fails here instead of being re-resolved.
# uv sync is exact: anything in .venv that the lock does not list is removed, except the seed packages
# (pip, setuptools) of a venv made by `python -m venv` (before uv.lock): such a venv is made anew by uv.
$(STAMP): $(UV_STAMP) pyproject.toml uv.lock
	grep -qs '^uv = ' $(VENV)/pyvenv.cfg || rm -rf $(VENV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync -q --locked --extra dev --python $(PYTHON) \
		|| { echo "$(LOCKED_HINT)" >&2; exit 1; }
	touch $(STAMP)

venv: $(STAMP)

# Re-resolves only what pyproject.toml changed (every other pin stays) and re-hashes the checkov and
# uv pins; works from any state (a stale uv.lock, or none).
COMPILE_PINS = $(UV) pip compile -q --universal --python-version 3.11 --generate-hashes $(UPGRADE)
lock: $(UV_STAMP)
	$(UV) lock $(UPGRADE)
	$(COMPILE_PINS) infra/checkov-requirements.in -o infra/checkov-requirements.txt
	$(COMPILE_PINS) uv-requirements.in -o uv-requirements.txt

# Every pin to the newest version pyproject.toml's floors allow (review the diff, then `make test`).
lock-upgrade: UPGRADE := --upgrade
lock-upgrade: lock

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
# The Lambda code asset: the package plus its runtime dependencies (and the optional extras named in
# EXTRAS, e.g. `make lambda-asset EXTRAS=openai`; comma- or space-separated) as CPython 3.13 x86_64
# wheels: exactly the versions and hashes in uv.lock, installed for the target platform (no Docker).
# uv, not pip, installs them: pip evaluates environment markers against the interpreter running it
# (3.11 here), uv against --python-version/--python-platform. Rebuilt only when an input changes.
EXTRAS ?=
comma := ,
ASSET := build/lambda
ASSET_STAMP := build/.lambda-asset.stamp
ASSET_EXTRAS := build/.lambda-asset.extras
ASSET_REQUIREMENTS := build/lambda-requirements.txt
ASSET_TARGET := --python $(PYTHON) --python-platform x86_64-manylinux2014 --python-version 3.13 \
	--only-binary :all: --no-compile --target $(ASSET)
PACKAGE_SOURCES := $(shell find functions -type f -not -path '*/__pycache__/*' -not -name '*.pyc')

# Holds the EXTRAS of the last build; rewritten only when they change, so a change rebuilds the asset.
$(ASSET_EXTRAS): FORCE
	@mkdir -p $(@D)
	@echo '$(strip $(EXTRAS))' | cmp -s - $@ || echo '$(strip $(EXTRAS))' > $@

$(ASSET_REQUIREMENTS): $(UV_STAMP) pyproject.toml uv.lock $(ASSET_EXTRAS)
	$(UV) export -q --locked --no-dev --no-emit-project --format requirements-txt \
		$(foreach extra,$(subst $(comma), ,$(EXTRAS)),--extra $(extra)) -o $@ \
		|| { echo "$(LOCKED_HINT)" >&2; exit 1; }

$(ASSET_STAMP): $(ASSET_REQUIREMENTS) $(PACKAGE_SOURCES)
	rm -rf $(ASSET) build/wheel
	$(UV) build -q --wheel --out-dir build/wheel .
	$(UV) pip install -q $(ASSET_TARGET) --require-hashes -r $(ASSET_REQUIREMENTS)
	$(UV) pip install -q $(ASSET_TARGET) --no-deps build/wheel/batcheval-*.whl
	rm -rf $(ASSET)/bin $(ASSET)/.lock
	touch $@

lambda-asset: $(ASSET_STAMP)

asset-size: $(STAMP) $(ASSET_STAMP)
	$(BIN)/python -m infra.asset_size $(ASSET)

synth: $(STAMP) $(ASSET_STAMP)
	$(BIN)/python -m infra.app $(if $(CONFIG),-c batchevalConfigFile=$(CONFIG))

# The caller stack as a plain CloudFormation template (committed; a test keeps it current).
caller-template: $(STAMP)
	$(BIN)/python -m infra.app --caller-template infra/templates/caller-access.template.json

# checkov pins an old boto3, so it lives in its own virtualenv (tests/infra runs it from there), installed
# exactly from its hashed pins.
$(CHECKOV_STAMP): $(UV_STAMP) infra/checkov-requirements.txt
	$(UV) venv -q --allow-existing --python $(PYTHON) $(CHECKOV_VENV)
	$(UV) pip sync -q --python $(CHECKOV_VENV)/bin/python --require-hashes infra/checkov-requirements.txt
	touch $@

checkov-venv: $(CHECKOV_STAMP)

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) $(UV_VENV) .mypy_cache .ruff_cache .pytest_cache build cdk.out
