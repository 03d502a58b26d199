"""The CNS professional code: the hub's rule (hub.domain.professional.validate_cns_code, used by
the registry's CSV import, MFN^M02 feed, audit actors and référent declarations) against an
independent description of the format.

Source of the format: the CNS assigns each doctor an individual code before they practise
("code médecin (ou médecin-dentiste) individuel", art. 4 of the CNS–AMMD convention, quoted on
cns.public.lu, "Procédure d'attribution d'un code prestataire"); the hub's design
(DESIGN.md, "Professionals") writes it `NNNNNN-NN`. No public source found documents how the
eight digits are built or any check digit in them, and python-stdnum (2.2) has no Luxembourg
provider code (only `stdnum.lu.tva`). So the hub applies no check digit, and says so; this test
pins the format alone: six ASCII digits, a hyphen, two ASCII digits, surrounding blanks ignored.
"""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.professional import validate_cns_code
from hub.errors import InvalidCnsCode

ASCII_DIGITS = "0123456789"


def described(text: str) -> str | None:
    """The format in words, without a regular expression: 9 characters once blanks around are
    removed, the 7th a hyphen, every other one an ASCII digit."""
    code = text.strip()
    if len(code) != 9 or code[6] != "-":
        return None
    if not all(char in ASCII_DIGITS for char in code[:6] + code[7:]):
        return None
    return code


def hub(text: str) -> str | None:
    try:
        return validate_cns_code(text)
    except InvalidCnsCode:
        return None


@settings(max_examples=5000, deadline=None)
@given(st.text(alphabet="0123456789-- \t\n\u00a0x\u0663\uff11", max_size=14))
def test_any_text_gets_the_verdict_of_the_description(text):
    assert hub(text) == described(text)


@settings(max_examples=2000, deadline=None)
@given(st.integers(0, 999_999), st.integers(0, 99), st.sampled_from(["", " ", "\t", " \n"]))
def test_every_well_formed_code_is_accepted_whatever_its_digits(number, suffix, blank):
    code = f"{number:06d}-{suffix:02d}"
    assert hub(blank + code + blank) == code  # no check digit: every pair of suffix digits


@pytest.mark.parametrize("text", ["123456-7", "1234567-89", "123456_78", "12345678",
                                  "١٢٣٤٥٦-٧٨", "123456-７８", "123 456-78", "123456 -78", ""])
def test_near_misses_are_refused(text):
    assert hub(text) is None and described(text) is None
