"""When a KPI is next due for evaluation (interfaces §4): one rule for assignment and journal."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from kpi_contracts.enums import Frequency

_DAYS = {Frequency.WEEKLY: 7, Frequency.FORTNIGHTLY: 14}
_MONTHS = {Frequency.MONTHLY: 1, Frequency.QUARTERLY: 3, Frequency.ANNUALLY: 12}


def add_months(when: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months later, clamped to the month's last day.

    31 January + 1 month is 28 (or 29) February; 29 February + 1 year is 28 February.
    """
    index = when.month - 1 + months
    year, month = when.year + index // 12, index % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def rescheduled(due: datetime, old: Frequency | str, new: Frequency | str) -> datetime:
    """When a KPI due at `due` is due once its module's frequency changes from `old` to `new`:
    the period it is in (which began one `old` period before `due`) lasts one `new` period."""
    old, new = Frequency(old), Frequency(new)
    if old is new:
        return due
    return next_due(_one_period_before(due, old), new)


def _one_period_before(when: datetime, frequency: Frequency) -> datetime:
    when = when.astimezone(UTC) if when.tzinfo else when
    if frequency in _DAYS:
        return when - timedelta(days=_DAYS[frequency])
    return add_months(when, -_MONTHS[frequency])


def next_due(when: datetime, frequency: Frequency | str) -> datetime:
    """`when` plus one evaluation period: weekly 7 d, fortnightly 14 d, monthly 1 calendar month,
    quarterly 3 months, annually 1 year."""
    frequency = Frequency(frequency)
    # Calendar months are counted in UTC, so the offset a publisher wrote cannot move the day.
    when = when.astimezone(UTC) if when.tzinfo else when
    if frequency in _DAYS:
        return when + timedelta(days=_DAYS[frequency])
    return add_months(when, _MONTHS[frequency])
