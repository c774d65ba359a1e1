"""Calling the KPI system's API as a person would, for the template loader and the demo data:
a dev token, and a wait for the catalog to answer."""

from __future__ import annotations

import sys
import time
import uuid

import httpx


class NoDevTokens(Exception):
    """The system hands out no dev tokens (KPI_ENV=prod)."""


def dev_token(client: httpx.Client, role: str, staff_id: uuid.UUID | None = None) -> str:
    """A token from the dev route (KPI_ENV=dev only)."""
    body = {"role": role} | ({"staff_id": str(staff_id)} if staff_id else {})
    answer = client.post("/dev/token", json=body)
    if answer.status_code == 404:
        raise NoDevTokens(f"no dev token route at {client.base_url} (KPI_ENV=prod?)")
    answer.raise_for_status()
    return str(answer.json()["token"])


def wait_for_catalog(client: httpx.Client, headers: dict[str, str], timeout: float) -> None:
    """Wait until the catalog answers (it may still be starting under make run)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if (
                client.get(
                    "/api/v1/hr/kpi-modules", params={"q": "zz-not-a-name"}, headers=headers
                ).status_code
                == 200
            ):
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"The catalog did not answer at {client.base_url} within {timeout:.0f}s")
        time.sleep(1)
