"""The calendar arithmetic of the résumé clock and the age of majority, checked against
python-dateutil's relativedelta (a reference written by others) on dates drawn over two
centuries, rather than against expectations worked out by the same hand as the code."""
from __future__ import annotations

from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.majority import MAJORITY_YEARS, majority_day
from hub.domain.resume import add_months

DAYS = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31))


@settings(max_examples=2000)
@given(DAYS, st.integers(min_value=-240, max_value=240))
def test_months_are_added_as_relativedelta_adds_them_day_clamped(day, months):
    assert add_months(day, months) == day + relativedelta(months=months)


@settings(max_examples=2000)
@given(DAYS)
def test_majority_is_the_18th_birthday_and_29_february_turns_on_1_march(birth):
    reference = birth + relativedelta(years=MAJORITY_YEARS)  # clamps 29 Feb to 28 Feb
    if (birth.month, birth.day) == (2, 29) and reference.day == 28:
        # The hub's documented choice: one is of age once the day after 28 February begins.
        assert majority_day(birth) == reference + timedelta(days=1)
    else:
        assert majority_day(birth) == reference


def test_the_29_february_case_is_reached():
    assert majority_day(date(2008, 2, 29)) == date(2026, 3, 1)
    assert date(2008, 2, 29) + relativedelta(years=18) == date(2026, 2, 28)
