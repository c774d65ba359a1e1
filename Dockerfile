# syntax=docker/dockerfile:1.7
# One image for the three services in any role, plus a small gateway image (target `gateway`).
#
#   docker build -t kpi:dev .                          # services: catalog, assignment, journal
#   docker build --target gateway -t kpi-gateway:dev . # nginx + deploy/gateway/nginx.conf + frontend/ + npm libs
#   docker run --rm kpi:dev catalog api                # see deploy/docker/entrypoint.sh
#
# Pin the base images by digest in a release pipeline (PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine
ARG NODE_IMAGE=node:20-alpine

# --- build: install the repo's packages into a virtualenv with the pinned versions -------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/kpi
ENV PATH=/opt/kpi/bin:$PATH
WORKDIR /src
COPY constraints.txt pyproject.toml ./
COPY libs ./libs
COPY services ./services
RUN pip install --constraint constraints.txt \
        ./libs/contracts "./libs/kit[otel]" \
        ./services/catalog ./services/assignment ./services/journal \
    && python -m compileall -q /opt/kpi \
    && kpi --help >/dev/null

# --- frontend-vendor: the pinned browser libraries of frontend/package.json (npm ci) ----------
FROM ${NODE_IMAGE} AS frontend-vendor
WORKDIR /src
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# --- gateway: nginx (unprivileged, port 8080) with the gateway template and the static pages ----
# deploy/gateway/nginx.conf is an envsubst template; deploy/docker/gateway-entrypoint.sh renders
# it from the variables below (upstreams are overridden per deployment) and runs nginx.
FROM ${NGINX_IMAGE} AS gateway
COPY --chmod=0644 deploy/gateway/nginx.conf /etc/kpi/nginx.conf.template
COPY --chmod=0755 deploy/docker/gateway-entrypoint.sh /usr/local/bin/kpi-gateway
COPY frontend /usr/share/nginx/html
COPY --from=frontend-vendor /src/node_modules /usr/share/nginx/vendor
ENV KPI_ENV=prod \
    KPI_GATEWAY_LISTEN=8080 \
    KPI_GATEWAY_ROOT=/usr/share/nginx/html \
    KPI_GATEWAY_VENDOR=/usr/share/nginx/vendor \
    KPI_GATEWAY_PID=/tmp/kpi-gateway/nginx.pid \
    KPI_GATEWAY_ACCESS_LOG=/dev/stdout \
    KPI_GATEWAY_ERROR_LOG=/dev/stderr \
    KPI_GATEWAY_TEMP=/tmp/kpi-gateway/temp \
    CATALOG_UPSTREAM=catalog-api:8001 \
    ASSIGNMENT_UPSTREAM=assignment-api:8002 \
    JOURNAL_UPSTREAM=journal-api:8003 \
    CONTRACT_SIM_UPSTREAM=127.0.0.1:8009
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
    CMD ["wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/health/live"]
ENTRYPOINT ["/usr/local/bin/kpi-gateway"]

# --- runtime (the last stage, so the default target): venv, tini, entrypoint; non-root ------
FROM ${PYTHON_IMAGE} AS runtime
ARG KPI_UID=10001
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid "${KPI_UID}" kpi \
    && useradd --system --uid "${KPI_UID}" --gid kpi --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin kpi
COPY --from=build /opt/kpi /opt/kpi
# The development tools that run from the image (the contract-system simulator, dev only):
# `PYTHONPATH=/opt/kpi-tools python -m contract_sim`.
COPY tools /opt/kpi-tools
COPY --chmod=0755 deploy/docker/entrypoint.sh /usr/local/bin/kpi-entrypoint
# KPI_ENV defaults to prod in the image: a container refuses the dev JWT secret and default
# passwords unless it is told it is a developer's (docker-compose.yml and the dev overlay say so).
ENV PATH=/opt/kpi/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    KPI_ENV=prod
USER ${KPI_UID}:${KPI_UID}
WORKDIR /tmp
EXPOSE 8001 8002 8003
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/kpi-entrypoint", "healthcheck"]
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/kpi-entrypoint"]
CMD ["--help"]
