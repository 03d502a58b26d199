"""The matricule, Luxembourg's national identification number: format and check digits.

13 digits, `YYYYMMDDSSSCV`: birth date (month and day may be 00), a serial number, C a Luhn and
V a Verhoeff check digit, both over the first 11 digits.

The legacy 11-digit form `YYYYMMDDSSC` is still in use. Its check digit C is computed here as a
mod-11 check over the first 10 digits with weights 5,4,3,2,7,6,5,4,3,2, C = (11 - sum % 11) % 11,
a result of 10 being invalid. That weighting is our reading of the legacy rule and must be
confirmed with the CNS before it rejects real messages.

Error reasons name the rule broken, never the value: a matricule identifies a person.
"""
from __future__ import annotations

from hub.errors import InvalidMatricule

_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6), (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4), (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2), (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 0, 7, 6, 8), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_VERHOEFF_INVERSE = (0, 4, 3, 2, 1, 5, 9, 8, 7, 6)
_LEGACY_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_DIGITS = frozenset("0123456789")


def luhn_digit(digits: str) -> int:
    """The Luhn check digit to append to `digits`."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 0:  # doubled: these sit at odd positions once the check digit is added
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return (10 - total % 10) % 10


def verhoeff_digit(digits: str) -> int:
    """The Verhoeff check digit to append to `digits`."""
    check = 0
    for position, char in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[(position + 1) % 8][int(char)]]
    return _VERHOEFF_INVERSE[check]


def legacy_digit(digits: str) -> int | None:
    """The mod-11 check digit of the first 10 of `digits`; None when the rule gives 10."""
    total = sum(weight * int(char) for weight, char in zip(_LEGACY_WEIGHTS, digits))
    check = (11 - total % 11) % 11
    return None if check == 10 else check


def _check_date(digits: str) -> None:
    if int(digits[4:6]) > 12:
        raise InvalidMatricule("matricule birth month out of range (00-12)")
    if int(digits[6:8]) > 31:
        raise InvalidMatricule("matricule birth day out of range (00-31)")


def validate(text: str) -> str:
    """Return the matricule as 11 or 13 digits (spaces removed), or raise InvalidMatricule.

    The exception's message names the rule that failed, never the value.
    """
    digits = text.replace(" ", "")
    if not digits:
        raise InvalidMatricule("matricule is empty")
    if not _DIGITS.issuperset(digits):
        raise InvalidMatricule("matricule has characters other than digits and spaces")
    if len(digits) not in (11, 13):
        raise InvalidMatricule("matricule must have 13 digits (or 11 in the legacy form)")
    _check_date(digits)
    if len(digits) == 13:
        expected = f"{luhn_digit(digits[:11])}{verhoeff_digit(digits[:11])}"
        if digits[11:] != expected:
            raise InvalidMatricule("matricule fails its check digits")
    elif legacy_digit(digits) != int(digits[10]):
        raise InvalidMatricule("matricule fails its check digit (legacy mod 11)")
    return digits


def is_valid(text: str) -> bool:
    """Whether `validate` would accept the text."""
    try:
        validate(text)
    except InvalidMatricule:
        return False
    return True


def make_valid(prefix11: str) -> str:
    """Complete an 11-digit prefix (YYYYMMDDSSS) with its Luhn and Verhoeff digits.

    For tests and synthetic data. Raises ValueError when the prefix is not 11 digits or its
    month or day is out of range, so that the result always passes `validate`.
    """
    if len(prefix11) != 11 or not _DIGITS.issuperset(prefix11):
        raise ValueError("a matricule prefix has 11 digits")
    try:
        _check_date(prefix11)
    except InvalidMatricule as error:
        raise ValueError(str(error)) from None
    return f"{prefix11}{luhn_digit(prefix11)}{verhoeff_digit(prefix11)}"
