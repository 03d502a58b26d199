"""Issue 5, run like an integration engineer: a real `hub serve` (RabbitMQ, SQLite and
PostgreSQL) parks a message it has no mapping for; `hub dlq list` shows it, `hub dlq replay`
republishes it once the mapping is there, and the replay is stored once, traced as a replay of
the original, and a second replay doubles nothing. `hub trace` tells a delivered result's story
(entries, the allow, the delivery and its ACK) and a denied one's (the consent reason)."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

from sqlalchemy import select

from hub.settings import REPO_ROOT
from hub.store import tables
from tests.fixtures.fake_recipient import Reply
from tests.fixtures.hub_process import REPO
from tests.fixtures.messages import adt_a01, encoded, patient
from tests.fixtures.registry import oru, scene, wait_for  # noqa: F401 - scene is a fixture

UNMAPPED = "ADT_A01.toml"


def _mappings_without_adt_a01(tmp_path):
    target = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", target, ignore=shutil.ignore_patterns(UNMAPPED))
    return target


def _restart_with_every_mapping(scene, worker, mappings):
    worker.terminate()
    assert worker.wait(20) == 0
    shutil.copy(REPO_ROOT / "mappings" / UNMAPPED, mappings / UNMAPPED)
    scene.env.start("worker", HUB_MAPPINGS_DIR=str(mappings))


def test_a_parked_message_replayed_after_its_mapping_came_is_stored_once(scene):
    # A worker a release behind its listener: the listener takes ADT^A01, the worker has no
    # mapping for it yet and parks it.
    mappings = _mappings_without_adt_a01(scene.env.tmp_path)
    scene.env.start("listener")
    worker = scene.env.start("worker", HUB_MAPPINGS_DIR=str(mappings))
    person = patient(501)
    assert scene.send(encoded(adt_a01(person, "DLQ-1"))) == ["AA"]
    assert scene.settled(1), scene.env.logs()

    listed = scene.env.hub_json("dlq", "list", "--reason", "unmapped")
    [parked] = listed["parked"]
    assert (parked["control_id"], parked["type"], parked["reason_class"], parked["status"]) == (
        "DLQ-1", "ADT^A01", "unmapped", "open")
    assert parked["sender"] and parked["received_at"] and parked["replays"] == []
    assert listed["parked_deliveries"] == 0
    assert scene.env.hub_json("dlq", "list", "--reason", "conflict")["parked"] == []
    shown = scene.env.hub_json("dlq", "show", parked["id"])
    assert "raw" not in shown and shown["ack_code"] == "AA"
    assert "DLQ-1" in scene.env.hub_json("dlq", "show", parked["id"], "--raw")["raw"]

    _restart_with_every_mapping(scene, worker, mappings)
    first = scene.env.hub_json("dlq", "replay", parked["id"], "--operator", "ops-fay")
    [done] = first["replayed"]
    assert done["id"] == parked["id"] and first["refused"] == first["failed"] == []
    assert wait_for(lambda: scene.probe.message_states()["stored"] == 1, 30), scene.env.logs()

    story = scene.env.hub_json("trace", done["replay_id"])
    assert story["message"]["state"] == "stored"
    assert story["replay_of"] == {"id": parked["id"], "state": "parked",
                                  "reason": parked["reason"]}
    assert story["message"]["ack_code"] is None  # nobody was acknowledged for a replay
    assert story["entries"] and all(set(e) >= {"id", "kind", "confidentiality"}
                                     for e in story["entries"])
    original = scene.env.hub_json("trace", parked["id"])
    assert [r["id"] for r in original["replays"]] == [done["replay_id"]]
    assert [(e["actor"], e["action"]) for e in original["audit"]] == [
        ("operator", "message.raw_read"), ("operator", "message.replayed")]
    assert original["audit"][1].get("operator") == "ops-fay"
    [after] = scene.env.hub_json("dlq", "list")["parked"]
    assert after["status"] == "resolved"
    assert scene.env.hub_json("dlq", "replay", "--all")["replayed"] == []  # nothing open

    again = scene.env.hub_json("dlq", "replay", parked["id"])  # asked for by id: it goes
    assert len(again["replayed"]) == 1
    assert wait_for(lambda: scene.probe.message_states()["discarded"] == 1, 30)
    second = scene.env.hub_json("trace", again["replayed"][0]["replay_id"])
    assert second["message"]["state"] == "discarded" and second["entries"] == []
    assert second["message"]["reason"] == f"duplicate of message {done['replay_id']}"
    assert scene.probe.message_states() == {"parked": 1, "stored": 1, "discarded": 1}
    counted = scene.env.hub_json("status")["messages"]
    assert (counted["received"], counted["replays"]) == (1, 2)  # one frame got an ACK
    by_matricule = scene.env.hub_json("trace", "--matricule", person.matricule)
    assert [m["id"] for m in by_matricule] == [done["replay_id"]]
    assert scene.env.hub_json("audit", "verify")["ok"] is True


def test_trace_tells_where_a_delivered_and_a_denied_result_went(scene):
    # The granted doctor's system is busy at first: AE, then AA to the same message.
    busy_once = lambda n, payload: Reply("AE" if n == 0 else "AA")  # noqa: E731
    granted = scene.doctor("510001-11", respond=busy_once)
    ungranted = scene.doctor("510002-22")
    scene.start()
    person = patient(502)
    scene.env.hub("consent", "grant", person.matricule, granted.cns_code)
    assert scene.send(oru(person, "TRC-1", granted), oru(person, "TRC-2", ungranted)) == [
        "AA", "AA"]
    assert scene.settled(2), scene.env.logs()
    assert wait_for(lambda: scene.states() == ["delivered"]), scene.probe.deliveries()

    delivered = scene.env.hub_json("trace", "TRC-1")
    assert delivered["message"]["state"] == "stored" and delivered["message"]["ack_code"] == "AA"
    assert delivered["message"]["peer"]
    assert [e["kind"] for e in delivered["entries"]] and all(
        "payload" not in e for e in delivered["entries"])
    assert [(d["recipient"], d["decision"]) for d in delivered["decisions"]] == [
        (granted.cns_code, "allow")]
    [delivery] = delivered["deliveries"]
    assert (delivery["recipient"], delivery["state"], delivery["ack_code"], delivery["attempts"]
            ) == (granted.cns_code, "delivered", "AA", 2)
    assert [(a["number"], a["outcome"], a["ack_code"], a["error"])
            for a in delivery["attempt_history"]] == [(1, "retry", "AE", "AE (ERR-3 207)"),
                                                      (2, "delivered", "AA", None)]
    [deliver_event] = [e for e in delivered["audit"] if e["action"] == "deliver"]
    assert delivery["audit_seqs"] == [deliver_event["seq"]]

    denied = scene.env.hub_json("trace", "TRC-2")
    assert denied["deliveries"] == []
    assert [(d["recipient"], d["decision"], d["reason"]) for d in denied["decisions"]] == [
        (ungranted.cns_code, "deny", "no grant in force")]

    found = scene.env.hub_json("trace", "--matricule", person.matricule, "--type", "ORU^R01")
    assert sorted(m["control_id"] for m in found) == ["TRC-1", "TRC-2"]
    assert scene.env.hub_json("trace", "--state", "parked") == []

    missing = scene.env.hub("trace", "NO-SUCH-ID", "--json", check=False)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.strip().count("\n") == 0 and "NO-SUCH-ID" in missing.stderr
    not_parked = scene.env.hub("dlq", "replay", delivered["message"]["id"], check=False)
    assert not_parked.returncode == 1 and "not parked (stored)" in not_parked.stderr


def test_ctrl_c_stops_a_replay_between_two_messages_and_says_what_was_not_done(scene):
    mappings = _mappings_without_adt_a01(scene.env.tmp_path)
    scene.env.start("listener")
    scene.env.start("worker", HUB_MAPPINGS_DIR=str(mappings))
    count = 400
    messages = [encoded(adt_a01(patient(600 + n), f"INT-{n}")) for n in range(count)]
    assert set(scene.send(*messages)) == {"AA"}
    assert scene.settled(count, 60), scene.env.logs()

    replay = subprocess.Popen(
        [sys.executable, "-m", "hub.cli.main", "dlq", "replay", "--all", "--json"],
        env=scene.env.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: scene.probe.audit("message.replayed"), 60, every=0.01)
    replay.send_signal(signal.SIGINT)
    out, err = replay.communicate(timeout=60)

    assert replay.returncode == 130, err
    summary = json.loads(out)
    replayed = [r["id"] for r in summary["replayed"]]
    assert summary["interrupted"] is True and summary["not_done"], summary
    assert 0 < len(replayed) < count
    assert sorted(replayed + summary["not_done"]) == sorted(
        m["id"] for m in scene.env.hub_json("dlq", "list")["parked"] if not m["replay_of"])
    # Each message either fully replayed (confirmed, then audited once) or not touched at all.
    events = scene.probe.audit("message.replayed")
    assert sorted(e["message_id"] for e in events) == sorted(replayed)
    replays = {r["replay_id"] for r in summary["replayed"]}
    assert wait_for(lambda: len(_replay_rows(scene)) == len(replays), 60)
    assert set(_replay_rows(scene)) == replays
    assert {e["reason"] for e in events} == {f"replayed as message {r}" for r in replays}


def _replay_rows(scene) -> list[str]:
    m = tables.messages
    with scene.probe.engine.connect() as c:
        return list(c.execute(select(m.c.id).where(m.c.replay_of.is_not(None))).scalars())
