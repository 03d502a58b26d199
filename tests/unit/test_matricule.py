"""Matricule rules: Luhn and Verhoeff over the first 11 digits, the date, the legacy mod-11 form."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.domain.matricule import (
    is_valid,
    legacy_digit,
    luhn_digit,
    make_valid,
    validate,
    verhoeff_digit,
)
from hub.errors import InvalidMatricule

VALID = "1893120105732"


def test_the_reference_matricule_is_valid_and_its_neighbour_is_not():
    assert validate(VALID) == VALID
    assert is_valid(VALID)
    assert not is_valid("1893120105733")
    with pytest.raises(InvalidMatricule, match="^matricule fails its check digits$"):
        validate("1893120105733")


def test_luhn_and_verhoeff_digits_of_known_numbers():
    assert luhn_digit("7992739871") == 3            # the textbook Luhn example
    assert verhoeff_digit("236") == 3               # the textbook Verhoeff example
    assert verhoeff_digit("12345") == 1
    assert (luhn_digit("18931201057"), verhoeff_digit("18931201057")) == (3, 2)


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
    assert is_valid(make_valid("19800000123"))
    assert is_valid(make_valid("19801231123"))
    with pytest.raises(InvalidMatricule, match="day"):
        validate(_with_check_digits("19800132123"))
    with pytest.raises(InvalidMatricule, match="month"):
        validate(_with_check_digits("19801301123"))


def _with_check_digits(prefix: str) -> str:
    return f"{prefix}{luhn_digit(prefix)}{verhoeff_digit(prefix)}"


def test_make_valid_completes_and_refuses_bad_prefixes():
    assert make_valid("18931201057") == VALID
    for bad in ("1893120105", "189312010577", "1893120105x", "18931301057"):
        with pytest.raises(ValueError):
            make_valid(bad)


def _legacy(prefix10: str) -> str:
    check = legacy_digit(prefix10)
    assert check is not None
    return f"{prefix10}{check}"


def test_legacy_mod11_form():
    # 1,9,6,0,0,5,1,2,1,2 weighted by 5,4,3,2,7,6,5,4,3,2: sum 109, 109 % 11 = 10, check 1.
    assert legacy_digit("1960051212") == 1
    assert validate("19600512121") == "19600512121"
    assert not is_valid("19600512122")
    assert _legacy("1960051212") == "19600512121"


def test_legacy_check_of_ten_is_invalid():
    # sum 67 (1*5 + 9*4 + 7*3 + 0 + 0*7 + 0*6 + 0*5 + 0*4 + 1*3 + 1*2), 67 % 11 = 1, check 10.
    assert legacy_digit("1970000011") is None
    assert not any(is_valid(f"1970000011{digit}") for digit in "0123456789")


def test_legacy_errors_name_the_legacy_rule():
    with pytest.raises(InvalidMatricule, match="legacy mod 11"):
        validate("19600512122")


prefixes = st.builds(
    lambda year, month, day, serial: f"{year:04d}{month:02d}{day:02d}{serial:03d}",
    st.integers(1900, 2030), st.integers(0, 12), st.integers(0, 31), st.integers(0, 999),
)


@given(prefixes, st.integers(0, 12), st.integers(1, 9))
def test_every_single_digit_change_is_caught(prefix, position, shift):
    matricule = make_valid(prefix)
    assert is_valid(matricule)
    changed = str((int(matricule[position]) + shift) % 10)
    assert not is_valid(matricule[:position] + changed + matricule[position + 1:])


@given(prefixes, st.integers(0, 11))
def test_every_adjacent_transposition_is_caught(prefix, position):
    matricule = make_valid(prefix)
    swapped = matricule[:position] + matricule[position + 1] + matricule[position] + (
        matricule[position + 2:]
    )
    assert swapped == matricule or not is_valid(swapped)
