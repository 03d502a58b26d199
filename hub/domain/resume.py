"""The résumé patient clock: a référent declaration makes the référent's résumé due a number of
calendar months later (three by default, `[resume] months`), and the résumé is "régulièrement
actualisé": after one was received, the next is due `[resume] update_months` later (twelve by
default).

Months are calendar months, as the rule is stated: declared on 31 January, due on the last day
of April (the day is clamped to the month's length), not after a fixed number of days. The days
are Luxembourg's (hub.domain.luxembourg): a declaration at 23:30 UTC on 31 March is one of
1 April in Luxembourg, so its résumé is due on 1 July. A résumé is due *on* its due day, so it is
overdue from the next midnight in Luxembourg.

A résumé the référent sent before being declared counts when it is younger than the window
(`months`) on the day of the declaration: the référent need not send the same summary twice.
It then stands for the first résumé, and the update clock starts from the later of the two
times, the declaration.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

from hub.domain.luxembourg import end_of_day, local_date

_Day = TypeVar("_Day", date, datetime)


def add_months(at: _Day, months: int) -> _Day:
    """`at` moved by `months` calendar months (negative goes back), the day clamped."""
    index = at.year * 12 + (at.month - 1) + months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def due_on(start: datetime, months: int) -> date:
    """The Luxembourg day by which a résumé is due, `months` after the clock started at `start`."""
    return add_months(local_date(start), months)


def overdue_from(start: datetime, months: int) -> datetime:
    """The first instant (UTC) at which a résumé due `months` after `start` is overdue."""
    return end_of_day(due_on(start, months))


def counts_before(resume_at: datetime, declared_at: datetime, months: int) -> bool:
    """Whether a résumé received at `resume_at`, at or before the declaration made at
    `declared_at`, stands for the first résumé: it is younger than `months` on that day."""
    return (resume_at <= declared_at
            and local_date(resume_at) > add_months(local_date(declared_at), -months))


def clock_start(declared_at: datetime, resume_at: datetime | None) -> datetime:
    """When the running clock started: the declaration, or the later of it and the last
    résumé counted."""
    return declared_at if resume_at is None else max(declared_at, resume_at)


def next_overdue(declared_at: datetime, resume_at: datetime | None, months: int,
                 update_months: int) -> datetime:
    """When the declaration's résumé becomes overdue: `months` after the declaration while none
    was counted, else `update_months` after the later of the declaration and the last one."""
    if resume_at is None:
        return overdue_from(declared_at, months)
    return overdue_from(clock_start(declared_at, resume_at), update_months)


def next_due_on(declared_at: datetime, resume_at: datetime | None, months: int,
                update_months: int) -> date:
    """The Luxembourg day by which the next résumé is due (see `next_overdue`)."""
    if resume_at is None:
        return due_on(declared_at, months)
    return due_on(clock_start(declared_at, resume_at), update_months)


@dataclass(frozen=True)
class OverdueResume:
    """A declaration in force whose référent sent no résumé in time, flagged at `flagged_at`;
    `resume_at` is the last résumé counted (None: the first one is overdue)."""

    patient_id: str
    referent: str
    declared_at: datetime
    flagged_at: datetime
    resume_at: datetime | None = None
