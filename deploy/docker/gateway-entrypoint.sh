#!/bin/sh
# Renders the gateway's nginx template (deploy/gateway/nginx.conf) and starts nginx in the
# foreground. Used by docker-compose (mounted into the stock nginx image) and by the gateway
# image built from the Dockerfile's `gateway` target.
#
# Only variables that are set in the environment and whose names match KPI_GATEWAY_ENVSUBST_FILTER
# are substituted, so nginx's own lower-case variables ($host, $uri, ...) are left alone.
# The template may be a whole nginx.conf (with an `http {` block) or the server blocks that go
# inside http {}; in the second case a minimal main configuration is written around it.
set -eu

template="${KPI_GATEWAY_TEMPLATE:-/etc/kpi/nginx.conf.template}"
run_dir="${KPI_GATEWAY_RUN_DIR:-/tmp/kpi-gateway}"
filter="${KPI_GATEWAY_ENVSUBST_FILTER:-^(KPI_|CATALOG_|ASSIGNMENT_|JOURNAL_|GATEWAY_|FRONTEND_|CONTRACT_SIM_|NGINX_)}"

if [ ! -r "$template" ]; then
    echo "kpi-gateway: template $template not found" >&2
    exit 66
fi
mkdir -p "$run_dir"
# nginx creates a temp path's last directory only, and never the pid file's directory.
if [ -n "${KPI_GATEWAY_TEMP:-}" ]; then mkdir -p "$KPI_GATEWAY_TEMP"; fi
if [ -n "${KPI_GATEWAY_PID:-}" ]; then mkdir -p "$(dirname "$KPI_GATEWAY_PID")"; fi

names=$(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | grep -E "$filter" || true)
shell_format=""
for name in $names; do
    shell_format="$shell_format \${$name}"
done
envsubst "$shell_format" <"$template" >"$run_dir/gateway.conf"

if grep -Eq '^[[:space:]]*http[[:space:]]*\{' "$run_dir/gateway.conf"; then
    conf="$run_dir/gateway.conf"
    if grep -Eq '^[[:space:]]*pid[[:space:]]' "$conf"; then
        globals="daemon off;"
    else
        globals="daemon off; pid $run_dir/nginx.pid;"
    fi
else
    conf="$run_dir/nginx.conf"
    cat >"$conf" <<NGINX
worker_processes auto;
pid $run_dir/nginx.pid;
error_log /dev/stderr warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    client_body_temp_path $run_dir/client_temp;
    proxy_temp_path $run_dir/proxy_temp;
    fastcgi_temp_path $run_dir/fastcgi_temp;
    uwsgi_temp_path $run_dir/uwsgi_temp;
    scgi_temp_path $run_dir/scgi_temp;
    include $run_dir/gateway.conf;
}
NGINX
    globals="daemon off;"
fi

nginx -t -q -e stderr -c "$conf" -g "$globals"
exec nginx -e stderr -c "$conf" -g "$globals"
