"""The scoring rules of interfaces §4, read as the product describes them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from journal import domain
from journal.domain import Problem, ScoreChange, Scores, ScoringParameters, ScoringRefused
from kpi_contracts.enums import (
    Frequency,
    GrowthStatus,
    JournalEntryType,
    KpiSource,
    KpiStatus,
    ScoreTrend,
    ScoreType,
)
from kpi_contracts.schedule import next_due

MONDAY = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


def a_percentage_kpi(**overrides: object) -> ScoringParameters:
    values: dict[str, object] = {
        "score_type": ScoreType.PERCENTAGE,
        "target_score": 90.0,
        "minimum_score": 70.0,
        "effort_weight": 0.2,
        "evaluation_frequency": Frequency.MONTHLY,
    }
    values.update(overrides)
    return ScoringParameters(**values)  # type: ignore[arg-type]


def a_rating_kpi(**overrides: object) -> ScoringParameters:
    return a_percentage_kpi(
        score_type=ScoreType.RATING, target_score=4.0, minimum_score=3.0, **overrides
    )


def scored(parameters: ScoringParameters, *changes: ScoreChange, at: datetime = MONDAY) -> Scores:
    scores = Scores()
    for change in changes:
        scores = domain.apply_change(scores, parameters, change, at).scores
    return scores


# ---------------------------------------------------------------- composite


def test_composite_weighs_effort_by_the_effort_weight():
    assert domain.composite(80.0, 100.0, 0.2) == 84.0


def test_effort_counts_as_the_outcome_until_it_is_scored():
    assert domain.composite(80.0, None, 0.3) == 80.0


def test_there_is_no_composite_before_an_outcome_score():
    assert domain.composite(None, 90.0, 0.2) is None


def test_composite_is_exact_with_no_rounding_the_formula_does_not_ask_for():
    assert domain.composite(70.1, 90.2, 0.15) == 73.115  # not 73.12, nor 73.11499999999999
    assert domain.composite(73.5, 80.0, 0.15) == 74.475


def test_trend_percentage_is_the_formula_unrounded():
    previous, current = 70.0, 80.0
    percentage = domain.trend_percentage(previous, current)
    assert percentage == pytest.approx((current - previous) / previous * 100, rel=1e-12)


# ---------------------------------------------------------------- growth status


@pytest.mark.parametrize(
    ("score", "status"),
    [
        (69.99, GrowthStatus.GROWING),
        (70.0, GrowthStatus.MEETING),
        (90.0, GrowthStatus.MEETING),
        (90.01, GrowthStatus.EXCEEDING),
    ],
)
def test_growth_status_is_growing_below_minimum_meeting_to_target_then_exceeding(score, status):
    assert domain.growth_status(score, minimum_score=70.0, target_score=90.0) is status


def test_no_growth_status_before_the_first_score():
    assert domain.growth_status(None, 70.0, 90.0) is None


# ---------------------------------------------------------------- entries that change scores


def test_score_update_sets_the_outcome_score():
    scores = scored(a_percentage_kpi(), ScoreChange(score=85.0))
    assert scores.outcome_score == 85.0
    assert scores.current_score == 85.0
    assert scores.growth_status is GrowthStatus.MEETING


def test_score_adjustment_adds_its_impact_to_the_outcome_score():
    scores = scored(a_percentage_kpi(), ScoreChange(score=80.0), ScoreChange(score_impact=-5.5))
    assert scores.outcome_score == 74.5


def test_effort_recognition_sets_the_effort_score_and_moves_the_composite():
    scores = scored(a_percentage_kpi(), ScoreChange(score=80.0), ScoreChange(effort_score=100.0))
    assert scores.effort_score == 100.0
    assert scores.current_score == 84.0


@pytest.mark.parametrize(
    ("entry_type", "change"),
    [
        (JournalEntryType.SCORE_UPDATE, ScoreChange(score=60.0)),
        (JournalEntryType.SCORE_ADJUSTMENT, ScoreChange(score_impact=-5.0)),
        (JournalEntryType.EFFORT_RECOGNITION, ScoreChange(effort_score=90.0)),
        *(
            (entry_type, domain.NO_CHANGE)
            for entry_type in JournalEntryType
            if entry_type
            not in {
                JournalEntryType.SCORE_UPDATE,
                JournalEntryType.SCORE_ADJUSTMENT,
                JournalEntryType.EFFORT_RECOGNITION,
            }
        ),
    ],
)
def test_each_entry_type_asks_only_its_own_change_and_other_types_change_no_score(
    entry_type, change
):
    numbers = {"score": 60.0, "score_impact": -5.0, "effort_score": 90.0}
    assert domain.change_of(entry_type, **numbers) == change


def test_a_score_adjustment_entry_adds_to_the_score_rather_than_setting_it():
    kpi = a_percentage_kpi()
    start = scored(kpi, ScoreChange(score=80.0))
    adjustment = domain.change_of(JournalEntryType.SCORE_ADJUSTMENT, score_impact=5.0)
    assert domain.apply_change(start, kpi, adjustment, MONDAY).scores.outcome_score == 85.0


def test_adjustments_do_not_accumulate_float_noise():
    scores = scored(a_percentage_kpi(), ScoreChange(score=70.1), ScoreChange(score_impact=0.2))
    assert scores.outcome_score == 70.3


def test_score_before_and_after_are_the_composite_either_side_of_the_entry():
    kpi = a_percentage_kpi()
    start = scored(kpi, ScoreChange(score=80.0))
    applied = domain.apply_change(start, kpi, ScoreChange(effort_score=100.0), MONDAY)
    assert (applied.score_before, applied.score_after) == (80.0, 84.0)


def test_an_entry_that_changes_nothing_has_equal_score_before_and_after():
    kpi = a_percentage_kpi()
    start = scored(kpi, ScoreChange(score=80.0))
    applied = domain.append(start, kpi, domain.NO_CHANGE, pending=False, at=MONDAY)
    assert applied.score_before == applied.score_after == 80.0
    assert applied.scores is start and not applied.recomputed


def test_a_pending_entry_changes_nothing_until_it_is_approved():
    kpi = a_percentage_kpi()
    start = scored(kpi, ScoreChange(score=80.0))
    applied = domain.append(start, kpi, ScoreChange(score=95.0), pending=True, at=MONDAY)
    assert applied.scores == start
    assert applied.score_before == applied.score_after == 80.0


def test_an_approved_adjustment_applies_to_the_score_as_it_stands_at_approval():
    kpi = a_percentage_kpi()
    at_request = scored(kpi, ScoreChange(score=80.0))
    pending = ScoreChange(score_impact=5.0)
    domain.append(at_request, kpi, pending, pending=True, at=MONDAY)
    at_approval = domain.apply_change(at_request, kpi, ScoreChange(score=60.0), MONDAY).scores
    approved = domain.apply_change(at_approval, kpi, pending, MONDAY + timedelta(days=1))
    assert approved.scores.outcome_score == 65.0


@pytest.mark.parametrize(
    ("entry_type", "fields", "active", "taken"),
    [
        (JournalEntryType.SCORE_UPDATE, {"score": 90.0}, True, True),
        (JournalEntryType.SCORE_UPDATE, {"score": 90.0}, False, False),
        (JournalEntryType.EFFORT_RECOGNITION, {"effort_score": 90.0}, False, False),
        (JournalEntryType.SELF_REFLECTION, {}, False, True),
        (JournalEntryType.OBSERVATION, {}, False, True),
    ],
)
def test_an_inactive_kpi_takes_only_decisions_that_move_no_score(entry_type, fields, active, taken):
    assert domain.takes_decision(active, domain.change_of(entry_type, **fields)) is taken
    assert domain.takes_decision(active, domain.NO_CHANGE)  # a decline


# ---------------------------------------------------------------- trend


def test_previous_score_is_the_composite_before_the_latest_change():
    scores = scored(a_percentage_kpi(), ScoreChange(score=80.0), ScoreChange(score=88.0))
    assert scores.previous_score == 80.0
    assert scores.score_trend is ScoreTrend.UP
    assert scores.trend_percentage == 10.0


def test_a_falling_score_trends_down_with_a_negative_percentage():
    scores = scored(a_percentage_kpi(), ScoreChange(score=80.0), ScoreChange(score=60.0))
    assert scores.score_trend is ScoreTrend.DOWN
    assert scores.trend_percentage == -25.0


def test_the_same_score_again_is_steady():
    scores = scored(a_percentage_kpi(), ScoreChange(score=80.0), ScoreChange(score=80.0))
    assert scores.score_trend is ScoreTrend.STEADY
    assert scores.trend_percentage == 0.0


def test_the_first_score_has_no_trend():
    scores = scored(a_percentage_kpi(), ScoreChange(score=80.0))
    assert scores.previous_score is None
    assert scores.score_trend is None and scores.trend_percentage is None


def test_trend_percentage_is_null_from_a_previous_score_of_zero():
    scores = scored(a_percentage_kpi(), ScoreChange(score=0.0), ScoreChange(score=50.0))
    assert scores.score_trend is ScoreTrend.UP
    assert scores.trend_percentage is None


# ---------------------------------------------------------------- evaluation schedule


def test_an_evaluation_sets_last_evaluated_and_the_next_due_by_frequency():
    scores = scored(
        a_percentage_kpi(evaluation_frequency=Frequency.FORTNIGHTLY), ScoreChange(score=80.0)
    )
    assert scores.last_evaluated_at == MONDAY
    assert scores.next_evaluation_due == MONDAY + timedelta(days=14)


def test_a_monthly_kpi_is_due_one_calendar_month_later():
    at = datetime(2026, 1, 31, tzinfo=UTC)
    scores = scored(a_percentage_kpi(), ScoreChange(score=80.0), at=at)
    assert scores.next_evaluation_due == datetime(2026, 2, 28, tzinfo=UTC)


def test_a_new_kpi_is_first_due_one_period_after_assignment():
    assert domain.first_due(MONDAY, Frequency.QUARTERLY) == datetime(2026, 4, 12, 9, tzinfo=UTC)


def test_a_reactivated_kpi_is_next_due_one_period_after_reactivation_with_its_scores_kept():
    start = scored(a_percentage_kpi(), ScoreChange(score=80.0))  # monthly: due 12 February
    back = datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    again = domain.reactivated(start, back, Frequency.MONTHLY)
    assert again.next_evaluation_due == datetime(2026, 4, 30, 10, 0, tzinfo=UTC)
    assert replace(again, next_evaluation_due=start.next_evaluation_due) == start


# ---------------------------------------------------------------- the scale


def problems_of(
    entry_type: JournalEntryType,
    score_type: ScoreType = ScoreType.PERCENTAGE,
    *,
    score: float | None = None,
    score_impact: float | None = None,
    effort_score: float | None = None,
) -> list[Problem]:
    return domain.entry_problems(
        entry_type, score_type, score=score, score_impact=score_impact, effort_score=effort_score
    )


def test_a_score_off_the_percentage_scale_is_refused():
    problems = problems_of(JournalEntryType.SCORE_UPDATE, score=101.0)
    assert [p.field for p in problems] == ["score"]


def test_a_rating_is_between_one_and_five():
    for score, ok in ((0.5, False), (1.0, True), (5.0, True), (5.5, False)):
        problems = problems_of(JournalEntryType.SCORE_UPDATE, ScoreType.RATING, score=score)
        assert (problems == []) is ok, score


def test_an_adjustment_that_would_leave_the_scale_is_refused():
    kpi = a_rating_kpi()
    start = scored(kpi, ScoreChange(score=4.5))
    with pytest.raises(ScoringRefused) as refused:
        domain.apply_change(start, kpi, ScoreChange(score_impact=1.0), MONDAY)
    assert refused.value.problem.field == "score_impact"


def test_an_adjustment_that_lands_on_the_end_of_the_scale_is_accepted():
    for score_type, impact in ((ScoreType.RATING, -4.0), (ScoreType.PERCENTAGE, 100.0)):
        problems = problems_of(JournalEntryType.SCORE_ADJUSTMENT, score_type, score_impact=impact)
        assert problems == [], score_type
    kpi = a_rating_kpi()
    start = scored(kpi, ScoreChange(score=5.0))
    lowest = domain.apply_change(start, kpi, ScoreChange(score_impact=-4.0), MONDAY)
    assert lowest.scores.outcome_score == 1.0


def test_an_adjustment_needs_a_score_to_adjust():
    with pytest.raises(ScoringRefused) as refused:
        domain.apply_change(Scores(), a_percentage_kpi(), ScoreChange(score_impact=5.0), MONDAY)
    assert refused.value.problem.field == "score_impact"


def test_an_effort_score_off_the_scale_is_refused():
    problems = problems_of(JournalEntryType.EFFORT_RECOGNITION, ScoreType.RATING, effort_score=6.0)
    assert problems == [Problem("effort_score", "must be on the rating scale 1-5")]


def test_a_score_update_needs_its_score():
    problems = problems_of(JournalEntryType.SCORE_UPDATE)
    assert [p.field for p in problems] == ["score"]


def test_numbers_belong_to_their_entry_type():
    problems = problems_of(JournalEntryType.OBSERVATION, score=80.0)
    assert [p.field for p in problems] == ["score"]


def test_an_effort_score_on_a_score_update_names_the_entry_type_that_carries_it():
    problems = problems_of(
        JournalEntryType.SCORE_UPDATE, ScoreType.RATING, score=4.5, effort_score=4.0
    )
    assert problems == [
        Problem("effort_score", "only effort_recognition entries carry effort_score")
    ]


@pytest.mark.parametrize(
    "entry_type",
    [
        JournalEntryType.STATUS_CHANGE,
        JournalEntryType.APPROVAL_GRANTED,
        JournalEntryType.APPROVAL_DECLINED,
    ],
)
def test_the_service_writes_status_changes_and_decisions_itself(entry_type):
    problems = problems_of(entry_type)
    assert [p.field for p in problems] == ["entry_type"]


# ---------------------------------------------------------------- who writes what


def test_staff_may_only_reflect():
    allowed = [t for t in JournalEntryType if domain.staff_may_append(t)]
    assert allowed == [JournalEntryType.SELF_REFLECTION]


def test_every_entry_but_status_change_is_announced():
    announced = {t for t in JournalEntryType if domain.announces_entry(t)}
    assert announced == set(JournalEntryType) - {JournalEntryType.STATUS_CHANGE}


def test_effort_recognition_acknowledges_effort_unless_told_otherwise():
    assert domain.effort_recognized(JournalEntryType.EFFORT_RECOGNITION, None) is True
    assert domain.effort_recognized(JournalEntryType.OBSERVATION, None) is False
    assert domain.effort_recognized(JournalEntryType.OBSERVATION, True) is True


# ---------------------------------------------------------------- new parameters


def test_a_new_effort_weight_moves_the_composite_without_an_evaluation():
    kpi = a_percentage_kpi(effort_weight=0.2)
    start = scored(kpi, ScoreChange(score=80.0), ScoreChange(effort_score=100.0))
    applied = domain.with_parameters(start, replace(kpi, effort_weight=0.3))
    assert (applied.score_before, applied.score_after) == (84.0, 86.0)
    assert applied.scores.last_evaluated_at == start.last_evaluated_at


def test_a_new_effort_weight_measures_the_trend_from_the_previous_score_to_the_moved_one():
    kpi = a_percentage_kpi(effort_weight=0.2)
    start = scored(kpi, ScoreChange(score=80.0), ScoreChange(effort_score=100.0))
    assert (start.previous_score, start.current_score, start.trend_percentage) == (80.0, 84.0, 5.0)
    moved = domain.with_parameters(start, replace(kpi, effort_weight=0.3)).scores
    assert (moved.previous_score, moved.current_score) == (80.0, 86.0)
    assert (moved.score_trend, moved.trend_percentage) == (ScoreTrend.UP, 7.5)

    # A fall that a heavier effort weight turns into a rise reads as one.
    falling = scored(
        kpi, ScoreChange(score=80.0), ScoreChange(effort_score=100.0), ScoreChange(score=78.0)
    )
    assert (falling.previous_score, falling.current_score) == (84.0, 82.4)
    assert falling.score_trend is ScoreTrend.DOWN
    risen = domain.with_parameters(falling, replace(kpi, effort_weight=0.3)).scores
    assert risen.current_score == 84.6
    assert risen.score_trend is ScoreTrend.UP


def test_a_new_target_moves_only_the_growth_status():
    kpi = a_percentage_kpi(target_score=90.0)
    start = scored(kpi, ScoreChange(score=88.0))
    applied = domain.with_parameters(start, replace(kpi, target_score=85.0))
    assert applied.scores.growth_status is GrowthStatus.EXCEEDING
    assert applied.score_before == applied.score_after == 88.0


def test_unchanged_parameters_recompute_nothing():
    kpi = a_percentage_kpi()
    start = scored(kpi, ScoreChange(score=88.0))
    assert domain.with_parameters(start, kpi).recomputed is False


# ---------------------------------------------------------------- lifecycle entries


def test_news_as_recent_as_what_is_known_is_applied_and_older_news_is_not():
    assert domain.is_newer(MONDAY, MONDAY)
    assert not domain.is_newer(MONDAY - timedelta(seconds=1), MONDAY)


@pytest.mark.parametrize(
    ("revision", "known", "status_is_newer", "replaces"),
    [
        (3, 2, False, True),  # a correction, dated before what it corrects, still wins
        (2, 3, True, False),  # news of an older record, however recent its status
        (2, 2, True, True),  # one write told twice (or before revisions): the status decides
        (2, 2, False, False),
        (0, 0, True, True),
        (0, 4, True, False),  # sent before revisions, after one that counted them
    ],
)
def test_the_newer_record_decides_the_terms(revision, known, status_is_newer, replaces):
    assert domain.terms_are_newer(revision, known, status_is_newer=status_is_newer) is replaces


def test_a_kpi_found_assigned_earlier_is_first_due_a_period_after_then_until_evaluated():
    kpi = a_percentage_kpi()
    fresh = Scores(next_evaluation_due=domain.first_due(MONDAY, Frequency.MONTHLY))
    earlier = MONDAY - timedelta(days=10)
    found = {"assigned_before": MONDAY, "assigned_after": earlier}
    moved = domain.restated(fresh, kpi, kpi, **found)
    assert moved.next_evaluation_due == domain.first_due(earlier, Frequency.MONTHLY)
    evaluated = scored(kpi, ScoreChange(score=88.0))
    assert domain.restated(evaluated, kpi, kpi, **found) == evaluated


def test_a_new_frequency_moves_the_due_day_of_the_period_the_kpi_is_in():
    monthly, weekly = a_percentage_kpi(), a_percentage_kpi(evaluation_frequency=Frequency.WEEKLY)
    same = {"assigned_before": MONDAY, "assigned_after": MONDAY}
    evaluated = scored(monthly, ScoreChange(score=88.0))  # at MONDAY: due a month later
    assert evaluated.next_evaluation_due == next_due(MONDAY, Frequency.MONTHLY)
    moved = domain.restated(evaluated, monthly, weekly, **same)
    assert moved.next_evaluation_due == MONDAY + timedelta(days=7)
    assert moved.current_score == evaluated.current_score
    fresh = Scores(next_evaluation_due=domain.first_due(MONDAY, Frequency.MONTHLY))
    assert domain.restated(fresh, monthly, weekly, **same).next_evaluation_due == (
        MONDAY + timedelta(days=7)
    )
    assert domain.restated(evaluated, monthly, monthly, **same) == evaluated


def told(
    step: domain.Lifecycle,
    module_name: str = "Shift Handover",
    *,
    source: KpiSource = KpiSource.TEMPLATE,
    reason: str | None = None,
    cause: str | None = None,
) -> tuple[str, str]:
    """The title and content of a status_change entry (the template's KPI, no reason)."""
    return domain.status_change_text(step, module_name, source=source, reason=reason, cause=cause)


def test_a_correction_says_what_happened_without_numbers():
    title, content = told(domain.Lifecycle.RESTATED, cause="contract_created")
    assert title == "KPI record corrected: Shift Handover"
    assert "reached the system late" in content
    assert "from the contract template" in content and "history stays" in content
    assert not any(ch.isdigit() for ch in content)


def test_a_module_update_says_the_library_changed_without_numbers():
    title, content = told(domain.Lifecycle.RESTATED, cause="module_updated")
    assert title == "KPI updated: Shift Handover"
    assert "updated in the KPI library" in content and "history stays" in content
    assert not any(ch.isdigit() for ch in content)


def test_a_status_change_tells_the_story_in_plain_words():
    title, content = told(
        domain.Lifecycle.DEACTIVATED, "Attendance & Reliability", reason="role change"
    )
    assert title == "KPI deactivated: Attendance & Reliability"
    assert "history stays" in content and content.endswith("Reason: role change")


def test_a_kpi_a_new_contract_brings_back_says_so():
    _, content = told(domain.Lifecycle.REACTIVATED, cause="contract_created")
    assert content.endswith("Reason: a new contract")


@pytest.mark.parametrize(
    ("source", "cause", "how"),
    [
        (KpiSource.TEMPLATE, "contract_created", "from the contract template"),
        (KpiSource.MANUAL, "contract_created", "as an addition to the contract"),
        (KpiSource.TEMPLATE, "role_changed", "with the new role"),
        (KpiSource.MANUAL, "manual_assignment", "manually"),
        (KpiSource.TEMPLATE, "a cause of a newer assignment service", "from the contract template"),
    ],
)
def test_an_assignment_says_how_the_kpi_came_to_the_person(source, cause, how):
    title, content = told(domain.Lifecycle.ASSIGNED, source=source, cause=cause)
    assert (title, content) == (
        "KPI assigned: Shift Handover",
        f"Shift Handover was assigned {how}.",
    )


def test_an_active_status_after_assignment_is_a_reactivation():
    assert domain.lifecycle_of(KpiStatus.ACTIVE, assigned=False) is domain.Lifecycle.REACTIVATED
    assert domain.lifecycle_of(KpiStatus.INACTIVE, assigned=False) is domain.Lifecycle.DEACTIVATED
    assert domain.lifecycle_of(KpiStatus.ACTIVE, assigned=True) is domain.Lifecycle.ASSIGNED
