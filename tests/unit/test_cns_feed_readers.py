"""The CNS feed's readers, in memory: référent declarations of ADT^A31 (PD1-4, ROL PP) and the
résumé patient of MDM^T02 (document type and author)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.errors import MappingError
from hub.hl7.message import Message
from hub.routing.outcome import RoutingPolicy
from hub.routing.referents import ReferentChange, read_referents
from hub.routing.resumes import ResumeReceived, read_resume
from tests.fixtures.messages import adt_a31, mdm_t02, patient

PP = "PP^Primary care provider^HL70443"
PERSON = patient(51)


def referents(**kwargs) -> list[ReferentChange]:
    return read_referents(Message.parse(adt_a31(PERSON, "A31-1", **kwargs)))


def test_pd1_4_declares_from_when_the_message_was_received():
    assert referents(pd1="123456-78") == [ReferentChange("123456-78")]


def test_no_pd1_4_and_no_rol_declares_nothing():
    assert referents() == []
    assert referents(rol=["AD|FHCP^Family health care professional^HL70443|123456-78"]) == []


def test_a_rol_pp_wins_over_pd1_and_carries_its_dates():
    [change] = referents(pd1="999999-99", rol=[f"UP|{PP}|223456-78^Muller^Anne|202601150830"
                                               "|20260701"])
    assert change == ReferentChange("223456-78", begins=datetime(2026, 1, 15, 8, 30, tzinfo=UTC),
                                    ends=datetime(2026, 7, 1, tzinfo=UTC))


def test_rol_de_ends_a_declaration_with_or_without_a_person():
    assert referents(rol=[f"DE|{PP}|223456-78"]) == [ReferentChange("223456-78", end=True)]
    assert referents(rol=[f"DE|{PP}|"]) == [ReferentChange("", end=True)]


def test_a_rol_with_a_zone_keeps_it():
    [change] = referents(rol=[f"AD|{PP}|223456-78|20260115083000+0100"])
    assert change.begins.isoformat() == "2026-01-15T08:30:00+01:00"


@pytest.mark.parametrize("kwargs, field", [
    ({"pd1": "1234567"}, "PD1-4.1"),
    ({"rol": [f"AD|{PP}|ABCDEF-GH"]}, "ROL-4.1"),
    ({"rol": [f"AD|{PP}|"]}, "ROL-4.1"),
    ({"rol": [f"AD|{PP}|123456-78", f"AD|{PP}|1"]}, "ROL[2]-4.1"),
    ({"rol": [f"AD|{PP}|123456-78|tomorrow"]}, "ROL-5"),
    ({"rol": [f"AD|{PP}|123456-78|20260101|20261340"]}, "ROL-6"),
])
def test_an_unreadable_declaration_names_the_field_never_the_value(kwargs, field):
    with pytest.raises(MappingError) as caught:
        referents(**kwargs)
    message = str(caught.value)
    assert message.startswith(f"{field}:")
    assert not any(bad in message for bad in ("1234567", "ABCDEF", "tomorrow", "20261340"))


def resume(policy=RoutingPolicy(), **kwargs) -> list[ResumeReceived]:
    return read_resume(Message.parse(mdm_t02(PERSON, "MDM-1", **kwargs)), policy)


def test_a_resume_of_the_configured_type_names_its_author():
    assert resume(author="123456-78") == [ResumeReceived("123456-78")]
    local = RoutingPolicy(resume_document_type="RESUME")
    assert resume(local, author="123456-78", document_type="RESUME^Résumé patient^L") == [
        ResumeReceived("123456-78")]


def test_another_document_type_or_an_author_without_cns_code_is_an_ordinary_document():
    assert resume(author="123456-78", document_type="11488-4^Consult note^LN") == []
    assert resume(author="DRWHO") == []
    assert resume(author="") == []


def test_txa_5_stands_in_for_an_empty_txa_9():
    text = mdm_t02(PERSON, "MDM-2", author="").replace(
        "|TX|20261125100000|", "|TX|20261125100000|323456-78^Thill^Max|")
    assert read_resume(Message.parse(text), RoutingPolicy()) == [ResumeReceived("323456-78")]


def test_hub_map_reports_an_unreadable_declaration_as_a_mapping_error(tmp_path):
    from hub.mapping.loader import load_mappings
    from hub.mapping.preview import preview
    from hub.settings import REPO_ROOT
    mappings = load_mappings(REPO_ROOT / "mappings")
    good = adt_a31(PERSON, "A31-OK", pd1="123456-78").encode()
    bad = adt_a31(PERSON, "A31-BAD", pd1="1234567").encode()
    [ok], [parked] = (preview(tmp_path / "f.hl7", raw, mappings, policy=RoutingPolicy())
                      for raw in (good, bad))
    assert ok["ok"] and ok["identity"] == "ok" and ok["entries"] == []
    assert not parked["ok"] and "PD1-4.1" in parked["error"] and "1234567" not in parked["error"]


def test_only_the_cns_declares_a_hospital_a31_names_its_own_primary_care_provider():
    hospital = Message.parse(adt_a31(PERSON, "A31-H", pd1="DRLOCAL7").replace("CNS|CNS",
                                                                               "PAS|CHL", 1))
    assert read_referents(hospital, RoutingPolicy()) == []
    from_the_cns = Message.parse(adt_a31(PERSON, "A31-C", pd1="DRLOCAL7"))
    with pytest.raises(MappingError, match=r"PD1-4\.1: not a CNS code"):
        read_referents(from_the_cns, RoutingPolicy())
    anyone = RoutingPolicy(referent_senders=("*",))
    with pytest.raises(MappingError):
        read_referents(hospital, anyone)
