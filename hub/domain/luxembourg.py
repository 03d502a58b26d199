"""Luxembourg's local calendar: the days people mean when they say "until 31 December" or "due
by 30 April".

The store keeps instants in UTC; rules stated in days (a grant's last day, a résumé's due date)
are days of Europe/Luxembourg, whose midnight is 23:00 or 22:00 UTC depending on daylight saving
time. The zone comes from the system's tz database, or from the `tzdata` package where the
system has none.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LUXEMBOURG = ZoneInfo("Europe/Luxembourg")


def local_date(instant: datetime) -> date:
    """The Luxembourg calendar day that `instant` (timezone-aware) falls on."""
    if instant.tzinfo is None:
        raise ValueError("local_date needs a timezone-aware instant")
    return instant.astimezone(LUXEMBOURG).date()


def start_of_day(day: date) -> datetime:
    """The instant (UTC) at which `day` begins in Luxembourg."""
    return datetime.combine(day, time(), LUXEMBOURG).astimezone(UTC)


def end_of_day(day: date) -> datetime:
    """The first instant (UTC) after `day` in Luxembourg: something "through `day`" holds until
    then, exclusive."""
    return start_of_day(day + timedelta(days=1))


def last_day(until: datetime) -> date:
    """The Luxembourg day a period ending (exclusive) at `until` last covers: `end_of_day`'s
    inverse."""
    return local_date(until - timedelta(microseconds=1))
