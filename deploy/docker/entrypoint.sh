#!/bin/sh
# Entrypoint of the kpi image: one image, any service in any role.
#
#   kpi-entrypoint <catalog|assignment|journal> <api|worker|all> [extra kpi serve args]
#   kpi-entrypoint migrate [catalog|assignment|journal|all]
#   kpi-entrypoint healthcheck        (exit 0 when the running service answers /health/ready)
#   kpi-entrypoint <any other command> (run as is, e.g. `kpi dlq list` or `sh`)
#
# Services listen on KPI_HOST (default 0.0.0.0: reachable from other containers and probes).
# KPI_MIGRATE_ON_START=1 applies the service's migrations before it starts (the runner is
# idempotent and advisory-locked, so several replicas starting together are safe).
set -eu

usage() {
    cat >&2 <<'USAGE'
usage: kpi-entrypoint <catalog|assignment|journal> <api|worker|all> [kpi serve options]
       kpi-entrypoint migrate [catalog|assignment|journal|all]
       kpi-entrypoint healthcheck
       kpi-entrypoint <command> [args...]
USAGE
}

# The file the healthcheck reads: which port this container's service listens on.
health_file="${TMPDIR:-/tmp}/kpi-health-url"

default_port() {
    case "$1" in
        catalog) echo "${CATALOG_PORT:-8001}" ;;
        assignment) echo "${ASSIGNMENT_PORT:-8002}" ;;
        journal) echo "${JOURNAL_PORT:-8003}" ;;
        *) return 1 ;;
    esac
}

if [ "$#" -eq 0 ]; then
    usage
    exit 64
fi

case "$1" in
    catalog | assignment | journal)
        service="$1"
        role="${2:-all}"
        case "$role" in
            api | worker | all) ;;
            *)
                echo "kpi-entrypoint: unknown role '$role' (expected api, worker or all)" >&2
                usage
                exit 64
                ;;
        esac
        shift
        if [ "$#" -gt 0 ]; then shift; fi
        if [ "${KPI_MIGRATE_ON_START:-0}" = "1" ]; then
            echo "kpi-entrypoint: applying $service migrations before start" >&2
            kpi migrate "$service"
        fi
        port="${KPI_PORT:-$(default_port "$service")}"
        printf 'http://127.0.0.1:%s/health/ready\n' "$port" >"$health_file" || true
        exec kpi serve "$service" --role "$role" --host "${KPI_HOST:-0.0.0.0}" --port "$port" "$@"
        ;;
    migrate)
        target="${2:-all}"
        case "$target" in
            catalog | assignment | journal | all) ;;
            *)
                echo "kpi-entrypoint: unknown migration target '$target'" >&2
                exit 64
                ;;
        esac
        exec kpi migrate "$target"
        ;;
    healthcheck)
        # A one-shot container (migrate, a kpi command) has no health file and is healthy.
        [ -r "$health_file" ] || exit 0
        exec python -c '
import sys, urllib.request
url = open(sys.argv[1]).read().strip()
try:
    with urllib.request.urlopen(url, timeout=3) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as error:
    print(f"unhealthy: {url}: {error}", file=sys.stderr)
    sys.exit(1)
' "$health_file"
        ;;
    -h | --help | help)
        usage
        exit 0
        ;;
    *)
        exec "$@"
        ;;
esac
