"""What a review of a person's page found, held to in a real browser: a KPI's journal read from its
own route (older entries included), the entry form starting afresh after a save, the focus and
the status toast after "Add entry" and "Load older entries", a score adjustment's example on the
KPI's scale, a gateway's HTML error page said in words, and the pages at 375px.

Each test hires its own person through the contract system (as `test_ux_review` does), so that
the entries it writes leave the others' people alone.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.browser.conftest import unavailable
from tests.browser.test_ux_review import OpenBrowser, bearer, hire, kpis_of, manager_on, wait_until

expect = pytest.importorskip("playwright.sync_api", reason="make browser-install").expect
pytestmark = pytest.mark.browser

PERSON_JOURNAL = re.compile(r"/api/v1/hr/staff/[^/]+/journal\?")
KPI_JOURNAL_READ = re.compile(r"/api/v1/hr/staff/[^/]+/kpis/[^/]+/journal\?")
KPIS_READ = re.compile(r"/api/v1/hr/staff/[^/]+/kpis\?")
ENTRY_POST = re.compile(r"/api/v1/hr/staff/[^/]+/kpis/[^/]+/journal$")


def staff_id_of(page: Any) -> str:
    return str(parse_qs(urlsplit(page.url).query)["staff_id"][0])


def append(page: Any, staff_id: str, kpi_id: str, title: str) -> None:
    """An observation on a KPI, written through the API (once the journal, which hears of a new
    KPI by event, knows it: until then it answers 404 and writes nothing)."""

    def written() -> bool:
        answer = page.request.post(
            f"/api/v1/hr/staff/{staff_id}/kpis/{kpi_id}/journal",
            data={"entry_type": "observation", "title": title, "content": f"{title}, in detail."},
            headers=bearer(page),
        )
        assert answer.ok or answer.status == 404, answer.text()
        return bool(answer.ok)

    wait_until(written, "the journal to know the KPI")


def pages_of(page: Any, url: re.Pattern[str], limit: int) -> list[dict[str, Any]]:
    """Answer the page's reads of `url` `limit` entries at a time (as a journal with that many
    more entries would); the pages answered, in order."""
    answered: list[dict[str, Any]] = []

    def smaller_pages(route: Any) -> None:
        address = urlsplit(route.request.url)
        query = {**parse_qs(address.query), "limit": [str(limit)]}
        response = route.fetch(url=address._replace(query=urlencode(query, doseq=True)).geturl())
        answered.append(response.json())
        route.fulfill(response=response)

    page.route(url, smaller_pages)
    return answered


def entry_form(page: Any) -> Any:
    page.get_by_role("tab", name="Living Journal").click()
    return page.get_by_role("form", name="Add to the journal")


def kpi_named(kpis: list[dict[str, Any]], score_type: str) -> dict[str, Any]:
    return next(
        k for k in kpis if k["status"] == "active" and k["module"]["score_type"] == score_type
    )


def test_a_kpis_journal_shows_its_entries_older_than_the_persons_newest(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    staff_id = hire(page, "Ora Older")
    older, newer = kpis_of(page, staff_id)[:2]
    append(page, staff_id, older["id"], "An early observation")
    for n in range(3):
        append(page, staff_id, newer["id"], f"A later observation {n}")
    # The person's journal answers two entries a page: its newest are all the other KPI's.
    pages_of(page, PERSON_JOURNAL, 2)

    page.goto(f"/page_staff_detail.html?staff_id={staff_id}")
    card = page.locator(f"li.kpi-card[data-kpi-id='{older['id']}']")
    card.get_by_role("button", name="View journal").click()
    journal = page.locator("#journal-list")
    expect(journal.get_by_role("heading", name="An early observation")).to_be_visible()
    expect(journal).not_to_contain_text("No journal entries match")
    expect(journal).not_to_contain_text("A later observation")

    # "Show KPI" reads the KPI's own journal too; "All KPIs" is the person's again.
    shown = page.get_by_label("Show KPI")
    shown.select_option("")
    expect(journal.get_by_role("heading", name="A later observation 2")).to_be_visible()
    expect(journal.get_by_role("heading", name="An early observation")).to_have_count(0)
    shown.select_option(older["id"])
    expect(journal.get_by_role("heading", name="An early observation")).to_be_visible()
    manager.assert_accessible()


def test_a_kpis_journal_loads_its_own_older_pages(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    staff_id = hire(page, "Pita Pages")
    kpi = kpis_of(page, staff_id)[0]
    for title in ("First note", "Second note", "Third note"):
        append(page, staff_id, kpi["id"], title)
    answered = pages_of(page, KPI_JOURNAL_READ, 1)

    page.goto(f"/page_staff_detail.html?staff_id={staff_id}&tab=journal")
    page.get_by_label("Show KPI").select_option(kpi["id"])
    journal = page.locator("#journal-list")
    expect(journal.get_by_role("heading", name="Third note")).to_be_visible()
    expect(journal.get_by_role("heading", name="Second note")).to_have_count(0)
    older = page.get_by_role("button", name="Load older entries")
    older.click()
    expect(journal.get_by_role("heading", name="Second note")).to_be_visible()
    expect(older).to_be_focused()  # more to come: the keyboard stays on the button
    while older.is_visible():
        older.click()
        expect(journal).to_have_attribute("aria-busy", "false")
    expect(journal.get_by_role("heading", name="First note")).to_be_visible()
    # The KPI's route, a page at a time, to its end.
    assert len(answered) >= 3, answered
    assert answered[-1]["next_cursor"] is None, answered[-1]


def test_the_last_page_of_older_entries_takes_the_focus_to_its_first_entry(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    staff_id = hire(page, "Lagi Last")
    kpi = kpis_of(page, staff_id)[0]
    for title in ("Note one", "Note two"):
        append(page, staff_id, kpi["id"], title)
    answered = pages_of(page, PERSON_JOURNAL, 2)

    page.goto(f"/page_staff_detail.html?staff_id={staff_id}&tab=journal")
    journal = page.locator("#journal-list")
    expect(journal.get_by_role("heading", name="Note two")).to_be_visible()
    older = page.get_by_role("button", name="Load older entries")
    while older.is_visible():
        older.focus()
        page.keyboard.press("Enter")
        expect(journal).to_have_attribute("aria-busy", "false")
    # The button went with the last page; the keyboard is on that page's first entry.
    first_new = answered[-1]["items"][0]["id"]
    focused = page.evaluate(
        "() => { const el = document.activeElement; return el.matches('article.entry')"
        " ? [el.dataset.entryId || '', ...(el.dataset.entryIds || '').split(' ')] : null; }"
    )
    assert focused and first_new in focused, (focused, first_new)


def test_the_effort_box_is_not_carried_to_the_next_entry(open_browser: OpenBrowser) -> None:
    page = manager_on(open_browser(), tab="journal")
    sent: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda request: (
            sent.append(request.post_data_json)
            if request.method == "POST" and ENTRY_POST.search(request.url)
            else None
        ),
    )
    form = entry_form(page)
    form.get_by_label("Entry type", exact=True).select_option("effort_recognition")
    effort = form.get_by_label("Recognise the effort shown")
    expect(effort).to_be_checked()
    form.get_by_label("Title", exact=True).fill("Stayed late to finish the handover")
    form.get_by_label("What happened").fill("Made sure the night shift had everything.")
    form.get_by_role("button", name="Add entry").click()
    expect(page.locator("#journal-list").get_by_text("Stayed late to finish")).to_be_visible()

    form.get_by_label("Entry type", exact=True).select_option("coaching_session")
    expect(effort).not_to_be_checked()
    form.get_by_label("Title", exact=True).fill("Coaching on rosters")
    form.get_by_label("What happened").fill("Talked through next month's roster.")
    form.get_by_role("button", name="Add entry").click()
    coaching = page.locator("article.entry", has_text="Coaching on rosters")
    expect(coaching).to_be_visible()
    expect(coaching.get_by_text("Effort recognised")).to_have_count(0)
    assert sent[-1]["entry_type"] == "coaching_session", sent
    assert sent[-1]["effort_recognized"] is False, sent
    # The other per-entry choices start afresh too.
    expect(form.get_by_label("Visible to the staff member")).to_be_checked()
    expect(form.get_by_label("Hold for approval")).not_to_be_checked()
    expect(form.get_by_label("Effort notes")).to_have_value("")


def test_after_add_entry_the_focus_is_on_the_new_entry_and_the_toast_is_read(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager_on(manager, tab="journal")
    # A live region is read when its words change; one added with its words is not.
    toast = page.get_by_role("status")
    expect(toast).to_have_attribute("aria-live", "polite")
    expect(toast).to_have_text("")
    form = entry_form(page)
    form.get_by_label("Entry type", exact=True).select_option("observation")
    form.get_by_label("Title", exact=True).fill("Welcomed the new resident")
    form.get_by_label("What happened").fill("Showed them around the house.")
    form.get_by_role("button", name="Add entry").click()
    entry = page.locator("article.entry", has_text="Welcomed the new resident")
    expect(entry).to_be_focused()
    expect(toast).to_have_text("Added to the journal.")
    manager.assert_accessible()


def test_an_entry_the_filters_hide_leaves_the_focus_on_the_form(
    open_browser: OpenBrowser,
) -> None:
    page = manager_on(open_browser(), tab="journal")
    page.get_by_label("Show entry type").select_option("milestone")
    form = entry_form(page)
    form.get_by_label("Entry type", exact=True).select_option("observation")
    form.get_by_label("Title", exact=True).fill("Hidden by the filter")
    form.get_by_label("What happened").fill("Not a milestone.")
    form.get_by_role("button", name="Add entry").click()
    expect(form.get_by_label("KPI", exact=True)).to_be_focused()
    expect(form.get_by_label("Title", exact=True)).to_have_value("")


def test_a_score_adjustments_example_fits_the_kpis_scale(open_browser: OpenBrowser) -> None:
    page = manager_on(open_browser(), tab="journal")
    kpis = kpis_of(page, staff_id_of(page))
    rating, percentage = kpi_named(kpis, "rating"), kpi_named(kpis, "percentage")
    form = entry_form(page)
    form.get_by_label("KPI", exact=True).select_option(rating["id"])
    form.get_by_label("Entry type", exact=True).select_option("score_adjustment")
    impact = form.get_by_label("Adjust the score by")
    expect(impact).to_have_attribute("max", "4")
    hint = page.locator("#entry-impact-hint")
    expect(hint).to_contain_text("e.g. 0.5 or -1")
    expect(hint).not_to_contain_text("5 or -2")

    form.get_by_label("KPI", exact=True).select_option(percentage["id"])
    expect(impact).to_have_attribute("max", "100")
    expect(hint).to_contain_text("e.g. 5 or -2")


def test_a_gateway_error_page_is_said_in_words_not_shown_as_html(
    open_browser: OpenBrowser,
) -> None:
    page = manager_on(open_browser(), tab="journal")
    html = (
        "<html><head><title>504 Gateway Time-out</title></head>"
        "<body><center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>"
    )

    def timeout_page(route: Any) -> None:
        if route.request.method == "POST":
            route.fulfill(status=504, content_type="text/html", body=html)
        else:
            route.continue_()

    page.route(ENTRY_POST, timeout_page)
    form = entry_form(page)
    form.get_by_label("Title", exact=True).fill("Sent through a slow proxy")
    form.get_by_label("What happened").fill("The proxy gave up waiting.")
    form.get_by_role("button", name="Add entry").click()
    summary = form.locator("[data-form-error]")
    expect(summary).to_contain_text("took too long")
    expect(summary).to_contain_text("check before sending it again")
    expect(summary).not_to_contain_text("<")
    expect(summary).not_to_contain_text("nginx")


def test_a_journal_read_failing_with_an_html_page_is_said_in_words(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager.page
    page.route(
        PERSON_JOURNAL,
        lambda route: route.fulfill(
            status=502, content_type="text/html", body="<html><body>502 Bad Gateway</body></html>"
        ),
    )
    page = manager_on(manager, tab="journal")
    notice = page.locator("#journal-list").get_by_role("alert")
    expect(notice).to_contain_text("not available right now")
    expect(notice).not_to_contain_text("<")


@pytest.mark.parametrize(("tab", "heading"), [("", "KPIs"), ("journal", "Journal entries")])
def test_a_person_whose_kpis_failed_to_load_opens_with_try_again(
    open_browser: OpenBrowser, tab: str, heading: str
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    staff_id = hire(page, "Robin Example")
    page.route(KPIS_READ, unavailable)
    page.goto(f"/page_staff_detail.html?staff_id={staff_id}{'&tab=' + tab if tab else ''}")
    notice = page.locator("#kpi-cards").get_by_role("alert")
    expect(notice).to_contain_text("could not load the KPIs")

    page.unroute(KPIS_READ)
    notice.get_by_role("button", name="Try again").click()
    # The page goes on from where it stopped: the cards, the journal and the tab the address
    # names, the focus on the heading shown.
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_focused()
    expect(page.locator("#journal-list article.entry").first).to_be_attached()
    page.get_by_role("tab", name="KPIs").click()
    expect(page.locator("li.kpi-card").first).to_be_visible()


def test_a_journal_that_failed_to_load_offers_try_again(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page = manager.page
    page.route(PERSON_JOURNAL, unavailable)
    page = manager_on(manager, tab="journal")
    notice = page.locator("#journal-list").get_by_role("alert")
    expect(notice).to_contain_text("could not load the journal")

    page.unroute(PERSON_JOURNAL)
    notice.get_by_role("button", name="Try again").click()
    expect(page.locator("#journal-list article.entry").first).to_be_visible()
    expect(page.get_by_role("heading", name="Journal entries")).to_be_focused()


def fits(page: Any, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page scrolls sideways at {width}px ({scroll}px wide)"


@pytest.mark.parametrize("width", [375, 390])
def test_a_persons_kpi_cards_fit_a_small_phone(open_browser: OpenBrowser, width: int) -> None:
    phone = open_browser(width=width)
    page = manager_on(phone)
    expect(page.locator("li.kpi-card").first).to_be_visible()
    fits(page, width)
    for card in page.locator("li.kpi-card").all():
        right = card.evaluate("el => el.getBoundingClientRect().right")
        assert right <= width, f"a KPI card reaches {right}px at {width}px"
    page.get_by_role("tab", name="Living Journal").click()
    expect(page.get_by_role("form", name="Add to the journal")).to_be_visible()
    fits(page, width)


@pytest.mark.parametrize("width", [375, 390])
def test_the_template_kpi_table_scrolls_inside_its_box_on_a_small_phone(
    open_browser: OpenBrowser, width: int
) -> None:
    phone = open_browser(width=width)
    page = phone.sign_in("hr_admin")
    section = page.get_by_role("region", name="Contract template KPI sets")
    expect(section.get_by_role("button", name="Save template KPIs")).to_be_visible()
    expect(section.locator(".table-wrap table")).to_be_visible()
    fits(page, width)
