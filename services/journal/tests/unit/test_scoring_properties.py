"""Invariants of the scoring rules, checked on generated journals (hypothesis)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from journal import domain
from journal.domain import RecordedEntry, ScoreChange, Scores, ScoringParameters, ScoringRefused
from kpi_contracts import scales
from kpi_contracts.enums import Frequency, JournalEntryType, ScoreType

START = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
GROWTH_ORDER = {None: -1, "growing": 0, "meeting": 1, "exceeding": 2}


@st.composite
def parameters(draw: st.DrawFn) -> ScoringParameters:
    score_type = draw(st.sampled_from(list(ScoreType)))
    minimum, target = sorted(draw(st.lists(on_scale(score_type), min_size=2, max_size=2)))
    return ScoringParameters(
        score_type=score_type,
        target_score=target,
        minimum_score=minimum,
        effort_weight=draw(st.floats(0.15, 0.30)),
        evaluation_frequency=draw(st.sampled_from(list(Frequency))),
    )


def on_scale(score_type: ScoreType) -> st.SearchStrategy[float]:
    low, high = scales.SCALES[score_type]
    return st.floats(low, high).map(lambda x: round(x, 2))


@given(st.data())
def test_the_composite_stays_on_the_scale(data: st.DataObject) -> None:
    kpi = data.draw(parameters())
    outcome = data.draw(on_scale(kpi.score_type))
    effort = data.draw(st.none() | on_scale(kpi.score_type))
    score = domain.composite(outcome, effort, kpi.effort_weight)
    assert score is not None and scales.on_scale(kpi.score_type, score)


@given(st.data())
def test_growth_status_never_falls_as_the_composite_rises(data: st.DataObject) -> None:
    kpi = data.draw(parameters())
    lower, higher = sorted(data.draw(st.lists(on_scale(kpi.score_type), min_size=2, max_size=2)))
    statuses = [
        domain.growth_status(score, kpi.minimum_score, kpi.target_score)
        for score in (lower, higher)
    ]
    assert GROWTH_ORDER[statuses[0]] <= GROWTH_ORDER[statuses[1]]


# ---------------------------------------------------------------- generated journals


@dataclass(frozen=True)
class Step:
    """One thing a manager (or staff member) does to a KPI's journal."""

    entry_type: JournalEntryType
    change: ScoreChange
    pending: bool
    decide: int | None = None  # for a decision: which earlier pending entry (index among them)
    approve: bool = True


NOTES = [t for t in JournalEntryType if t not in domain.SCORING_TYPES | domain.SYSTEM_TYPES]


@st.composite
def steps(draw: st.DrawFn, score_type: ScoreType) -> Step:
    value = on_scale(score_type)
    low, high = scales.SCALES[score_type]
    kind = draw(st.sampled_from(["update", "adjust", "effort", "note", "decide"]))
    pending = draw(st.booleans())
    if kind == "update":
        return Step(JournalEntryType.SCORE_UPDATE, ScoreChange(score=draw(value)), pending)
    if kind == "adjust":
        delta = draw(st.floats(-(high - low), high - low).map(lambda x: round(x, 2)))
        return Step(JournalEntryType.SCORE_ADJUSTMENT, ScoreChange(score_impact=delta), pending)
    if kind == "effort":
        return Step(
            JournalEntryType.EFFORT_RECOGNITION, ScoreChange(effort_score=draw(value)), pending
        )
    if kind == "note":
        return Step(draw(st.sampled_from(NOTES)), domain.NO_CHANGE, pending)
    return Step(
        JournalEntryType.APPROVAL_GRANTED,
        domain.NO_CHANGE,
        False,
        decide=draw(st.integers(0, 20)),
        approve=draw(st.booleans()),
    )


@dataclass
class Journal:
    """A journal built entry by entry as the service builds it, refusals included."""

    kpi: ScoringParameters
    scores: Scores
    entries: list[RecordedEntry]
    open_requests: list[RecordedEntry]

    def add(self, step: Step, at: datetime) -> domain.Applied | None:
        entry_type, change, related = step.entry_type, step.change, None
        if step.decide is not None:
            if not self.open_requests:
                return None
            request = self.open_requests.pop(step.decide % len(self.open_requests))
            related = request.id
            entry_type = (
                JournalEntryType.APPROVAL_GRANTED
                if step.approve
                else JournalEntryType.APPROVAL_DECLINED
            )
            change = request.change if step.approve else domain.NO_CHANGE
        try:
            applied = domain.append(self.scores, self.kpi, change, pending=step.pending, at=at)
        except ScoringRefused:
            if related is not None:  # a refused approval leaves the request open
                self.open_requests.append(request)
            return None
        entry = RecordedEntry(
            id=uuid.uuid4(),
            entry_type=entry_type,
            change=step.change if step.decide is None else domain.NO_CHANGE,
            is_pending_approval=step.pending,
            created_at=at,
            score_before=applied.score_before,
            score_after=applied.score_after,
            related_entry_id=related,
        )
        self.entries.append(entry)
        if step.pending:
            self.open_requests.append(entry)
        self.scores = applied.scores
        return applied


@st.composite
def journals(draw: st.DrawFn) -> Journal:
    kpi = draw(parameters())
    assigned = START
    journal = Journal(
        kpi,
        Scores(next_evaluation_due=domain.first_due(assigned, kpi.evaluation_frequency)),
        [],
        [],
    )
    for i, step in enumerate(draw(st.lists(steps(kpi.score_type), max_size=40))):
        journal.add(step, START + timedelta(hours=i + 1))
    return journal


@given(journals())
def test_the_composite_stays_on_the_scale_whatever_the_journal(journal: Journal) -> None:
    for entry in journal.entries:
        for score in (entry.score_before, entry.score_after):
            assert score is None or scales.on_scale(journal.kpi.score_type, score)


@given(journals())
def test_entries_form_a_chain(journal: Journal) -> None:
    for earlier, later in zip(journal.entries, journal.entries[1:], strict=False):
        assert later.score_before == earlier.score_after


@given(journals())
def test_an_entry_that_changes_nothing_has_equal_scores_before_and_after(journal: Journal) -> None:
    for entry in journal.entries:
        if entry.is_pending_approval or entry.entry_type in NOTES:
            assert entry.score_before == entry.score_after


@given(journals())
def test_replaying_the_journal_from_the_start_gives_the_current_scores(journal: Journal) -> None:
    assert domain.replay(journal.kpi, journal.entries, START) == journal.scores


@given(journals(), st.sampled_from(NOTES), st.booleans())
def test_appending_a_note_changes_no_score(journal: Journal, note: JournalEntryType, pending: bool):
    before = journal.scores
    applied = journal.add(Step(note, domain.NO_CHANGE, pending), START + timedelta(days=400))
    assert applied is not None and applied.score_before == applied.score_after
    assert journal.scores == before
