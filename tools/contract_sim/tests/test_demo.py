"""The demo people's stories: on the module's scale, ending where they are meant to (§4)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from contract_sim.demo import ARCS, STEPS, Kpi, adjustment, story, waiting_for
from journal import domain
from kpi_contracts.enums import ScoreType
from kpi_contracts.scales import on_scale

PERCENTAGE = Kpi(
    id="k1",
    name="Medication Management & Safety",
    score_type=ScoreType.PERCENTAGE,
    target=95.0,
    minimum=85.0,
    frequency="weekly",
    tips=("Look at exceptions together.",),
    sources=("eMAR", "Incident register"),
)
RATING = replace(PERCENTAGE, score_type=ScoreType.RATING, target=4.0, minimum=3.0)


def growth(entries: list[dict[str, Any]], kpi: Kpi, effort_weight: float = 0.2) -> str:
    """Where the story leaves the KPI, by the journal's own §4 rules."""
    outcome = [e["score"] for e in entries if e["entry_type"] == "score_update"][-1]
    effort = next((e["effort_score"] for e in entries if "effort_score" in e), None)
    status = domain.growth_status(
        domain.composite(outcome, effort, effort_weight), kpi.minimum, kpi.target
    )
    assert status is not None
    return status.value


@pytest.mark.parametrize("kpi", [PERCENTAGE, RATING], ids=["percentage", "rating"])
@pytest.mark.parametrize("arc", sorted(set(ARCS)))
def test_a_story_ends_in_its_arc_on_the_scale(kpi: Kpi, arc: str) -> None:
    entries = story(kpi, arc)
    numbers = [e[k] for e in entries for k in ("score", "effort_score") if k in e]
    assert numbers and all(on_scale(kpi.score_type, n) for n in numbers)
    assert growth(entries, kpi) == arc
    assert entries[0]["entry_type"] == "coaching_session"
    assert kpi.tips[0] in entries[0]["content"]


def test_effort_is_recognised_in_a_growing_story_and_lifts_the_score() -> None:
    entries = story(PERCENTAGE, "growing")
    [effort] = [e for e in entries if e["entry_type"] == "effort_recognition"]
    last_outcome = [e["score"] for e in entries if e["entry_type"] == "score_update"][-1]
    assert effort["effort_score"] > last_outcome


def test_a_scale_with_no_room_for_an_arc_tells_the_nearest_one() -> None:
    at_the_top = replace(PERCENTAGE, target=100.0)  # nothing exceeds 100
    assert growth(story(at_the_top, "exceeding"), at_the_top) == "meeting"
    at_the_bottom = replace(RATING, minimum=1.0, target=2.0)  # nothing grows towards 1
    assert growth(story(at_the_bottom, "growing"), at_the_bottom) == "meeting"


def test_the_words_are_growth_words() -> None:
    words = " ".join(
        f"{e['title']} {e['content']} {e.get('effort_notes', '')}"
        for kpi in (PERCENTAGE, RATING)
        for arc in ARCS
        for e in story(kpi, arc)
    ).lower()
    assert not any(word in words for word in ("below", "fail", "poor", "under-perform"))


def test_the_first_person_waits_with_a_reflection_the_second_with_an_adjustment() -> None:
    assert waiting_for(0)(PERCENTAGE)["entry_type"] == "self_reflection"  # type: ignore[index]
    pending = waiting_for(1)(PERCENTAGE)
    assert pending is not None and pending["is_pending_approval"] is True
    assert pending["score_impact"] == STEPS[ScoreType.PERCENTAGE]
    assert waiting_for(2)(PERCENTAGE) is None


def test_no_adjustment_would_leave_the_scale() -> None:
    near_the_top = replace(RATING, minimum=4.5, target=5.0)  # meeting ends at 5
    assert adjustment(near_the_top) is None
