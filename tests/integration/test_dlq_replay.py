"""Replaying parked messages (hub/ops/dlq.py) through a real worker on real databases, with the
in-memory broker: a replay parked again is not a duplicate of its parked original, a replay of
something stored is discarded, and a chain of replays resolves its first message."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from hub.broker import headers as h
from hub.broker.memory import MemoryBroker
from hub.broker.topology import Topology
from hub.domain.operator import Operator
from hub.metrics import Metrics
from hub.ops import dlq, trace
from hub.mapping.loader import load_mappings
from hub.routing.outcome import RoutingPolicy
from hub.routing.worker import RoutingWorker
from hub.settings import REPO_ROOT
from tests.fixtures.hub_process import REPO, free_port
from tests.fixtures.messages import adt_a01, encoded, patient

TOPOLOGY = Topology("dlq")


@pytest.fixture
def broker():
    broker = MemoryBroker(TOPOLOGY)
    broker.declare_topology()
    return broker


def worker(uow_factory, broker, mappings) -> RoutingWorker:
    return RoutingWorker(broker, TOPOLOGY, uow_factory, load_mappings(mappings), RoutingPolicy(),
                         Metrics(), batch_size=10, batch_wait=0.01)


def publish(broker: MemoryBroker, body: bytes, id: str) -> None:
    """As the listener publishes an accepted frame."""
    broker.publish_blocking(TOPOLOGY.inbound, body, message_id=id, headers={
        h.VERDICT: h.ACCEPTED, h.ACK_CODE: "AA", h.SENDER: "LABSYS^CHL", h.CONTROL_ID: "R-1",
        h.TYPE: "ADT^A01", h.VERSION: "2.5", h.RECEIVED_AT: datetime.now(UTC).isoformat(),
        h.PEER: "127.0.0.1:9"})


def replay(uow_factory, broker, ids) -> dict:
    return dlq.replay_messages(uow_factory, broker, TOPOLOGY.inbound, ids)


def parked(uow_factory) -> dict[str, dict]:
    with uow_factory() as uow:
        return {row["id"]: row for row in dlq.list_parked(uow)["parked"]}


def test_a_chain_of_replays_parks_stores_then_discards_and_resolves_the_first(
        tmp_path, broker, uow_factory):
    without = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", without,
                    ignore=shutil.ignore_patterns("ADT_A01.toml"))
    behind, current = (worker(uow_factory, broker, without),
                       worker(uow_factory, broker, REPO_ROOT / "mappings"))
    publish(broker, encoded(adt_a01(patient(1), "R-1")), "a" * 32)
    behind.drain()
    assert parked(uow_factory)["a" * 32]["status"] == "open"

    first = replay(uow_factory, broker, ["a" * 32])["replayed"][0]["replay_id"]
    behind.drain()  # still no mapping: parked again, not a duplicate of its original
    rows = parked(uow_factory)
    assert rows[first]["replay_of"] == "a" * 32 and rows[first]["reason_class"] == "unmapped"
    assert (rows["a" * 32]["status"], rows[first]["status"]) == ("replayed", "open")
    with uow_factory() as uow:
        assert dlq.replay_selection(uow, every_open=True) == ([first], [])

    second = replay(uow_factory, broker, [first])["replayed"][0]["replay_id"]
    current.drain()
    rows = parked(uow_factory)
    assert {id: (r["status"], r["resolved_by"]) for id, r in rows.items()} == {
        "a" * 32: ("resolved", second), first: ("resolved", second)}
    with uow_factory() as uow:
        story = trace.trace(uow, second)
        assert story["message"]["state"] == "stored" and story["replay_of"]["id"] == first
        assert len(story["entries"]) == uow.entries.count() > 0
        assert dlq.replay_selection(uow, every_open=True) == ([], [])

    third = replay(uow_factory, broker, ["a" * 32])["replayed"][0]["replay_id"]
    current.drain()
    with uow_factory() as uow:
        again = trace.trace(uow, third)
        assert again["message"]["state"] == "discarded" and again["entries"] == []
        assert again["message"]["reason"] == f"duplicate of message {second}"
        # By control id, a message and its replays are one story: the first's.
        story = trace.trace(uow, "R-1")
        assert story["message"]["id"] == "a" * 32
        assert [r["id"] for r in story["replays"]] == [first, third]
        assert len(uow.audit.for_message("a" * 32)) == 2  # two replays of the first, audited


def test_replay_refuses_what_is_not_parked_and_names_it(broker, uow_factory):
    with uow_factory() as uow:
        assert dlq.replay_selection(uow, ["f" * 32]) == (
            [], [{"id": "f" * 32, "reason": "no such message"}])
    summary = replay(uow_factory, broker, ["f" * 32])
    assert summary["refused"] == [{"id": "f" * 32, "reason": "no such message"}]
    assert summary["replayed"] == [] and broker.queue_stats()[TOPOLOGY.inbound].depth == 0


def test_a_control_id_shared_by_two_senders_is_ambiguous_until_the_sender_is_named(
        broker, uow_factory):
    w = worker(uow_factory, broker, REPO_ROOT / "mappings")
    publish(broker, encoded(adt_a01(patient(2), "R-1")), "b" * 32)
    body = encoded(adt_a01(patient(3), "R-1")).replace(b"LABSYS|CHL", b"OTHER|HOSP", 1)
    broker.publish_blocking(TOPOLOGY.inbound, body, message_id="c" * 32, headers={
        h.VERDICT: h.ACCEPTED, h.SENDER: "OTHER^HOSP", h.CONTROL_ID: "R-1", h.TYPE: "ADT^A01",
        h.VERSION: "2.5", h.RECEIVED_AT: datetime.now(UTC).isoformat()})
    w.drain()
    with uow_factory() as uow:
        with pytest.raises(trace.Ambiguous) as found:
            trace.trace(uow, "R-1")
        assert sorted(c["id"] for c in found.value.candidates) == ["b" * 32, "c" * 32]
        assert trace.trace(uow, "R-1", sender="OTHER^HOSP")["message"]["id"] == "c" * 32
        with pytest.raises(trace.NotFound):
            trace.trace(uow, "R-2")


def test_a_replay_with_the_broker_down_says_so_in_one_line_and_leaves_the_message_open(
        tmp_path, broker, uow_factory, database_url):
    without = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", without,
                    ignore=shutil.ignore_patterns("ADT_A01.toml"))
    publish(broker, encoded(adt_a01(patient(4), "R-4")), "d" * 32)
    worker(uow_factory, broker, without).drain()
    env = {**os.environ, "HUB_DATABASE_URL": database_url, "HUB_NAMESPACE": "dlq",
           "HUB_KEY_FILE": str(tmp_path / "keys" / "hub-keys.json"),
           "HUB_ENV_FILE": str(tmp_path / "none.env"),
           "HUB_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}  # nobody there
    for json_flag in ([], ["--json"]):
        done = subprocess.run([sys.executable, "-m", "hub.cli.main", "dlq", "replay", "--all",
                               *json_flag], env=env, cwd=REPO, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 1
        assert "Traceback" not in done.stderr and "pika" not in done.stderr, done.stderr
        assert done.stderr.splitlines()[-1] == "hub: 1 not replayed"
    assert parked(uow_factory)["d" * 32]["status"] == "open"


def test_a_reason_filter_looks_past_the_newest_parked_messages(uow_factory):
    from hub.domain.models import MessageRecord, MessageState
    with uow_factory() as uow:
        for n, reason in enumerate(["conflict: MSH-10 reused", "unmapped: ORU^R01",
                                    "unmapped: ORU^R01"]):  # the conflict is the oldest
            uow.messages.add(MessageRecord(f"{n}" * 32, "LAB^CHL", f"P{n}", "ORU^R01", "2.5",
                                           MessageState.PARKED, datetime(2026, 1, 1, n, tzinfo=UTC),
                                           reason=reason), b"MSH|^~\\&|\r")
        uow.commit()
        found = dlq.list_parked(uow, "conflict", limit=2)["parked"]
        assert [row["id"] for row in found] == ["0" * 32]
        assert len(dlq.list_parked(uow, "unmapped", limit=1)["parked"]) == 1


def test_show_gives_a_message_that_is_not_parked_no_dead_letter_status(uow_factory):
    from hub.domain.models import MessageRecord, MessageState
    with uow_factory() as uow:
        uow.messages.add(MessageRecord("e" * 32, "LAB^CHL", "S-1", "ORU^R01", "2.5",
                                       MessageState.STORED, datetime.now(UTC)), b"MSH|^~\\&|\r")
        uow.commit()
    row = dlq.show_parked(uow_factory, "e" * 32, by=Operator("ops"))
    assert (row["state"], row["status"]) == ("stored", None)  # not "open": nothing to replay


def test_a_raw_read_of_a_parked_message_is_in_the_journal_of_the_patient_it_names(
        tmp_path, broker, uow_factory):
    without = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", without,
                    ignore=shutil.ignore_patterns("ADT_A01.toml"))
    someone = patient(3)
    publish(broker, encoded(adt_a01(someone, "R-1")), "a" * 32)
    publish(broker, b"MSH|^~\\&|LAB|CHL|||20261125||ADT^A01|R-2|P|2.5\rPID|1||junk\r",
            "b" * 32)
    worker(uow_factory, broker, without).drain()  # no mapping: parked, filed to no dossier
    with uow_factory() as uow:
        assert uow.messages.get("a" * 32).patient_id is None
        assert uow.patients.find(someone.matricule) is None
        before = uow.audit.count()

    row = dlq.show_parked(uow_factory, "a" * 32, by=Operator("ops-anne"), raw=True)
    assert someone.family_name in row["raw"]
    with uow_factory() as uow:
        patient_id = uow.patients.find(someone.matricule)
        [read] = uow.audit.journal(patient_id)
        assert (read.actor, read.operator, read.action, read.message_id, read.reason) == (
            "operator", "ops-anne", "message.raw_read", "a" * 32,
            "operator full view: the message's raw bytes (dlq show --raw)")
        assert uow.audit.count() == before + 1

    # Bytes that name no valid matricule: still journaled, in no patient's journal.
    dlq.show_parked(uow_factory, "b" * 32, by=Operator("ops-anne"), raw=True)
    dlq.show_parked(uow_factory, "b" * 32, by=Operator("ops-anne"))  # no --raw: no read
    with uow_factory() as uow:
        [read] = uow.audit.for_message("b" * 32)
        assert (read.patient_id, read.operator, read.reason) == (
            None, "ops-anne", "operator full view: the message's raw bytes (dlq show --raw), "
            "no valid matricule in them")
        assert uow.audit.verify().ok
