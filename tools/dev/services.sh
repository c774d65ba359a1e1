#!/usr/bin/env bash
# Start, stop and list the KPI services that `make run` manages (pid files and logs in .run/).
# Usage: services.sh start [ROLES]   ROLES = all (one process per service) or split (api + worker)
#        services.sh stop | status
set -euo pipefail

cd "$(dirname "$0")/../.."
RUN_DIR="${KPI_RUN_DIR:-.run}"
KPI="${KPI_BIN:-.venv/bin/kpi}"
mkdir -p "$RUN_DIR/logs"

declare -A PORTS=([catalog]="${CATALOG_PORT:-8001}" [assignment]="${ASSIGNMENT_PORT:-8002}" [journal]="${JOURNAL_PORT:-8003}")
WORKER_PORT_OFFSET=100

start_one() {  # name, service, role, port
  local name=$1 service=$2 role=$3 port=$4 pidfile="$RUN_DIR/$1.pid"
  if [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "  $name already running (pid $(cat "$pidfile"))"; return
  fi
  nohup "$KPI" serve "$service" --role "$role" --port "$port" >>"$RUN_DIR/logs/$name.log" 2>&1 &
  echo $! >"$pidfile"
  echo "  $name: pid $!, port $port, log $RUN_DIR/logs/$name.log"
}

wait_ready() {  # port
  for _ in $(seq 1 60); do
    curl -fsS "http://127.0.0.1:$1/health/ready" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "  service on port $1 is not ready; see $RUN_DIR/logs" >&2
  return 1
}

start() {
  local roles=${1:-all} services
  services=$("$KPI" services)
  for service in $services; do
    local port=${PORTS[$service]} worker_port=${PORTS[$service]}
    if [[ $roles == split ]]; then
      worker_port=$((port + WORKER_PORT_OFFSET))
      start_one "$service-api" "$service" api "$port"
      start_one "$service-worker" "$service" worker "$worker_port"
    else
      start_one "$service" "$service" all "$port"
    fi
    # The catalog's worker declares the queue of the first thing assignment asks for (a
    # catalogue snapshot): ready before the others start, nothing is parked unrouted on a
    # fresh broker (docs/OPERATIONS.md, "Events parked unrouted").
    if [[ $service == catalog ]]; then wait_ready "$worker_port"; fi
  done
  for service in $services; do wait_ready "${PORTS[$service]}"; done
}

stop() {
  shopt -s nullglob
  for pidfile in "$RUN_DIR"/*.pid; do
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" && echo "  stopped $(basename "$pidfile" .pid) (pid $pid)"
      # A worker finishes its messages in hand (up to 10 s) and relays its outbox (up to 10 s)
      # after the HTTP side (up to 10 s): the 30 s grace of docker-compose.yml and deploy/k8s.
      for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      if kill -9 "$pid" 2>/dev/null; then
        echo "  $(basename "$pidfile" .pid) did not stop within 30 s: killed (pid $pid)" >&2
      fi
    fi
    rm -f "$pidfile"
  done
}

status() {
  shopt -s nullglob
  for pidfile in "$RUN_DIR"/*.pid; do
    local pid; pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then echo "  $(basename "$pidfile" .pid): running (pid $pid)";
    else echo "  $(basename "$pidfile" .pid): not running"; fi
  done
}

"${1:-status}" "${@:2}"
