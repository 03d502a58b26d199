"""The hub's matricule verdict against python-stdnum's Luhn and Verhoeff (the reference), over
random 11-digit bases with every pair of check digits, and over every single-digit error and
adjacent transposition of valid numbers. The counts are printed (run with -s)."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.matricule import is_valid
from tests.fixtures.matricules import reference_matricule, reference_verdict

bases = st.builds(
    lambda year, month, day, serial: f"{year:04d}{month:02d}{day:02d}{serial:03d}",
    st.integers(1850, 2030), st.integers(0, 12), st.integers(0, 31), st.integers(0, 999),
)
any_bases = st.text("0123456789", min_size=11, max_size=11)


@settings(max_examples=3000, deadline=None)
@given(base=any_bases, check=st.text("0123456789", min_size=2, max_size=2))
def test_verdict_equals_the_reference_for_any_base_and_check_digits(base, check):
    number = base + check
    assert is_valid(number) == reference_verdict(number)


@settings(max_examples=3000, deadline=None)
@given(base=bases)
def test_every_number_the_reference_makes_is_accepted(base):
    assert is_valid(reference_matricule(base))


def _errors(number: str):
    """Every single-digit substitution and adjacent transposition of `number` (not itself)."""
    for position in range(len(number)):
        for digit in "0123456789":
            if digit != number[position]:
                yield number[:position] + digit + number[position + 1:]
    for position in range(len(number) - 1):
        swapped = number[:position] + number[position + 1] + number[position] + number[position + 2:]
        if swapped != number:
            yield swapped


def test_every_single_digit_error_and_transposition_gets_the_reference_verdict():
    rng = random.Random(20261207)
    cases = disagreements = refused = 0
    for _ in range(1000):
        base = (f"{rng.randint(1850, 2030):04d}{rng.randint(0, 12):02d}"
                f"{rng.randint(0, 31):02d}{rng.randint(0, 999):03d}")
        valid = reference_matricule(base)
        assert is_valid(valid)
        for wrong in _errors(valid):
            cases += 1
            expected = reference_verdict(wrong)
            refused += not expected
            disagreements += is_valid(wrong) != expected
    print(f"\nmatricule errors compared with python-stdnum: {cases} cases, {refused} refused by "
          f"the reference, {disagreements} disagreements")
    assert cases > 100_000
    assert disagreements == 0
