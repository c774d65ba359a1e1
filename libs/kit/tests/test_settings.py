"""Settings: environment wins, per-service URLs win, prod refuses development defaults."""

from __future__ import annotations

import pytest

from kpi_kit.settings import DEV_JWT_SECRET, InsecureSettings, Settings

STRONG = "x" * 40


def test_defaults_apply_on_a_developer_machine() -> None:
    settings = Settings.from_env("journal", {})
    assert settings.port == 8003
    assert settings.database_url == "postgresql://postgres@127.0.0.1:5432/kpi"
    assert settings.jwt_secret == DEV_JWT_SECRET


def test_a_per_service_database_url_wins() -> None:
    env = {
        "KPI_DATABASE_URL": "postgresql://a/shared",
        "CATALOG_DATABASE_URL": "postgresql://a/cat",
    }
    assert Settings.from_env("catalog", env).database_url == "postgresql://a/cat"
    assert Settings.from_env("journal", env).database_url == "postgresql://a/shared"


def test_prod_refuses_the_dev_secret() -> None:
    settings = Settings.from_env("catalog", {"KPI_ENV": "prod"})
    with pytest.raises(InsecureSettings, match="KPI_JWT_SECRET"):
        settings.check_safe_for_env()


@pytest.mark.parametrize(
    ("amqp_url", "database_url", "refused"),
    [
        ("amqp://guest:guest@mq:5672/", "postgresql://kpi:s3cret-Pw@db/kpi", "KPI_AMQP_URL"),
        # docker-compose.yml's default, public in the repository
        ("amqp://kpi:Mq-s3cret@mq:5672/", "postgresql://kpi:kpi-dev-password@db/kpi", "database"),
    ],
)
def test_prod_refuses_default_passwords(amqp_url: str, database_url: str, refused: str) -> None:
    env = {
        "KPI_ENV": "prod",
        "KPI_JWT_SECRET": STRONG,
        "KPI_AMQP_URL": amqp_url,
        "KPI_DATABASE_URL": database_url,
    }
    with pytest.raises(InsecureSettings, match=refused):
        Settings.from_env("catalog", env).check_safe_for_env()


def test_prod_starts_with_real_secrets() -> None:
    env = {
        "KPI_ENV": "prod",
        "KPI_JWT_SECRET": STRONG,
        "KPI_AMQP_URL": "amqp://kpi:Mq-s3cret@mq:5672/",
        "KPI_DATABASE_URL": "postgresql://kpi:Db-s3cret@db/kpi",
    }
    Settings.from_env("catalog", env).check_safe_for_env()


def test_an_unknown_environment_is_refused() -> None:
    with pytest.raises(ValueError, match="KPI_ENV"):
        Settings.from_env("catalog", {"KPI_ENV": "staging"})


def test_the_inbox_is_kept_thirty_days_unless_told_otherwise() -> None:
    assert Settings.from_env("journal", {}).inbox_retention_days == 30
    env = {"KPI_INBOX_RETENTION_DAYS": "0"}
    assert Settings.from_env("journal", env).inbox_retention_days == 0  # for ever
    with pytest.raises(ValueError, match="KPI_INBOX_RETENTION_DAYS"):
        Settings.from_env("journal", {"KPI_INBOX_RETENTION_DAYS": "-1"})


def test_a_rotation_keeps_the_previous_key_beside_the_current_one() -> None:
    env = {"KPI_JWT_SECRET": STRONG, "KPI_JWT_PREVIOUS_SECRET": STRONG[::-1]}
    assert Settings.from_env("catalog", env).jwt_secrets == (STRONG, STRONG[::-1])
    assert Settings.from_env("catalog", {"KPI_JWT_PREVIOUS_SECRET": ""}).jwt_secrets == (
        DEV_JWT_SECRET,
    )


def test_prod_refuses_a_weak_previous_key() -> None:
    env = {
        "KPI_ENV": "prod",
        "KPI_JWT_SECRET": STRONG,
        "KPI_JWT_PREVIOUS_SECRET": DEV_JWT_SECRET,
        "KPI_AMQP_URL": "amqp://kpi:Mq-s3cret@mq:5672/",
        "KPI_DATABASE_URL": "postgresql://kpi:Db-s3cret@db/kpi",
    }
    with pytest.raises(InsecureSettings, match="KPI_JWT_PREVIOUS_SECRET"):
        Settings.from_env("catalog", env).check_safe_for_env()
