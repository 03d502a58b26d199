"""The shipped MDM^T02 mapping (mappings/MDM_T02.toml): one "document" entry per message."""
from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.models import Confidentiality
from hub.errors import MappingError
from hub.hl7.message import Message
from hub.mapping.mapper import map_message
from hub.mapping.loader import load_mappings
from hub.mapping.preview import preview
from tests.fixtures.messages import SyntheticPatient, patient

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "tests" / "fixtures" / "samples" / "mdm_t02.hl7"


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(REPO / "mappings")


def txa(*, confidentiality: str = "", activity: str = "20261126140000+0100",
        origination: str = "20261126142500+0100", doc_type: str = "CN") -> str:
    """A TXA; fields 1-19 in order, the ones the mapping reads filled in."""
    return "|".join(["TXA", "1", doc_type, "TX", activity, "234567-89^Bausch^Anne", origination,
                     "", "", "345678-90^Kieffer^Paul", "", "", "DOC-7^DOCSYS", "", "", "", "",
                     "AU", confidentiality, "AV"])


def mdm(p: SyntheticPatient, *body: str) -> Message:
    """A v2.5 MDM^T02 for `p` with the given TXA and OBX segments."""
    return Message.parse("\r".join([
        "MSH|^~\\&|DOCSYS|CHL|DSP|DSP|20261126143000||MDM^T02^MDM_T02|MDM-1|P|2.5",
        "EVN|T02|20261126143000",
        f"PID|1||{p.matricule}^^^CNS^NN||{p.family_name}^{p.given_name}||{p.birth_date}|M",
        "PV1|1|O|CARD^^^CHL||||234567-89^Bausch^Anne",
        *body,
    ]) + "\r")


def the_document(mappings, msg: Message):
    mapping = mappings.for_type(msg.type, msg.structure)
    assert mapping is not None
    result = map_message(msg, mapping)
    [entry] = result.entries
    assert entry.kind == "document"
    return result, entry


def test_the_shipped_mappings_still_load_and_mdm_t02_has_its_own_file(mappings):
    # load_mappings refuses two files claiming the same type, so loading is the check.
    assert mappings.for_type("MDM^T02", "MDM_T02").source.endswith("MDM_T02.toml")
    assert mappings.for_type("ORU^R01").source.endswith("ORU_R01.toml")
    # Only T02 is claimed: the other MDM events are not mapped (yet) through their structure.
    assert mappings.for_type("MDM^T01", "MDM_T01") is None
    assert mappings.for_type("MDM^T06", "MDM_T02") is None


def test_sample_maps_to_one_document_with_demographics_and_a_valid_matricule(mappings):
    [result] = preview(SAMPLE, SAMPLE.read_bytes(), mappings, fallback_charset="utf-8",
                       authorities=frozenset())
    assert result["ok"], result.get("error")
    assert result["identity"] == "ok"
    assert result["patient"] == {"family_name": "Thill", "given_name": "Gréitchen",
                                 "birth_date": "1935-06-06", "sex": "F"}
    assert result["entries"] == [{
        "kind": "document",
        "confidentiality": "restricted",
        "effective_at": "2026-11-26T14:00:00+01:00",
        "document_type": "CN",
        "document_type_text": "Consultation note",
        "content_presentation": "TX",
        "document_number": "DOC-SAMPLE-1",
        "completion_status": "AU",
        "availability_status": "AV",
        "activity_at": "2026-11-26T14:00:00+01:00",
        "originated_at": "2026-11-26T14:25:00+01:00",
        "originator": {"cns_code": "345678-90", "family_name": "Kieffer", "given_name": "Paul"},
        "primary_activity_provider": {"cns_code": "234567-89", "family_name": "Bausch",
                                      "given_name": "Anne"},
        "content_type": "TX",
        "content": "Consultation de cardiologie.\nContrôle à 3 mois & ECG.",
    }]


def test_a_synthetic_patient_maps_with_a_code_only_document_type(mappings):
    p = patient(11)
    result, entry = the_document(mappings, mdm(
        p, txa(), "OBX|1|FT|11488-4^Consultation note^LN||Ligne un\\.br\\Ligne deux||||||F"))
    assert (result.patient.family_name, result.patient.given_name, result.patient.birth_date) == (
        p.family_name, p.given_name, f"{p.birth_date[:4]}-{p.birth_date[4:6]}-{p.birth_date[6:]}")
    assert entry.effective_at == "2026-11-26T14:00:00+01:00"
    assert entry.payload["document_type"] == "CN"
    assert "document_type_text" not in entry.payload   # a v2.5 IS has no text
    assert entry.payload["document_number"] == "DOC-7"
    assert entry.payload["content_type"] == "FT"
    assert entry.payload["content"] == "Ligne un\nLigne deux"     # FT's \\.br\\ decoded


@pytest.mark.parametrize(("code", "level"), [
    ("V", Confidentiality.RESTRICTED),                   # very restricted is not secret
    ("R", Confidentiality.RESTRICTED),
    ("U", Confidentiality.NORMAL),
    ("N", Confidentiality.NORMAL),                       # HL7 v3 "normal"
    ("", Confidentiality.NORMAL),
    ('""', Confidentiality.NORMAL),                      # HL7 explicit null
    ("R^Restricted^HL70272", Confidentiality.RESTRICTED),   # sent as a CWE: the code still counts
    ("V^Very restricted", Confidentiality.RESTRICTED),
    (" r ", Confidentiality.RESTRICTED),                 # case and spaces do not matter
    ("X", Confidentiality.RESTRICTED),                   # unknown: fail closed
    ("V?R", Confidentiality.RESTRICTED),                 # garbled: fail closed
])
def test_confidentiality_follows_txa_18(mappings, code, level):
    _, entry = the_document(mappings, mdm(patient(2), txa(confidentiality=code),
                                          "OBX|1|TX|X^Note||Texte||||||F"))
    assert entry.confidentiality is level


def test_effective_at_falls_back_to_origination_time(mappings):
    _, entry = the_document(mappings, mdm(patient(3), txa(activity=""),
                                          "OBX|1|TX|X^Note||Texte||||||F"))
    assert entry.effective_at == "2026-11-26T14:25:00+01:00"
    assert "activity_at" not in entry.payload


def test_a_bad_activity_time_names_the_path_not_the_value(mappings):
    msg = mdm(patient(4), txa(activity="26/11/2026"), "OBX|1|TX|X^Note||Texte||||||F")
    with pytest.raises(MappingError) as raised:
        map_message(msg, mappings.for_type(msg.type, msg.structure))
    assert "TXA-4" in str(raised.value) and "26/11/2026" not in str(raised.value)


def test_ed_content_is_its_base64_data(mappings):
    _, entry = the_document(mappings, mdm(
        patient(6), txa(), "OBX|1|ED|X^PDF||DOCSYS^AP^PDF^Base64^JVBERi0x\\X0D0A\\LjQK||||||F"))
    assert entry.payload["content_type"] == "ED"
    assert entry.payload["content"] == "JVBERi0xLjQK"


def test_content_joins_every_obx_in_message_order_each_read_with_its_own_type(mappings):
    # A document sent as one OBX per line is whole; repetitions inside one OBX-5 are lines too.
    _, entry = the_document(mappings, mdm(patient(7), txa(),
                                          "OBX|1|TX|X^Note||Ligne un~Ligne deux||||||F",
                                          "OBX|2|TX|X^Note||Ligne trois||||||F",
                                          "NTE|1||pas du document",
                                          "OBX|3|CE|X^Note||C1^Ligne quatre^L||||||F",
                                          "OBX|4|TX|X^Note||||||||F",
                                          "OBX|5|TX|X^Note||Ligne cinq \\T\\ fin||||||F"))
    assert entry.payload["content"] == ("Ligne un\nLigne deux\nLigne trois\nLigne quatre\n"
                                        "Ligne cinq & fin")


def test_ed_document_split_over_several_obx_is_one_base64_text(mappings):
    _, entry = the_document(mappings, mdm(
        patient(9), txa(), "OBX|1|ED|X^PDF||DOCSYS^AP^PDF^Base64^JVBERi0x||||||F",
        "OBX|2|ED|X^PDF||DOCSYS^AP^PDF^Base64^LjQK||||||F"))
    assert "".join(entry.payload["content"].split()) == "JVBERi0xLjQK"
    assert entry.payload["encoding"] == "Base64" and entry.payload["media_subtype"] == "PDF"


def test_corpus_mdm_files_map_to_one_document_and_one_obx_per_line_is_whole(mappings):
    corpus = Path("/work/shared/corpus/hl7v2")
    files = sorted(path for path in corpus.rglob("*.hl7")
                   if b"MDM^T02" in path.read_bytes()[:400])
    assert len(files) >= 5
    contents = {}
    for file in files:
        [result] = preview(file, file.read_bytes(), mappings, fallback_charset="utf-8",
                           authorities=frozenset())
        assert result["ok"], (file, result["error"])
        [document] = result["entries"]
        assert document["kind"] == "document"
        contents[file.name] = document.get("content", "")
    lines = contents["MDM-T02-03.hl7"].split("\n")   # 29 OBX, one line each
    assert len(lines) == 29
    assert lines[0].startswith("Toilet cylinder") and lines[-1].startswith("Reminder shofar")


def test_a_message_without_txa_or_obx_is_not_mappable(mappings):
    msg = mdm(patient(8))
    with pytest.raises(MappingError, match="document"):
        map_message(msg, mappings.for_type(msg.type, msg.structure))
