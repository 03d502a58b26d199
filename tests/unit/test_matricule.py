"""Matricule rules: the format, the date, and the legacy mod-11 form.

The 13-digit check digits are compared with python-stdnum over many generated numbers in
tests/reference/test_matricule_reference.py; here, the rules around them."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.matricule import (
    check_digits,
    is_legacy,
    is_valid,
    legacy_digits,
    successor,
    validate,
)
from hub.errors import InvalidMatricule
from tests.fixtures.matricules import reference_matricule

VALID = "1893120105732"


def test_the_reference_matricule_is_valid_and_its_neighbour_is_not():
    assert validate(VALID) == VALID
    assert is_valid(VALID)
    assert not is_valid("1893120105733")
    with pytest.raises(InvalidMatricule, match="^matricule fails its check digits$"):
        validate("1893120105733")


def test_a_wrong_luhn_digit_alone_is_caught():
    assert not is_valid("1893120105702")  # Verhoeff digit right, Luhn digit wrong


def test_a_wrong_verhoeff_digit_alone_is_caught():
    assert not is_valid("1893120105731")  # Luhn digit right, Verhoeff digit wrong


def test_spaces_are_stripped():
    assert validate(" 1893 1201 057 32 ") == VALID


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", "empty"), ("   ", "empty"), ("18931201057-2", "digits"), ("１８９３１２０１０５７３２", "digits"),
        ("189312010573", "13 digits"), ("18931201057322", "13 digits"),
    ],
)
def test_format_errors_name_the_rule_not_the_value(text, rule):
    with pytest.raises(InvalidMatricule, match=rule) as caught:
        validate(text)
    if text.strip():
        assert text.strip() not in str(caught.value)


def test_month_and_day_may_be_zero_but_not_out_of_range():
    assert is_valid(reference_matricule("19800000123"))
    assert is_valid(reference_matricule("19801231123"))
    with pytest.raises(InvalidMatricule, match="day"):
        validate(reference_matricule("19800132123"))
    with pytest.raises(InvalidMatricule, match="month"):
        validate(reference_matricule("19801301123"))


def test_the_successor_of_a_legacy_number_is_its_digits_and_their_check_digits():
    assert successor("18931201057") == VALID
    assert check_digits("18931201057") == "32"
    assert is_legacy("18931201057") and not is_legacy(VALID)


# The legacy rule as published (RGD of 21 December 1987): r is the weighted sum of the first 10
# digits mod 11 with weights 5 4 3 2 7 6 5 4 3 2. Written out here case by case from the text,
# not from the code under test: mode m gives m - r; a result of 10 is never issued; 11 gives 0,
# 12 gives 1 and (mode 3, r = 0) 13 gives 2.
_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_PUBLISHED = {11: 0, 12: 1, 13: 2}


def _published_check(base10: str, mode: int) -> int | None:
    r = sum(w * int(d) for w, d in zip(_WEIGHTS, base10)) % 11
    value = mode - r
    if value == 10:
        return None  # never issued
    return _PUBLISHED.get(value, value)


bases10 = st.builds(
    lambda year, month, day, serial: f"{year:04d}{month:02d}{day:02d}{serial:02d}",
    st.integers(1850, 2030), st.integers(0, 12), st.integers(0, 31), st.integers(0, 99),
)


@pytest.mark.parametrize("mode", [11, 12, 13])
@given(base=bases10)
def test_each_legacy_mode_is_accepted(mode, base):
    check = _published_check(base, mode)
    if check is None:
        return
    assert validate(f"{base}{check}") == f"{base}{check}"


@given(base=bases10, digit=st.integers(0, 9))
def test_a_legacy_digit_no_mode_gives_is_refused(base, digit):
    allowed = {_published_check(base, mode) for mode in (11, 12, 13)} - {None}
    assert is_valid(f"{base}{digit}") == (digit in allowed)
    assert legacy_digits(base) == allowed


def test_legacy_modes_by_hand():
    # 1,9,6,0,0,5,1,2,1,2 weighted: sum 109, r = 10: mode 1 gives 1, mode 2 gives 2, mode 3 gives 3.
    assert legacy_digits("1960051212") == {1, 2, 3}
    for check in "123":
        assert validate(f"1960051212{check}")
    with pytest.raises(InvalidMatricule, match="legacy mod 11"):
        validate("19600512124")
    # sum 67, r = 1: mode 1 would give 10 (never issued), mode 2 gives 0 (11), mode 3 gives 1 (12).
    assert legacy_digits("1970000011") == {0, 1}
    # r = 0: mode 1 gives 0, mode 2 gives 1 (12), mode 3 gives 2 (13).
    assert legacy_digits("0000000000") == {0, 1, 2}
