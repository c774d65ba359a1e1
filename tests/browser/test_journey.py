"""A person's KPI journey through the three pages, in a real browser.

The tests run in file order and hand the person they create to the next one (`journey`): a
manager creates a contract in the wizard, sees the KPIs on the staff page, records scores and
sees the chart and growth status change; the staff member sees their own page without score
numbers and adds a reflection; the manager approves it; another staff member is refused. A test
that continues the journey, run without the ones before it, is skipped and says why.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.browser.browser import Browser
from tests.browser.conftest import answer_problem, unavailable

expect = pytest.importorskip("playwright.sync_api", reason="make browser-install").expect
pytestmark = pytest.mark.browser

TEAM_LEADER_TEMPLATE = "03c3fd3a-7e44-52e4-bf59-f5b1220e0784"  # tools/contract_sim/data
SUPPORT_WORKER_TEMPLATE = "Support Worker \u2013 Casual"
REQUIRED_KPI = "Person-Centred Support Delivery"  # required by that template, a 1-5 rating
SWITCHED_OFF = "Participant Funds Handling"  # optional on that template
ADDED = "House Budget Management"  # from the gallery (senior support workers)
UNIVERSAL = "Attendance & Reliability"
SCORE_NUMBER = re.compile(r"\d+(\.\d+)?\s*(%|/\s*5)")

OpenBrowser = Callable[..., Browser]


def kpi_card(browser: Browser, name: str) -> Any:
    return browser.page.locator("li.kpi-card", has=browser.page.get_by_role("heading", name=name))


def staff_page(browser: Browser, staff_id: str) -> Any:
    """Sign a manager in and open a person's page."""
    page = browser.sign_in("manager")
    page.goto(f"/page_staff_detail.html?staff_id={staff_id}")
    return page


def fill_entry(page: Any, card: Any, entry_type: str, title: str, what: str) -> Any:
    """Open the entry form from a KPI's card and fill it in; the caller adds fields and submits."""
    page.get_by_role("tab", name="KPIs").click()
    card.get_by_role("button", name="Add entry").click()
    form = page.get_by_role("form", name="Add to the journal")
    form.get_by_label("Entry type", exact=True).select_option(entry_type)
    form.get_by_label("Title", exact=True).fill(title)
    form.get_by_label("What happened").fill(what)
    return form


def deactivate(page: Any, card: Any, reason: str) -> None:
    """Deactivate a KPI from its card; inactive KPIs leave the list until asked for."""
    page.get_by_role("tab", name="KPIs").click()
    card.get_by_role("button", name="Deactivate").click()
    dialog = page.locator("#status-form")
    dialog.get_by_label("Reason").fill(reason)
    dialog.get_by_role("button", name="Deactivate").click()
    expect(card).to_have_count(0)


def reactivate(page: Any, card: Any) -> None:
    """Bring a KPI back, as the other tests expect to find the person."""
    page.get_by_role("tab", name="KPIs").click()
    page.get_by_label("Show inactive KPIs and their history").check()
    card.get_by_role("button", name="Reactivate").click()
    page.locator("#status-form").get_by_role("button", name="Reactivate").click()
    expect(card.get_by_role("button", name="Deactivate")).to_be_visible()


def hold_the_first_read(page: Any, url: re.Pattern[str]) -> list[tuple[Any, Any]]:
    """Answer the page's first GET of `url` with what the service held then, but only when the
    caller fulfils it: a late answer. Later requests go through."""
    held: list[tuple[Any, Any]] = []

    def hold(route: Any) -> None:
        if route.request.method == "GET" and not held:
            held.append((route, route.fetch()))
        else:
            route.continue_()

    page.route(url, hold)
    return held


TEMPLATE_KPIS = re.compile(r"/hr/templates/[^/]+/kpis$")


def hold_template_kpis_but_the_team_leaders(page: Any) -> list[Any]:
    """Hold back the requests for every template's KPIs but the team leader's; the caller
    continues them when it wants their answers to arrive late."""
    held: list[Any] = []

    def hold(route: Any) -> None:
        if TEAM_LEADER_TEMPLATE in route.request.url:
            route.continue_()
        else:
            held.append(route)

    page.route(TEMPLATE_KPIS, hold)
    return held


def fail_template_kpis(page: Any, template_id: str | None = None) -> None:
    """Answer the KPIs of one template (or of every one) with a 503 problem."""
    pattern = re.compile(rf"/hr/templates/{template_id}/kpis$") if template_id else TEMPLATE_KPIS
    page.route(pattern, unavailable)


def test_manager_creates_a_contract_in_the_wizard(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    page.get_by_role("link", name="New contract").click()

    name = "Grace Liu"
    page.get_by_label("A new person").check()
    page.get_by_label("Full name").fill(name)
    manager.assert_accessible()
    page.get_by_role("button", name="Next").click()

    page.get_by_label(re.compile(SUPPORT_WORKER_TEMPLATE)).check()
    page.get_by_role("button", name="Next").click()

    required = page.locator("[data-kpi-group=required]")
    expect(required.get_by_text(REQUIRED_KPI)).to_be_visible()
    expect(required.locator("input[type=checkbox]")).to_have_count(0)  # locked, no toggle
    expect(page.locator("[data-kpi-group=universal] li")).to_have_count(5)
    page.get_by_label(SWITCHED_OFF).uncheck()
    page.get_by_label("Search the gallery").fill("house budget")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("list", name="Added KPIs").get_by_text(ADDED)).to_be_visible()
    manager.assert_accessible()
    manager.screenshot("01-wizard-kpi-step")

    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Review and create")).to_be_visible()
    manager.assert_accessible()
    manager.screenshot("02-wizard-review")
    page.get_by_role("button", name="Create contract").click()

    expect(page.get_by_role("heading", name="Contract created")).to_be_visible()
    staff_id = page.get_by_test_id("created-staff-id").inner_text().strip()
    uuid.UUID(staff_id)
    journey.update(name=name, staff_id=staff_id)
    manager.assert_accessible()
    manager.screenshot("03-contract-created")


def wizard_at_the_contract_step(browser: Browser, name: str) -> Any:
    """A manager's wizard for a new person, at the step that picks the contract template."""
    page = browser.sign_in("manager")
    page.goto("/page_hr_contracting.html")
    page.get_by_label("A new person").check()
    page.get_by_label("Full name").fill(name)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Which contract?")).to_be_visible()
    return page


def test_a_second_click_on_next_while_the_kpis_load_does_not_skip_their_step(
    open_browser: OpenBrowser,
) -> None:
    page = wizard_at_the_contract_step(open_browser(), "Sam Impatient")
    page.get_by_label(re.compile(SUPPORT_WORKER_TEMPLATE)).check()

    # Two clicks in one task: the second lands while the first still awaits the KPIs.
    page.evaluate(
        "() => { const next = document.getElementById('next'); next.click(); next.click(); }"
    )
    expect(page.locator("[data-kpi-group=required]").get_by_text(REQUIRED_KPI)).to_be_visible()
    expect(page.get_by_role("heading", name="KPIs this person starts with")).to_be_visible()
    expect(page.get_by_role("heading", name="Review and create")).to_be_hidden()


def test_enter_in_the_wizard_moves_on_a_step_and_never_creates_the_contract_early(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    contracts: list[str] = []
    page.on(
        "request",
        lambda request: (
            contracts.append(request.url)
            if request.method == "POST" and request.url.endswith("/contracts")
            else None
        ),
    )
    page.goto("/page_hr_contracting.html")
    page.get_by_label("A new person").check()
    page.get_by_label("Full name").fill("Kim Enter")
    page.get_by_label("Full name").press("Enter")
    expect(page.get_by_role("heading", name="Which contract?")).to_be_visible()

    page.get_by_label(re.compile(SUPPORT_WORKER_TEMPLATE)).check()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("[data-kpi-group=required]").get_by_text(REQUIRED_KPI)).to_be_visible()
    page.get_by_label("Search the gallery").fill("house budget")
    page.get_by_label("Search the gallery").press("Enter")
    expect(page.get_by_role("heading", name="KPIs this person starts with")).to_be_visible()
    expect(page.get_by_role("heading", name="Contract created")).to_be_hidden()
    assert not contracts, contracts


def test_a_template_chosen_again_while_the_kpis_load_is_the_one_the_kpi_step_shows(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    held = hold_template_kpis_but_the_team_leaders(manager.page)
    page = wizard_at_the_contract_step(manager, "Ana Secondthoughts")
    page.get_by_label(re.compile(SUPPORT_WORKER_TEMPLATE)).check()
    page.get_by_role("button", name="Next").click()
    page.locator(f"input[name=template_id][value='{TEAM_LEADER_TEMPLATE}']").check()
    for route in held:
        route.continue_()
    expect(page.get_by_role("heading", name="KPIs this person starts with")).to_be_visible()
    required = page.locator("[data-kpi-group=required]")
    expect(page.get_by_text("Team Supervision Coverage")).to_be_visible()
    expect(required.get_by_text(REQUIRED_KPI)).to_have_count(0)


def test_kpis_that_fail_to_load_keep_the_wizard_at_the_contract_step(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    fail_template_kpis(manager.page)
    page = wizard_at_the_contract_step(manager, "Lee Patient")
    page.get_by_label(re.compile(SUPPORT_WORKER_TEMPLATE)).check()
    page.get_by_role("button", name="Next").click()
    expect(page.locator("[data-form-error]")).to_contain_text("again")
    expect(page.get_by_role("heading", name="Which contract?")).to_be_visible()
    expect(page.get_by_role("heading", name="KPIs this person starts with")).to_be_hidden()


def test_manager_sees_the_kpis_on_the_staff_page(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    page.goto(f"/page_staff_detail.html?staff_id={journey['staff_id']}&new=1")

    expect(page.get_by_role("heading", name=journey["name"])).to_be_visible()
    expect(kpi_card(manager, REQUIRED_KPI)).to_be_visible(timeout=30_000)
    expect(kpi_card(manager, ADDED)).to_be_visible(timeout=15_000)
    expect(kpi_card(manager, UNIVERSAL)).to_be_visible()
    expect(kpi_card(manager, SWITCHED_OFF)).to_have_count(0)
    expect(kpi_card(manager, REQUIRED_KPI).get_by_text("Required")).to_be_visible()
    expect(kpi_card(manager, REQUIRED_KPI).get_by_text("Not yet reviewed")).to_be_visible()
    manager.assert_accessible()
    manager.screenshot("04-staff-page-kpis")

    # The People page: a weekly KPI (Shift Note Timeliness) puts them on the list of
    # evaluations due in the next two weeks.
    page.get_by_role("link", name="People").click()
    due = page.locator("#due-list")
    expect(due.get_by_role("link", name=re.compile(journey["name"]))).to_be_visible()
    manager.assert_accessible()
    manager.screenshot("04b-people-and-evaluations-due")


def test_the_people_page_lists_every_evaluation_due_across_pages(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = manager.page
    # Everything due before 2100, one KPI a page: the list has to follow the Link headers.
    pages: list[list[dict[str, Any]]] = []

    def one_at_a_time(route: Any) -> None:
        address = urlsplit(route.request.url)
        query = {**parse_qs(address.query), "limit": ["1"], "before": ["2100-01-01T00:00:00Z"]}
        response = route.fetch(url=address._replace(query=urlencode(query, doseq=True)).geturl())
        pages.append(response.json())
        route.fulfill(response=response)

    page.route(re.compile(r"/hr/evaluations/due\?"), one_at_a_time)
    manager.sign_in("manager")  # a manager lands on the People page
    person = page.locator("#due-list").get_by_role("link", name=re.compile(journey["name"]))
    expect(person).to_be_visible()
    theirs = {k["id"] for items in pages for k in items if k["staff_id"] == journey["staff_id"]}
    assert len(theirs) > 1, theirs
    expect(person).to_contain_text(f"{len(theirs)} KPIs")


def test_score_updates_draw_the_chart_and_change_the_growth_status(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = staff_page(manager, journey["staff_id"])
    card = kpi_card(manager, REQUIRED_KPI)

    def record(title: str, score: str) -> None:
        form = fill_entry(page, card, "score_update", title, f"{title}: notes from the catch-up.")
        form.get_by_label("New score", exact=True).fill(score)
        form.get_by_role("button", name="Add entry").click()

    # A score off the 1-5 scale: the service's problem+json lands next to the field.
    form = fill_entry(page, card, "score_update", "First evaluation", "Notes from the catch-up.")
    score_field = form.get_by_label("New score")
    score_field.fill("9")
    score_field.evaluate("el => el.removeAttribute('max')")  # past the browser's own check
    form.get_by_role("button", name="Add entry").click()
    expect(score_field).to_have_attribute("aria-invalid", "true")
    expect(form.locator(".field-error")).to_be_visible()
    manager.screenshot("05-field-error-from-the-service")

    record("First evaluation", "2.5")
    page.get_by_role("tab", name="KPIs").click()
    expect(card.locator("[data-growth]")).to_have_attribute(
        "data-growth", "growing", timeout=15_000
    )
    record("Second evaluation", "4.8")
    page.get_by_role("tab", name="KPIs").click()
    expect(card.locator("[data-growth]")).to_have_attribute(
        "data-growth", "exceeding", timeout=15_000
    )
    expect(card.get_by_text("Trending up")).to_be_visible()
    expect(card.locator("canvas[role=img]")).to_be_visible()
    expect(card.locator("canvas[role=img]")).to_have_attribute(
        "aria-label", re.compile(r"2\.5.*4\.8")
    )

    # A manager's note kept from the staff member.
    form = fill_entry(
        page, card, "observation", "Private note for the manager", "Only for managers."
    )
    form.get_by_label("Visible to the staff member").uncheck()
    form.get_by_role("button", name="Add entry").click()
    expect(page.get_by_text("Not visible to staff")).to_be_visible()

    page.get_by_role("tab", name="KPIs").click()
    manager.assert_accessible()
    manager.screenshot("06-score-chart-and-growth-status")


def test_staff_member_sees_their_page_without_score_numbers(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    staff = open_browser()
    page = staff.sign_in("staff", journey["staff_id"])
    expect(page.get_by_role("heading", name="My KPIs")).to_be_visible()
    card = kpi_card(staff, REQUIRED_KPI)
    expect(card.locator("[data-growth]")).to_have_attribute("data-growth", "exceeding")
    expect(page.locator("[data-score], canvas")).to_have_count(0)
    cards_text = page.locator("#kpi-cards").inner_text()
    assert not SCORE_NUMBER.search(cards_text), cards_text
    assert "Effort counts" not in cards_text
    expect(page.get_by_role("link", name="New contract")).to_have_count(0)

    card.get_by_role("button", name="Add a reflection").click()
    form = page.get_by_role("form", name="Add a reflection")
    form.get_by_label("Title", exact=True).fill("What helped this month")
    form.get_by_label("What happened").fill(
        "Planning outings with Sam's family made the week easier."
    )
    form.get_by_role("button", name="Share reflection").click()
    expect(page.get_by_text("Awaiting approval")).to_be_visible()

    journal_text = page.locator("#journal-list").inner_text()
    assert "Private note for the manager" not in journal_text
    assert not SCORE_NUMBER.search(journal_text), journal_text
    staff.assert_accessible()
    staff.screenshot("07-staff-own-page-journal")
    page.get_by_role("tab", name="KPIs").click()
    staff.screenshot("08-staff-own-page-kpis")


def test_manager_approves_the_staff_reflection(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    page.goto(f"/page_staff_detail.html?staff_id={journey['staff_id']}&tab=journal")
    entry = page.locator("article.entry[data-entry-type=self_reflection]", has_text="What helped")
    expect(entry.get_by_text("Awaiting approval")).to_be_visible()
    entry.get_by_label("Notes for the decision").fill("Lovely idea, let's keep it going.")
    manager.screenshot("09-reflection-awaiting-approval")
    entry.get_by_role("button", name="Approve").click()
    expect(entry.locator(".chip", has_text="Approved")).to_be_visible()
    expect(page.locator("article.entry[data-entry-type=approval_granted]")).to_have_count(1)
    manager.assert_accessible()
    manager.screenshot("10-reflection-approved")


def test_a_reflection_decided_elsewhere_first_says_so(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    staff = open_browser()
    staff_page = staff.sign_in("staff", journey["staff_id"])
    kpi_card(staff, REQUIRED_KPI).get_by_role("button", name="Add a reflection").click()
    form = staff_page.get_by_role("form", name="Add a reflection")
    form.get_by_label("Title", exact=True).fill("Asking for a buddy shift")
    form.get_by_label("What happened").fill("A shift alongside Jo would help with the new client.")
    form.get_by_role("button", name="Share reflection").click()
    expect(staff_page.get_by_text("Awaiting approval")).to_be_visible()

    manager = open_browser()
    page = manager.sign_in("manager")
    # Another manager decides first: this one's decision is answered 409.
    page.route(
        re.compile(r"/hr/journal/[^/]+/approval$"),
        answer_problem(409, "Conflict", "Someone has already decided."),
    )
    page.goto(f"/page_staff_detail.html?staff_id={journey['staff_id']}&tab=journal")
    entry = page.locator("article.entry", has_text="Asking for a buddy shift")
    entry.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("already decided")


def test_a_late_journal_answer_does_not_hide_an_entry_added_since(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = manager.page
    # The page's first journal read is answered with what the journal held then, but late:
    # after the manager has added an entry and the page has read the journal again.
    held = hold_the_first_read(page, re.compile(r"/hr/staff/[^/]+/journal\?"))
    manager.sign_in("manager")
    page.goto(f"/page_staff_detail.html?staff_id={journey['staff_id']}")
    card = kpi_card(manager, REQUIRED_KPI)
    form = fill_entry(
        page, card, "observation", "Handover done well", "Clear notes for the night shift."
    )
    form.get_by_role("button", name="Add entry").click()
    journal = page.locator("#journal-list")
    expect(journal.get_by_text("Handover done well")).to_be_visible()
    assert held, "the page never read the journal"

    route, stale = held[0]
    route.fulfill(response=stale)
    page.wait_for_timeout(300)  # the page's own handling of that answer, which must be a no-op
    expect(journal.get_by_text("Handover done well")).to_be_visible()


def test_kpis_a_renewal_adds_appear_on_the_page_opened_from_the_wizard(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = manager.page
    # The first read answers without the KPI the new contract is still attaching.
    late: list[str] = []

    def answer_the_first_read_without_one_kpi(route: Any) -> None:
        if late:
            route.continue_()
            return
        kpis = route.fetch().json()
        attaching = next(k for k in reversed(kpis) if k["status"] == "active")
        kpis.remove(attaching)
        late.append(attaching["module"]["name"])
        route.fulfill(json=kpis)

    page.route(re.compile(r"/hr/staff/[^/]+/kpis\?"), answer_the_first_read_without_one_kpi)
    manager.sign_in("manager")
    page.goto(f"/page_staff_detail.html?staff_id={journey['staff_id']}&new=1")
    expect(kpi_card(manager, REQUIRED_KPI)).to_be_visible()
    expect(kpi_card(manager, late[0])).to_be_visible()


def test_another_staff_member_is_refused(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    other = open_browser()
    page = other.sign_in("staff", str(uuid.uuid4()))
    page.goto(f"/page_staff_detail.html?staff_id={journey['staff_id']}")
    expect(page.get_by_role("heading", name="Not your page")).to_be_visible()
    expect(page.locator("li.kpi-card")).to_have_count(0)
    expect(page.get_by_text(journey["name"])).to_have_count(0)
    other.screenshot("11-other-staff-refused")


def test_gallery_detail_opens_and_closes_from_the_keyboard(open_browser: OpenBrowser) -> None:
    admin = open_browser()
    page = admin.sign_in("hr_admin")
    expect(page.get_by_role("heading", name="KPI Gallery")).to_be_visible()
    filters = page.get_by_role("search", name="Filter the KPI library")
    filters.get_by_label("Role group").select_option("registered_nurse")
    expect(page.get_by_role("button", name="Medication Management & Safety")).to_be_visible()
    page.get_by_label("Search by name").fill("medication")
    opener = page.get_by_role("button", name="Medication Management & Safety")
    opener.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("heading", name="Coaching tips")).to_be_visible()
    admin.assert_accessible()
    admin.screenshot("12-gallery-detail")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    page.get_by_label("Search by name").fill("")
    filters.get_by_label("Role group").select_option("")
    page.evaluate("document.activeElement.blur()")
    admin.assert_accessible()
    admin.screenshot("13-gallery")


def test_hr_admin_edits_a_universal_kpi_and_it_stays_for_everyone(
    open_browser: OpenBrowser,
) -> None:
    admin = open_browser()
    page = admin.sign_in("hr_admin")
    page.get_by_label("Search by name").fill("attendance")
    page.get_by_role("button", name=UNIVERSAL).click()
    page.get_by_role("dialog", name=UNIVERSAL).get_by_role("button", name="Edit").click()
    editor = page.get_by_role("dialog", name=re.compile("^Edit"))
    expect(editor.get_by_label("Role group", exact=True)).to_have_value("")
    tips = editor.get_by_label("Coaching tips")
    tips.fill(tips.input_value() + "\nAsk what would make the roster easier to keep.")
    editor.get_by_role("button", name="Save module").click()
    expect(editor).to_be_hidden()

    card = page.locator("li.card", has=page.get_by_role("button", name=UNIVERSAL))
    expect(card.get_by_text("For everyone")).to_be_visible()
    expect(card.get_by_text("Support worker")).to_have_count(0)


def test_hr_admin_edits_a_template_kpi_set(open_browser: OpenBrowser) -> None:
    admin = open_browser()
    page = admin.sign_in("hr_admin")
    section = page.get_by_role("region", name="Contract template KPI sets")
    section.get_by_label("Contract template").select_option(TEAM_LEADER_TEMPLATE)
    target = section.get_by_label(re.compile("Custom target for Team Supervision Coverage"))
    expect(target).to_be_visible()

    # Off the module's scale: the catalog's problem+json lands on that row's field.
    target.fill("500")
    target.evaluate("el => el.removeAttribute('max')")
    section.get_by_role("button", name="Save template KPIs").click()
    expect(target).to_have_attribute("aria-invalid", "true")
    expect(section.locator(".field-error")).to_contain_text("scale")
    admin.screenshot("16-template-field-error")

    target.fill("85")
    section.get_by_role("button", name="Save template KPIs").click()
    expect(target).not_to_have_attribute("aria-invalid", "true")
    page.reload()
    section.get_by_label("Contract template").select_option(TEAM_LEADER_TEMPLATE)
    expect(
        section.get_by_label(re.compile("Custom target for Team Supervision Coverage"))
    ).to_have_value("85")
    admin.assert_accessible()


def test_a_late_answer_for_another_template_does_not_replace_the_chosen_one(
    open_browser: OpenBrowser,
) -> None:
    admin = open_browser()
    page = admin.page
    # The page's first answer (for the template it shows first) comes back after the
    # person has chosen another.
    held = hold_template_kpis_but_the_team_leaders(page)
    admin.sign_in("hr_admin")
    section = page.get_by_role("region", name="Contract template KPI sets")
    section.get_by_label("Contract template").select_option(TEAM_LEADER_TEMPLATE)
    target = section.get_by_label(re.compile("Custom target for Team Supervision Coverage"))
    expect(target).to_be_visible()
    assert held, "the first template's KPIs were never asked for"

    for route in held:
        with page.expect_response(route.request.url):
            route.continue_()
    page.wait_for_timeout(300)  # the page's own handling of that answer, which must be a no-op
    expect(target).to_be_visible()
    expect(section.get_by_label("Contract template")).to_have_value(TEAM_LEADER_TEMPLATE)


def test_a_template_whose_kpis_did_not_load_cannot_be_saved_over(
    open_browser: OpenBrowser,
) -> None:
    admin = open_browser()
    page = admin.sign_in("hr_admin")
    section = page.get_by_role("region", name="Contract template KPI sets")
    picker = section.get_by_label("Contract template")
    save = section.get_by_role("button", name="Save template KPIs")
    expect(save).to_be_visible()  # the first template's rows are shown
    first_template = picker.input_value()

    # Unsaved changes: switching asks first, and declining keeps the template and the change.
    weight = section.get_by_role("spinbutton", name=re.compile("^Weight of")).first
    weight.fill("2")
    page.once("dialog", lambda dialog: dialog.dismiss())
    picker.select_option(TEAM_LEADER_TEMPLATE)
    expect(picker).to_have_value(first_template)
    expect(weight).to_have_value("2")

    # The team leader's KPIs fail to load: nothing is drawn that Save could write onto it.
    fail_template_kpis(page, TEAM_LEADER_TEMPLATE)
    page.once("dialog", lambda dialog: dialog.accept())
    picker.select_option(TEAM_LEADER_TEMPLATE)
    expect(section.get_by_role("alert").filter(has_text="again")).to_be_visible()
    expect(save).to_be_hidden()
    expect(section.get_by_role("button", name="Add", exact=True)).to_be_disabled()


def test_pages_work_at_phone_width(open_browser: OpenBrowser, journey: dict[str, Any]) -> None:
    phone = open_browser(width=390)
    page = phone.sign_in("manager")
    page.goto(f"/page_staff_detail.html?staff_id={journey['staff_id']}")
    expect(kpi_card(phone, REQUIRED_KPI)).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    phone.screenshot("14-phone-staff-page")
    page.goto("/page_hr_contracting.html")
    expect(page.get_by_role("heading", name="Who is the contract for?")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.screenshot("15-phone-wizard")
    page.goto("/page_hr_kpis.html")
    expect(page.get_by_role("heading", name="KPI Gallery")).to_be_visible()
    expect(page.locator("li.card").first).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.assert_accessible()


def test_a_late_kpi_poll_does_not_bring_back_a_kpi_deactivated_since(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = staff_page(manager, journey["staff_id"])
    card = kpi_card(manager, REQUIRED_KPI)
    added = kpi_card(manager, ADDED)  # not required: a manager may deactivate it
    expect(added).to_be_visible()

    # After a score the page polls the KPIs for the new score; its first poll is answered with
    # what the service held then (every KPI active), but late: after the manager has
    # deactivated another KPI and the page has read the KPIs again.
    held = hold_the_first_read(page, re.compile(r"/hr/staff/[^/]+/kpis\?"))
    form = fill_entry(page, card, "score_update", "Late poll check", "Notes from the catch-up.")
    form.get_by_label("New score").fill("4")
    form.get_by_role("button", name="Add entry").click()
    for _ in range(100):  # the poll's first read comes 0.7 s after the entry is saved
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page never polled the KPIs"

    deactivate(page, added, "Moved to another house")  # an added entry showed the journal

    route, stale = held[0]
    route.fulfill(response=stale)
    page.wait_for_timeout(300)  # the page's own handling of that answer, which must draw nothing
    expect(added).to_have_count(0)

    reactivate(page, added)  # leave the person as the other tests found them


def test_a_gateway_timeout_on_an_entry_says_it_may_have_been_saved(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = staff_page(manager, journey["staff_id"])
    detail = "The request may have been applied: check before sending it again."
    page.route(
        re.compile(r"/hr/staff/[^/]+/kpis/[^/]+/journal$"),
        answer_problem(504, "Gateway timeout", detail),
    )
    card = kpi_card(manager, REQUIRED_KPI)
    form = fill_entry(page, card, "observation", "Timed out", "The gateway gave up waiting.")
    form.get_by_role("button", name="Add entry").click()
    # Not "please try again": a second try could add the entry twice to an append-only journal.
    expect(form.get_by_text(detail)).to_be_visible()


def test_a_pending_score_on_a_kpi_deactivated_since_can_only_be_declined(
    open_browser: OpenBrowser, journey: dict[str, Any]
) -> None:
    manager = open_browser()
    page = staff_page(manager, journey["staff_id"])
    added = kpi_card(manager, ADDED)
    form = fill_entry(page, added, "score_update", "Budget check", "Receipts all reconciled.")
    form.get_by_label("New score").fill("3")
    form.get_by_label("Hold for approval").check()
    form.get_by_role("button", name="Add entry").click()
    pending = page.locator("article.entry", has_text="Budget check")
    expect(pending.get_by_role("button", name="Approve")).to_be_visible()

    deactivate(page, added, "Moved to another house")

    # The journal keeps an inactive KPI's scores as they were left: no approving a score
    # change there, but the entry can still be declined, so it does not stay pending for ever.
    page.get_by_role("tab", name="Journal").click()
    expect(pending.get_by_text("reactivate it to approve a score change")).to_be_visible()
    expect(pending.get_by_role("button", name="Approve")).to_have_count(0)
    pending.get_by_role("button", name="Decline").click()
    expect(pending.locator(".chip", has_text="Not approved")).to_be_visible()
    manager.assert_accessible()

    reactivate(page, added)  # leave the person as the other tests found them
