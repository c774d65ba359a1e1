"""Scoring rules of the Living Journal (interfaces §4) as plain functions and values.

A staff KPI's scores live in one `Scores` value. Appending an entry turns the current `Scores`
into the next one in O(1); replaying a journal from its first entry gives the same result, which
is what makes the stored current-score row trustworthy.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from kpi_contracts.enums import (
    Cause,
    Frequency,
    GrowthStatus,
    JournalEntryType,
    KpiSource,
    KpiStatus,
    ScoreTrend,
    ScoreType,
)
from kpi_contracts.scales import SCALES, on_scale, scale_text
from kpi_contracts.schedule import next_due, rescheduled

# Composites and trend percentages are worked out in decimal on the numbers as entered, so they
# are exact (0.85 * 73.5 + 0.15 * 80 is 74.475, never 74.47499999999999) and carry no rounding
# that §4's formulas do not ask for: the pages round for display, the API gives the value.
# Scores are entered by hand; sums like 70.1 + 0.2 are kept to four decimals.
SCORE_PLACES = Decimal("0.0001")

SCORING_TYPES = frozenset(
    {
        JournalEntryType.SCORE_UPDATE,
        JournalEntryType.SCORE_ADJUSTMENT,
        JournalEntryType.EFFORT_RECOGNITION,
    }
)
# Written by the service itself: from assignment events, or by the approval route.
SYSTEM_TYPES = frozenset(
    {
        JournalEntryType.STATUS_CHANGE,
        JournalEntryType.APPROVAL_GRANTED,
        JournalEntryType.APPROVAL_DECLINED,
    }
)
DECISION_TYPES = frozenset({JournalEntryType.APPROVAL_GRANTED, JournalEntryType.APPROVAL_DECLINED})


@dataclass(frozen=True)
class Problem:
    """One rule an entry breaks, naming the field."""

    field: str
    message: str


class ScoringRefused(Exception):
    """An entry cannot be applied to the scores as they stand (off the scale, nothing to adjust)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass(frozen=True)
class ScoringParameters:
    """How one staff KPI is scored: its scale, thresholds, effort weight and frequency."""

    score_type: ScoreType
    target_score: float
    minimum_score: float
    effort_weight: float
    evaluation_frequency: Frequency


@dataclass(frozen=True)
class Scores:
    """A staff KPI's current scores; all None before its first evaluation."""

    outcome_score: float | None = None
    effort_score: float | None = None
    current_score: float | None = None
    previous_score: float | None = None
    score_trend: ScoreTrend | None = None
    trend_percentage: float | None = None
    growth_status: GrowthStatus | None = None
    last_evaluated_at: datetime | None = None
    next_evaluation_due: datetime | None = None


@dataclass(frozen=True)
class ScoreChange:
    """What an entry asks of the scores: set the outcome, add to it, or set the effort score."""

    score: float | None = None
    score_impact: float | None = None
    effort_score: float | None = None

    @property
    def is_empty(self) -> bool:
        """True when the entry asks for no change at all."""
        return self.score is None and self.score_impact is None and self.effort_score is None


NO_CHANGE = ScoreChange()


@dataclass(frozen=True)
class Applied:
    """The result of one entry: the composite before and after it, and the new scores."""

    score_before: float | None
    score_after: float | None
    scores: Scores
    recomputed: bool


# ---------------------------------------------------------------- the formulas of §4


def composite(outcome: float | None, effort: float | None, effort_weight: float) -> float | None:
    """(1 - w) * outcome + w * effort; effort counts as the outcome until it is scored."""
    if outcome is None:
        return None
    effort = outcome if effort is None else effort
    w = _decimal(effort_weight)
    return float((1 - w) * _decimal(outcome) + w * _decimal(effort))


def _decimal(value: float) -> Decimal:
    # repr of a float is the shortest text that reads back as it: 70.1 is 70.1, not 70.0999...
    return Decimal(repr(value))


def _rounded(value: Decimal, places: Decimal) -> float:
    return float(value.quantize(places, rounding=ROUND_HALF_UP))


def growth_status(
    score: float | None, minimum_score: float, target_score: float
) -> GrowthStatus | None:
    """Growing below the minimum, meeting from minimum to target, exceeding above the target."""
    if score is None:
        return None
    if score < minimum_score:
        return GrowthStatus.GROWING
    if score <= target_score:
        return GrowthStatus.MEETING
    return GrowthStatus.EXCEEDING


def score_trend(previous: float | None, current: float | None) -> ScoreTrend | None:
    """Up, down or steady from the previous composite to the current one."""
    if previous is None or current is None:
        return None
    if current > previous:
        return ScoreTrend.UP
    if current < previous:
        return ScoreTrend.DOWN
    return ScoreTrend.STEADY


def trend_percentage(previous: float | None, current: float | None) -> float | None:
    """(current - previous) / previous * 100; None when there is no previous or it is 0."""
    if previous is None or current is None or previous == 0:
        return None
    return float((_decimal(current) - _decimal(previous)) / _decimal(previous) * 100)


def first_due(assigned_at: datetime, frequency: Frequency) -> datetime:
    """A newly assigned KPI is first due one period after it was assigned."""
    return next_due(assigned_at, frequency)


# ---------------------------------------------------------------- entries


def change_of(
    entry_type: JournalEntryType,
    score: float | None = None,
    score_impact: float | None = None,
    effort_score: float | None = None,
) -> ScoreChange:
    """What an entry of this type does to the scores; other entry types change nothing."""
    if entry_type is JournalEntryType.SCORE_UPDATE:
        return ScoreChange(score=score)
    if entry_type is JournalEntryType.SCORE_ADJUSTMENT:
        return ScoreChange(score_impact=score_impact)
    if entry_type is JournalEntryType.EFFORT_RECOGNITION:
        return ScoreChange(effort_score=effort_score)
    return NO_CHANGE


def takes_decision(active: bool, change: ScoreChange) -> bool:
    """Whether a KPI takes a decision on one of its pending entries. Any while it is active; once
    inactive (an exit, a role change) only one that moves no score, a decline or the approval of
    a reflection, so that nobody's voice stays pending for ever and an inactive KPI's scores stay
    as they were left."""
    return active or change.is_empty


# Which entry type may carry each number of a new entry.
NUMBER_OWNERS = {
    "score": JournalEntryType.SCORE_UPDATE,
    "score_impact": JournalEntryType.SCORE_ADJUSTMENT,
    "effort_score": JournalEntryType.EFFORT_RECOGNITION,
}


def entry_problems(
    entry_type: JournalEntryType,
    score_type: ScoreType,
    *,
    score: float | None,
    score_impact: float | None,
    effort_score: float | None,
) -> list[Problem]:
    """What is wrong with a new entry's type and numbers, before looking at the current scores."""
    given = {"score": score, "score_impact": score_impact, "effort_score": effort_score}
    return [
        *_type_problems(entry_type),
        *(
            Problem(field, f"only {NUMBER_OWNERS[field]} entries carry {field}")
            for field, value in given.items()
            if value is not None and entry_type is not NUMBER_OWNERS[field]
        ),
        *_number_problems(entry_type, score_type, given),
    ]


def _type_problems(entry_type: JournalEntryType) -> list[Problem]:
    """An entry type the journal writes itself cannot be posted."""
    if entry_type not in SYSTEM_TYPES:
        return []
    how = (
        "POST /hr/journal/{entryId}/approval"
        if entry_type in DECISION_TYPES
        else "assignment events"
    )
    return [Problem("entry_type", f"{entry_type} entries are written by {how}")]


def _number_problems(
    entry_type: JournalEntryType, score_type: ScoreType, given: Mapping[str, float | None]
) -> list[Problem]:
    """The number an entry type changes scores with: present where needed, on the scale."""
    scale = scale_text(score_type)
    off_scale = f"must be on the {score_type} scale {scale}"
    score, impact, effort = given["score"], given["score_impact"], given["effort_score"]
    if entry_type is JournalEntryType.SCORE_UPDATE:
        if score is None:
            return [Problem("score", "a score_update needs the new score")]
        return [] if on_scale(score_type, score) else [Problem("score", off_scale)]
    if entry_type is JournalEntryType.SCORE_ADJUSTMENT:
        low, high = SCALES[score_type]
        if impact is None:
            return [Problem("score_impact", "a score_adjustment needs score_impact")]
        if impact == 0 or abs(impact) > high - low:
            return [Problem("score_impact", f"must be a non-zero change within the {scale} scale")]
        return []
    if entry_type is JournalEntryType.EFFORT_RECOGNITION and effort is not None:
        return [] if on_scale(score_type, effort) else [Problem("effort_score", off_scale)]
    return []


def apply_change(
    scores: Scores, parameters: ScoringParameters, change: ScoreChange, at: datetime
) -> Applied:
    """Apply an entry's change at `at`: an evaluation that moves the composite and the schedule.

    Raises ScoringRefused when the result would leave the scale or there is nothing to adjust.
    """
    before = scores.current_score
    if change.is_empty:
        return Applied(before, before, scores, recomputed=False)
    score_type = parameters.score_type
    outcome, effort = scores.outcome_score, scores.effort_score
    if change.score is not None:
        outcome = _checked(score_type, "score", change.score)
    if change.score_impact is not None:
        if outcome is None:
            raise ScoringRefused(
                Problem("score_impact", "there is no score to adjust yet: record a score_update")
            )
        adjusted = _rounded(_decimal(outcome) + _decimal(change.score_impact), SCORE_PLACES)
        outcome = _checked(score_type, "score_impact", adjusted, "would take the score to")
    if change.effort_score is not None:
        effort = _checked(score_type, "effort_score", change.effort_score)
    after = composite(outcome, effort, parameters.effort_weight)
    new = Scores(
        outcome_score=outcome,
        effort_score=effort,
        current_score=after,
        previous_score=before,
        score_trend=score_trend(before, after),
        trend_percentage=trend_percentage(before, after),
        growth_status=growth_status(after, parameters.minimum_score, parameters.target_score),
        last_evaluated_at=at,
        next_evaluation_due=next_due(at, parameters.evaluation_frequency),
    )
    return Applied(before, after, new, recomputed=True)


def _checked(score_type: ScoreType, field: str, value: float, verb: str = "is") -> float:
    if not on_scale(score_type, value):
        raise ScoringRefused(
            Problem(
                field,
                f"{verb} {value:g}, off the {score_type} scale {scale_text(score_type)}",
            )
        )
    return value


def append(
    scores: Scores,
    parameters: ScoringParameters,
    change: ScoreChange,
    *,
    pending: bool,
    at: datetime,
) -> Applied:
    """Append one entry: a pending entry changes nothing until it is approved."""
    return apply_change(scores, parameters, NO_CHANGE if pending else change, at)


def restated(
    scores: Scores,
    before: ScoringParameters,
    after: ScoringParameters,
    *,
    assigned_before: datetime,
    assigned_after: datetime,
) -> Scores:
    """A KPI held on other terms. Found to be assigned at another time: if not evaluated yet,
    first due a period after that time (as assignment counts it). Its module evaluated at
    another frequency: the period it is in lasts one new period."""
    due = scores.next_evaluation_due
    if assigned_after != assigned_before and scores.last_evaluated_at is None:
        due = first_due(assigned_after, after.evaluation_frequency)
    elif due is not None:
        due = rescheduled(due, before.evaluation_frequency, after.evaluation_frequency)
    return replace(scores, next_evaluation_due=due)


def reactivated(scores: Scores, at: datetime, frequency: Frequency) -> Scores:
    """A KPI evaluated again from its reactivation: next due a period after it (as assignment
    counts it), not on a day in the months it was inactive."""
    return replace(scores, next_evaluation_due=next_due(at, frequency))


def with_parameters(scores: Scores, parameters: ScoringParameters) -> Applied:
    """The same outcome and effort scored by (possibly new) parameters: a changed effort weight
    moves the composite, changed thresholds move the growth status. Not an evaluation: the
    previous score stays, and the trend is measured from it to the moved composite."""
    current = composite(scores.outcome_score, scores.effort_score, parameters.effort_weight)
    status = growth_status(current, parameters.minimum_score, parameters.target_score)
    if current == scores.current_score and status == scores.growth_status:
        return Applied(current, current, scores, recomputed=False)  # most news: nothing moves
    new = replace(
        scores,
        current_score=current,
        growth_status=status,
        score_trend=score_trend(scores.previous_score, current),
        trend_percentage=trend_percentage(scores.previous_score, current),
    )
    return Applied(scores.current_score, current, new, recomputed=True)


# ---------------------------------------------------------------- replay


@dataclass(frozen=True)
class RecordedEntry:
    """What replay needs of one stored entry."""

    id: uuid.UUID
    entry_type: JournalEntryType
    change: ScoreChange
    is_pending_approval: bool
    created_at: datetime
    score_before: float | None = None
    score_after: float | None = None
    related_entry_id: uuid.UUID | None = None


def replay(
    parameters: ScoringParameters, entries: Iterable[RecordedEntry], assigned_at: datetime
) -> Scores:
    """The scores a journal leads to, recomputed from its first entry (oldest first).

    An approval applies the approved entry's change at the approval's time; a decline changes
    nothing. Everything is scored by `parameters`, the ones in force now.
    """
    scores = Scores(next_evaluation_due=first_due(assigned_at, parameters.evaluation_frequency))
    pending: dict[uuid.UUID, ScoreChange] = {}
    for entry in entries:
        change = entry.change
        if entry.is_pending_approval:
            pending[entry.id] = change
            continue
        if entry.entry_type is JournalEntryType.APPROVAL_GRANTED and entry.related_entry_id:
            change = pending.pop(entry.related_entry_id, NO_CHANGE)
        elif entry.entry_type is JournalEntryType.APPROVAL_DECLINED and entry.related_entry_id:
            pending.pop(entry.related_entry_id, None)
            change = NO_CHANGE
        scores = apply_change(scores, parameters, change, entry.created_at).scores
    return scores


# ---------------------------------------------------------------- who may write what


def staff_may_append(entry_type: JournalEntryType) -> bool:
    """Staff write reflections on their own KPIs, nothing else (always pending approval)."""
    return entry_type is JournalEntryType.SELF_REFLECTION


def announces_entry(entry_type: JournalEntryType) -> bool:
    """Whether an entry is announced as `journal.entry_appended`: every entry but status_change.

    A status_change entry records news that assignment has announced already (one event for all
    of a person's KPIs); echoing it once per KPI would multiply the broker's traffic tenfold for
    nothing new. A status_change that moves the scores is still announced by its ScoreRecomputed.
    """
    return entry_type is not JournalEntryType.STATUS_CHANGE


def effort_recognized(entry_type: JournalEntryType, asked: bool | None) -> bool:
    """Whether an entry acknowledges effort: as asked, else true exactly for effort_recognition."""
    return asked if asked is not None else entry_type is JournalEntryType.EFFORT_RECOGNITION


# ---------------------------------------------------------------- lifecycle news from assignment


class Lifecycle(StrEnum):
    """What happened to a staff KPI, as its status_change entry tells it."""

    ASSIGNED = "assigned"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    RESTATED = "restated"  # held on corrected terms, its status unchanged


def lifecycle_of(status: KpiStatus, *, assigned: bool) -> Lifecycle:
    """Which lifecycle step a reported status is: an assignment, or a change of status."""
    if assigned:
        return Lifecycle.ASSIGNED
    return Lifecycle.REACTIVATED if status is KpiStatus.ACTIVE else Lifecycle.DEACTIVATED


def is_newer(reported_at: datetime, known_at: datetime) -> bool:
    """Whether news about a staff KPI is at least as recent as what the journal knows.

    Delivery is at least once and not ordered: an older status or parameter set that arrives
    late is still journaled, but does not overwrite newer news.
    """
    return reported_at >= known_at


def terms_are_newer(revision: int, known_revision: int, *, status_is_newer: bool) -> bool:
    """Whether news replaces the scoring parameters (terms) a staff KPI's row holds.

    Assignment counts the writes of each KPI's record, and its news carries the count: the
    higher revision is the newer record, whatever order the news arrives in, even news of a
    correction that is dated earlier than what it corrects. At the same revision (news sent
    before revisions were counted, or one write told twice) the newer status decides.
    """
    if revision != known_revision:
        return revision > known_revision
    return status_is_newer


def status_change_text(
    step: Lifecycle,
    module_name: str,
    *,
    source: KpiSource,
    reason: str | None,
    cause: str | None = None,
) -> tuple[str, str]:
    """Title and content of the status_change entry that tells a person's story."""
    if step is Lifecycle.RESTATED and cause == Cause.MODULE_UPDATED:
        return f"KPI updated: {module_name}", (
            f"{module_name} was updated in the KPI library, and is evaluated as the library now "
            "describes it. Its history stays on the record."
        )
    if step is Lifecycle.RESTATED:
        how = _how_assigned(source, cause)
        return f"KPI record corrected: {module_name}", (
            f"An earlier lifecycle event reached the system late: {module_name} now stands as "
            f"it says (assigned {how}). Its history stays on the record."
        )
    if step is Lifecycle.ASSIGNED:
        how = _how_assigned(source, cause)
        return f"KPI assigned: {module_name}", f"{module_name} was assigned {how}."
    verb = "reactivated" if step is Lifecycle.REACTIVATED else "deactivated"
    content = f"{module_name} was {verb}; its history stays on the record."
    if not reason and step is Lifecycle.REACTIVATED and cause == Cause.CONTRACT_CREATED:
        reason = "a new contract"  # a rehire: the contract system gives no reason of its own
    if reason:
        content += f" Reason: {reason}"
    return f"KPI {verb}: {module_name}", content


def _how_assigned(source: KpiSource, cause: str | None) -> str:
    if cause == Cause.ROLE_CHANGED:
        return "with the new role"
    if cause == Cause.CONTRACT_CREATED and source is KpiSource.MANUAL:
        return "as an addition to the contract"
    return "from the contract template" if source is KpiSource.TEMPLATE else "manually"
