"""Issue 15's proof, sensitivity at the source and the patient's default, through real `hub
serve` processes, fake recipients on loopback, RabbitMQ with SQLite and PostgreSQL: an HIV
result (a code of config/sensitive_codes.toml) and a TXA-18 "V" document file restricted and
reach only an extended grant; an entry hidden from one professional is denied to them, at read
and at send time, and still delivered to another; a restricted default keeps new entries
from a normal grant; a wrong sensitive codes file stops `hub serve`."""
from __future__ import annotations

import subprocess
import sys

from tests.fixtures.hub_process import REPO
from tests.fixtures.messages import patient
from tests.fixtures.registry import (  # noqa: F401 - scene is a fixture
    mdm_t02, oru, scene, wait_for)

NOBODY = {"pending": 0, "delivered": 0, "denied": 0, "parked": 0}
QUIET = 1.0
ROUTING = """\
[destinations]

[[route]]
message = "ORU^R01"
to = ["ordering_provider", "result_copies"]

[[route]]
message = "MDM^T02"
to = ["attending_doctor"]
"""
HIV_SCREEN = b"56888-1^HIV 1+2 Ab+HIV1 p24 Ag^LN"


def hiv_result(person, control_id, orderer, copies=()) -> bytes:
    """An ORU^R01 of two OBX whose second is an HIV screen (LOINC 56888-1)."""
    return oru(person, control_id, orderer, copies=copies).replace(
        b"2093-2^Cholesterol fraction 2^LN", HIV_SCREEN)


def by_recipient(scene) -> dict[str, str]:
    return {d["recipient"]: d["state"] for d in scene.probe.deliveries()}


def test_an_hiv_result_and_a_very_restricted_document_reach_only_an_extended_grant(scene,
                                                                                   tmp_path):
    usual, trusted = scene.doctor("370001-11"), scene.doctor("370002-22")
    scene.start(routing=ROUTING)
    person = patient(371)
    scene.hub(("consent", "grant", person.matricule, usual.cns_code),
              ("consent", "grant", person.matricule, trusted.cns_code, "--level", "extended"))
    result = hiv_result(person, "HIV-1", usual, copies=(trusted,))
    (tmp_path / "hiv.hl7").write_bytes(result)
    [preview] = scene.env.hub_json("map", str(tmp_path / "hiv.hl7"))
    assert [e["confidentiality"] for e in preview["entries"]] == ["normal", "restricted"]

    assert scene.send(result, mdm_t02(person, "DOC-V", usual, confidentiality="V"),
                      mdm_t02(person, "DOC-V2", trusted, confidentiality="V")) == ["AA"] * 3

    assert scene.settled(3), scene.env.logs()
    assert wait_for(lambda: scene.states() == ["delivered", "delivered"]
                    and len(scene.probe.audit("deny")) == 2), scene.probe.deliveries()
    received = trusted.recipient.received
    assert len(received) == 2 and sum(HIV_SCREEN in p for p in received) == 1
    assert sum(b"DOCDOC-V2" in p for p in received) == 1
    assert not wait_for(lambda: usual.recipient.received, timeout=QUIET)
    messages, dossier, as_usual = scene.read(
        ("messages",), ("dossier", "show", person.matricule),
        ("dossier", "show", person.matricule, "--as", usual.cns_code))
    control_ids = {m["id"]: m["control_id"] for m in messages}
    assert sorted((control_ids[e["message_id"]], e["kind"], e["confidentiality"])
                  for e in dossier["entries"]) == [
        ("DOC-V", "document", "restricted"), ("DOC-V2", "document", "restricted"),
        ("HIV-1", "lab_result", "normal"), ("HIV-1", "lab_result", "restricted")]
    # At read time the usual doctor sees the cholesterol only.
    assert [(e["kind"], e.get("code")) for e in as_usual["entries"]] == [
        ("lab_result", "2093-1")]
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "delivered": 2}  # denied when routed: no row
    assert sorted(final.events()) == sorted([
        (trusted.cns_code, "deliver", "ok", "AA"), (trusted.cns_code, "deliver", "ok", "AA"),
        (usual.cns_code, "deny", "denied", "restricted needs extended grant"),
        (usual.cns_code, "deny", "denied", "restricted needs extended grant")])


def test_an_entry_hidden_from_one_professional_is_denied_to_them_and_delivered_to_another(
        scene):
    hidden_from, other = scene.doctor("380001-11"), scene.doctor("380002-22")
    scene.start(routing=ROUTING)
    person = patient(381)
    scene.hub(("consent", "grant", person.matricule, hidden_from.cns_code),
              ("consent", "grant", person.matricule, other.cns_code))
    hidden_from.recipient.stop()
    other.recipient.stop()
    assert scene.send(oru(person, "HFR-1", hidden_from, copies=(other,))) == ["AA"]
    assert wait_for(lambda: all(d["state"] == "pending" and d["attempts"] >= 1
                                for d in scene.probe.deliveries())
                    and len(scene.probe.deliveries()) == 2), scene.probe.deliveries()
    dossier = scene.env.hub_json("dossier", "show", person.matricule)
    entry = dossier["entries"][1]["id"]

    scene.env.hub("dossier", "hide", person.matricule, entry, "--from", hidden_from.cns_code)

    assert wait_for(lambda: by_recipient(scene).get(hidden_from.cns_code) == "denied"), \
        scene.probe.deliveries()
    hidden_from.recipient.start()
    other.recipient.start()
    assert other.recipient.wait_for(1, timeout=20), scene.probe.deliveries()
    assert wait_for(lambda: by_recipient(scene) == {hidden_from.cns_code: "denied",
                                                    other.cns_code: "delivered"})
    assert not wait_for(lambda: hidden_from.recipient.received, timeout=QUIET)
    mine, theirs, full = scene.read(
        ("dossier", "show", person.matricule, "--as", hidden_from.cns_code),
        ("dossier", "show", person.matricule, "--as", other.cns_code),
        ("dossier", "show", person.matricule))
    assert entry not in [e["id"] for e in mine["entries"]] and len(mine["entries"]) == 1
    assert entry in [e["id"] for e in theirs["entries"]] and len(theirs["entries"]) == 2
    assert all("hidden_from" not in e for e in theirs["entries"])  # the patient's to see
    assert [e["hidden_from"] for e in full["entries"]] == [[], [hidden_from.cns_code]]

    scene.env.hub("dossier", "unhide", person.matricule, entry, "--from", hidden_from.cns_code)
    again = scene.env.hub_json("dossier", "show", person.matricule, "--as",
                               hidden_from.cns_code)
    assert len(again["entries"]) == 2
    refused = scene.env.hub("dossier", "unhide", person.matricule, entry, "--from",
                            hidden_from.cns_code, check=False)
    assert refused.returncode == 1 and "not hidden from" in refused.stderr
    assert "Traceback" not in refused.stderr
    final = scene.final(person.matricule)
    assert final.deliveries == {**NOBODY, "delivered": 1, "denied": 1}
    assert final.events() == [
        (hidden_from.cns_code, "deny", "denied", "entry hidden from this professional"),
        (other.cns_code, "deliver", "ok", "AA")]
    assert final.events("entry.hide_from", "entry.unhide_from") == [
        ("patient", "entry.hide_from", "ok", f"from {hidden_from.cns_code}"),
        ("patient", "entry.unhide_from", "ok", f"from {hidden_from.cns_code}")]


def test_a_restricted_default_keeps_new_entries_from_a_normal_grant(scene):
    usual, trusted = scene.doctor("390101-11"), scene.doctor("390102-22")
    scene.start(routing=ROUTING)
    person = patient(391)
    scene.hub(("consent", "grant", person.matricule, usual.cns_code),
              ("consent", "grant", person.matricule, trusted.cns_code, "--level", "extended"))
    done = scene.env.hub("consent", "default-level", person.matricule, "restricted")
    assert done.stdout.strip() == "new entries filed restricted at least"
    secret = scene.env.hub("consent", "default-level", person.matricule, "secret", check=False)
    assert secret.returncode == 2 and "Traceback" not in secret.stderr

    assert scene.send(oru(person, "DEF-1", usual, copies=(trusted,))) == ["AA"]

    # The usual doctor is denied when routed (no delivery row), the trusted one receives it.
    assert wait_for(lambda: by_recipient(scene) == {trusted.cns_code: "delivered"}
                    and scene.probe.audit("deny")), scene.probe.deliveries()
    assert trusted.recipient.received and not usual.recipient.received
    dossier, consent = scene.read(("dossier", "show", person.matricule),
                                  ("consent", "list", person.matricule))
    assert [e["confidentiality"] for e in dossier["entries"]] == ["restricted", "restricted"]
    assert consent["default_level"] == "restricted"
    final = scene.final(person.matricule)
    assert final.events("consent.default_level") == [
        ("patient", "consent.default_level", "ok", "new entries restricted")]
    assert (usual.cns_code, "deny", "denied", "restricted needs extended grant") in (
        final.events())


def test_a_bad_sensitive_codes_file_stops_serve_naming_the_entry(hub_env, tmp_path):
    bad = tmp_path / "sensitive_codes.toml"
    bad.write_text('[[code]]\nsystem = "LN"\ncode = "56888-1"\ntopic = "hiv"\n'
                   '[[code]]\nsystem = "LN"\ncode = "25836-8"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "hub.cli.main", "serve"],
                            env={**hub_env.env, "HUB_SENSITIVE_CODES_FILE": str(bad)}, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert str(bad) in result.stderr and "code 2 ('25836-8') field topic" in result.stderr
    assert "Traceback" not in result.stderr
