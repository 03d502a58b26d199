"""The résumé patient clock: a référent declaration makes the référent's résumé due a number of
calendar months later (three by default, `[resume] months`).

Months are calendar months, as the rule is stated: declared on 31 January, due on the last day
of April (the day is clamped to the month's length), not after a fixed number of days.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime


def add_months(at: datetime, months: int) -> datetime:
    """`at` moved by `months` calendar months (negative goes back), the day clamped."""
    index = at.year * 12 + (at.month - 1) + months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def due_at(declared_at: datetime, months: int) -> datetime:
    """When the résumé of a declaration made at `declared_at` is due."""
    return add_months(declared_at, months)


@dataclass(frozen=True)
class OverdueResume:
    """A declaration in force whose référent sent no résumé in time, flagged at `flagged_at`."""

    patient_id: str
    referent: str
    declared_at: datetime
    flagged_at: datetime
