"""interpret: the one reading of a message that the worker, `hub map` and `hub remap` share."""
from __future__ import annotations

from pathlib import Path

import pytest

from hub.domain.professional import ProfessionalStatus
from hub.mapping.interpret import Stage, interpret
from hub.mapping.loader import load_mappings
from hub.mapping.policy import ReadingPolicy
from hub.mapping.preview import preview
from hub.routing.legacy_link import LegacyLinkAction
from hub.routing.merging import MergeAction
from hub.routing.outcome import RoutingPolicy
from hub.routing.registry_update import RegistryUpdate

SHIPPED = Path(__file__).resolve().parents[2] / "mappings"
MATRICULE, LEGACY = "1893120105732", "18931201057"


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(SHIPPED)


def oru(pid3: str = f"{MATRICULE}^^^^NN", msh18: str = "", control_id: str = "C1") -> bytes:
    return ("\r".join([
        f"MSH|^~\\&|LAB|CHL|HUB|DSP|20240115083000||ORU^R01^ORU_R01|{control_id}|P|2.5"
        + (f"||||||{msh18}" if msh18 else ""),
        f"PID|1||{pid3}||Wagner^Émile||19700101|M",
        "OBR|1|PL1|FI1|GLU^Glucose|||20240115070000",
        "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|3.9-5.8||||F",
    ]) + "\r").encode("utf-8")


def mfn(*records: str) -> bytes:
    return "\r".join([
        "MSH|^~\\&|HR|CNS|DSP|HUB|20250102120000||MFN^M02^MFN_M02|MF1|P|2.5|||AL|NE||UNICODE UTF-8",
        "MFI|STF^Staff master file^HL70175||UPD|||AL", *records]).encode("utf-8") + b"\r"


def test_a_mapped_oru_gives_patient_entries_and_no_refusal(mappings):
    reading = interpret(oru(), mappings, RoutingPolicy())
    assert reading.refusal is None and not reading.registry
    assert (reading.type, reading.control_id) == ("ORU^R01", "C1")
    assert reading.patient.matricule == MATRICULE and reading.patient.given_name == "Émile"
    assert [entry.payload["code"] for entry in reading.entries] == ["2345-7"]
    assert reading.actions == []


def test_an_unmapped_type_is_refused_with_the_workers_reason_and_identity_still_judged(mappings):
    raw = f"MSH|^~\\&|A|B|C|D|20240115||SIU^S12|S1|P|2.5\rPID|1||{MATRICULE}^^^^NN\r".encode()
    reading = interpret(raw, mappings, RoutingPolicy())
    assert reading.refusal.stage is Stage.UNMAPPED
    assert reading.refusal.reason == "unmapped: no mapping for SIU^S12"
    assert reading.identity is None and reading.verdict.ok


def test_a_refused_identity_comes_before_the_mapping_and_names_no_value(mappings):
    reading = interpret(oru(pid3="X99^^^CHL^MR"), mappings, RoutingPolicy())
    assert reading.refusal.stage is Stage.IDENTITY and "PID-3" in reading.refusal.reason
    assert reading.mapped and len(reading.entries) == 1  # hub map still shows the entries


def test_undecodable_bytes_are_refused_with_the_raw_headers_type(mappings):
    raw = oru(msh18="UNICODE UTF-8", control_id="C7").replace("É".encode(), b"\xff")
    reading = interpret(raw, mappings, RoutingPolicy())
    assert reading.refusal.stage is Stage.DECODING and reading.message is None
    assert "MSH-18" in reading.refusal.reason and reading.refusal.reason.startswith("HL7Error: ")
    assert (reading.type, reading.control_id) == ("ORU^R01", "C7")


def test_unusable_delimiters_are_a_parsing_refusal(mappings):
    reading = interpret(b"MSH|^~|A\rPID|1\r", mappings, RoutingPolicy())
    assert reading.refusal.stage is Stage.PARSING and "MSH-2" in reading.refusal.reason


def test_any_exception_is_a_safe_refusal_naming_its_type_not_its_text(mappings, monkeypatch):
    from hub.mapping import interpret as module

    def explode(message, mapping, sensitive):
        raise KeyError(MATRICULE)

    monkeypatch.setattr(module, "map_message", explode)
    reading = interpret(oru(), mappings, RoutingPolicy())
    assert reading.refusal.stage is Stage.MAPPING
    reason = reading.refusal.reason
    assert reason.startswith("KeyError at ") and MATRICULE not in reason


def test_both_forms_of_a_matricule_make_a_legacy_link_action_first(mappings):
    reading = interpret(oru(pid3=f"{LEGACY}^^^CNS^NN~{MATRICULE}^^^CNS^NN"), mappings,
                        RoutingPolicy())
    assert reading.refusal is None
    assert reading.actions == [LegacyLinkAction(LEGACY, MATRICULE)]
    assert reading.patient.matricule == MATRICULE


def test_a_plain_reading_policy_reads_no_actions(mappings):
    reading = interpret(oru(pid3=f"{LEGACY}^^^CNS^NN~{MATRICULE}^^^CNS^NN"), mappings,
                        ReadingPolicy())
    assert reading.refusal is None and reading.actions == []


def test_a_merge_reads_its_merge_action(mappings):
    raw = "\r".join([
        "MSH|^~\\&|PAS|CHL|HUB|DSP|20240115083000||ADT^A40^ADT_A39|M1|P|2.5",
        "EVN|A40|20240115083000",
        f"PID|1||{MATRICULE}^^^^NN||Wagner^Emile",
        f"MRG|{LEGACY}^^^^NN",
    ]).encode() + b"\r"
    reading = interpret(raw, mappings, RoutingPolicy())
    assert reading.refusal is None
    assert reading.actions[-1] == MergeAction(MATRICULE, LEGACY)


def test_an_mfn_is_a_registry_update_with_no_patient(mappings):
    reading = interpret(mfn("MFE|MAD|||123456-78^^CNS", "STF|123456-78||Weber^Anne",
                            "PRA|123456-78||GP"), mappings, RoutingPolicy())
    assert reading.refusal is None and reading.registry
    assert reading.patient is None and reading.entries == [] and reading.verdict is None
    [update] = reading.actions
    assert isinstance(update, RegistryUpdate)
    [(event, professional)] = update.changes
    assert (event, professional.cns_code, professional.family_name, professional.status) == (
        "MAD", "123456-78", "Weber", ProfessionalStatus.ACTIVE)


def test_an_unreadable_mfn_record_is_refused_naming_the_field(mappings):
    reading = interpret(mfn("MFE|XYZ|||123456-78^^CNS"), mappings, RoutingPolicy())
    assert reading.refusal.stage is Stage.ACTIONS and "MFE-1" in reading.refusal.reason


def test_hub_map_shows_the_registry_update_of_an_mfn(mappings):
    raw = mfn("MFE|MAD|||123456-78^^CNS", "STF|123456-78||Weber^Anne", "MFE|MDC|||223456-78")
    [result] = preview(Path("mfn.hl7"), raw, mappings, policy=RoutingPolicy())
    assert (result["ok"], result["type"], result["identity"], result["entries"]) == (
        True, "MFN^M02", "ok", [])
    assert [(r["event"], r["cns_code"], r["status"]) for r in result["registry"]] == [
        ("MAD", "123456-78", "active"), ("MDC", "223456-78", "suspended")]
