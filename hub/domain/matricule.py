"""The matricule, Luxembourg's national identification number: format and check digits.

13 digits, `YYYYMMDDSSSCV`: birth date (month and day may be 00), a serial number, C a Luhn and
V a Verhoeff check digit, both over the first 11 digits. The check digits are python-stdnum's
(`stdnum.luhn`, `stdnum.verhoeff`), the reference implementation nobody here wrote.

The legacy 11-digit form `YYYYMMDDSSC` is still in use. Its check digit, as the règlement
grand-ducal of 21 December 1987 (identification numérique des personnes physiques) publishes it:
r is the remainder mod 11 of the first 10 digits weighted 5 4 3 2 7 6 5 4 3 2, and C is 11 - r;
once a date's serial numbers ran out, 12 - r, then 13 - r. In each mode the remainder that would
give 10 was never issued, and a result of 11 or 12 wraps to 1 or 0 (mode 2: r = 0 gives 1,
r = 1 gives 0), i.e. C = (m - r) mod 11 for m = 11, 12, 13.

A legacy number's 13-digit successor is the same 11 digits followed by their two check digits
(`successor`); whether the two are one person is for hub.domain.identity and the settings to say.

Error reasons name the rule broken, never the value: a matricule identifies a person.
"""
from __future__ import annotations

from stdnum import luhn, verhoeff

from hub.errors import InvalidMatricule

_LEGACY_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)
_LEGACY_MODES = (11, 12, 13)
_DIGITS = frozenset("0123456789")
LEGACY_LENGTH = 11
LENGTH = 13


def check_digits(base: str) -> str:
    """The Luhn and Verhoeff digits (python-stdnum) that follow 11 digits in a matricule.

    Not remembered: a cache would keep identifiers in the listener's memory for its life, for
    about 10 µs a message (and would flatter a benchmark that cycles over a few patients)."""
    return luhn.calc_check_digit(base) + verhoeff.calc_check_digit(base)


def legacy_digits(digits: str) -> frozenset[int]:
    """The check digits the three legacy modes allow after the first 10 of `digits`."""
    remainder = sum(weight * int(char) for weight, char in zip(_LEGACY_WEIGHTS, digits)) % 11
    return frozenset(check for check in ((mode - remainder) % 11 for mode in _LEGACY_MODES)
                     if check != 10)


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
    if len(digits) not in (LEGACY_LENGTH, LENGTH):
        raise InvalidMatricule("matricule must have 13 digits (or 11 in the legacy form)")
    _check_date(digits)
    if len(digits) == LENGTH:
        if digits[LEGACY_LENGTH:] != check_digits(digits[:LEGACY_LENGTH]):
            raise InvalidMatricule("matricule fails its check digits")
    elif int(digits[10]) not in legacy_digits(digits):
        raise InvalidMatricule("matricule fails its check digit (legacy mod 11)")
    return digits


def is_valid(text: str) -> bool:
    """Whether `validate` would accept the text."""
    try:
        validate(text)
    except InvalidMatricule:
        return False
    return True


def is_legacy(matricule: str) -> bool:
    """Whether a validated matricule is in the legacy 11-digit form."""
    return len(matricule) == LEGACY_LENGTH


def successor(legacy: str) -> str:
    """The 13-digit form of a validated legacy matricule: its 11 digits and their check digits."""
    return legacy + check_digits(legacy)
