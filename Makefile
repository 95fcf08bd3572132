# Two commands on a fresh machine: `make demo` (set up, then run a detection through the
# real handlers on the sample model) and `make test` (what CI runs).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The deployment tools (sam, cfn-lint, hadolint) pin their own boto3: a venv of their own.
TOOLS_VENV := .venv-tools
TOOLS_STAMP := $(TOOLS_VENV)/.installed
# checkov pins yet another boto3 than sam: one more venv (requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
export SAM_CLI_TELEMETRY := 0

.PHONY: setup tools demo test lint unit deploy-check checkov layer browser clean

setup: $(STAMP)

$(STAMP): pyproject.toml function/requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r function/requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

tools: $(TOOLS_STAMP) $(CHECKOV_STAMP)

$(TOOLS_STAMP): requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet -r requirements-tools.txt
	touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

demo: setup
	$(BIN)/detector demo

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Everything its tests need first: the tools venv (tests/deploy) and Chromium (the page).
test: lint tools browser
	$(BIN)/pytest

# The checks of the image, layer and template that run without Docker or AWS (tests/deploy),
# after checkov's report on the template and the Dockerfile.
deploy-check: setup checkov
	$(BIN)/pytest tests/deploy

# checkov's findings on the template and the Dockerfile: each one fixed or skipped in the file
# with a reason (tests/deploy/test_lint.py also fails on a skip without one). Offline: no
# download of Prisma Cloud's guideline mappings, no check for a newer checkov on PyPI.
checkov: tools
	BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE $(CHECKOV_VENV)/bin/checkov \
		--skip-download --compact --quiet --framework cloudformation dockerfile \
		--file template.yaml --file function/Dockerfile

# The runtime requirements as a Lambda layer zip: make layer ARCH=arm64 (PYTHON_VERSION=3.12)
ARCH ?= x86_64
PYTHON_VERSION ?= 3.12
layer: setup
	$(BIN)/python layer/build.py --arch $(ARCH) --python-version $(PYTHON_VERSION)

unit: setup
	$(BIN)/pytest tests/unit

# The page test drives Debian's chromium headless: installed when missing (with sudo unless
# root), so that `make test` works on a fresh machine.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			chromium fonts-liberation >/dev/null; }
	@chromium --version 2>/dev/null

clean:
	rm -rf $(VENV) $(TOOLS_VENV) $(CHECKOV_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
