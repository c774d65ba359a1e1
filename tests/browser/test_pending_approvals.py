"""What waits for a manager's approval: listed across people on the People page, counted on a
person's page, never shown to staff.

The system is shared by every browser test, so other tests' entries wait in the same list: these
tests look for their own entries, following the list's "more" pages to them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.browser.browser import Browser
from tests.browser.test_ux_review import OpenBrowser, hire, kpis_of, pending_entry

expect = pytest.importorskip("playwright.sync_api", reason="make browser-install").expect
pytestmark = pytest.mark.browser

AWAITING = re.compile(r"/api/v1/hr/journal/pending")
MORE = "Show more waiting entries"


def someone_waiting(browser: Browser, name: str, title: str) -> tuple[Any, str]:
    """A manager's page and a person hired for the test with an entry of that title waiting."""
    page = browser.sign_in("manager")
    staff_id = hire(page, name)
    pending_entry(page, staff_id, title)
    return page, staff_id


def loaded(page: Any) -> Any:
    """The People page's "Waiting for approval" list, once a load of it has finished."""
    section = page.locator("#awaiting-list")
    expect(section).to_have_attribute("aria-busy", "false")
    return section


def waiting_link(page: Any, title: str) -> Any:
    """The People page's link to the entry of that title, following "more" pages to it."""
    section = loaded(page)
    link = section.get_by_role("link", name=re.compile(re.escape(title)))
    more = page.get_by_role("button", name=MORE)
    while link.count() == 0 and more.is_visible():
        more.click()
        loaded(page)
    expect(link).to_be_visible()
    return link


def every_page_shown(page: Any) -> Any:
    """The whole list, every "more" page followed."""
    section = loaded(page)
    more = page.get_by_role("button", name=MORE)
    while more.is_visible():
        more.click()
        loaded(page)
    return section


def test_a_manager_sees_what_waits_and_opens_the_journal_on_it(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page, staff_id = someone_waiting(manager, "Wren Waiting", "Calm at the evening handover")
    module = kpis_of(page, staff_id)[0]["module"]["name"]
    page.goto("/page_staff_detail.html")

    link = waiting_link(page, "Calm at the evening handover")
    expect(link).to_contain_text("Wren Waiting")
    expect(link).to_contain_text(module)
    expect(link).to_contain_text("Waiting")
    manager.assert_accessible()
    manager.screenshot("04c-people-waiting-for-approval")

    link.click()
    page.wait_for_url(re.compile(rf"staff_id={staff_id}.*tab=journal"))
    expect(page.get_by_role("tab", name="Living Journal")).to_have_attribute(
        "aria-selected", "true"
    )
    entry = page.locator("article.entry", has_text="Calm at the evening handover")
    expect(entry).to_be_focused()
    expect(entry.get_by_text("Awaiting approval")).to_be_visible()


def test_a_persons_page_counts_what_awaits_approval_until_it_is_decided(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page, staff_id = someone_waiting(manager, "Sam Summary", "Set up the new rota board")
    page.goto(f"/page_staff_detail.html?staff_id={staff_id}")
    count = page.locator("#person-summary").get_by_role("link", name="1 awaiting approval")
    expect(count).to_be_visible()
    manager.assert_accessible()

    count.click()
    expect(page.get_by_role("tab", name="Living Journal")).to_be_focused()
    entry = page.locator("article.entry", has_text="Set up the new rota board")
    entry.get_by_role("button", name="Approve").click()
    expect(entry.locator(".chip", has_text="Approved")).to_be_visible()
    expect(page.locator("#person-summary")).not_to_contain_text("awaiting approval")

    # Decided: it has left the People page's list.
    page.goto("/page_staff_detail.html")
    section = every_page_shown(page)
    expect(section.get_by_text("Set up the new rota board")).to_have_count(0)


def test_more_waiting_entries_come_a_page_at_a_time(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page = manager.page

    def one_at_a_time(route: Any) -> None:
        address = urlsplit(route.request.url)
        query = {**parse_qs(address.query), "limit": ["1"]}
        route.continue_(url=address._replace(query=urlencode(query, doseq=True)).geturl())

    _, staff_id = someone_waiting(manager, "Pat Paging", "First held note")
    pending_entry(page, staff_id, "Second held note")
    page.route(AWAITING, one_at_a_time)
    page.goto("/page_staff_detail.html")
    section = loaded(page)
    expect(section.get_by_role("link")).to_have_count(1)
    page.get_by_role("button", name=MORE).click()
    expect(section.get_by_role("link")).to_have_count(2)
    waiting_link(page, "Second held note")


def test_nothing_waiting_reads_as_good_news(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page = manager.page
    page.route(
        AWAITING,
        lambda route: route.fulfill(json={"items": [], "next_cursor": None}),
    )
    manager.sign_in("manager")
    section = loaded(page)
    expect(section).to_contain_text("Nothing is waiting for approval")
    expect(page.get_by_role("button", name=MORE)).to_be_hidden()


def test_staff_never_see_what_awaits_approval(open_browser: OpenBrowser) -> None:
    _, staff_id = someone_waiting(open_browser(), "Kit Reflective", "A note for my manager")

    staff = open_browser()
    asked: list[str] = []
    staff.page.on("request", lambda r: asked.append(r.url) if AWAITING.search(r.url) else None)
    page = staff.sign_in("staff", staff_id)
    expect(page.locator("li.kpi-card").first).to_be_attached()
    page.get_by_role("tab", name="Living Journal").click()
    expect(page.locator("article.entry", has_text="A note for my manager")).to_be_visible()
    expect(page.locator("#person-summary")).not_to_contain_text("awaiting approval")
    expect(page.get_by_role("heading", name="Waiting for approval")).to_be_hidden()
    assert asked == []
