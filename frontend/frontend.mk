# Frontend, gateway, contract-system simulator and browser tests.
#
# Included by the top-level Makefile (`-include frontend/frontend.mk`). It hooks into `make run`,
# `make stop` and `make status` through the double-colon targets `run-extras::`, `stop-extras::`
# and `status-extras::`, and uses
# from the top-level Makefile (defaults below when used alone):
#   BIN      the virtualenv's bin folder (.venv/bin)
#   RUN_DIR  the run folder, gitignored (.run)
#   venv     the target that creates the virtualenv with the kit, contracts and services
#   WITH_DEPS  sources $(RUN_DIR)/deps.env (the broker URL of make run's Docker fallback); empty alone
# Ports come from the environment as in interfaces.md §1: KPI_GATEWAY_PORT (8080), CATALOG_PORT,
# ASSIGNMENT_PORT, JOURNAL_PORT, CONTRACT_SIM_PORT (8009); KPI_ENV (dev) picks the sign-in page.
#
# Targets:
#   frontend-install   npm ci of the pinned browser libraries (chart.js; axe-core for tests) into frontend/node_modules
#   gateway-install    nginx from Debian's packages when it is missing
#   gateway-start      render deploy/gateway/nginx.conf and start nginx (prefix, pid, logs in $(RUN_DIR)/gateway)
#   gateway-stop       stop that nginx (never the system service)
#   sim-start          start the simulator on CONTRACT_SIM_PORT
#   sim-stop           stop it
#   template-kpis      load the demo contract templates' KPI sets into the catalog through its API
#   browser-install    Debian's chromium (+ emoji font) and Playwright for Python, when missing
#   test-contract-sim  the simulator's tests (no servers needed)
#   test-browser       the browser tests: start an isolated system on other ports, drive it, stop it
#                      (set KPI_BROWSER_BASE_URL=http://127.0.0.1:8080 to use a running `make run` instead)
#   screenshots        the README's pictures (docs/screenshots/), from a running `make run` and its demo data

BIN ?= .venv/bin
RUN_DIR ?= .run
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
PLAYWRIGHT_VERSION := 1.65.2
FRONTEND_STAMP := frontend/node_modules/.installed
# make run gives the demo people a contract and a first few evaluations (contract_sim.demo);
# DEMO=0 leaves them without. A demo that cannot load says so and does not fail the run.
DEMO ?= 1
# The simulator is the package tools/contract_sim, run from the virtualenv with tools/ on the path.
SIM_PYTHON = PYTHONPATH=$(CURDIR)/tools$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/python

export KPI_GATEWAY_RUN_DIR ?= $(abspath $(RUN_DIR))/gateway

.PHONY: frontend-install gateway-install gateway-start gateway-stop gateway-status sim-start \
        sim-stop template-kpis browser-install test-contract-sim test-browser screenshots

run-extras:: frontend-install gateway-install ## (frontend) gateway on :8080 and simulator on :8009
	@$(WITH_DEPS) tools/contract_sim/sim.sh start
	@deploy/gateway/gateway.sh start
	@$(SIM_PYTHON) -m contract_sim.load_template_kpis --wait 60
	@[ "$(DEMO)" = 0 ] || $(SIM_PYTHON) -m contract_sim.demo --wait 60 \
	  || echo "  demo data: not loaded (the error is above); the system itself is up" >&2
	@echo "  pages       http://127.0.0.1:$${KPI_GATEWAY_PORT:-8080}/"

stop-extras::
	@deploy/gateway/gateway.sh stop
	@tools/contract_sim/sim.sh stop

status-extras::
	@deploy/gateway/gateway.sh status | sed 's/^/  /' || true
	@tools/contract_sim/sim.sh status | sed 's/^/  /' || true

$(FRONTEND_STAMP): frontend/package.json frontend/package-lock.json
	@command -v npm >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq npm; }
	cd frontend && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

frontend-install: $(FRONTEND_STAMP) ## npm ci the pinned browser libraries into frontend/node_modules

gateway-install: ## install nginx from Debian's packages when it is missing
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { \
	  echo "Installing nginx from Debian's packages..."; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }

gateway-start: frontend-install gateway-install ## start the gateway (nginx) on KPI_GATEWAY_PORT
	@deploy/gateway/gateway.sh start

gateway-stop: ## stop the gateway started by gateway-start
	@deploy/gateway/gateway.sh stop

gateway-status:
	@deploy/gateway/gateway.sh status

sim-start: venv ## start the contract-system simulator on CONTRACT_SIM_PORT
	@$(WITH_DEPS) tools/contract_sim/sim.sh start

sim-stop: ## stop the contract-system simulator
	@tools/contract_sim/sim.sh stop

template-kpis: venv ## load the demo templates' KPI sets into the catalog (needs the catalog up)
	$(SIM_PYTHON) -m contract_sim.load_template_kpis

browser-install: venv ## Debian's chromium and Playwright for Python, when missing
	@[ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi 'emoji' || { \
	  echo "Installing chromium from Debian's packages..."; \
	  $(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; }
	@$(BIN)/python -c "import playwright" 2>/dev/null || $(BIN)/pip install -q playwright==$(PLAYWRIGHT_VERSION)

test-contract-sim: venv ## the contract-system simulator's tests (no servers needed)
	PYTHONPATH=$(CURDIR)/tools $(BIN)/pytest -q tools/contract_sim/tests

test-browser: frontend-install gateway-install browser-install ## browser tests in headless Chromium
	$(BIN)/pytest -q tests/browser -m browser $(PYTEST_ARGS)

# pngquant (Debian's) makes them 256-colour PNGs, a third of their size and alike to the eye.
screenshots: browser-install ## the README's pictures from a running `make run` with its demo data
	@command -v pngquant >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pngquant; }
	$(BIN)/python -m tests.browser.screenshots
	pngquant --force --skip-if-larger --speed 1 --quality 85-100 --ext .png docs/screenshots/*.png
