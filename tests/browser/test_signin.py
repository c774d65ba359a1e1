"""Signing in: the dev route in KPI_ENV=dev, the identity provider's token in prod."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from tests.browser.browser import Browser
from tests.browser.stack import REPO, free_port, wait_for

expect = pytest.importorskip("playwright.sync_api", reason="make browser-install").expect
pytestmark = pytest.mark.browser

OpenBrowser = Callable[..., Browser]


def unsigned_token(claims: dict[str, object]) -> str:
    """A JWT-shaped token (the page reads claims; only the services verify signatures)."""

    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


@pytest.fixture(scope="module")
def prod_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The same gateway template rendered with KPI_ENV=prod, on a port of its own."""
    port = free_port()
    env = {
        **os.environ,
        "KPI_ENV": "prod",
        "KPI_GATEWAY_PORT": str(port),
        "KPI_GATEWAY_RUN_DIR": str(tmp_path_factory.mktemp("prod-gateway")),
    }
    script = str(REPO / "deploy" / "gateway" / "gateway.sh")
    subprocess.run([script, "start"], env=env, check=True, timeout=30)
    try:
        wait_for(f"http://127.0.0.1:{port}/health/live", 10, "prod gateway")
        yield f"http://127.0.0.1:{port}"
    finally:
        subprocess.run([script, "stop"], env=env, check=False, timeout=30)


def test_dev_sign_in_asks_a_staff_member_for_their_staff_id(open_browser: OpenBrowser) -> None:
    visitor = open_browser()
    page = visitor.page
    page.goto("/index.html")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    visitor.assert_accessible()
    visitor.screenshot("00-sign-in")
    page.locator("input[name=role][value=staff]").check()
    page.get_by_role("button", name="Sign in", exact=True).click()
    staff_id = page.get_by_label("Your staff id")
    expect(staff_id).to_have_attribute("aria-invalid", "true")
    expect(staff_id).to_be_focused()
    staff_id.fill("not-an-id")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(staff_id).to_have_attribute("aria-invalid", "true")
    assert page.url.endswith("/index.html")


def test_prod_sign_in_takes_the_identity_providers_token(
    chromium: object, prod_gateway: str
) -> None:
    visitor = Browser(chromium, prod_gateway)
    try:
        page = visitor.page
        page.goto("/index.html")
        expect(page.get_by_text("Sign in through your organisation")).to_be_visible()
        expect(page.locator("#dev-form")).to_be_hidden()
        token_field = page.get_by_label("Bearer token")
        expect(token_field).to_be_visible()
        visitor.assert_accessible()
        visitor.screenshot("00-sign-in-prod")

        token_field.fill("hello")
        page.get_by_role("button", name="Use this token").click()
        expect(page.get_by_text("does not look like a KPI system token")).to_be_visible()

        expired = unsigned_token({"sub": "x", "roles": ["manager"], "exp": 1})
        token_field.fill(expired)
        page.get_by_role("button", name="Use this token").click()
        expect(page.get_by_text("has expired")).to_be_visible()

        nobody = unsigned_token({"sub": "idp|2", "roles": ["staff"], "exp": int(time.time()) + 600})
        token_field.fill(nobody)
        page.get_by_role("button", name="Use this token").click()
        expect(page.get_by_text("names no staff member")).to_be_visible()

        staff_id = "5d1b3c5e-2f4a-4b6c-8d9e-0a1b2c3d4e5f"
        token = unsigned_token(
            {
                "sub": "idp|1",
                "roles": ["staff"],
                "staff_id": staff_id,
                "exp": int(time.time()) + 600,
            }
        )
        token_field.fill(f"Bearer {token}")
        page.get_by_role("button", name="Use this token").click()
        page.wait_for_url(f"**/page_staff_detail.html?staff_id={staff_id}")
        assert not visitor.errors, visitor.errors
    finally:
        visitor.close()


def test_a_staff_token_without_a_staff_id_is_told_so_instead_of_going_round(
    open_browser: OpenBrowser,
) -> None:
    # An identity provider hands over a staff token that names nobody.
    nobody = unsigned_token({"sub": "idp|3", "roles": ["staff"], "exp": int(time.time()) + 600})
    visitor = open_browser()
    page = visitor.page
    page.goto(f"/index.html#token={nobody}")
    expect(page.get_by_text("You are signed in as Staff")).to_be_visible()
    page.goto("/page_staff_detail.html")
    expect(page.get_by_role("heading", name="Cannot open this page")).to_be_visible()
    expect(page.get_by_text("names no staff member")).to_be_visible()
    assert page.url.endswith("/page_staff_detail.html")


@pytest.mark.parametrize(
    "page_path",
    ["page_staff_detail.html?staff_id=0b8f", "page_hr_contracting.html", "page_hr_kpis.html"],
)
def test_a_page_opened_signed_out_sends_to_sign_in_without_an_error(
    open_browser: OpenBrowser, page_path: str
) -> None:
    visitor = open_browser()  # its teardown fails the test on any uncaught page error
    page = visitor.page
    page.goto(f"/{page_path}")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert "next=" in page.url  # and it comes back after signing in


def test_a_staff_member_opening_the_contract_wizard_is_told_it_is_for_managers(
    open_browser: OpenBrowser,
) -> None:
    staff = open_browser()  # its teardown fails the test on any uncaught page error
    page = staff.sign_in("staff", staff_id="0b8f6c2e-5d0a-4d0e-9c53-3f1a2b4c5d6e")
    page.goto("/page_hr_contracting.html")
    expect(page.get_by_role("heading", name="Managers only")).to_be_visible()
