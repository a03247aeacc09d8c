# The two commands of the README: `make demo` and `make test`. Both work on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo serve test lint typecheck check browser bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo runs on the embedded default (a SQLite file) unless DATABASE_URL says otherwise.
demo: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py init_keys
	$(PY) manage.py seed_demo
	@echo ""
	@echo "  admin:  http://$(HOST):$(PORT)/admin/   user: admin   password: modelgov-demo"
	@echo "  API:    curl -H 'Authorization: Bearer mg_demo_compliance_officer_not_for_production' \\"
	@echo "               http://$(HOST):$(PORT)/api/v1/models/credit-default-pd/versions/3"
	@echo "  docs:   http://$(HOST):$(PORT)/api/docs/"
	@echo ""
	$(PY) manage.py runserver --insecure $(HOST):$(PORT)

# Debian's Chromium drives the admin-page tests (Playwright cannot download a browser here).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: install browser
	@$(PY) -m core.dbcheck
	$(PY) -m core.dbroles
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	$(VENV)/bin/mypy .

check: lint typecheck test

bench: install
	$(PY) bench/api_read.py

clean:
	rm -rf $(VENV) modelgov-demo.sqlite3 .pytest_cache .mypy_cache .ruff_cache
