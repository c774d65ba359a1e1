"""Browser-test fixtures: a running system, Debian's Chromium driven by Playwright, axe checks."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.browser import CHROMIUM, CHROMIUM_ARGS, Browser
from tests.browser.stack import Stack


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


# The test that begins the journey (tests/browser/test_journey.py): it creates the person.
JOURNEY_BEGINS = "test_manager_creates_a_contract_in_the_wizard"


class Journey(dict[str, Any]):
    """What one test of a journey hands to the next. A test that asks for what no earlier test
    handed on is skipped when the test that begins the journey was not run (a test run alone),
    and fails when it was: it then failed, or no longer hands that on."""

    def __init__(self, begun: bool) -> None:
        super().__init__()
        self.begun = begun

    def __missing__(self, key: str) -> Any:
        if not self.begun:
            pytest.skip(f"continues a journey that {JOURNEY_BEGINS} begins, not run here")
        pytest.fail(f"no earlier test of the journey handed on {key!r}")


@pytest.fixture(scope="module")
def journey(request: pytest.FixtureRequest) -> Journey:
    """What one test of a journey hands to the next (the person created, their KPIs)."""
    return Journey(begun=any(item.name == JOURNEY_BEGINS for item in request.session.items))
