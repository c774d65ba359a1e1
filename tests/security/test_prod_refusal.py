"""KPI_ENV=prod refuses to start on the dev secret or default passwords, through the real entry
points (the app factory and `kpi serve`), and serves no dev-token route when it does start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kpi_kit.cli import available_services, definition_of
from kpi_kit.service import create_app
from kpi_kit.settings import DEV_JWT_SECRET, InsecureSettings, Settings

KPI = str(Path(sys.executable).with_name("kpi"))
STRONG_SECRET = "s" * 48
GOOD_URLS = {
    "KPI_AMQP_URL": "amqp://kpi:Mq-r3al-pw@127.0.0.1:1/",
    "KPI_DATABASE_URL": "postgresql://kpi:Db-r3al-pw@127.0.0.1:1/kpi",
}


def prod_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KPI_")}
    env.update({"KPI_ENV": "prod", "KPI_JWT_SECRET": STRONG_SECRET, **GOOD_URLS})
    env.update(overrides)
    return env


def kpi(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the `kpi` command with this environment; its output as text."""
    return subprocess.run([KPI, *args], env=env, capture_output=True, text=True, timeout=60)


def kpi_serve(service: str, **overrides: str) -> subprocess.CompletedProcess[str]:
    """Run `kpi serve` in prod with these settings changed (it must exit before serving)."""
    return kpi("serve", service, "--port", "1", env=prod_env(**overrides))


@pytest.mark.parametrize("service", available_services())
def test_the_app_factory_refuses_the_dev_secret_in_prod(service: str) -> None:
    settings = Settings.from_env(service, prod_env(KPI_JWT_SECRET=DEV_JWT_SECRET))
    with pytest.raises(InsecureSettings, match="KPI_JWT_SECRET"):
        create_app(definition_of(service), settings)


@pytest.mark.parametrize("service", available_services())
def test_kpi_serve_exits_on_the_dev_secret_in_prod(service: str) -> None:
    done = kpi_serve(service, KPI_JWT_SECRET=DEV_JWT_SECRET)
    assert done.returncode != 0
    assert "refusing to start in prod" in done.stderr + done.stdout


def test_kpi_serve_exits_on_a_default_broker_password_in_prod() -> None:
    done = kpi_serve("catalog", KPI_AMQP_URL="amqp://guest:guest@127.0.0.1:1/")
    assert done.returncode != 0
    assert "KPI_AMQP_URL" in done.stderr + done.stdout


def test_kpi_serve_names_the_database_variable_and_prints_no_traceback() -> None:
    done = kpi_serve("catalog", CATALOG_DATABASE_URL="postgresql://kpi:kpi@127.0.0.1:1/kpi")
    assert done.returncode != 0
    # The per-service URL wins over KPI_DATABASE_URL: the operator must know which one to fix.
    assert "CATALOG_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr


def test_kpi_serve_refuses_an_unknown_kpi_env_in_one_line() -> None:
    done = kpi_serve("catalog", KPI_ENV="production")
    assert done.returncode != 0
    assert "KPI_ENV must be 'dev' or 'prod'" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_a_short_secret_is_refused_in_prod() -> None:
    settings = Settings.from_env("catalog", prod_env(KPI_JWT_SECRET="short-but-not-dev"))
    with pytest.raises(InsecureSettings):
        create_app(definition_of("catalog"), settings)


@pytest.mark.parametrize("service", available_services())
def test_prod_serves_no_dev_token_route(service: str) -> None:
    app = create_app(definition_of(service), Settings.from_env(service, prod_env()))
    paths = {route.path for route in app.routes}
    assert not any("dev/token" in path for path in paths), paths


def test_dev_serves_the_dev_token_route_for_contrast() -> None:
    app = create_app(definition_of("catalog"), Settings(service="catalog"))
    assert any("dev/token" in route.path for route in app.routes)


def test_kpi_token_refuses_in_prod_and_signs_in_dev() -> None:
    refused = kpi("token", "--role", "hr_admin", env=prod_env())
    assert refused.returncode != 0 and not refused.stdout
    assert "refused when KPI_ENV=prod" in refused.stderr
    signed = kpi("token", "--role", "hr_admin", env=prod_env(KPI_ENV="dev"))
    assert signed.returncode == 0 and signed.stdout.count(".") == 2


def test_check_deps_names_every_database_server_that_does_not_answer() -> None:
    # The services' own servers (nothing listens on port 1): each named once, with no password.
    env = prod_env(
        KPI_ENV="dev",
        KPI_DATABASE_URL="postgresql://kpi:Db-r3al-pw@127.0.0.1:1/kpi",
        JOURNAL_DATABASE_URL="postgresql://kpi:Db-r3al-pw@127.0.0.2:1/journal",
    )
    answer = kpi("check-deps", env=env)
    assert answer.returncode == 1
    unreachable = [line for line in answer.stderr.splitlines() if "PostgreSQL" in line]
    assert [line.split(" (")[0] for line in unreachable] == [
        "not reachable: PostgreSQL at postgresql://127.0.0.1:1",
        "not reachable: PostgreSQL at postgresql://127.0.0.2:1",
    ]
    assert "Db-r3al-pw" not in answer.stderr
