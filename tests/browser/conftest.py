"""Browser-test fixtures: a running system, Debian's Chromium driven by Playwright, axe checks."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.stack import REPO, Stack

ARTIFACTS = REPO / "tests" / "artifacts"
AXE = REPO / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = os.environ.get("KPI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def answer_problem(status: int, title: str, detail: str, **extra: Any) -> Callable[[Any], None]:
    """A Playwright route handler answering as the services do: a problem+json `status`."""
    body = json.dumps({"title": title, "status": status, "detail": detail, **extra})
    return lambda route: route.fulfill(
        status=status, content_type="application/problem+json", body=body
    )


unavailable = answer_problem(503, "Service Unavailable", "Try again shortly.")


# Without Playwright (`make browser-install` has not run: `make pytest` on a fresh machine) the
# browser tests are not collected at all. Each module would skip itself, but one that imports
# another's helpers would fail on that import first.
try:
    import playwright  # noqa: F401
except ImportError:
    collect_ignore_glob = ["test_*.py"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def base_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The gateway to test: KPI_BROWSER_BASE_URL, or a whole system started for this run."""
    given = os.environ.get("KPI_BROWSER_BASE_URL")
    if given:
        yield given.rstrip("/")
        return
    database_url = request.getfixturevalue("database_url")
    amqp_url = request.getfixturevalue("amqp_url")
    stack = Stack(database_url, amqp_url)
    try:
        stack.start()
        yield stack.base_url
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def chromium(base_url: str) -> Iterator[Any]:
    """One headless Chromium for the run (after the system: Playwright's sync API holds the
    thread's event loop, which the database and vhost fixtures need while they set up)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make browser-install`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Browser:
    """A fresh browser context (own sessionStorage) on the system under test."""

    def __init__(self, chromium: Any, base_url: str, width: int = 1280) -> None:
        # bypass_csp lets the test inject axe-core; the pages themselves run under the gateway's CSP.
        self.context = chromium.new_context(
            base_url=base_url, viewport={"width": width, "height": 900}, bypass_csp=True
        )
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def sign_in(self, role: str, staff_id: str | None = None) -> Any:
        """Sign in through the dev form, as a person would; the page they land on."""
        page = self.page
        page.goto("/index.html")
        page.locator(f"input[name=role][value={role}]").check()
        if staff_id:
            page.get_by_label("Your staff id").fill(staff_id)
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(re.compile(r"page_"))
        return page

    def screenshot(self, name: str) -> Path:
        """Save a full-page screenshot under tests/artifacts/."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        # the status toast is for people, not for the picture
        self.page.evaluate("document.getElementById('toast')?.replaceChildren()")
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe_violations(self, rules: list[str] | None = None) -> list[dict[str, Any]]:
        """WCAG 2.1 A/AA violations axe-core finds on the page as it is now (or, given rules,
        those of the named rules, such as the best practice `heading-order`)."""
        if not AXE.exists():
            pytest.fail(f"{AXE} is missing: run `make frontend-install`")
        self.page.add_script_tag(path=str(AXE))
        run_only = (
            {"type": "rule", "values": rules}
            if rules
            else {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}
        )
        result = self.page.evaluate(
            """async (runOnly) => (await axe.run(document, {runOnly})).violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""",
            run_only,
        )
        return list(result)

    def assert_accessible(self) -> None:
        """No axe violations; prints them when there are."""
        violations = self.axe_violations()
        assert not violations, json.dumps(violations, indent=1)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_browser(
    chromium: Any, base_url: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Browser]]:
    """Open browsers (one per person in a test); no page may raise an uncaught error."""
    opened: list[Browser] = []

    def make(width: int = 1280) -> Browser:
        browser = Browser(chromium, base_url, width)
        opened.append(browser)
        return browser

    yield make
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for i, browser in enumerate(opened):
            browser.screenshot(f"FAILED-{request.node.name}-{i}")
    errors = [e for b in opened for e in b.errors]
    for browser in opened:
        browser.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def journey() -> dict[str, Any]:
    """What one test of a journey hands to the next (the person created, their KPIs)."""
    return {}
