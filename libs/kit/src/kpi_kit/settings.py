"""Service settings read from the environment (interfaces §1); nothing is read at import time."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

import msgspec

DEV_JWT_SECRET = "dev-only-secret-change-me"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kpi"
DEFAULT_PORTS = {"catalog": 8001, "assignment": 8002, "journal": 8003}
# Credentials that ship in examples and images: refused in prod.
# "kpi-dev-password": docker-compose.yml's default for PostgreSQL and RabbitMQ (and the Docker
# fallback of `make run`), public in this repository.
DEFAULT_PASSWORDS = frozenset(
    {"guest", "postgres", "password", "changeme", "kpi", "kpi-dev-password"}
)

Role = Literal["api", "worker", "all"]


class InsecureSettings(RuntimeError):
    """Raised in prod when a setting still holds a development default."""


# Messages a consumer holds unacknowledged: its two batches in the database (up to 100 each,
# kpi_kit.consuming) and the next one gathering while they commit. At 128 a consumer with both
# batches in flight waited on deliveries after each ack: in a burst, assignment committed 10,000
# contracts in 12 s at 128, 10 s at 256, 9 s at 400 to 1,000 on 2 cores (docs/BENCHMARKS.md).
DEFAULT_PREFETCH = 512


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a service process needs to know about its environment."""

    service: str
    env: Literal["dev", "prod"] = "dev"
    amqp_url: str = DEFAULT_AMQP_URL
    database_url: str = DEFAULT_DATABASE_URL
    jwt_secret: str = DEV_JWT_SECRET
    # While the key is rotated: the key before, whose tokens are still accepted until they expire.
    jwt_previous_secret: str | None = None
    port: int = 8000
    prefetch: int = DEFAULT_PREFETCH
    outbox_batch: int = 500
    db_pool_max: int = 10
    # How long a worker remembers the events it applied (its inbox), against redeliveries; 0: for
    # ever. Redeliveries come within minutes; a parked letter replayed later was never applied.
    inbox_retention_days: int = 30
    # The role the service's pool connections assume with SET ROLE. None: the service's own
    # default (ServiceDefinition.db_role); "": none, for a login role that may not SET ROLE.
    db_role: str | None = None
    # How long an API request waits for word that the event it caused was applied by the service
    # that shows its change (kpi_kit.confirmations); 0: it does not wait.
    confirm_timeout: float = 1.0
    # How long start-up tries RabbitMQ before giving up (exit code 3, for the supervisor to
    # restart): a broker starting beside the service or a short blip costs no crash loop.
    broker_start_timeout: float = 30.0

    @classmethod
    def from_env(cls, service: str, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings of `service` from the environment; per-service URLs win."""
        env = os.environ if environ is None else environ
        prefix = service.upper()
        kpi_env = env.get("KPI_ENV", "dev")
        if kpi_env not in ("dev", "prod"):
            raise ValueError(f"KPI_ENV must be 'dev' or 'prod', not {kpi_env!r}")
        retention = int(env.get("KPI_INBOX_RETENTION_DAYS", 30))
        if retention < 0:
            raise ValueError("KPI_INBOX_RETENTION_DAYS must be 0 (keep for ever) or more days")
        return cls(
            service=service,
            env=kpi_env,  # type: ignore[arg-type]
            amqp_url=env.get("KPI_AMQP_URL", DEFAULT_AMQP_URL),
            database_url=env.get(f"{prefix}_DATABASE_URL")
            or env.get("KPI_DATABASE_URL", DEFAULT_DATABASE_URL),
            jwt_secret=env.get("KPI_JWT_SECRET", DEV_JWT_SECRET),
            jwt_previous_secret=env.get("KPI_JWT_PREVIOUS_SECRET") or None,
            port=int(env.get(f"{prefix}_PORT", DEFAULT_PORTS.get(service, 8000))),
            prefetch=int(env.get("KPI_PREFETCH", DEFAULT_PREFETCH)),
            outbox_batch=int(env.get("KPI_OUTBOX_BATCH", 500)),
            db_pool_max=int(env.get("KPI_DB_POOL_MAX", 10)),
            inbox_retention_days=retention,
            db_role=env.get(f"{prefix}_DB_ROLE"),
            confirm_timeout=float(env.get("KPI_CONFIRM_TIMEOUT_SECONDS", 1.0)),
            broker_start_timeout=float(env.get("KPI_BROKER_START_TIMEOUT_SECONDS", 30.0)),
        )

    @property
    def jwt_secrets(self) -> tuple[str, ...]:
        """The keys a token may be signed with: the current one, then the previous one."""
        previous = (self.jwt_previous_secret,) if self.jwt_previous_secret else ()
        return (self.jwt_secret, *previous)

    def check_safe_for_env(self) -> None:
        """Refuse to run in prod on the dev JWT secret or a default password."""
        if self.env != "prod":
            return
        problems = []
        keys = {
            "KPI_JWT_SECRET": self.jwt_secret,
            "KPI_JWT_PREVIOUS_SECRET": self.jwt_previous_secret,
        }
        for name, secret in keys.items():
            if secret is not None and (secret == DEV_JWT_SECRET or len(secret) < 32):
                problems.append(f"{name} is the dev secret or shorter than 32 characters")
        database = f"the database URL ({self.service.upper()}_DATABASE_URL, else KPI_DATABASE_URL)"
        for name, url in (("KPI_AMQP_URL", self.amqp_url), (database, self.database_url)):
            password = _password_of(url)
            if password is None or password in DEFAULT_PASSWORDS:
                problems.append(f"{name} has no password or a default one")
        if problems:
            raise InsecureSettings("refusing to start in prod: " + "; ".join(problems))


def _password_of(url: str) -> str | None:
    from urllib.parse import urlsplit

    return urlsplit(url).password
