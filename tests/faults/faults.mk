# The fault suite (issue 6), included by the top-level Makefile (`-include tests/faults/faults.mk`).
#
# Expects from the including Makefile: BIN (the virtualenv's bin folder) and the `venv` target.
# Expects on the machine (not running: the suite starts its own, on free ports, in a temp folder,
# and never restarts or stops the shared servers on 5432/5672):
#   - PostgreSQL server binaries: /usr/lib/postgresql/<version>/bin (or KPI_FAULTS_PG_BIN);
#     as root, `runuser` and the `postgres` user (PostgreSQL refuses to run as root);
#   - RabbitMQ: /usr/lib/rabbitmq/bin (or KPI_FAULTS_RABBITMQ_BIN), with epmd on 127.0.0.1.
# Figures (events in flight, faults injected, lost, duplicated) are printed at the end and
# written to $(FAULTS_FIGURES)/faults.json; service logs go to a temp folder named at the end.

FAULTS_PEOPLE ?= 5000
FAULTS_FIGURES ?= .run/figures
FAULTS_ARGS ?=

.PHONY: test-faults test-faults-quick

test-faults: venv ## fault suite: 5,000 people's events under broker/worker/database faults, repeats, shuffles
	KPI_FAULTS_PEOPLE=$(FAULTS_PEOPLE) KPI_FIGURES_DIR=$(FAULTS_FIGURES) \
	  $(BIN)/pytest -q tests/faults -m faults -p no:cacheprovider $(FAULTS_ARGS)

test-faults-quick: venv ## the fault suite with 300 people (a smoke run while developing)
	@$(MAKE) --no-print-directory test-faults FAULTS_PEOPLE=300
