#!/usr/bin/env bash
# Run the gateway (nginx) as a plain process of this checkout: its own prefix, pid and logs under
# .run/gateway, never the system service.
#
#   gateway.sh render [OUT]   write the rendered config (default .run/gateway/nginx.conf, "-" = stdout)
#   gateway.sh start          render, test and start nginx (it daemonises; pid in .run/gateway/nginx.pid)
#   gateway.sh stop           graceful stop of the nginx started by start (no-op when not running)
#   gateway.sh reload         re-render and reload
#   gateway.sh status         exit 0 when running
#
# Every variable documented at the top of nginx.conf can be set in the environment.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

export KPI_ENV="${KPI_ENV:-dev}"
export KPI_GATEWAY_PORT="${KPI_GATEWAY_PORT:-8080}"
export KPI_GATEWAY_LISTEN="${KPI_GATEWAY_LISTEN:-127.0.0.1:${KPI_GATEWAY_PORT}}"
export KPI_GATEWAY_ROOT="${KPI_GATEWAY_ROOT:-$repo/frontend}"
export KPI_GATEWAY_VENDOR="${KPI_GATEWAY_VENDOR:-$KPI_GATEWAY_ROOT/node_modules}"
run_dir="${KPI_GATEWAY_RUN_DIR:-$repo/.run/gateway}"
export KPI_GATEWAY_PID="${KPI_GATEWAY_PID:-$run_dir/nginx.pid}"
export KPI_GATEWAY_ACCESS_LOG="${KPI_GATEWAY_ACCESS_LOG:-$run_dir/logs/access.log}"
export KPI_GATEWAY_ERROR_LOG="${KPI_GATEWAY_ERROR_LOG:-$run_dir/logs/error.log}"
export KPI_GATEWAY_TEMP="${KPI_GATEWAY_TEMP:-$run_dir/temp}"
export CATALOG_UPSTREAM="${CATALOG_UPSTREAM:-127.0.0.1:${CATALOG_PORT:-8001}}"
export ASSIGNMENT_UPSTREAM="${ASSIGNMENT_UPSTREAM:-127.0.0.1:${ASSIGNMENT_PORT:-8002}}"
export JOURNAL_UPSTREAM="${JOURNAL_UPSTREAM:-127.0.0.1:${JOURNAL_PORT:-8003}}"
export CONTRACT_SIM_UPSTREAM="${CONTRACT_SIM_UPSTREAM:-127.0.0.1:${CONTRACT_SIM_PORT:-8009}}"

case "$KPI_ENV" in dev|prod) ;; *) echo "gateway: KPI_ENV must be dev or prod, not '$KPI_ENV'" >&2; exit 2 ;; esac

names='${KPI_ENV} ${KPI_GATEWAY_LISTEN} ${KPI_GATEWAY_ROOT} ${KPI_GATEWAY_VENDOR} ${KPI_GATEWAY_PID}
${KPI_GATEWAY_ACCESS_LOG} ${KPI_GATEWAY_ERROR_LOG} ${KPI_GATEWAY_TEMP}
${CATALOG_UPSTREAM} ${ASSIGNMENT_UPSTREAM} ${JOURNAL_UPSTREAM} ${CONTRACT_SIM_UPSTREAM}'

conf="$run_dir/nginx.conf"
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"

render() {
    local out="${1:-$conf}"
    if [ "$out" = "-" ]; then
        envsubst "$names" < "$here/nginx.conf"
    else
        mkdir -p "$(dirname "$out")"
        envsubst "$names" < "$here/nginx.conf" > "$out"
    fi
}

running_pid() {
    [ -f "$KPI_GATEWAY_PID" ] || return 1
    local pid
    pid="$(cat "$KPI_GATEWAY_PID" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

nginx_cmd() {
    "$nginx_bin" -p "$run_dir/" -c "$conf" -e "$KPI_GATEWAY_ERROR_LOG" "$@"
}

prepare() {
    [ -x "$nginx_bin" ] || { echo "gateway: nginx is not installed (make gateway-install)" >&2; exit 1; }
    mkdir -p "$run_dir" "$(dirname "$KPI_GATEWAY_ACCESS_LOG")" "$(dirname "$KPI_GATEWAY_ERROR_LOG")" "$KPI_GATEWAY_TEMP"
    render "$conf"
    nginx_cmd -t -q
}

case "${1:-}" in
    render)
        render "${2:-}"
        ;;
    start)
        if pid="$(running_pid)"; then
            echo "gateway: already running (pid $pid) on $KPI_GATEWAY_LISTEN"
            exit 0
        fi
        prepare
        nginx_cmd
        for _ in $(seq 1 50); do
            running_pid >/dev/null && break
            sleep 0.1
        done
        if ! pid="$(running_pid)"; then
            echo "gateway: nginx did not start; see $KPI_GATEWAY_ERROR_LOG" >&2
            tail -n 20 "$KPI_GATEWAY_ERROR_LOG" >&2 || true
            exit 1
        fi
        echo "gateway: http://$KPI_GATEWAY_LISTEN/ (pid $pid, KPI_ENV=$KPI_ENV, logs in $(dirname "$KPI_GATEWAY_ACCESS_LOG"))"
        ;;
    stop)
        if ! pid="$(running_pid)"; then
            echo "gateway: not running"
            rm -f "$KPI_GATEWAY_PID"
            exit 0
        fi
        kill -QUIT "$pid"
        for _ in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
        rm -f "$KPI_GATEWAY_PID"
        echo "gateway: stopped (pid $pid)"
        ;;
    reload)
        pid="$(running_pid)" || { echo "gateway: not running" >&2; exit 1; }
        prepare
        kill -HUP "$pid"
        echo "gateway: reloaded (pid $pid)"
        ;;
    status)
        if pid="$(running_pid)"; then echo "gateway: running (pid $pid)"; else echo "gateway: not running"; exit 1; fi
        ;;
    *)
        sed -n '2,12p' "$0" >&2
        exit 2
        ;;
esac
