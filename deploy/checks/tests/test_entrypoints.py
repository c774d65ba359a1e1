"""The image's entrypoint and the gateway's, run for real with stand-ins for `kpi` and `nginx`."""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ENTRYPOINT = ROOT / "deploy/docker/entrypoint.sh"
GATEWAY = ROOT / "deploy/docker/gateway-entrypoint.sh"
REAL_NGINX = shutil.which("nginx")


@pytest.fixture
def stubs(tmp_path: Path) -> Path:
    """A bin directory whose `kpi` and `nginx` only record how they were called."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("kpi", "nginx"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "$STUB_LOG"\n')
        stub.chmod(0o755)
    return bin_dir


def run(
    script: Path, *args: str, stubs: Path, tmp_path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = tmp_path / "calls.log"
    environment = {
        "PATH": f"{stubs}:{os.environ['PATH']}",
        "TMPDIR": str(tmp_path),
        "STUB_LOG": str(log),
        **env,
    }
    result = subprocess.run(
        ["sh", str(script), *args], env=environment, capture_output=True, text=True, timeout=30
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return result, calls


# --- deploy/docker/entrypoint.sh ---------------------------------------------------------------


def test_service_and_role_become_kpi_serve_on_the_service_port(stubs, tmp_path):
    result, calls = run(ENTRYPOINT, "catalog", "api", stubs=stubs, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert calls == ["kpi serve catalog --role api --host 0.0.0.0 --port 8001"]
    assert (tmp_path / "kpi-health-url").read_text().strip() == "http://127.0.0.1:8001/health/ready"


def test_port_variable_and_extra_arguments_pass_through(stubs, tmp_path):
    result, calls = run(
        ENTRYPOINT,
        "journal",
        "worker",
        "--log-level",
        "debug",
        stubs=stubs,
        tmp_path=tmp_path,
        JOURNAL_PORT="9003",
    )
    assert result.returncode == 0, result.stderr
    assert calls == ["kpi serve journal --role worker --host 0.0.0.0 --port 9003 --log-level debug"]


def test_migrate_on_start_runs_the_services_migrations_first(stubs, tmp_path):
    result, calls = run(
        ENTRYPOINT, "assignment", "all", stubs=stubs, tmp_path=tmp_path, KPI_MIGRATE_ON_START="1"
    )
    assert result.returncode == 0, result.stderr
    assert calls == [
        "kpi migrate assignment",
        "kpi serve assignment --role all --host 0.0.0.0 --port 8002",
    ]


def test_migrate_command(stubs, tmp_path):
    _, calls = run(ENTRYPOINT, "migrate", "all", stubs=stubs, tmp_path=tmp_path)
    assert calls == ["kpi migrate all"]
    _, calls = run(ENTRYPOINT, "migrate", stubs=stubs, tmp_path=tmp_path)
    assert calls[-1] == "kpi migrate all"


@pytest.mark.parametrize("args", [("catalog", "web"), ("migrate", "everything"), ()])
def test_bad_arguments_exit_64_and_run_nothing(stubs, tmp_path, args):
    result, calls = run(ENTRYPOINT, *args, stubs=stubs, tmp_path=tmp_path)
    assert result.returncode == 64
    assert calls == []


def test_other_commands_run_as_given(stubs, tmp_path):
    result, calls = run(ENTRYPOINT, "kpi", "dlq", "list", stubs=stubs, tmp_path=tmp_path)
    assert result.returncode == 0
    assert calls == ["kpi dlq list"]


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_asks_the_running_service(stubs, tmp_path, status, healthy):
    handler = type("Handler", (_Health,), {"status": status})
    server = http.server.HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (tmp_path / "kpi-health-url").write_text(
            f"http://127.0.0.1:{server.server_port}/health/ready\n"
        )
        result, _ = run(ENTRYPOINT, "healthcheck", stubs=stubs, tmp_path=tmp_path)
    finally:
        server.shutdown()
    assert (result.returncode == 0) is healthy


def test_healthcheck_of_a_one_shot_container_passes(stubs, tmp_path):
    result, _ = run(ENTRYPOINT, "healthcheck", stubs=stubs, tmp_path=tmp_path)
    assert result.returncode == 0


# --- deploy/docker/gateway-entrypoint.sh --------------------------------------------------------

SERVER_BLOCK = """
server {
    listen ${KPI_GATEWAY_PORT};
    root ${KPI_FRONTEND_DIR};
    location /api/v1/hr/kpi-modules { proxy_pass http://${CATALOG_UPSTREAM}; proxy_set_header Host $host; }
    location / { try_files $uri $uri/ /index.html; }
}
"""

GATEWAY_ENV = {
    "KPI_GATEWAY_PORT": "8080",
    "KPI_FRONTEND_DIR": "/srv/frontend",
    "CATALOG_UPSTREAM": "catalog-api:8001",
    "UNRELATED_SECRET": "must-not-appear",
}


def test_gateway_renders_a_server_block_template_inside_a_main_config(stubs, tmp_path):
    template = tmp_path / "nginx.conf"
    template.write_text(SERVER_BLOCK)
    run_dir = tmp_path / "gw"
    result, calls = run(
        GATEWAY,
        stubs=stubs,
        tmp_path=tmp_path,
        KPI_GATEWAY_TEMPLATE=str(template),
        KPI_GATEWAY_RUN_DIR=str(run_dir),
        **GATEWAY_ENV,
    )
    assert result.returncode == 0, result.stderr
    rendered = (run_dir / "gateway.conf").read_text()
    assert "listen 8080;" in rendered and "proxy_pass http://catalog-api:8001;" in rendered
    assert "root /srv/frontend;" in rendered
    assert "$host" in rendered and "$uri" in rendered, "nginx's own variables must survive"
    assert f"include {run_dir}/gateway.conf;" in (run_dir / "nginx.conf").read_text()
    assert calls == [
        f"nginx -t -q -e stderr -c {run_dir}/nginx.conf -g daemon off;",
        f"nginx -e stderr -c {run_dir}/nginx.conf -g daemon off;",
    ]


def test_gateway_uses_a_whole_nginx_conf_as_it_is(stubs, tmp_path):
    template = tmp_path / "nginx.conf"
    template.write_text("events {}\nhttp {\n" + SERVER_BLOCK + "}\n")
    run_dir = tmp_path / "gw"
    result, calls = run(
        GATEWAY,
        stubs=stubs,
        tmp_path=tmp_path,
        KPI_GATEWAY_TEMPLATE=str(template),
        KPI_GATEWAY_RUN_DIR=str(run_dir),
        **GATEWAY_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert not (run_dir / "nginx.conf").exists()
    assert (
        calls[-1]
        == f"nginx -e stderr -c {run_dir}/gateway.conf -g daemon off; pid {run_dir}/nginx.pid;"
    )


def test_gateway_without_template_fails(stubs, tmp_path):
    result, calls = run(
        GATEWAY, stubs=stubs, tmp_path=tmp_path, KPI_GATEWAY_TEMPLATE=str(tmp_path / "none")
    )
    assert result.returncode == 66
    assert calls == []


@pytest.mark.skipif(
    REAL_NGINX is None or not Path("/etc/nginx/mime.types").exists(),
    reason="nginx is not installed here",
)
def test_real_nginx_accepts_the_rendered_configuration(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # nginx -t checks the configuration for real; the final exec is replaced by a no-op.
    (bin_dir / "nginx").write_text(
        f'#!/bin/sh\ncase " $* " in *" -t "*) exec {REAL_NGINX} "$@" -e /dev/stderr ;; esac\nexit 0\n'
    )
    (bin_dir / "nginx").chmod(0o755)
    template = tmp_path / "nginx.conf"
    template.write_text(SERVER_BLOCK)
    result, _ = run(
        GATEWAY,
        stubs=bin_dir,
        tmp_path=tmp_path,
        KPI_GATEWAY_TEMPLATE=str(template),
        KPI_GATEWAY_RUN_DIR=str(tmp_path / "gw"),
        # nginx resolves upstream names when it loads: use an address that needs no DNS here
        **{**GATEWAY_ENV, "CATALOG_UPSTREAM": "127.0.0.1:8001"},
    )
    assert result.returncode == 0, result.stderr


TEMPLATE = ROOT / "deploy/gateway/nginx.conf"


@pytest.mark.skipif(
    REAL_NGINX is None or not TEMPLATE.exists(), reason="needs nginx and deploy/gateway/nginx.conf"
)
def test_the_gateway_template_renders_with_the_compose_settings(tmp_path):
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    environment = {k: str(v) for k, v in compose["services"]["gateway"]["environment"].items()}
    # Same variables as the container; paths moved under tmp and upstreams to addresses without DNS.
    environment.update(
        KPI_ENV="dev",
        KPI_GATEWAY_LISTEN="127.0.0.1:18999",
        KPI_GATEWAY_ROOT=str(tmp_path),
        KPI_GATEWAY_VENDOR=str(tmp_path),
        KPI_GATEWAY_PID=str(tmp_path / "pid/nginx.pid"),
        KPI_GATEWAY_TEMP=str(tmp_path / "tmp/temp"),
        KPI_GATEWAY_ACCESS_LOG=str(tmp_path / "access.log"),
        CATALOG_UPSTREAM="127.0.0.1:1",
        ASSIGNMENT_UPSTREAM="127.0.0.1:2",
        JOURNAL_UPSTREAM="127.0.0.1:3",
        CONTRACT_SIM_UPSTREAM="127.0.0.1:4",
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "nginx").write_text(
        f'#!/bin/sh\ncase " $* " in *" -t "*) exec {REAL_NGINX} "$@" ;; esac\nexit 0\n'
    )
    (bin_dir / "nginx").chmod(0o755)
    result, _ = run(
        GATEWAY,
        stubs=bin_dir,
        tmp_path=tmp_path,
        KPI_GATEWAY_TEMPLATE=str(TEMPLATE),
        KPI_GATEWAY_RUN_DIR=str(tmp_path / "gw"),
        **environment,
    )
    assert result.returncode == 0, result.stderr
    rendered = (tmp_path / "gw/gateway.conf").read_text()
    assert "${" not in "\n".join(
        line for line in rendered.splitlines() if not line.lstrip().startswith("#")
    )
