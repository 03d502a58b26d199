"""The résumé patient clock's rules (hub.domain.resume) in Luxembourg days: calendar months
with the day clamped, the Luxembourg day of a declaration across daylight saving time, a résumé
sent before the declaration counting only within the window, and the regular update."""
from datetime import UTC, date, datetime

from hub.domain.luxembourg import end_of_day, last_day, local_date, start_of_day
from hub.domain.resume import (add_months, clock_start, counts_before, due_on, next_due_on,
                               next_overdue, overdue_from)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_luxembourg_midnight_is_23h_utc_in_winter_and_22h_in_summer():
    assert start_of_day(date(2026, 1, 15)) == utc(2026, 1, 14, 23)
    assert start_of_day(date(2026, 7, 15)) == utc(2026, 7, 14, 22)
    # The night of the change to summer time (29 March 2026) and back (25 October 2026).
    assert end_of_day(date(2026, 3, 28)) == utc(2026, 3, 28, 23)
    assert end_of_day(date(2026, 3, 29)) == utc(2026, 3, 29, 22)
    assert end_of_day(date(2026, 10, 25)) == utc(2026, 10, 25, 23)
    assert last_day(end_of_day(date(2026, 10, 25))) == date(2026, 10, 25)
    assert local_date(utc(2026, 12, 31, 23, 30)) == date(2027, 1, 1)


def test_one_month_after_31_january_is_the_last_day_of_february():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)
    assert due_on(utc(2026, 1, 31, 12), 1) == date(2026, 2, 28)
    assert overdue_from(utc(2026, 1, 31, 12), 1) == utc(2026, 2, 28, 23)


def test_the_due_day_is_counted_from_the_luxembourg_day_of_the_declaration():
    # 22:30 UTC on 30 April is already 1 May in Luxembourg (CEST): due 1 August, not 31 July.
    declared = utc(2026, 4, 30, 22, 30)
    assert due_on(declared, 3) == date(2026, 8, 1)
    # Overdue from midnight after the due day, in summer time: 22:00 UTC.
    assert overdue_from(declared, 3) == utc(2026, 8, 1, 22)
    # Declared in summer time, due in winter time: midnight is then 23:00 UTC.
    assert overdue_from(utc(2026, 8, 31, 10), 3) == utc(2026, 11, 30, 23)


def test_a_resume_before_the_declaration_counts_only_when_younger_than_the_window():
    declared = utc(2026, 4, 30, 9)
    assert counts_before(utc(2026, 1, 31, 9), declared, 3)
    assert not counts_before(utc(2026, 1, 30, 9), declared, 3)      # three months old that day
    assert not counts_before(utc(2026, 5, 1, 9), declared, 3)       # after: not "before"
    # 23:30 UTC on 29 January is 30 January in Luxembourg: too old, by Luxembourg's calendar.
    assert not counts_before(utc(2026, 1, 29, 23, 30), declared, 3)
    assert counts_before(utc(2026, 1, 30, 23, 30), declared, 3)


def test_the_update_clock_starts_from_the_later_of_the_declaration_and_the_last_resume():
    declared = utc(2026, 4, 30, 9)
    before, after = utc(2026, 3, 1, 9), utc(2026, 6, 15, 9)
    assert clock_start(declared, None) == declared
    assert clock_start(declared, before) == declared
    assert clock_start(declared, after) == after
    assert next_due_on(declared, None, 3, 12) == date(2026, 7, 30)
    assert next_due_on(declared, before, 3, 12) == date(2027, 4, 30)
    assert next_due_on(declared, after, 3, 12) == date(2027, 6, 15)
    assert next_overdue(declared, after, 3, 12) == utc(2027, 6, 15, 22)
