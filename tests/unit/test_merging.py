"""The ADT^A40 reader: which merges a message asks for, and why a bad one is refused."""
from __future__ import annotations

from pathlib import Path

import pytest

from hub.errors import MappingError
from hub.hl7.message import Message
from hub.mapping.loader import load_mappings
from hub.routing.merging import MergeAction, merges_in
from hub.routing.outcome import RoutingPolicy
from hub.routing.patient_actions import actions_for
from hub.mapping.preview import preview
from tests.fixtures.messages import adt_a40, patient

SURVIVOR, MERGED = patient(41), patient(42)


def read(text: str, authorities: frozenset[str] = frozenset()) -> list[MergeAction]:
    return merges_in(Message.parse(text), RoutingPolicy(authorities=authorities))


def refusal(text: str, authorities: frozenset[str] = frozenset()) -> str:
    with pytest.raises(MappingError) as caught:
        read(text, authorities)
    reason = str(caught.value)
    assert SURVIVOR.matricule not in reason and MERGED.matricule not in reason
    return reason


def test_pid3_names_the_survivor_and_mrg1_the_merged_patient():
    assert read(adt_a40(SURVIVOR, MERGED, "M1")) == [
        MergeAction(SURVIVOR.matricule, MERGED.matricule)]


def test_a40_messages_get_the_reader_and_other_types_none():
    message = Message.parse(adt_a40(SURVIVOR, MERGED, "M1"))
    assert actions_for(message, RoutingPolicy()) == [
        MergeAction(SURVIVOR.matricule, MERGED.matricule)]
    a08 = Message.parse(adt_a40(SURVIVOR, MERGED, "M1").replace("ADT^A40^ADT_A39", "ADT^A08"))
    assert actions_for(a08, RoutingPolicy()) == []


def test_mrg1_follows_the_identity_rules_of_pid3():
    spaced = f"{MERGED.matricule[:4]} {MERGED.matricule[4:]}"
    assert read(adt_a40(SURVIVOR, None, "M1", mrg=f"X1^^^CHL^MR~{spaced}^^^CNS^NN"))[0].merged \
        == MERGED.matricule
    by_authority = adt_a40(SURVIVOR, None, "M1", mrg=f"{MERGED.matricule}^^^RNPP^PI")
    assert read(by_authority, frozenset({"rnpp"}))[0].merged == MERGED.matricule
    assert "MRG-1: no matricule" in refusal(by_authority)


@pytest.mark.parametrize("mrg, expected", [
    ("", "MRG-1: no matricule (identifier type NN)"),
    ("OLD7^^^CHL^MR", "MRG-1: no matricule (identifier type NN)"),
    (f"{MERGED.matricule[:-1]}{(int(MERGED.matricule[-1]) + 1) % 10}^^^CNS^NN",
     "MRG-1: matricule fails its check digits"),
    ("X1^^^CHL^MR~12345^^^CNS^NN", "MRG-1 repetition 2: matricule must have 13 digits"),
])
def test_a_missing_or_invalid_mrg1_is_refused_naming_the_field_not_the_value(mrg, expected):
    assert refusal(adt_a40(SURVIVOR, None, "M1", mrg=mrg)).startswith(expected)


def test_a_message_without_mrg_is_refused_naming_mrg1():
    text = adt_a40(SURVIVOR, MERGED, "M1").split("\rMRG|")[0] + "\r"
    assert refusal(text).startswith("MRG-1: no MRG segment")


def test_merging_a_patient_into_itself_is_refused():
    assert "cannot be merged into itself" in refusal(adt_a40(SURVIVOR, SURVIVOR, "M1"))


def test_each_pid_mrg_pair_is_one_merge_in_order_and_a_bad_later_pair_refuses_all():
    first = adt_a40(SURVIVOR, MERGED, "M1")
    other, gone = patient(43), patient(44)
    pair = adt_a40(other, gone, "M1").split("\r", 2)[2]  # its PID and MRG
    assert read(first + pair) == [MergeAction(SURVIVOR.matricule, MERGED.matricule),
                                  MergeAction(other.matricule, gone.matricule)]
    bad = adt_a40(other, None, "M1", mrg="OLD^^^CHL^MR").split("\r", 2)[2]
    assert refusal(first + bad) == "MRG-1: no matricule (identifier type NN) (merge 2)"


def test_an_action_never_shows_a_matricule():
    action = MergeAction(SURVIVOR.matricule, MERGED.matricule)
    assert SURVIVOR.matricule not in repr(action) and MERGED.matricule not in str(action)


def test_hub_map_reports_a_bad_mrg1_in_the_identity_verdict():
    mappings = load_mappings(Path(__file__).resolve().parents[2] / "mappings")

    def identity(text: str) -> str:
        [result] = preview(Path("a40.hl7"), text.encode(), mappings, policy=RoutingPolicy())
        assert result["ok"] and result["entries"] == []
        return result["identity"]

    assert identity(adt_a40(SURVIVOR, MERGED, "M1")) == "ok"
    assert identity(adt_a40(SURVIVOR, None, "M1", mrg="OLD^^^CHL^MR")) == \
        "MRG-1: no matricule (identifier type NN)"
