#!/usr/bin/env bash
# Start and stop the contract-system simulator as a plain background process of this checkout.
#   sim.sh start | stop | status
# Environment: CONTRACT_SIM_PORT (8009), KPI_AMQP_URL, KPI_JWT_SECRET, KPI_ENV, KPI_BIN_DIR (.venv/bin),
#              KPI_RUN_DIR (.run): pid in $KPI_RUN_DIR/contract-sim/, log in $KPI_RUN_DIR/logs/.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
run_dir="${KPI_RUN_DIR:-$repo/.run}"
bin_dir="${KPI_BIN_DIR:-$repo/.venv/bin}"
port="${CONTRACT_SIM_PORT:-8009}"
pidfile="$run_dir/contract-sim/contract-sim.pid"
log="$run_dir/logs/contract-sim.log"

running_pid() {
    [ -f "$pidfile" ] || return 1
    local pid
    pid="$(cat "$pidfile")"
    kill -0 "$pid" 2>/dev/null && echo "$pid"
}

case "${1:-}" in
    start)
        if pid="$(running_pid)"; then echo "contract-sim: already running (pid $pid)"; exit 0; fi
        mkdir -p "$(dirname "$pidfile")" "$(dirname "$log")"
        CONTRACT_SIM_PORT="$port" PYTHONPATH="$repo/tools${PYTHONPATH:+:$PYTHONPATH}" \
            nohup "$bin_dir/python" -m contract_sim \
            --state "$run_dir/contract-sim/people.json" >>"$log" 2>&1 &
        echo $! >"$pidfile"
        for _ in $(seq 1 50); do
            curl -fsS "http://127.0.0.1:$port/contract-sim/health/live" >/dev/null 2>&1 && break
            sleep 0.2
        done
        if ! curl -fsS "http://127.0.0.1:$port/contract-sim/health/live" >/dev/null 2>&1; then
            echo "contract-sim: did not start; see $log" >&2
            tail -n 20 "$log" >&2 || true
            exit 1
        fi
        echo "contract-sim: http://127.0.0.1:$port/contract-sim/ (pid $(cat "$pidfile"), log $log)"
        ;;
    stop)
        if pid="$(running_pid)"; then
            kill "$pid"
            for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -9 "$pid" 2>/dev/null || true
            echo "contract-sim: stopped (pid $pid)"
        else
            echo "contract-sim: not running"
        fi
        rm -f "$pidfile"
        ;;
    status)
        if pid="$(running_pid)"; then echo "contract-sim: running (pid $pid)"; else echo "contract-sim: not running"; exit 1; fi
        ;;
    *)
        sed -n '2,5p' "$0" >&2
        exit 2
        ;;
esac
