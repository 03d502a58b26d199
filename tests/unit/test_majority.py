"""The age rule (hub.domain.majority): 18 years, reached at local midnight in Luxembourg;
29 February; where the birth date comes from. Expected instants are written out by hand."""
from datetime import UTC, date, datetime, timedelta

import pytest

from hub.domain.majority import (
    birth_date_of, earliest_birth, is_minor, majority_at, majority_day,
)


def test_majority_is_the_18th_birthday():
    assert majority_day(date(2008, 5, 12)) == date(2026, 5, 12)


@pytest.mark.parametrize("birth, of_age", [
    (date(2008, 2, 29), date(2026, 3, 1)),    # 2026 is a common year: no 29 February
    (date(2004, 2, 29), date(2022, 3, 1)),
    (date(1996, 2, 29), date(2014, 3, 1)),
    (date(2000, 2, 29), date(2018, 3, 1)),
])
def test_born_on_29_february_is_of_age_on_1_march_of_a_common_year(birth, of_age):
    assert majority_day(birth) == of_age


def test_28_february_and_1_march_births_keep_their_day():
    # (A 29 February birth never has a leap 18th year: a leap year plus 18 is never leap.)
    assert majority_day(date(2010, 2, 28)) == date(2028, 2, 28)
    assert majority_day(date(2008, 3, 1)) == date(2026, 3, 1)


def test_a_summer_birthday_is_reached_at_22_00_utc_the_day_before():
    # CEST (UTC+2) on 12 May: local midnight is 22:00 UTC on the 11th.
    assert majority_at(date(2008, 5, 12)) == datetime(2026, 5, 11, 22, 0, tzinfo=UTC)


def test_a_winter_birthday_is_reached_at_23_00_utc_the_day_before():
    # CET (UTC+1) on 12 December.
    assert majority_at(date(2008, 12, 12)) == datetime(2026, 12, 11, 23, 0, tzinfo=UTC)


def test_birthdays_on_the_days_the_clocks_change_are_reached_at_local_midnight():
    # 29 March 2026: CET until 02:00 local, so midnight is still UTC+1.
    assert majority_at(date(2008, 3, 29)) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    # 25 October 2026: CEST until 03:00 local, so midnight is still UTC+2.
    assert majority_at(date(2008, 10, 25)) == datetime(2026, 10, 24, 22, 0, tzinfo=UTC)


def test_minor_until_the_instant_of_local_midnight():
    birth = date(2008, 5, 12)
    midnight = datetime(2026, 5, 11, 22, 0, tzinfo=UTC)
    assert is_minor(birth, midnight - timedelta(microseconds=1))
    assert not is_minor(birth, midnight)
    # At 23:30 UTC on the 11th it is still the 11th in UTC but already the 12th in Luxembourg.
    assert not is_minor(birth, datetime(2026, 5, 11, 23, 30, tzinfo=UTC))


def test_born_29_february_is_a_minor_all_of_28_february_local():
    birth = date(2008, 2, 29)
    assert is_minor(birth, datetime(2026, 2, 28, 22, 59, tzinfo=UTC))   # 23:59 local, 28 Feb
    assert not is_minor(birth, datetime(2026, 2, 28, 23, 0, tzinfo=UTC))  # 00:00 local, 1 Mar


def test_a_naive_instant_is_refused():
    with pytest.raises(ValueError):
        is_minor(date(2008, 5, 12), datetime(2026, 5, 12))


@pytest.mark.parametrize("text, earliest", [
    ("2008-05-12", date(2008, 5, 12)),
    ("20080512", date(2008, 5, 12)),
    ("2008-05", date(2008, 5, 1)),
    ("2008", date(2008, 1, 1)),
    ("20080500", date(2008, 5, 1)),     # matricule: day unknown
    ("20080000", date(2008, 1, 1)),     # matricule: month and day unknown
    ("2008-02-30", None),
    ("DOB", None),
    ("", None),
])
def test_the_earliest_birth_a_text_allows(text, earliest):
    assert earliest_birth(text) == earliest


def test_pid7_wins_over_the_matricule_when_it_is_a_whole_date():
    assert birth_date_of("2008-05-12", "2009010112345") == date(2008, 5, 12)


def test_the_matricule_gives_the_date_when_pid7_is_missing_or_partial():
    assert birth_date_of("", "2008051212345") == date(2008, 5, 12)
    assert birth_date_of("2008", "2008051212345") == date(2008, 5, 12)


def test_unknown_day_or_month_takes_the_earliest_possible_birth():
    assert birth_date_of("", "2008050012345") == date(2008, 5, 1)
    assert birth_date_of("2008-07", "2008000012345") == date(2008, 7, 1)
    assert birth_date_of("", "2008000012345") == date(2008, 1, 1)
