"""Issue 11 part 2, run like an integration engineer: a real `hub serve` (RabbitMQ, SQLite and
PostgreSQL) holds messages refused under an old rule, written as the old code wrote them (AE,
reason "matricule fails its check digits", no ERR-3 column). `hub rejected retry` checks them
with today's rules: the one that passes now is stored once and delivered once, a second retry
of it stores nothing new, the one still refused stays rejected with its new reason, and every
retry is audited. Ctrl-C retries each record once or not at all."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from stdnum import luhn, verhoeff

from hub.domain.models import MessageRecord, MessageState
from hub.store import tables
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.tables import new_id
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.hub_process import REPO
from tests.fixtures.messages import SyntheticPatient
from tests.fixtures.registry import oru, scene, wait_for  # noqa: F401 - scene is a fixture

# Bases whose python-stdnum matricules the Verhoeff tables before commit c18dd00 refused.
OLD_RULE_BASES = ("19780921044", "20010105237")
OLD_REASON = "PID-3: matricule fails its check digits"  # as identify() wrote it then


def reference_matricule(base: str) -> str:
    """The 13-digit matricule of an 11-digit base, by the reference (Luhn, then Verhoeff)."""
    return base + luhn.calc_check_digit(base) + verhoeff.calc_check_digit(base)


def person(base: str, n: int) -> SyntheticPatient:
    return SyntheticPatient(reference_matricule(base), f"Retry-{n}", "Léonie", base[:8])


def kept_rejected(env, database_url: str, body: bytes, control_id: str, *, ack_code: str = "AE",
                  reason: str = OLD_REASON, count: int = 1) -> list[str]:
    """Rejected records as the worker wrote them before migration 0014: ACK code and reason
    from the listener's headers, no ERR-3. Their ids, oldest first."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        keyring = Keyring.load_or_create(Path(env.env["HUB_KEY_FILE"]))
        received = datetime.now(UTC) - timedelta(days=3)
        records = [MessageRecord(new_id(), "LABSYS^CHL", control_id.format(n=n), "ORU^R01", "2.5",
                                 MessageState.REJECTED, received + timedelta(seconds=n),
                                 reason=reason, ack_code=ack_code, processed_at=received,
                                 peer="127.0.0.1:40000")
                   for n in range(count)]
        bodies = [body.replace(control_id.encode(), control_id.format(n=n).encode())
                  for n in range(count)]
        with UnitOfWork(engine, keyring) as uow:
            uow.messages.add_many(zip(records, bodies))
            uow.commit()
    finally:
        engine.dispose()
    return [r.id for r in records]


def test_a_message_refused_under_an_old_rule_is_retried_stored_once_and_routed_once(
        scene, database_url):
    doctor = scene.doctor("510001-11")
    good = person(OLD_RULE_BASES[0], 1)
    [refused_id] = kept_rejected(scene.env, database_url, oru(good, "OLD-1", doctor),
                                 "OLD-1")
    right = person(OLD_RULE_BASES[1], 2)
    bad = replace(right, matricule=right.matricule[:-1]
                  + str((int(right.matricule[-1]) + 1) % 10))  # a typo in its Verhoeff digit
    # Refused then for a rule since relaxed (say, the version), refused today for its matricule.
    [still_id] = kept_rejected(scene.env, database_url, oru(bad, "OLD-2", doctor), "OLD-2",
                               ack_code="AR", reason="HL7 version 2.5 (MSH-12) is not supported (accepted: 2.6)")
    scene.start()
    scene.env.hub("consent", "grant", good.matricule, doctor.cns_code)

    listed = scene.env.hub_json("rejected", "list")["rejected"]
    assert [row["id"] for row in listed] == [still_id, refused_id]  # newest first
    row = listed[1]
    assert {k: row[k] for k in ("sender", "control_id", "type", "ack_code", "err_code", "reason",
                                "status", "resolved_by", "retries", "last_retried_at")} == {
        "sender": "LABSYS^CHL", "control_id": "OLD-1", "type": "ORU^R01", "ack_code": "AE",
        "err_code": 102, "reason": OLD_REASON, "status": "open", "resolved_by": None,
        "retries": [], "last_retried_at": None}
    assert row["received_at"].startswith(str((datetime.now(UTC) - timedelta(days=3)).date()))
    assert [r["id"] for r in scene.env.hub_json("rejected", "list", "--code", "102")[
        "rejected"]] == [refused_id]  # the AR has no ERR-3 written: not guessed
    assert scene.env.hub_json("rejected", "list", "--reason", "MSH-12")["rejected"][0]["id"] == \
        still_id
    assert scene.env.hub_json("rejected", "list", "--since",
                              datetime.now(UTC).date().isoformat())["rejected"] == []

    dry = scene.env.hub_json("rejected", "retry", "--all", "--dry-run")
    assert dry["dry_run"] is True and dry["passed"] == [{"id": refused_id, "retry_id": None}]
    assert [(s["id"], s["ack_code"], s["err_code"]) for s in dry["still_rejected"]] == [
        (still_id, "AE", 102)]
    assert scene.probe.message_states() == {"rejected": 2}
    assert scene.probe.audit("message.retried") == []
    assert scene.env.hub_json("rejected", "list", "--reason", "MSH-12")["rejected"]  # unchanged

    first = scene.env.hub_json("rejected", "retry", "--all")
    [done] = first["passed"]
    assert done["id"] == refused_id and first["refused"] == first["failed"] == []
    assert wait_for(lambda: scene.probe.message_states()["stored"] == 1, 30), scene.env.logs()
    assert wait_for(lambda: scene.states() == ["delivered"], 30), scene.probe.deliveries()
    story = scene.env.hub_json("trace", done["retry_id"])
    assert story["message"]["state"] == "stored" and story["entries"]
    assert story["replay_of"]["id"] == refused_id and story["message"]["ack_code"] is None
    assert [d["recipient"] for d in story["deliveries"]] == [doctor.cns_code]
    assert len(doctor.recipient.received) == 1

    rows = {r["id"]: r for r in scene.env.hub_json("rejected", "list")["rejected"]}
    assert (rows[refused_id]["status"], rows[refused_id]["resolved_by"]) == (
        "resolved", done["retry_id"])
    still = rows[still_id]
    assert (still["status"], still["ack_code"], still["err_code"]) == ("open", "AE", 102)
    assert "matricule" in still["reason"] and "MSH-12" not in still["reason"]
    again_all = scene.env.hub_json("rejected", "retry", "--all")  # the resolved one is not open
    assert again_all["passed"] == [] and [s["id"] for s in again_all["still_rejected"]] == [
        still_id]

    second = scene.env.hub_json("rejected", "retry", refused_id)  # asked for by id: it goes
    [redo] = second["passed"]
    assert wait_for(lambda: scene.probe.message_states()["discarded"] == 1, 30), scene.env.logs()
    assert scene.env.hub_json("trace", redo["retry_id"])["message"]["reason"] == (
        f"duplicate of message {done['retry_id']}")
    assert scene.probe.message_states() == {"rejected": 2, "stored": 1, "discarded": 1}
    assert scene.states() == ["delivered"] and len(doctor.recipient.received) == 1
    assert len(scene.probe.audit("deliver")) == 1
    retried = scene.probe.audit("message.retried")
    assert [(e["actor"], e["outcome"], e["message_id"]) for e in retried] == [
        ("operator", "ok", refused_id), ("operator", "failed", still_id),
        ("operator", "failed", still_id), ("operator", "ok", refused_id)]
    assert retried[0]["reason"] == f"retried as message {done['retry_id']}"
    assert scene.env.hub_json("audit", "verify")["ok"] is True


def test_a_fresh_rejection_keeps_its_err_3_and_a_bad_id_is_one_line_exit_1(scene):
    scene.start()
    frame = oru(person(OLD_RULE_BASES[0], 4), "NEW-1", "510009-99").replace(b"|2.5|", b"|2.9|", 1)
    assert scene.send(frame) == ["AR"]
    assert scene.settled(1), scene.env.logs()
    [row] = scene.env.hub_json("rejected", "list", "--code", "203")["rejected"]
    assert (row["control_id"], row["ack_code"], row["err_code"], row["status"]) == (
        "NEW-1", "AR", 203, "open")
    assert "MSH-12" in row["reason"]
    for json_flag in ([], ["--json"]):
        done = scene.env.hub("rejected", "retry", "NO-SUCH-ID", *json_flag, check=False)
        assert done.returncode == 1
        assert done.stderr.splitlines() == ["hub: not retried: NO-SUCH-ID: no such message"]
    shown = scene.env.hub("rejected", "list")
    assert shown.returncode == 0 and "NEW-1" in shown.stdout and "AR 203" in shown.stdout


def test_ctrl_c_retries_each_record_once_or_not_at_all(scene, database_url):
    count = 300
    ids = kept_rejected(scene.env, database_url,
                        oru(person(OLD_RULE_BASES[0], 3), "INT-{n}", "510009-99"),
                        "INT-{n}", count=count)
    scene.start()
    scene.send()  # returns once the hub listens: its queues are declared
    retry = subprocess.Popen(
        [sys.executable, "-m", "hub.cli.main", "rejected", "retry", "--all", "--json"],
        env=scene.env.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: scene.probe.audit("message.retried") or retry.poll() is not None,
                    60, every=0.01)
    retry.send_signal(signal.SIGINT)
    out, err = retry.communicate(timeout=60)

    assert retry.returncode == 130, err
    summary = json.loads(out)
    passed = [r["id"] for r in summary["passed"]]
    assert summary["interrupted"] is True and 0 < len(passed) < count, summary
    assert sorted(passed + summary["not_done"]) == sorted(ids)
    events = scene.probe.audit("message.retried")
    assert sorted(e["message_id"] for e in events) == sorted(passed)
    retries = {r["retry_id"] for r in summary["passed"]}
    assert wait_for(lambda: len(_retry_rows(scene)) == len(retries), 60), scene.env.logs()
    assert set(_retry_rows(scene)) == retries
    open_now = [r["id"] for r in scene.env.hub_json("rejected", "list")["rejected"]
                if r["status"] == "open"]
    assert sorted(open_now) == sorted(summary["not_done"])


def _retry_rows(scene) -> list[str]:
    m = tables.messages
    with scene.probe.engine.connect() as c:
        return list(c.execute(select(m.c.id).where(m.c.replay_of.is_not(None))).scalars())
