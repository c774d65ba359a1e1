#!/usr/bin/env bash
# Make sure PostgreSQL and RabbitMQ answer: use them if they do, start them with docker compose
# where a Docker engine answers, otherwise say what is missing and how to provide it.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
KPI="${KPI_BIN:-.venv/bin/kpi}"

DEPS_ENV=.run/deps.env
mkdir -p .run
rm -f "$DEPS_ENV"
"$KPI" check-deps 2>/dev/null && exit 0
if docker info >/dev/null 2>&1; then
  echo "Starting PostgreSQL and RabbitMQ with docker compose..."
  docker compose up -d postgres rabbitmq || exit 1
  # The compose servers' credentials (docker-compose.yml); make run sources this file.
  cat >"$DEPS_ENV" <<ENV
KPI_DATABASE_URL=postgresql://${POSTGRES_USER:-kpi}:${POSTGRES_PASSWORD:-kpi-dev-password}@127.0.0.1:${POSTGRES_HOST_PORT:-5432}/kpi
KPI_AMQP_URL=amqp://${RABBITMQ_USER:-kpi}:${RABBITMQ_PASSWORD:-kpi-dev-password}@127.0.0.1:${RABBITMQ_HOST_PORT:-5672}/
ENV
  set -a
  # shellcheck source=/dev/null
  . "$DEPS_ENV"
  set +a
  for _ in $(seq 1 60); do "$KPI" check-deps 2>/dev/null && exit 0; sleep 2; done
  rm -f "$DEPS_ENV"
fi
"$KPI" check-deps
cat >&2 <<'MSG'

The KPI system needs PostgreSQL 15+ and RabbitMQ 3.10+.
  - Start them locally (Debian: apt-get install postgresql rabbitmq-server), or
  - point KPI_DATABASE_URL / KPI_AMQP_URL at running servers, or
  - install Docker so that `make run` can start them with docker compose.
MSG
exit 1
