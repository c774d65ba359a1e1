"""What a UX review of the pages found, held to in a real browser.

Each test hires its own people through the contract system (the simulator's API, as the wizard
would), so that what it does to them (an exit, a pending entry) leaves the journey's person alone.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.browser import Browser
from tests.browser.conftest import answer_problem, unavailable
from tests.browser.test_journey import TEAM_LEADER_TEMPLATE, wizard_at_the_contract_step

expect = pytest.importorskip("playwright.sync_api", reason="make browser-install").expect
pytestmark = pytest.mark.browser

SUPPORT_WORKER_TEMPLATE_ID = "4bd422f1-d364-5c23-bb98-bcba5ac7b650"  # tools/contract_sim/data
UNIVERSAL = (
    "Attendance & Reliability"  # on every contract, not required: a manager may deactivate it
)
GALLERY_KPI = (
    "House Budget Management"  # not on the support worker template: added from the gallery
)
KNOWN_PERSON = "Aroha Ngata"  # tools/contract_sim/data/people.json

OpenBrowser = Callable[..., Browser]


def bearer(page: Any) -> dict[str, str]:
    """The signed-in page's own token, for the API calls a test makes beside it."""
    token = page.evaluate("sessionStorage.getItem('kpi.token')")
    return {"Authorization": f"Bearer {token}"}


def kpis_of(page: Any, staff_id: str) -> list[dict[str, Any]]:
    answer = page.request.get(f"/api/v1/hr/staff/{staff_id}/kpis?status=all", headers=bearer(page))
    assert answer.ok, answer.text()
    return list(answer.json())


def wait_until(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def hire(page: Any, name: str) -> str:
    """A new support worker, hired through the contract system; their staff id once their
    KPIs are attached. The page must be signed in as a manager."""
    answer = page.request.post(
        "/contract-sim/contracts",
        data={"template_id": SUPPORT_WORKER_TEMPLATE_ID, "name": name},
        headers=bearer(page),
    )
    assert answer.ok, answer.text()
    staff_id = str(answer.json()["staff_id"])
    wait_until(lambda: len(kpis_of(page, staff_id)) > 0, f"{name}'s KPIs")
    return staff_id


def record_exit(page: Any, staff_id: str) -> None:
    """The person leaves; back once every KPI of theirs is inactive."""
    answer = page.request.post(
        "/contract-sim/exits", data={"staff_id": staff_id}, headers=bearer(page)
    )
    assert answer.ok, answer.text()
    wait_until(
        lambda: all(k["status"] == "inactive" for k in kpis_of(page, staff_id)),
        "the exit to deactivate the KPIs",
    )


def pending_entry(page: Any, staff_id: str, title: str) -> None:
    """An observation held for approval on the person's first KPI (once the journal, which
    hears of a new KPI by event, knows it: until then it answers 404 and writes nothing)."""
    kpi = kpis_of(page, staff_id)[0]

    def written() -> bool:
        answer = page.request.post(
            f"/api/v1/hr/staff/{staff_id}/kpis/{kpi['id']}/journal",
            data={
                "entry_type": "observation",
                "title": title,
                "content": "Held for a manager's decision.",
                "is_pending_approval": True,
            },
            headers=bearer(page),
        )
        assert answer.ok or answer.status == 404, answer.text()
        return bool(answer.ok)

    wait_until(written, "the journal to know the new KPI")


def manager_on(browser: Browser, tab: str = "", pending: str | None = None) -> Any:
    """A manager on the page of a person hired for the test (with an entry of that title
    pending approval, if asked)."""
    page = browser.sign_in("manager")
    staff_id = hire(page, "Robin Example")
    if pending:
        pending_entry(page, staff_id, pending)
    page.goto(f"/page_staff_detail.html?staff_id={staff_id}{'&tab=' + tab if tab else ''}")
    expect(page.locator("li.kpi-card").first).to_be_attached()
    return page


def wizard_without(browser: Browser, failing: re.Pattern[str]) -> tuple[Any, Any]:
    """A manager's wizard whose first load of `failing` is answered 503; the page and its banner."""
    page = browser.page
    page.route(failing, unavailable)
    browser.sign_in("manager")
    page.goto("/page_hr_contracting.html")
    return page, page.locator("#wizard-status").get_by_role("alert")


def test_a_pending_entry_shows_no_stray_text_above_its_buttons(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page = manager_on(manager, tab="journal", pending="Calm during the fire drill")
    box = page.get_by_role("form", name=re.compile("Calm during the fire drill"))
    expect(box.get_by_role("button", name="Approve")).to_be_visible()
    assert "null" not in box.inner_text(), box.inner_text()


def test_holding_an_entry_for_approval_promises_no_second_manager(
    open_browser: OpenBrowser,
) -> None:
    page = manager_on(open_browser(), tab="journal")
    form = page.get_by_role("form", name="Add to the journal")
    expect(
        form.get_by_label("Hold for approval: it counts only once a manager approves it")
    ).to_be_visible()
    expect(page.get_by_text(re.compile("second manager", re.I))).to_have_count(0)


def test_a_manager_is_not_offered_a_self_reflection_on_someone_elses_kpi(
    open_browser: OpenBrowser,
) -> None:
    page = manager_on(open_browser(), tab="journal")
    types = page.get_by_role("form", name="Add to the journal").get_by_label("Entry type")
    expect(types.locator("option[value=observation]")).to_have_count(1)
    expect(types.locator("option[value=self_reflection]")).to_have_count(0)


def test_the_living_journal_headings_go_in_order(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page = manager_on(manager, tab="journal", pending="An entry with a heading")
    expect(page.get_by_role("heading", name="An entry with a heading")).to_be_visible()
    assert not manager.axe_violations(rules=["heading-order"])


def wizard_with_a_gallery_kpi(browser: Browser, name: str) -> Any:
    """A manager's wizard for a new support worker, at the KPI step, with GALLERY_KPI added."""
    page = wizard_at_the_contract_step(browser, name)
    page.locator(f"input[name=template_id][value='{SUPPORT_WORKER_TEMPLATE_ID}']").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Search the gallery").fill(GALLERY_KPI)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_role("list", name="Added KPIs").get_by_text(GALLERY_KPI)).to_be_visible()
    return page


def test_a_custom_target_under_the_kpis_minimum_is_caught_before_the_review(
    open_browser: OpenBrowser,
) -> None:
    page = wizard_with_a_gallery_kpi(open_browser(), "Tui Target")
    answer = page.request.get(
        "/api/v1/hr/kpi-modules", params={"q": GALLERY_KPI}, headers=bearer(page)
    )
    module = next(m for m in answer.json() if m["name"] == GALLERY_KPI)
    minimum = module["minimum_score"]
    assert minimum > 0, module

    target = page.get_by_label("Custom target")
    target.fill(str(minimum - 1))  # on the scale, under the minimum
    page.get_by_role("button", name="Next").click()
    expect(target).to_have_attribute("aria-invalid", "true")
    error = page.locator(".field-error")
    expect(error).to_contain_text("minimum score")
    expect(error).to_contain_text(f"{minimum:g}")
    expect(page.get_by_role("heading", name="Review and create")).to_be_hidden()

    target.fill(str(minimum))
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Review and create")).to_be_visible()


def test_a_kpi_the_service_refuses_after_the_contract_is_said_without_field_names(
    open_browser: OpenBrowser,
) -> None:
    page = wizard_with_a_gallery_kpi(open_browser(), "Mere Refused")
    page.get_by_label("Custom target").fill("90")
    # As the assignment service answers a target under the module's minimum.
    wrong = "must be at least the module's minimum score, 95"
    page.route(
        re.compile(r"/api/v1/hr/staff/[^/]+/kpis$"),
        answer_problem(
            422,
            "Unprocessable",
            f"custom_target {wrong}",
            errors=[{"field": "custom_target", "message": wrong}],
        ),
    )
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Create contract").click()
    done = page.locator("#done-body")
    expect(done.get_by_text("could not be assigned")).to_be_visible()
    expect(done).to_contain_text("custom target must be at least")
    expect(done).not_to_contain_text("custom_target")


def test_someone_who_left_can_be_rehired_as_themselves(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    staff_id = hire(page, "Chloe Leaver")
    record_exit(page, staff_id)

    page.goto("/page_hr_contracting.html")
    expect(page.get_by_label("Someone already with us")).to_be_checked()
    them = page.get_by_label("Staff member", exact=True).locator(
        "option", has_text="Chloe Leaver (left)"
    )
    expect(them).to_have_attribute("value", staff_id)
    page.get_by_label("Staff member", exact=True).select_option(staff_id)
    manager.assert_accessible()


def test_a_person_who_left_is_offered_a_rehire_not_a_role_change_or_exit(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    staff_id = hire(page, "Sione Gone")
    record_exit(page, staff_id)

    page.goto(f"/page_staff_detail.html?staff_id={staff_id}")
    expect(
        page.get_by_role("link", name=re.compile("new contract re-hires them"))
    ).to_have_attribute("href", re.compile(staff_id))
    expect(page.get_by_role("button", name="Record a role change")).to_have_count(0)
    expect(page.get_by_role("button", name="Record an exit")).to_have_count(0)
    page.get_by_label("Show inactive KPIs and their history").check()
    expect(page.locator("li.kpi-card").first).to_be_visible()
    expect(page.get_by_role("button", name="Reactivate")).to_have_count(0)
    manager.assert_accessible()


def test_the_role_change_dialog_waits_for_the_new_role_group(open_browser: OpenBrowser) -> None:
    page = manager_on(open_browser())
    sent: list[str] = []
    page.on(
        "request",
        lambda request: sent.append(request.url) if "/role-changes" in request.url else None,
    )
    page.get_by_role("button", name="Record a role change").click()
    dialog = page.get_by_role("dialog", name="Record a role change")
    expect(dialog.get_by_label("From role group")).to_have_value("support_worker")
    to = dialog.get_by_label("To role group")
    expect(to).to_have_value("")
    dialog.get_by_role("button", name="Send").click()
    expect(to).to_have_attribute("aria-invalid", "true")
    assert not sent, sent


def test_a_contract_in_another_role_group_leaves_them_in_their_own(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    staff_id = hire(page, "Manaia Twohats")
    # A team leader's contract for the support worker: its KPIs are added, the role is theirs still.
    answer = page.request.post(
        "/contract-sim/contracts",
        data={"template_id": TEAM_LEADER_TEMPLATE, "staff_id": staff_id},
        headers=bearer(page),
    )
    assert answer.ok, answer.text()
    assert answer.json()["event"]["role_group"] == "team_leader"

    page.goto(f"/page_staff_detail.html?staff_id={staff_id}")
    expect(page.locator("#person-sub")).to_contain_text("Support worker")
    page.get_by_role("button", name="Record a role change").click()
    dialog = page.get_by_role("dialog", name="Record a role change")
    expect(dialog.get_by_label("From role group")).to_have_value("support_worker")


@pytest.mark.parametrize(
    ("failing", "region", "heading"),
    [
        (r"/contract-sim/people$", "#people-list", "Known people"),
        (r"/api/v1/hr/journal/pending\?", "#awaiting-list", "Waiting for approval"),
        (r"/api/v1/hr/evaluations/due\?", "#due-list", "Evaluations due in the next two weeks"),
    ],
    ids=["people", "awaiting", "due"],
)
def test_try_again_on_the_people_page_keeps_the_keyboard_where_it_was(
    open_browser: OpenBrowser, failing: str, region: str, heading: str
) -> None:
    manager = open_browser()
    page = manager.page
    page.route(re.compile(failing), unavailable)
    manager.sign_in("manager")  # a manager lands on the People page
    notice = page.locator(region).get_by_role("alert")
    notice.get_by_role("button", name="Try again").focus()
    page.keyboard.press("Enter")
    # Still unreachable: the keyboard is on the new Try again, not dropped to the page.
    expect(notice.get_by_role("button", name="Try again")).to_be_focused()

    page.unroute(re.compile(failing))
    page.keyboard.press("Enter")
    expect(notice).to_have_count(0)
    expect(page.get_by_role("heading", name=heading)).to_be_focused()


def test_the_wizards_try_again_stays_in_reach_while_a_source_is_unreachable(
    open_browser: OpenBrowser,
) -> None:
    page, banner = wizard_without(open_browser(), re.compile(r"/contract-sim/people$"))
    banner.get_by_role("button", name="Try again").focus()
    page.keyboard.press("Enter")
    expect(banner.get_by_role("button", name="Try again")).to_be_focused()

    page.unroute(re.compile(r"/contract-sim/people$"))
    page.keyboard.press("Enter")
    expect(banner).to_have_count(0)
    expect(page.get_by_role("heading", name="Who is the contract for?")).to_be_focused()


def test_the_people_page_says_when_the_contract_system_cannot_be_reached(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager.page
    page.route(re.compile(r"/contract-sim/people$"), unavailable)
    manager.sign_in("manager")  # a manager lands on the People page
    people = page.locator("#people-list")
    expect(people.get_by_role("alert")).to_contain_text("could not reach the contract system")
    expect(people).not_to_contain_text("No people are known")
    page.unroute(re.compile(r"/contract-sim/people$"))
    people.get_by_role("button", name="Try again").click()
    expect(people.get_by_role("link", name=re.compile(KNOWN_PERSON))).to_be_visible()


def test_the_wizard_does_not_take_an_unreachable_contract_system_for_nobody(
    open_browser: OpenBrowser,
) -> None:
    page, banner = wizard_without(open_browser(), re.compile(r"/contract-sim/people$"))
    expect(banner).to_contain_text("the people from the contract system")
    expect(page.get_by_label("Someone already with us")).to_be_checked()
    page.unroute(re.compile(r"/contract-sim/people$"))
    banner.get_by_role("button", name="Try again").click()
    expect(banner).to_have_count(0)
    expect(
        page.get_by_label("Staff member", exact=True).locator("option", has_text=KNOWN_PERSON)
    ).to_have_count(1)


def test_a_catalogue_that_fails_to_load_is_named_and_can_be_asked_again(
    open_browser: OpenBrowser,
) -> None:
    gallery = re.compile(r"/api/v1/hr/kpi-modules$")
    page, banner = wizard_without(open_browser(), gallery)
    expect(banner).to_contain_text("KPI catalogue")
    expect(banner).not_to_contain_text("contract system")
    # What did load is there: the people, and the templates of the next step.
    expect(
        page.get_by_label("Staff member", exact=True).locator("option", has_text=KNOWN_PERSON)
    ).to_have_count(1)
    page.unroute(gallery)
    banner.get_by_role("button", name="Try again").click()
    expect(banner).to_have_count(0)
    page.get_by_role("button", name="Next").click()
    page.locator(f"input[name=template_id][value='{SUPPORT_WORKER_TEMPLATE_ID}']").check()
    page.get_by_role("button", name="Next").click()
    page.get_by_label("Search the gallery").fill(GALLERY_KPI)
    expect(
        page.get_by_label("KPI", exact=True).locator("option", has_text=GALLERY_KPI)
    ).to_have_count(1)


def test_focus_comes_back_after_a_kpi_is_deactivated_and_reactivated(
    open_browser: OpenBrowser,
) -> None:
    page = manager_on(open_browser())
    # a KPI a manager may deactivate (not required by the template)
    kpi_id = page.locator(
        "li.kpi-card", has=page.get_by_role("button", name="Deactivate")
    ).first.get_attribute("data-kpi-id")
    card = page.locator(f"li.kpi-card[data-kpi-id='{kpi_id}']")
    card.get_by_role("button", name="Deactivate").click()
    page.locator("#status-form").get_by_role("button", name="Deactivate").click()
    expect(card).to_have_count(0)
    expect(page.get_by_role("heading", name="KPIs", exact=True)).to_be_focused()

    page.get_by_label("Show inactive KPIs and their history").check()
    card.get_by_role("button", name="Reactivate").click()
    page.locator("#status-form").get_by_role("button", name="Reactivate").click()
    expect(card.get_by_role("button", name="Deactivate")).to_be_focused()


def test_focus_comes_back_to_an_entry_after_its_decision(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page = manager_on(manager, tab="journal", pending="Covered a late shift")
    entry = page.locator("article.entry[data-entry-type=observation]", has_text="Covered a late")
    entry.get_by_role("button", name="Approve").click()
    expect(entry.locator(".chip", has_text="Approved")).to_be_visible()
    expect(entry).to_be_focused()


def test_a_retry_of_the_people_list_names_the_people_in_the_other_lists(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page = manager.sign_in("manager")
    staff_id = hire(page, "Rangi Aroha")
    waited = {
        "id": "0190d2b4-0000-7000-8000-000000000001",
        "staff_id": staff_id,
        "title": "Held for a decision",
        "module_name": "Attendance & Reliability",
        "created_at": "2026-12-01T09:00:00Z",
    }
    due = [{"staff_id": staff_id, "next_evaluation_due": "2026-12-20T09:00:00Z"}]
    # This person's entry and due KPI only, whatever other tests left waiting or due.
    page.route(
        re.compile(r"/api/v1/hr/journal/pending\?"),
        lambda route: route.fulfill(json={"items": [waited], "next_cursor": None}),
    )
    page.route(re.compile(r"/api/v1/hr/evaluations/due\?"), lambda route: route.fulfill(json=due))
    page.route(re.compile(r"/contract-sim/people$"), unavailable)
    page.goto("/page_staff_detail.html")
    awaiting, due_list = page.locator("#awaiting-list"), page.locator("#due-list")
    for region in (awaiting, due_list):
        expect(region).to_contain_text(f"Staff member {staff_id[:8]}")

    page.unroute(re.compile(r"/contract-sim/people$"))
    page.locator("#people-list").get_by_role("button", name="Try again").click()
    for region in (awaiting, due_list):
        expect(region.get_by_role("link", name=re.compile("Rangi Aroha"))).to_be_visible()
