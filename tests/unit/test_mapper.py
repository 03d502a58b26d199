"""The mapper, with the shipped mappings and synthetic patients."""
from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.models import Confidentiality
from hub.errors import MappingError
from hub.hl7.charset import decode
from hub.hl7.message import Message
from hub.mapping.mapper import map_message
from hub.mapping.loader import load_mappings
from hub.mapping.values import iso_timestamp, number

SHIPPED = Path(__file__).resolve().parents[2] / "mappings"


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(SHIPPED)


def message(*segments: str) -> Message:
    return Message.parse("\r".join(segments) + "\r")


def mapped(mappings, msg: Message):
    return map_message(msg, mappings.for_type(msg.type, msg.structure))


MSH_ORU = "MSH|^~\\&|LAB|CHL|HUB|DSP|20240115083000||ORU^R01^ORU_R01|C1|P|2.5"
PID = "PID|1||1893120105732^^^^NN||Hoffmann^Léa^^^^^L||19890312|F"
ADT_A01 = (
    "MSH|^~\\&|ADT|CHL|HUB|DSP|20240115083000||ADT^A01^ADT_A01|C2|P|2.5",
    "EVN|A01|20240115082900",
    PID,
    "|".join(["PV1", "1", "I", "4E^412^B^CHL", "E", "", "", "123456-78^Weber^Anne^^^Dr", "", "",
              "MED", *[""] * 8, "V77^^^CHL", *[""] * 24, "20240115080000+0100", "20240120"]),
    "ZLU|1|hospital private data",
)


def test_adt_a01_gives_demographics_and_an_encounter(mappings):
    result = mapped(mappings, message(*ADT_A01))
    assert (result.patient.matricule, result.patient.family_name, result.patient.given_name,
            result.patient.birth_date, result.patient.sex) == ("", "Hoffmann", "Léa",
                                                               "1989-03-12", "F")
    [encounter] = result.entries
    assert encounter.kind == "encounter"
    assert encounter.effective_at == "2024-01-15T08:00:00+01:00"
    assert encounter.confidentiality is Confidentiality.NORMAL
    assert encounter.payload == {
        "event": "A01",
        "class": "I",
        "location": {"point_of_care": "4E", "room": "412", "bed": "B", "facility": "CHL"},
        "admission_type": "E",
        "hospital_service": "MED",
        "attending_doctor": {"cns_code": "123456-78", "family_name": "Weber", "given_name": "Anne"},
        "visit_number": "V77",
        "admitted_at": "2024-01-15T08:00:00+01:00",
        "discharged_at": "2024-01-20",
    }
    rules = mappings.for_type("ADT^A01").entries[0].fields
    assert list(encounter.payload) == [rule.name for rule in rules]   # the mapping file's order


def test_event_falls_back_to_msh_9_2_and_empty_fields_are_left_out(mappings):
    result = mapped(mappings, message(ADT_A01[0].replace("A01^ADT_A01", "A08^ADT_A01"),
                                      PID, "PV1|1|O|\"\""))
    assert result.entries[0].payload == {"event": "A08", "class": "O"}
    assert result.entries[0].effective_at is None


ORU = (
    MSH_ORU,
    PID,
    "ORC|RE|PL1|FI1|||||||||111111-11^Weber^Anne",
    "OBR|1|PL1|FI1|CBC^Blood count^L|||20240115070000|||||||||222222-22^Schmit^Paul",
    "OBX|1|NM|718-7^Hemoglobin^LN||13.5|g/dL|12-16|N|||F|||20240115071500+0100",
    "OBX|2|SN|777-3^Platelets^LN||>^150|10*9/L|150-400||||F",
    "OBX|3|SN|5778-6^Titer^LN||^1^:^128||||||F",
    "ZLU|1|ignored",
    "OBR|2|PL2|FI2|MIC^Culture^L|||20240116090000|||||||||333333-33^Kremer^Lis",
    "OBX|1|CWE|600-7^Culture^LN||260373001^Detected^SCT~^^^^^^^^Few colonies||||||F",
    "OBX|2|TX|11502-2^Comment^LN||Line one\\.br\\A \\F\\ B \\S\\ C~Second line||||||F",
    "OBX|3|ST|8251-1^Note^LN||ratio 1\\T\\2 \\E\\ done||||||P",
)


def test_each_obx_reads_its_own_order_group(mappings):
    entries = mapped(mappings, message(*ORU)).entries
    assert [entry.payload["code"] for entry in entries] == [
        "718-7", "777-3", "5778-6", "600-7", "11502-2", "8251-1"]
    first_group, second_group = entries[:3], entries[3:]
    for entry in first_group:
        assert entry.payload["ordering_provider"]["cns_code"] == "111111-11"  # ORC-12 first
        assert (entry.payload["test_code"], entry.payload["placer_number"]) == ("CBC", "PL1")
    for entry in second_group:
        # no ORC in this group: OBR-16, never the first group's ORC-12
        assert entry.payload["ordering_provider"] == {
            "cns_code": "333333-33", "family_name": "Kremer", "given_name": "Lis"}
        assert entry.payload["observed_at"] == "2024-01-16T09:00:00"
        assert entry.effective_at == "2024-01-16T09:00:00"
        assert (entry.payload["test_code"], entry.payload["filler_number"]) == ("MIC", "FI2")
    assert entries[0].effective_at == "2024-01-15T07:15:00+01:00"   # OBX-14 before OBR-7
    assert entries[1].effective_at == "2024-01-15T07:00:00"


def test_obx_of_one_order_read_its_fields_once_but_keep_values_of_their_own(mappings):
    # The mapper reads ORC/OBR fields once per order group (hub.mapping.mapper._each); each
    # entry still gets its own dict, so changing one entry's payload leaves the others alone.
    entries = mapped(mappings, message(*ORU)).entries[:3]
    entries[0].payload["ordering_provider"]["cns_code"] = "changed"
    assert [e.payload["ordering_provider"]["cns_code"] for e in entries[1:]] == ["111111-11"] * 2


def test_values_by_value_type_with_escapes_and_repetitions(mappings):
    values = [(entry.payload["value_type"], entry.payload["value"])
              for entry in mapped(mappings, message(*ORU)).entries]
    assert values == [
        ("NM", "13.5"),
        ("SN", ">150"),
        ("SN", "1:128"),
        ("CWE", "Detected\nFew colonies"),
        ("TX", "Line one\nA | B ^ C\nSecond line"),
        ("ST", "ratio 1&2 \\ done"),
    ]
    first = mapped(mappings, message(*ORU)).entries[0].payload
    assert first["unit"] == "g/dL" and first["reference_range"] == "12-16"
    assert first["abnormal_flag"] == "N" and first["status"] == "F"


def test_an_oru_without_obx_cannot_be_mapped_and_says_why_without_values(mappings):
    with pytest.raises(MappingError) as caught:
        mapped(mappings, message(MSH_ORU, PID, "OBR|1|PL1|FI1|CBC^Blood count^L"))
    assert "no OBX segment" in str(caught.value)


def test_a_bad_timestamp_names_the_field_and_path_but_not_the_value(mappings):
    msg = message(MSH_ORU, PID, "OBR|1|PL1|FI1|CBC", "OBX|1|NM|718-7||13.5||||||F|||2024-01-15")
    with pytest.raises(MappingError) as caught:
        mapped(mappings, msg)
    assert 'field "observed_at"' in str(caught.value) and "OBX-14" in str(caught.value)
    assert "2024-01-15" not in str(caught.value)


def test_a_bad_birth_date_is_left_out_and_the_rest_still_maps(mappings):
    result = mapped(mappings, message(*ADT_A01[:2], PID.replace("19890312", "1989-03-12")))
    assert result.patient.birth_date == ""
    assert result.patient.family_name and result.entries


@pytest.mark.parametrize("codec", ["8859/1", "UNICODE UTF-8"])
def test_accented_names_read_back_exactly(mappings, codec):
    names = ("Schäfer-Müller", "Zoë Maëlle Jürgen Strauß")
    text = "\r".join([
        ADT_A01[0] + f"||||||{codec}", f"PID|1||1893120105732^^^^NN||{names[0]}^{names[1]}",
    ]) + "\r"
    raw = text.encode("latin-1" if codec == "8859/1" else "utf-8")
    decoded, _ = decode(raw)
    patient = mapped(mappings, Message.parse(decoded)).patient
    assert (patient.family_name, patient.given_name) == names


def test_no_patient_segment_gives_no_patient(mappings):
    result = mapped(mappings, message(ADT_A01[0], "PV1|1|I"))
    assert result.patient is None
    assert result.entries[0].payload == {"event": "A01", "class": "I"}


OTHER_SHAPES = """\
types = ["MDM^T02"]

[[entries]]
kind = "document"
each = "OBX"
require = ["content"]
effective_at = "TXA-4"
confidentiality = { path = "TXA-18", map = { V = "secret", R = "restricted" } }

[entries.fields]
document_type = "TXA-2"
content_type = "OBX-5.3"
content = "OBX-5"
authors = "TXA-9.1"
pages = "OBX-4"

[entries.types]
content = { type = "varies", datatype = "OBX-2" }
authors = "list"
pages = "number"
"""


def test_a_document_mapping_with_confidentiality_lists_and_numbers(tmp_path):
    (tmp_path / "MDM_T02.toml").write_text(OTHER_SHAPES, encoding="utf-8")
    mapping = load_mappings(tmp_path).for_type("MDM^T02")
    msg = message(
        "MSH|^~\\&|DOC|CHL|HUB|DSP|20240115083000||MDM^T02^MDM_T02|C3|P|2.5",
        "TXA|1|RES|AP|202401150800|||||111111-11~222222-22|||||||||R",
        "OBX|1|ED|RES^Resume||^AP^PDF^Base64^JVBERi0x\\X0D\\\\X0A\\LjQK",
        "OBX|2|ED|RES^Resume|12|^AP^PDF^Base64^QUJD",
    )
    first, second = map_message(msg, mapping).entries
    assert first.confidentiality is Confidentiality.RESTRICTED
    assert first.effective_at == "2024-01-15T08:00"
    assert first.payload == {"document_type": "RES", "content_type": "PDF",
                             "content": "JVBERi0xLjQK", "authors": ["111111-11", "222222-22"]}
    assert second.payload["pages"] == 12
    unrestricted = message(msg.segments[0].text, "TXA|1|RES", "OBX|1|ED|RES||^AP^PDF^Base64^QUJD")
    assert map_message(unrestricted, mapping).entries[0].confidentiality is Confidentiality.NORMAL
    with pytest.raises(MappingError, match='document: field "content" is empty'):
        map_message(message(msg.segments[0].text, "TXA|1|RES", "OBX|1|ED|RES||"), mapping)
    with pytest.raises(MappingError, match='field "pages": OBX-4 is not a number'):
        map_message(message(msg.segments[0].text, "OBX|1|ED|RES|x|^AP^PDF^Base64^QUJD"), mapping)


@pytest.mark.parametrize("hl7, iso", [
    ("2024", "2024"), ("202401", "2024-01"), ("20240115", "2024-01-15"),
    ("2024011508", "2024-01-15T08:00"), ("202401150830", "2024-01-15T08:30"),
    ("20240115083015.25-0500", "2024-01-15T08:30:15.25-05:00"),
    ("20240115083015+0100", "2024-01-15T08:30:15+01:00"),
    ("20241315", None), ("2024-01-15", None), ("DOB", None), ("2024011508301", None),
    # As hl7apy's DTM reads them (tests/reference/test_timestamps.py): a day its month does not
    # have, a 60th second, year 0000 and offsets west of -12:00 are no timestamps.
    ("20240229", "2024-02-29"), ("20230229", None), ("202404311200", None),
    ("20240115083060", None), ("0000", None), ("202401150830-1300", None),
    ("202401150830+1345", "2024-01-15T08:30+13:45"), ("202401150830-1200", "2024-01-15T08:30-12:00"),
])
def test_hl7_timestamps_become_iso_8601(hl7, iso):
    assert iso_timestamp(hl7) == iso


def test_numbers_keep_integers_integral():
    assert (number("12"), number("-0.5"), number("3."), number("1e3")) == (12, -0.5, 3.0, None)


ORU_EVERY_TYPE = (
    MSH_ORU, PID, "OBR|1|PL1|FI1|CHEM^Chemistry^L|||20240115070000",
    "OBX|1|NM|718-7^Hb^LN||13.5|g/dL|12-16|N|||F",
    "OBX|2|ST|8251-1^Note||hémolysé||||||F",
    "OBX|3|TX|11502-2^Report||Ligne 1~Ligne 2||||||F",
    "OBX|4|FT|11502-3^Formatted||Titre\\.br\\Texte||||||F",
    "OBX|5|CWE|600-7^Culture||260373001^Detected^SCT||||||F",
    "OBX|6|CE|600-8^Culture||POS^Positif^L||||||F",
    "OBX|7|SN|5778-6^Titer||^1^:^128||||||F",
    "OBX|8|ED|18748-4^Report^LN||LAB^AP^PDF^Base64^JVBERi0x\\X0D\\\\X0A\\LjQK||||||F",
    "OBX|9|DT|8665-2^LMP||20240101||||||F",
    "OBX|10|TS|8666-0^Sampled||202401150715||||||F",
)


def test_every_obx_value_type_and_ed_is_a_document_not_a_lab_result(mappings):
    entries = mapped(mappings, message(*ORU_EVERY_TYPE)).entries
    results = [(e.payload["value_type"], e.payload["value"]) for e in entries
               if e.kind == "lab_result"]
    assert results == [("NM", "13.5"), ("ST", "hémolysé"), ("TX", "Ligne 1\nLigne 2"),
                       ("FT", "Titre\nTexte"), ("CWE", "Detected"), ("CE", "Positif"),
                       ("SN", "1:128"), ("DT", "2024-01-01"), ("TS", "2024-01-15T07:15")]
    [document] = [e for e in entries if e.kind == "document"]
    assert document.payload["content"] == "JVBERi0xLjQK"   # the \X0D\\X0A\ wrap removed
    assert (document.payload["content_type"], document.payload["media_subtype"],
            document.payload["encoding"], document.payload["code"]) == ("ED", "PDF", "Base64",
                                                                        "18748-4")
    assert document.effective_at == "2024-01-15T07:00:00"
    assert document.payload["test_code"] == "CHEM"


def test_an_oru_with_only_a_document_maps_to_that_document(mappings):
    entries = mapped(mappings, message(*ORU_EVERY_TYPE[:3], ORU_EVERY_TYPE[10])).entries
    assert [e.kind for e in entries] == ["document"]


def test_conditions_and_joined_fields_in_a_mapping_of_ones_own(tmp_path):
    (tmp_path / "X.toml").write_text("""\
types = ["MDM^T02"]
[[entries]]
kind = "note"
when = { path = "TXA-2", in = ["CN", "DS"] }
[entries.fields]
lines = "OBX-5"
first = "OBX-5"
[entries.types]
lines = { type = "text", all = true }
[[entries]]
kind = "other"
unless = { path = "TXA-2", in = ["CN", "DS"] }
[entries.fields]
doc_type = "TXA-2"
""", encoding="utf-8")
    mapping = load_mappings(tmp_path).for_type("MDM^T02")
    msh = "MSH|^~\\&|A|B|C|D|20240115||MDM^T02|1|P|2.5"
    obx = ("OBX|1|TX|N||un", "ZZZ|1", "OBX|2|TX|N||\"\"", "OBX|3|TX|N||deux")
    note = map_message(message(msh, "TXA|1| ds ", *obx), mapping).entries
    assert [(e.kind, e.payload) for e in note] == [
        ("note", {"lines": "un\ndeux", "first": "un"})]
    other = map_message(message(msh, "TXA|1|HP", *obx), mapping).entries
    assert [(e.kind, e.payload) for e in other] == [("other", {"doc_type": "HP"})]


def test_a_z_segment_is_ignored_unless_a_mapping_declares_and_reads_it(tmp_path, mappings):
    msg = message(*ADT_A01)                       # carries "ZLU|1|hospital private data"
    shipped = mapped(mappings, msg)
    assert "hospital private data" not in repr(shipped)
    (tmp_path / "ADT_A01.toml").write_text("""\
types = ["ADT^A01"]
custom_segments = { ZLU = 2 }
[[entries]]
kind = "encounter"
[entries.fields]
local_note = "ZLU-2"
""", encoding="utf-8")
    [entry] = map_message(msg, load_mappings(tmp_path).for_type("ADT^A01")).entries
    assert entry.payload == {"local_note": "hospital private data"}


def test_lab_results_and_documents_are_read_in_one_walk_with_the_order_and_errors_of_two(mappings):
    from hub.mapping.compiled import compiled
    mapping = mappings.for_type("ORU^R01", "ORU_R01")
    assert [[plan.rule.kind for plan in run] for run in compiled(mapping).runs] == [
        ["lab_result", "document"]]
    nm = "OBX|{}|NM|718-7^Hb^LN||13.5||||||F|||{}"
    ed = "OBX|{}|ED|PDF^Report^L||^AP^PDF^Base64^QUJD||||||F|||{}"
    obr = "OBR|1|PL1|FI1|CBC"
    kinds = [entry.kind for entry in mapped(mappings, message(
        MSH_ORU, PID, obr, nm.format(1, "20240115"), ed.format(2, "20240115"),
        nm.format(3, "20240115"))).entries]
    assert kinds == ["lab_result", "lab_result", "document"]
    # The document's bad time comes first in the message, the lab result's first in the mapping:
    # the lab result's error is the one raised, as when each entry walked the message alone.
    with pytest.raises(MappingError, match="^lab_result: "):
        mapped(mappings, message(MSH_ORU, PID, obr, ed.format(1, "2024-01-15"),
                                 nm.format(2, "2024-01-15")))
    with pytest.raises(MappingError, match="^document: "):
        mapped(mappings, message(MSH_ORU, PID, obr, ed.format(1, "2024-01-15"),
                                 nm.format(2, "20240115")))
