"""`hub map` preview: one object per message, entries apart from identity, never a traceback."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from hub.mapping import interpret as interpret_module
from hub.mapping.loader import load_mappings
from hub.hl7.split import split_messages
from hub.mapping.preview import preview

SHIPPED = Path(__file__).resolve().parents[2] / "mappings"
FILE = Path("in/sample.hl7")


@pytest.fixture(scope="module")
def mappings():
    return load_mappings(SHIPPED)


def oru(control_id: str, pid3: str = "1893120105732^^^^NN", msh18: str = "") -> str:
    return "\r".join([
        f"MSH|^~\\&|LAB|CHL|HUB|DSP|20240115083000||ORU^R01^ORU_R01|{control_id}|P|2.5"
        + (f"||||||{msh18}" if msh18 else ""),
        f"PID|1||{pid3}||Wagner^Émile||19700101|M",
        "OBR|1|PL1|FI1|GLU^Glucose|||20240115070000",
        "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/L|3.9-5.8||||F",
        "OBX|2|NM|2160-0^Creatinine^LN||71|umol/L|||||F",
    ]) + "\r"


def run(mappings, text: str | bytes, authorities: frozenset[str] = frozenset()):
    raw = text.encode("utf-8") if isinstance(text, str) else text
    results = preview(FILE, raw, mappings, fallback_charset="utf-8", authorities=authorities)
    json.dumps(results)   # what `hub map --json` prints must serialise as it is
    return results


def test_one_message_gives_its_entries_and_identity(mappings):
    [result] = run(mappings, oru("C1"))
    assert {key: result[key] for key in ("file", "type", "control_id", "ok", "identity")} == {
        "file": str(FILE), "type": "ORU^R01", "control_id": "C1", "ok": True, "identity": "ok"}
    assert "error" not in result
    assert [entry["code"] for entry in result["entries"]] == ["2345-7", "2160-0"]
    first = result["entries"][0]
    assert list(first)[:4] == ["kind", "confidentiality", "effective_at", "code"]
    assert (first["kind"], first["confidentiality"], first["effective_at"]) == (
        "lab_result", "normal", "2024-01-15T07:00:00")


def test_mapping_is_judged_without_a_matricule(mappings):
    [result] = run(mappings, oru("C1", pid3="X99^^^CHL^MR"))
    assert result["ok"] is True and len(result["entries"]) == 2
    assert result["identity"] != "ok" and "PID-3" in result["identity"]


def test_an_assigning_authority_from_config_identifies(mappings):
    [result] = run(mappings, oru("C1", pid3="1893120105732^^^CNS"), frozenset({"CNS"}))
    assert result["identity"] == "ok"


def test_a_file_of_several_messages_gives_one_object_each(mappings):
    results = run(mappings, oru("C1") + "\n" + oru("C2").replace("\r", "\n"))
    assert [(result["control_id"], result["ok"]) for result in results] == [("C1", True),
                                                                          ("C2", True)]


def test_a_batch_gives_its_messages_not_its_envelope(mappings):
    batch = ("FHS|^~\\&|LAB|CHL\rBHS|^~\\&|LAB|CHL\r" + oru("C1") + oru("C2")
             + "BTS|2\rFTS|1\r")
    assert [result["control_id"] for result in run(mappings, batch)] == ["C1", "C2"]
    assert len(split_messages(batch.encode())[0]) == 2


def test_an_unmapped_type_is_not_ok(mappings):
    siu = "MSH|^~\\&|A|B|C|D|20240115||SIU^S12|S1|P|2.5\rPID|1||1893120105732^^^^NN\r"
    [result] = run(mappings, siu)
    assert (result["ok"], result["error"], result["type"]) == (False, "no mapping for SIU^S12",
                                                               "SIU^S12")
    assert result["identity"] == "ok"


def test_a_mapping_error_is_a_reason(mappings):
    text = oru("C1").replace("|||||F\r", "|||||F|||yesterday\r", 1)
    [result] = run(mappings, text)
    assert result["ok"] is False and "OBX-14" in result["error"]
    assert "yesterday" not in result["error"]


def test_undecodable_bytes_are_a_reason_not_a_traceback(mappings):
    raw = oru("C7", msh18="UNICODE UTF-8").encode("utf-8").replace("É".encode(), b"\xff")
    [result] = run(mappings, raw)
    assert (result["ok"], result["type"], result["control_id"]) == (False, "ORU^R01", "C7")
    assert "MSH-18" in result["error"]


def test_latin_1_names_come_through(mappings):
    [result] = run(mappings, oru("C1", msh18="8859/1").encode("latin-1"))
    assert result["patient"]["given_name"] == "Émile"


@pytest.mark.parametrize("raw, says", [
    (b"", "no MSH segment"),
    (b"\x00\x01garbage\r", "no MSH segment"),
    (b"junk\r" + oru("C1").encode(), "before the first MSH segment"),
])
def test_text_that_is_not_a_message_is_reported(mappings, raw, says):
    results = run(mappings, raw)
    assert results[0]["ok"] is False and says in results[0]["error"]


def test_broken_delimiters_are_a_reason(mappings):
    [result] = run(mappings, "MSH|^~|A\rPID|1\r")
    assert result["ok"] is False and "MSH-2" in result["error"]


def test_any_exception_while_mapping_becomes_a_reason(mappings, monkeypatch):
    def explode(msg, mapping, sensitive):
        raise KeyError("1893120105732")

    monkeypatch.setattr(interpret_module, "map_message", explode)
    [result] = run(mappings, oru("C1"))
    assert result["ok"] is False
    assert result["error"] == "unexpected KeyError while mapping"
