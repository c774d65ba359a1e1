"""The evaluation schedule of interfaces §4."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi_contracts.enums import Frequency
from kpi_contracts.schedule import next_due, rescheduled

NOON = datetime(2026, 1, 13, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (Frequency.WEEKLY, datetime(2026, 1, 20, 12, 0, tzinfo=UTC)),
        (Frequency.FORTNIGHTLY, datetime(2026, 1, 27, 12, 0, tzinfo=UTC)),
        (Frequency.MONTHLY, datetime(2026, 2, 13, 12, 0, tzinfo=UTC)),
        (Frequency.QUARTERLY, datetime(2026, 4, 13, 12, 0, tzinfo=UTC)),
        (Frequency.ANNUALLY, datetime(2027, 1, 13, 12, 0, tzinfo=UTC)),
    ],
)
def test_next_due_adds_one_period_of_the_frequency(frequency, expected):
    assert next_due(NOON, frequency) == expected


def test_a_month_after_the_31st_is_the_last_day_of_a_short_month():
    assert next_due(datetime(2026, 1, 31, tzinfo=UTC), Frequency.MONTHLY) == datetime(
        2026, 2, 28, tzinfo=UTC
    )


def test_a_quarter_crosses_the_year_end():
    assert next_due(datetime(2026, 11, 30, tzinfo=UTC), Frequency.QUARTERLY) == datetime(
        2027, 2, 28, tzinfo=UTC
    )


def test_a_year_after_a_leap_day_is_the_28th_of_february():
    assert next_due(datetime(2028, 2, 29, tzinfo=UTC), Frequency.ANNUALLY) == datetime(
        2029, 2, 28, tzinfo=UTC
    )


def test_frequency_may_be_given_as_its_text():
    assert next_due(NOON, "weekly") == NOON + timedelta(days=7)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(list(Frequency)),
)
def test_next_due_is_always_later_and_keeps_the_time_of_day(when, frequency):
    due = next_due(when, frequency)
    assert due > when
    assert due.timetz() == when.timetz()


def test_the_offset_an_instant_is_written_in_does_not_move_its_due_day():
    # 2026-01-31 03:00 UTC, written as the evening of the 30th in New York.
    as_written = datetime.fromisoformat("2026-01-30T22:00:00-05:00")
    in_utc = datetime(2026, 1, 31, 3, 0, tzinfo=UTC)
    assert next_due(as_written, Frequency.MONTHLY) == next_due(in_utc, Frequency.MONTHLY)
    assert next_due(as_written, Frequency.MONTHLY) == datetime(2026, 2, 28, 3, 0, tzinfo=UTC)


def test_a_new_frequency_reschedules_the_period_a_kpi_is_in():
    # Evaluated on 13 January, monthly: due 13 February; weekly from now: due 20 January.
    due = next_due(NOON, Frequency.MONTHLY)
    assert rescheduled(due, Frequency.MONTHLY, Frequency.WEEKLY) == NOON + timedelta(days=7)
    assert rescheduled(due, "monthly", "annually") == datetime(2027, 1, 13, 12, 0, tzinfo=UTC)
    assert rescheduled(NOON + timedelta(days=14), "fortnightly", "quarterly") == next_due(
        NOON, Frequency.QUARTERLY
    )


def test_an_unchanged_frequency_keeps_the_due_day():
    odd = datetime(2026, 3, 31, 9, 30, tzinfo=UTC)  # not a month after anything: kept as it is
    assert rescheduled(odd, Frequency.MONTHLY, Frequency.MONTHLY) == odd


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from(Frequency),
    st.sampled_from(Frequency),
)
def test_rescheduling_starts_the_new_period_where_the_old_one_began(when, old, new):
    start = when.replace(tzinfo=UTC)
    due = next_due(start, old)
    # A month back from a clamped day (31 Jan -> 28 Feb -> 28 Jan) may land a few days later.
    assert timedelta(0) <= rescheduled(due, old, new) - next_due(start, new) <= timedelta(days=3)
