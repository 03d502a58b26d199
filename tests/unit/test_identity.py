"""Finding the matricule in PID-3 and the verdict (ERR-3 101 missing, 102 invalid)."""
import pytest

from hub.domain.identity import INVALID, MISSING, Verdict, find_matricule, identify
from hub.hl7.message import Message
from tests.fixtures.matricules import reference_matricule

VALID = "1893120105732"
WRONG = "1893120105733"


def adt(pid3: str, *, pid: bool = True) -> Message:
    lines = ["MSH|^~\\&|HIS|CHL|HUB|DSP|20240301||ADT^A04|42|P|2.5"]
    if pid:
        lines.append(f"PID|1||{pid3}||Muller^Jean||19890312|M")
    lines.append("PV1|1|O")
    return Message.parse("\r".join(lines) + "\r")


def test_nn_repetition_is_found_in_any_position():
    assert find_matricule(adt(f"{VALID}^^^CNS^NN")) == VALID
    assert find_matricule(adt(f"H123^^^CHL^PI~{VALID}^^^CNS^NN")) == VALID


def test_identifier_type_is_case_and_blank_insensitive():
    assert find_matricule(adt(f"{VALID}^^^^nn ")) == VALID


def test_configured_assigning_authority_without_type_code():
    pid3 = f"H123^^^CHL^PI~{VALID}^^^cns&1.2.442&ISO"
    assert find_matricule(adt(pid3)) is None
    assert find_matricule(adt(pid3), frozenset({"CNS"})) == VALID
    assert find_matricule(adt(pid3), frozenset({"OTHER"})) is None


def test_first_qualifying_repetition_wins_and_raw_text_is_returned():
    pid3 = f"1893 1201 057 32^^^^NN~{WRONG}^^^^NN"
    assert find_matricule(adt(pid3)) == "1893 1201 057 32"


def test_escaped_identifier_is_unescaped():
    assert find_matricule(adt("12\\T\\34^^^^NN")) == "12&34"


@pytest.mark.parametrize("pid3", ["", "H123^^^CHL^PI", "^^^CNS^NN", f"{VALID}^^^CNS^SS"])
def test_no_matricule(pid3):
    message = adt(pid3)
    assert find_matricule(message, frozenset({"CHX"})) is None
    assert identify(message) == Verdict(
        ok=False, matricule=None, err_code=MISSING,
        reason="PID-3: no matricule (identifier type NN)", field="PID-3",
    )


def test_no_pid_segment_is_missing():
    verdict = identify(adt("", pid=False))
    assert (verdict.ok, verdict.err_code, verdict.field) == (False, 101, "PID-3")


def test_valid_matricule_is_normalised():
    verdict = identify(adt(f"H1^^^CHL^PI~1893 1201 057 32^^^^NN"))
    assert verdict == Verdict(ok=True, matricule=VALID, err_code=None, reason="", field="PID-3")


def test_invalid_matricule_names_the_field_and_rule_not_the_value():
    verdict = identify(adt(f"{WRONG}^^^^NN"))
    assert (verdict.ok, verdict.matricule, verdict.err_code) == (False, None, INVALID)
    assert verdict.reason == "PID-3: matricule fails its check digits"
    assert WRONG not in verdict.reason


def test_invalid_matricule_in_a_later_repetition_says_which():
    verdict = identify(adt(f"H1^^^CHL^PI~X^^^CHL^AN~{WRONG[:12]}^^^^NN"))
    assert verdict.err_code == 102
    assert verdict.reason == (
        "PID-3 repetition 3: matricule must have 13 digits (or 11 in the legacy form)"
    )


def test_legacy_matricule_is_accepted():
    assert identify(adt("19600512121^^^^NN")).matricule == "19600512121"


OTHER = reference_matricule("19700101123")   # another valid matricule, made by python-stdnum


def test_two_different_matricules_are_refused_not_filed_under_the_first():
    verdict = identify(adt(f"{VALID}^^^CNS^NN~{OTHER}^^^CNS^NN"))
    assert (verdict.ok, verdict.matricule, verdict.err_code, verdict.field) == (
        False, None, INVALID, "PID-3")
    assert "two different matricules" in verdict.reason
    assert VALID not in verdict.reason and OTHER not in verdict.reason


def test_the_same_matricule_twice_is_one():
    verdict = identify(adt(f"{VALID}^^^CNS^NN~H1^^^CHL^MR~1893 1201 057 32^^^^NN"))
    assert (verdict.ok, verdict.matricule, verdict.legacy) == (True, VALID, None)


def test_a_legacy_number_beside_its_successor_names_one_person_and_carries_the_legacy_form():
    for pid3 in (f"18931201057^^^CNS^NN~{VALID}^^^CNS^NN", f"{VALID}^^^CNS^NN~18931201057^^^CNS^NN"):
        verdict = identify(adt(pid3))
        assert (verdict.ok, verdict.matricule, verdict.legacy) == (True, VALID, "18931201057")


def test_a_legacy_number_beside_another_13_digit_matricule_is_two_people():
    verdict = identify(adt(f"18931201057^^^CNS^NN~{OTHER}^^^CNS^NN"))
    assert (verdict.ok, verdict.err_code) == (False, INVALID)
    assert "two different matricules" in verdict.reason


def test_a_wrong_matricule_after_a_valid_one_is_refused_naming_its_repetition():
    verdict = identify(adt(f"{VALID}^^^CNS^NN~H1^^^CHL^MR~{WRONG}^^^CNS^NN"))
    assert (verdict.ok, verdict.err_code) == (False, INVALID)
    assert verdict.reason == "PID-3 repetition 3: matricule fails its check digits"
