# KPI performance system. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_DIR := .run
ROLES ?= all
PACKAGES := -e libs/contracts -e libs/kit -e services/catalog -e services/assignment -e services/journal
STAMP := $(VENV)/.installed
export KPI_ENV ?= dev
# Credentials of servers that make run started with docker compose, when it had to. Every recipe
# that reaches PostgreSQL or RabbitMQ starts with it (frontend.mk's simulator too).
WITH_DEPS := set -a; [ -f $(RUN_DIR)/deps.env ] && . $(RUN_DIR)/deps.env; set +a;

.PHONY: help venv run stop status migrate token test lint typecheck pytest unit asyncapi openapi docs constraints clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' $(PACKAGES)
	@touch $@

venv: $(STAMP) ## create the virtualenv and install the pinned stack

run: venv ## bring the whole system up (deps, migrations, broker topology, seed, services); ROLES=split for api+worker
	@tools/dev/ensure-deps.sh
	@$(WITH_DEPS) $(BIN)/kpi migrate all
	@$(WITH_DEPS) $(BIN)/kpi broker upgrade
	@echo "Starting services ($(ROLES))..."
	@$(WITH_DEPS) tools/dev/services.sh start $(ROLES)
	@$(MAKE) --no-print-directory run-extras
	@echo
	@echo "KPI system is up:"
	@echo "  catalog     http://127.0.0.1:$${CATALOG_PORT:-8001}/schema/swagger"
	@echo "  assignment  http://127.0.0.1:$${ASSIGNMENT_PORT:-8002}/schema/swagger"
	@echo "  journal     http://127.0.0.1:$${JOURNAL_PORT:-8003}/schema/swagger"
	@echo "  try:        curl -H \"Authorization: Bearer \$$(make -s token ROLE=manager)\" \\"
	@echo "                http://127.0.0.1:$${CATALOG_PORT:-8001}/api/v1/hr/kpi-modules?role_group=registered_nurse"
	@echo "  stop with:  make stop"

run-extras:: # extended by frontend.mk: gateway and simulator

stop: ## stop exactly the processes make run started
	@tools/dev/services.sh stop
	@$(MAKE) --no-print-directory stop-extras

stop-extras::

status: ## show which services make run started are alive
	@tools/dev/services.sh status
	@$(MAKE) --no-print-directory status-extras

status-extras::

migrate: venv ## create the database(s) and apply every service's migrations
	@$(WITH_DEPS) $(BIN)/kpi migrate all

token: venv ## print a dev token: make token ROLE=manager|hr_admin|staff [STAFF_ID=uuid]
	@$(BIN)/kpi token --role $(or $(ROLE),manager) $(if $(STAFF_ID),--staff-id $(STAFF_ID))

test: lint typecheck deploy-validate pytest test-browser ## ruff, mypy, deploy manifests, every test suite, the browser tests

lint: venv ## ruff: the rules, and the format (`ruff format .` mends it)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv ## mypy (strict; tests may leave a fixture's or a helper's signature untyped)
	$(BIN)/mypy libs services tools tests bench

pytest: venv gateway-install frontend-install ## the unit and integration tests against real PostgreSQL and RabbitMQ
	$(BIN)/pytest -q libs services tools tests -m "not faults and not browser" $(PYTEST_ARGS)

unit: venv ## the unit tests only (no servers needed)
	$(BIN)/pytest -q -m "not integration and not faults and not browser" libs services/*/tests/unit

asyncapi: venv ## write docs/asyncapi.json from the services' FastStream subscribers
	$(BIN)/python -m kpi_kit.asyncapi > docs/asyncapi.json
	@echo "wrote docs/asyncapi.json"

constraints: venv ## pin every installed package for the images (constraints.txt)
	@{ echo "# Exact versions for images: make constraints"; \
	   $(BIN)/pip freeze --exclude-editable | grep -v '^kpi-'; } > constraints.txt

openapi: venv ## write every service's OpenAPI document to docs/openapi/
	@$(BIN)/python -m kpi_kit.openapi docs/openapi

docs: asyncapi openapi ## regenerate docs/asyncapi.json and docs/openapi/*.json

clean: stop ## stop and remove the run folder
	rm -rf $(RUN_DIR)

-include frontend/frontend.mk
-include deploy/deploy.mk
-include bench/bench.mk
-include tests/faults/faults.mk
