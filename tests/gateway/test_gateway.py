"""The gateway routes each API path to the service that owns it (interfaces §1, §3).

nginx runs from deploy/gateway/gateway.sh exactly as under `make run`, in front of small stub
upstreams that answer with their own name, so each route is checked without the real services.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "support"))

from live import free_port  # noqa: E402

GATEWAY = REPO / "deploy" / "gateway" / "gateway.sh"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"

pytestmark = pytest.mark.skipif(
    not Path(NGINX).exists(), reason="nginx is not installed (make gateway-install)"
)


def stub(name: str) -> ThreadingHTTPServer:
    """An upstream that answers every request with its name, the path and the request id."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            if length:
                self.rfile.read(length)
            body = json.dumps(
                {
                    "upstream": name,
                    "path": self.path,
                    "request_id": self.headers.get("x-request-id"),
                    "forwarded_for": self.headers.get("x-forwarded-for"),
                    "padding": "x" * 2000,
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = _answer  # noqa: N815 - http.server names

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The gateway on a free port in front of four stubs; yields its URL and its run folder."""
    stubs = {name: stub(name) for name in ("catalog", "assignment", "journal", "contract_sim")}
    run_dir = tmp_path_factory.mktemp("gateway")
    port = free_port()
    env = {
        **os.environ,
        "KPI_ENV": "dev",
        "KPI_GATEWAY_PORT": str(port),
        "KPI_GATEWAY_RUN_DIR": str(run_dir),
        "CATALOG_UPSTREAM": f"127.0.0.1:{stubs['catalog'].server_port}",
        "ASSIGNMENT_UPSTREAM": f"127.0.0.1:{stubs['assignment'].server_port}",
        "JOURNAL_UPSTREAM": f"127.0.0.1:{stubs['journal'].server_port}",
        "CONTRACT_SIM_UPSTREAM": f"127.0.0.1:{stubs['contract_sim'].server_port}",
    }
    subprocess.run([str(GATEWAY), "start"], env=env, check=True, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}", run_dir
    finally:
        subprocess.run([str(GATEWAY), "stop"], env=env, check=False, timeout=30)
        for server in stubs.values():
            server.shutdown()


STAFF = "3f1c2b9a-0c4e-4d0b-9d5e-1a2b3c4d5e6f"
KPI = "8e7d6c5b-4a39-4281-9f0e-abcdefabcdef"
ENTRY = "11111111-2222-4333-8444-555555555555"

ROUTES = [
    ("GET", "/api/v1/hr/kpi-modules", "catalog"),
    ("GET", "/api/v1/hr/kpi-modules?role_group=team_leader", "catalog"),
    ("PATCH", f"/api/v1/hr/kpi-modules/{KPI}", "catalog"),
    ("PUT", f"/api/v1/hr/templates/{KPI}/kpis", "catalog"),
    ("POST", "/dev/token", "catalog"),
    ("GET", f"/api/v1/hr/staff/{STAFF}/kpis", "assignment"),
    ("GET", f"/api/v1/hr/staff/{STAFF}/kpis?status=all", "assignment"),
    ("POST", f"/api/v1/hr/staff/{STAFF}/kpis", "assignment"),
    ("PATCH", f"/api/v1/hr/staff/{STAFF}/kpis/{KPI}/status", "assignment"),
    ("POST", f"/api/v1/hr/staff/{STAFF}/deactivate-kpis", "assignment"),
    ("GET", "/api/v1/hr/evaluations/due?before=2030-01-01T00:00:00Z", "assignment"),
    ("GET", f"/api/v1/hr/staff/{STAFF}/journal", "journal"),
    ("GET", f"/api/v1/hr/staff/{STAFF}/journal?limit=5&cursor=abc", "journal"),
    ("GET", f"/api/v1/hr/staff/{STAFF}/kpis/{KPI}/journal", "journal"),
    ("POST", f"/api/v1/hr/staff/{STAFF}/kpis/{KPI}/journal", "journal"),
    ("POST", f"/api/v1/hr/journal/{ENTRY}/approval", "journal"),
    ("GET", f"/api/v1/hr/journal/pending?staff_id={STAFF}&limit=5&cursor=abc", "journal"),
    # bare prefixes: to the owner (its problem+json 404), not nginx's HTML 301 to the slash form
    ("GET", "/api/v1/hr/staff", "assignment"),
    ("GET", "/api/v1/hr/templates", "catalog"),
    ("GET", "/api/v1/hr/journal", "journal"),
    ("GET", "/api/v1/hr/evaluations", "assignment"),
    ("GET", "/contract-sim/templates", "contract_sim"),
    ("POST", "/contract-sim/contracts", "contract_sim"),
]


@pytest.mark.parametrize(("method", "path", "owner"), ROUTES)
def test_each_api_path_reaches_the_service_that_owns_it(
    gateway: tuple[str, Path], method: str, path: str, owner: str
) -> None:
    base, _ = gateway
    answer = httpx.request(method, base + path, json={} if method != "GET" else None)
    assert answer.status_code == 200
    body = answer.json()
    assert body["upstream"] == owner
    assert body["path"] == path  # the URI reaches the service unchanged


def test_openapi_documents_are_reachable_per_service(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    for service in ("catalog", "assignment", "journal"):
        body = httpx.get(f"{base}/schema/{service}/openapi.json").json()
        assert (body["upstream"], body["path"]) == (service, "/schema/openapi.json")


def test_request_id_is_forwarded_returned_and_logged_as_json(gateway: tuple[str, Path]) -> None:
    base, run_dir = gateway
    answer = httpx.get(f"{base}/api/v1/hr/kpi-modules")
    request_id = answer.headers["x-request-id"]
    assert len(request_id) == 32
    assert answer.json()["request_id"] == request_id
    lines = (run_dir / "logs" / "access.log").read_text().splitlines()
    logged = [json.loads(line) for line in lines]
    assert any(e["request_id"] == request_id and e["status"] == 200 for e in logged)


def test_pages_are_served_with_security_headers(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    for page in ("/", "/page_hr_kpis.html", "/page_hr_contracting.html", "/page_staff_detail.html"):
        answer = httpx.get(base + page)
        assert answer.status_code == 200, page
        assert answer.headers["content-type"].startswith("text/html")
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_config_tells_the_pages_the_environment(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    assert httpx.get(f"{base}/config.json").json() == {"env": "dev"}


def test_chart_library_comes_from_node_modules_not_git(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    if not (REPO / "frontend" / "node_modules" / "chart.js").exists():
        pytest.skip("frontend/node_modules missing (make frontend-install)")
    answer = httpx.get(f"{base}/vendor/chart.js/chart.umd.min.js")
    assert answer.status_code == 200
    assert "javascript" in answer.headers["content-type"]


def test_manifests_and_node_modules_are_not_served(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    for path in (
        "/package.json",
        "/package-lock.json",
        "/frontend.mk",
        "/node_modules/chart.js/package.json",
    ):
        assert httpx.get(base + path).status_code == 404, path


def test_json_answers_are_gzipped(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    with httpx.Client() as client:
        answer = client.get(f"{base}/api/v1/hr/kpi-modules", headers={"accept-encoding": "gzip"})
        assert answer.headers.get("content-encoding") == "gzip"
        raw = client.get(f"{base}/app.css", headers={"accept-encoding": "gzip"})
        assert raw.headers.get("content-encoding") == "gzip"


def test_oversized_body_is_refused(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    answer = httpx.post(f"{base}/api/v1/hr/kpi-modules", content=b"x" * (2 * 1024 * 1024))
    assert answer.status_code == 413
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_what_nginx_refuses_itself_is_problem_json(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    too_long = httpx.get(f"{base}/api/v1/hr/staff/{STAFF}/journal?cursor={'c' * 9000}")
    huge_header = httpx.get(f"{base}/api/v1/hr/kpi-modules", headers={"x-big": "h" * 20000})
    trace = httpx.request("TRACE", f"{base}/api/v1/hr/kpi-modules")
    for answer, status in ((too_long, 414), (huge_header, 400), (trace, 405)):
        assert answer.status_code == status
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json()["status"] == status


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        (f"/api/v1/hr/staff/.{STAFF}/kpis", "assignment"),
        (f"/api/v1/hr/staff/{STAFF}/kpis/.x/journal", "journal"),
        ("/api/v1/hr/kpi-modules/.env", "catalog"),
    ],
)
def test_api_paths_with_dot_segments_reach_their_service(
    gateway: tuple[str, Path], path: str, owner: str
) -> None:
    # The dot-file rule keeps the pages' folder private; API paths are the services' to answer.
    base, _ = gateway
    answer = httpx.get(base + path)
    assert answer.status_code == 200
    assert answer.json()["upstream"] == owner


def test_unknown_api_path_is_a_problem_json_404(gateway: tuple[str, Path]) -> None:
    base, _ = gateway
    answer = httpx.get(f"{base}/api/v1/nothing/here")
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 404


@contextmanager
def a_gateway(run_dir: Path, **upstreams: str) -> Iterator[str]:
    """The gateway alone on a free port, with the upstreams given; yields its URL."""
    port = free_port()
    env = {**os.environ, "KPI_GATEWAY_PORT": str(port), "KPI_GATEWAY_RUN_DIR": str(run_dir)}
    subprocess.run([str(GATEWAY), "start"], env=env | upstreams, check=True, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([str(GATEWAY), "stop"], env=env, check=False, timeout=30)


def test_a_service_that_is_down_is_a_problem_json_503(tmp_path: Path) -> None:
    dead = free_port()  # nobody listens there
    with a_gateway(tmp_path, CATALOG_UPSTREAM=f"127.0.0.1:{dead}") as base:
        answer = httpx.get(f"{base}/api/v1/hr/kpi-modules")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["title"] == "Service unavailable"


def test_the_gateway_waits_longer_than_a_services_statement_timeout(tmp_path: Path) -> None:
    env = {**os.environ, "KPI_GATEWAY_RUN_DIR": str(tmp_path)}
    rendered = subprocess.run(
        [str(GATEWAY), "render", "-"], env=env, check=True, capture_output=True, text=True
    ).stdout
    [seconds] = re.findall(r"^\s*proxy_read_timeout (\d+)s;", rendered, re.MULTILINE)
    assert int(seconds) > 30  # asyncpg's command_timeout in kpi_kit.db.create_pool


def test_a_timed_out_post_is_a_504_that_says_it_may_have_been_applied(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        journal = f"127.0.0.1:{silent.getsockname()[1]}"
        with a_gateway(tmp_path, JOURNAL_UPSTREAM=journal) as base:
            _shorten_the_read_timeout(tmp_path)
            answer = httpx.post(
                f"{base}/api/v1/hr/staff/{STAFF}/kpis/{KPI}/journal", json={}, timeout=30
            )
    assert answer.status_code == 504
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "may have been applied" in answer.json()["detail"]


def _shorten_the_read_timeout(run_dir: Path) -> None:
    """Make the running gateway give up after 1 s instead of waiting the real timeout out."""
    conf = run_dir / "nginx.conf"
    conf.write_text(re.sub(r"proxy_read_timeout \d+s;", "proxy_read_timeout 1s;", conf.read_text()))
    os.kill(int((run_dir / "nginx.pid").read_text()), signal.SIGHUP)
    time.sleep(1)  # the new workers take over


def test_prod_config_says_prod(tmp_path: Path) -> None:
    env = {**os.environ, "KPI_ENV": "prod", "KPI_GATEWAY_RUN_DIR": str(tmp_path)}
    rendered = subprocess.run(
        [str(GATEWAY), "render", "-"], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert '{"env":"prod"}' in rendered
    directives = [line for line in rendered.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if "${" in line]  # every placeholder was filled
