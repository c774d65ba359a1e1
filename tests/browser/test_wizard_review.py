"""The wizard for someone already with us: its KPI step and its review, what they keep and what
the contract adds.

A contract keeps every KPI a person holds (only a role change or an exit retires one) and adds
only what they do not hold actively yet, bringing back with its history what they held before.
Each test hires its own person through the contract system, as test_ux_review.py does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.browser.browser import Browser
from tests.browser.conftest import unavailable
from tests.browser.test_journey import REQUIRED_KPI, SWITCHED_OFF, TEAM_LEADER_TEMPLATE
from tests.browser.test_ux_review import (
    GALLERY_KPI,
    SUPPORT_WORKER_TEMPLATE_ID,
    UNIVERSAL,
    hire,
    kpis_of,
    record_exit,
)

expect = pytest.importorskip("playwright.sync_api", reason="make browser-install").expect
pytestmark = pytest.mark.browser

TEAM_LEADER_KPI = "Team Supervision Coverage"  # required by the team leader template
CURRENT_KPIS = re.compile(r"/api/v1/hr/staff/[^/]+/kpis\?")

OpenBrowser = Callable[..., Browser]


def with_us(browser: Browser, name: str) -> tuple[Any, str]:
    """A manager signed in, and a support worker hired for the test; the page and their id."""
    page = browser.sign_in("manager")
    return page, hire(page, name)


def active_count(page: Any, staff_id: str) -> int:
    return sum(1 for k in kpis_of(page, staff_id) if k["status"] == "active")


def kpi_step_for(page: Any, staff_id: str, template_id: str, role_group: str | None = None) -> Any:
    """The wizard opened for someone already with us (as their page's link opens it), at the
    KPI step of a contract from `template_id` (in `role_group`); the step's KPI lists."""
    page.goto(f"/page_hr_contracting.html?staff_id={staff_id}")
    expect(page.get_by_label("Someone already with us")).to_be_checked()
    expect(page.get_by_label("Staff member", exact=True)).to_have_value(staff_id)
    page.get_by_role("button", name="Next").click()
    page.locator(f"input[name=template_id][value='{template_id}']").check()
    if role_group:
        page.get_by_label("Role group").select_option(role_group)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="KPIs this contract adds")).to_be_visible()
    return page.locator("#kpi-groups")


def review_for(
    page: Any,
    staff_id: str,
    template_id: str,
    role_group: str | None = None,
    add: str | None = None,
) -> Any:
    """The wizard for someone already with us at the review of a contract from `template_id`
    (in `role_group`, with `add` from the gallery)."""
    kpi_step_for(page, staff_id, template_id, role_group)
    if add:
        page.get_by_label("Search the gallery").fill(add)
        page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", name="Review and create")).to_be_visible()
    return page.locator("#review")


def part(review: Any, name: str) -> Any:
    """One part of the review: keep, adds, already, new, back, role-note, current-unknown."""
    return review.locator(f"[data-review={name}]")


def group(kpi_step: Any, name: str) -> Any:
    """One list of the KPI step: required, optional, defaults, universal, theirs."""
    return kpi_step.locator(f"[data-kpi-group={name}]")


def test_the_kpi_step_of_a_renewal_shows_what_they_hold_as_theirs_not_as_choices(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Mika Held")
    held = active_count(page, staff_id)

    step = kpi_step_for(page, staff_id, SUPPORT_WORKER_TEMPLATE_ID)
    expect(page.get_by_role("heading", name="KPIs this person starts with")).to_have_count(0)
    expect(group(step, "theirs").locator("li")).to_have_count(held)
    # Optional on the template, and theirs already: nothing to switch on or off.
    expect(group(step, "theirs").get_by_text(SWITCHED_OFF)).to_be_visible()
    expect(step.get_by_role("checkbox")).to_have_count(0)
    # Each keeps the target it has for them, and says so.
    [kept] = [
        k
        for k in kpis_of(page, staff_id)
        if k["status"] == "active" and k["module"]["name"] == SWITCHED_OFF
    ]
    expect(group(step, "theirs").locator("li", has_text=SWITCHED_OFF)).to_contain_text(
        re.compile(rf"Target {kept['target_score']:g}\b.*theirs now, it stays")
    )
    for choices in ("required", "optional", "defaults", "universal"):
        expect(group(step, choices)).to_have_count(0)
    expect(step).to_contain_text("Nothing new: every KPI of this contract is already theirs")
    manager.assert_accessible()


def test_the_kpi_step_offers_only_what_they_do_not_hold_and_the_review_agrees(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Tane Widening")

    # A team leader's contract for a support worker: it brings none of their support work KPIs.
    step = kpi_step_for(page, staff_id, TEAM_LEADER_TEMPLATE)
    expect(group(step, "required").get_by_text(TEAM_LEADER_KPI)).to_be_visible()
    expect(group(step, "theirs").get_by_text(UNIVERSAL)).to_be_visible()
    expect(group(step, "universal")).to_have_count(0)  # all five are theirs
    # A KPI they hold from their own template is not offered from the gallery either.
    page.get_by_label("Search the gallery").fill(REQUIRED_KPI)
    expect(
        page.get_by_label("KPI", exact=True).locator("option", has_text=REQUIRED_KPI)
    ).to_have_count(0)
    manager.assert_accessible()
    manager.screenshot("18-wizard-kpi-step-someone-with-us")

    page.get_by_label("Search the gallery").fill("")
    page.get_by_role("button", name="Next").click()
    review = page.locator("#review")
    expect(part(review, "already").get_by_text(UNIVERSAL)).to_be_visible()
    expect(part(review, "new").get_by_text(TEAM_LEADER_KPI)).to_be_visible()
    expect(part(review, "new")).not_to_contain_text(UNIVERSAL)


def test_the_kpi_step_of_a_rehire_marks_what_comes_back(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Aperahama Back")
    record_exit(page, staff_id)

    step = kpi_step_for(page, staff_id, SUPPORT_WORKER_TEMPLATE_ID)
    expect(group(step, "theirs")).to_have_count(0)
    required = group(step, "required").locator("li", has_text=REQUIRED_KPI)
    expect(required).to_contain_text("Held before: comes back with its history")


def test_a_rehire_in_another_role_group_is_not_told_their_old_roles_kpis_stay(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Rawiri Elsewhere")
    record_exit(page, staff_id)

    review = review_for(page, staff_id, TEAM_LEADER_TEMPLATE)
    expect(part(review, "new").get_by_text(TEAM_LEADER_KPI)).to_be_visible()
    expect(part(review, "role-note")).to_have_count(0)


def test_a_renewal_of_the_same_template_adds_nothing_twice(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Rangi Renewed")
    held = active_count(page, staff_id)

    review = review_for(page, staff_id, SUPPORT_WORKER_TEMPLATE_ID)
    expect(review.get_by_test_id("kpi-count")).to_have_text(
        f"{held}: they keep {held}, this contract adds 0"
    )
    expect(part(review, "keep")).to_contain_text(f"Their {held} active KPIs stay with them")
    expect(part(review, "adds")).to_contain_text("Nothing new: every KPI of this contract")
    expect(part(review, "already").locator("li")).to_have_count(held)
    expect(part(review, "already")).to_contain_text("not assigned twice")
    expect(review.get_by_role("heading", name="They will start with")).to_have_count(0)
    expect(part(review, "role-note")).to_have_count(0)


def test_kpis_a_template_brings_that_they_do_not_hold_are_listed_as_added(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Ema Extended")
    held = active_count(page, staff_id)

    # The team leader's template, for a support worker who stays one.
    review = review_for(page, staff_id, TEAM_LEADER_TEMPLATE, role_group="support_worker")
    new = part(review, "new")
    expect(new.get_by_text(TEAM_LEADER_KPI)).to_be_visible()
    expect(part(review, "already")).not_to_contain_text(TEAM_LEADER_KPI)
    expect(part(review, "already")).to_contain_text("Attendance & Reliability")
    expect(part(review, "back")).to_have_count(0)
    added = new.locator("li").count()
    assert added > 0
    expect(review.get_by_test_id("kpi-count")).to_have_text(
        f"{held + added}: they keep {held}, this contract adds {added}"
    )
    part(review, "keep").get_by_text(re.compile("they hold now")).click()
    expect(part(review, "keep").get_by_text(REQUIRED_KPI)).to_be_visible()
    expect(part(review, "role-note")).to_have_count(0)


def test_a_rehire_brings_their_kpis_back_with_their_history(open_browser: OpenBrowser) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Hemi Returns")
    before = len(kpis_of(page, staff_id))
    record_exit(page, staff_id)

    review = review_for(page, staff_id, SUPPORT_WORKER_TEMPLATE_ID, add=GALLERY_KPI)
    expect(part(review, "keep")).to_contain_text("No KPIs are active for them right now")
    back = part(review, "back")
    expect(back.locator("li")).to_have_count(before)
    expect(back.get_by_text(REQUIRED_KPI)).to_be_visible()
    expect(part(review, "adds")).to_contain_text("active again with their history")
    expect(part(review, "new").locator("li")).to_have_count(1)
    expect(part(review, "new")).to_contain_text(GALLERY_KPI)
    expect(part(review, "already")).to_have_count(0)
    manager.assert_accessible()


def test_a_contract_in_another_role_group_says_a_role_change_moves_them(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Noa Crossover")

    review = review_for(page, staff_id, TEAM_LEADER_TEMPLATE)
    note = part(review, "role-note")
    expect(note).to_contain_text("support worker role stay active")
    expect(note).to_contain_text("Record a role change")
    expect(note.get_by_role("link", name="their page")).to_have_attribute(
        "href", re.compile(staff_id)
    )
    expect(part(review, "new").get_by_text(TEAM_LEADER_KPI)).to_be_visible()
    expect(part(review, "keep")).to_contain_text("stay with them")
    manager.assert_accessible()
    manager.screenshot("17-wizard-review-another-role")


def test_current_kpis_that_fail_to_load_leave_the_plain_review_and_say_so(
    open_browser: OpenBrowser,
) -> None:
    manager = open_browser()
    page, staff_id = with_us(manager, "Kiri Unread")
    page.route(CURRENT_KPIS, unavailable)

    step = kpi_step_for(page, staff_id, SUPPORT_WORKER_TEMPLATE_ID)
    expect(step.locator("[data-kpi-step=current-unknown]")).to_contain_text("not assigned twice")
    page.get_by_role("button", name="Next").click()
    review = page.locator("#review")
    alert = part(review, "current-unknown")
    expect(alert).to_have_attribute("role", "alert")
    expect(alert).to_contain_text("Their current KPIs could not be loaded")
    expect(alert).to_contain_text("not assigned twice")
    expect(review.get_by_role("heading", name="They will start with")).to_be_visible()
    expect(page.get_by_role("button", name="Create contract")).to_be_enabled()

    page.unroute(CURRENT_KPIS)
    alert.get_by_role("button", name="Try again").click()
    expect(alert).to_have_count(0)
    expect(part(review, "adds")).to_contain_text("Nothing new")
