# The benchmark suite (issue 7). Included by the top-level Makefile (`-include bench/bench.mk`).
#
# Uses from the top-level Makefile (defaults below when used alone):
#   BIN    the virtualenv's bin folder (.venv/bin)
#   venv   the target that creates the virtualenv with the kit, contracts and the three services
# Needs PostgreSQL and RabbitMQ (as `make run`; rabbitmqctl on this machine for the vhost), nginx
# for the gateway figure and wrk for the HTTP loads: both are installed from Debian's packages when
# missing (as root), and without wrk the harness falls back to an aiohttp load generator.
#
# The suite never touches `make run`'s data: it drops and recreates its own database `kpi_bench`
# and vhost `kpi_bench`, serves on ports 29001-29003 and 29080 (worker processes +100; below the
# ephemeral port range, which an outgoing connection may hold), and removes both at the end
# (BENCH_KEEP=1 keeps them). See docs/BENCHMARKS.md for what is measured and how.
#
# Targets:
#   bench          the full suite (< 10 min): table on stdout, bench/results.json, docs/BENCHMARKS.md
#   bench-quick    small sizes, short rounds (about 3 min), results in bench/tmp/quick.json
#   bench-scaling  how cost grows with people, KPIs per person, journal length (about 3 min):
#                  bench/scaling.json and the "How cost grows" tables of docs/BENCHMARKS.md
#   bench-deps     the harness' own packages and tools

BIN ?= .venv/bin
BENCH_STAMP := $(BIN)/../.bench-installed
BENCH_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: bench bench-quick bench-scaling bench-deps

$(BENCH_STAMP): bench/requirements.txt
	$(BIN)/pip install -q -r bench/requirements.txt
	@touch $@

bench-deps: venv $(BENCH_STAMP) ## the benchmark's packages (and wrk, nginx from Debian when missing)
	@command -v wrk >/dev/null || { echo "Installing wrk from Debian's packages..."; \
	  ($(BENCH_SUDO) apt-get update -qq && $(BENCH_SUDO) env DEBIAN_FRONTEND=noninteractive \
	   apt-get install -y -qq wrk) >/dev/null || echo "wrk not installed: using aiohttp as the load generator"; }
	@command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { echo "Installing nginx from Debian's packages..."; \
	  $(BENCH_SUDO) apt-get update -qq && $(BENCH_SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }
	@tools/dev/ensure-deps.sh

bench: bench-deps ## the benchmark suite: every figure against its raw baseline (< 10 min)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.report bench/results.json docs/BENCHMARKS.md

bench-quick: bench-deps ## the benchmark suite at small sizes (develop the harness; figures not comparable)
	@mkdir -p bench/tmp
	$(BIN)/python -m bench --quick --out bench/tmp/quick.json

bench-scaling: bench-deps ## how cost grows with people, KPIs per person and journal length
	$(BIN)/python -m bench.scaling
