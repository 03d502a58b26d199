"""Per-patient order to a destination through parking, replay, outages and late ACKs, on real
SQLite and PostgreSQL, to fake MLLP recipients over loopback.

Order is judged from what the recipient really received: for each patient, every pair of
arrivals whose sequences are the wrong way round is an inversion (a resend of a message counts
against every later message that arrived before it).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from hub.cli.main import main
from hub.domain.delivery import DeliveryState, destination_key, parse_destination_key
from hub.outbound.dispatcher import Dispatcher
from hub.outbound.sender import DestinationSender
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.deliveries import queue, recheck_with, store_message
from tests.fixtures.fake_recipient import Reply, recipients_started

SOON = timedelta(milliseconds=50)


def utc_now():
    return datetime.now(UTC)


def allow(uow, delivery, at):
    return True, "grant in force"


def soon(attempts, at):
    return at + SOON


@pytest.fixture
def store(database_url, tmp_path, monkeypatch):
    """A unit-of-work factory on a migrated store that `hub` commands run here read too."""
    key_file = tmp_path / "keys.json"
    monkeypatch.setenv("HUB_DATABASE_URL", database_url)
    monkeypatch.setenv("HUB_KEY_FILE", str(key_file))
    monkeypatch.setenv("HUB_ENV_FILE", str(tmp_path / "none.env"))
    upgrade(database_url)
    engine = make_engine(database_url)
    keyring = Keyring.load_or_create(key_file)
    yield lambda: UnitOfWork(engine, keyring)
    engine.dispose()


@pytest.fixture
def recipients():
    with recipients_started() as start:
        yield start


@pytest.fixture
def dispatchers(store, monkeypatch):
    made = []
    recheck_with(monkeypatch, allow)

    def make(*, max_attempts=3, timeout=3.0, patience=None, **options):
        def senders(key):
            host, port = parse_destination_key(key)
            return DestinationSender(host, port, timeout=timeout, patience=patience)

        dispatcher = Dispatcher(store, senders, utc_now, max_attempts, backoff=soon,
                                **options)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close()


def enqueue(store, port, patients, count):
    """`count` deliveries for each of `patients`, interleaved, queued a second ago; returns
    {control id: (patient n, sequence)} and the deliveries in queueing order."""
    at = utc_now() - timedelta(seconds=1)
    made = []
    with store() as uow:
        for i in range(count):
            for n in patients:
                message_id, patient_id, raw = store_message(uow, n * 1000 + i, patient_n=n)
                made.append((n, queue(uow, message_id, patient_id, raw,
                                      destination_key("127.0.0.1", port), at=at)))
        uow.commit()
    return {d.control_id: (n, d.sequence) for n, d in made}, [d for _, d in made]


def inversions(received: list[str], index: dict[str, tuple[int, int]]) -> int:
    """Pairs of arrivals of one patient whose sequences are the wrong way round."""
    by_patient: dict[int, list[int]] = {}
    for control_id in received:
        n, sequence = index[control_id]
        by_patient.setdefault(n, []).append(sequence)
    return sum(1 for seqs in by_patient.values() for i, a in enumerate(seqs)
               for b in seqs[i + 1:] if a > b)


def states(store, made) -> dict[str, int]:
    counts = {s.value: 0 for s in DeliveryState}
    with store() as uow:
        for d in made:
            counts[uow.deliveries.get(d.id).state.value] += 1
    return counts


def drive(dispatcher, done, deadline: float, settle: float = 0.0) -> bool:
    """Dispatch rounds until `done()` holds (then `settle` seconds more) or `deadline` seconds."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        dispatcher.run_due(utc_now(), wait=0.2)
        if done():
            stop = time.monotonic() + settle
            while time.monotonic() < stop:
                dispatcher.run_due(utc_now(), wait=0.2)
            return True
        time.sleep(0.02)
    return False


def report(label, recipient, store, made, index) -> dict:
    counts = states(store, made)
    numbers = {"sent": len(recipient.received), "delivered": counts["delivered"],
               "parked": counts["parked"], "pending": counts["pending"],
               "inversions": inversions(recipient.control_ids(), index)}
    print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in numbers.items()))
    return numbers


def hub(capsys, *args: str) -> str:
    """`hub ARGS` in this process, its standard output; the log handlers it sets on capsys's
    stream are taken off again, as that stream closes with the test."""
    earlier = capsys.readouterr().out  # the counts printed so far stay in the test's output
    with capsys.disabled():
        print(earlier, end="")
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert main(list(args)) == 0
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    return capsys.readouterr().out


def replay_all(capsys) -> None:
    hub(capsys, "deliveries", "replay", "--all-parked")


@pytest.mark.parametrize("refusal", ["AR", "max-attempts"])
def test_a_parked_head_holds_its_queue_and_a_replay_sends_it_all_in_order(
        store, recipients, dispatchers, capsys, refusal):
    recovered = threading.Event()
    head_id: list[str] = []

    def respond(n, payload):
        if recovered.is_set() or head_id[0].encode() not in payload:
            return Reply("AA")
        return Reply("AR" if refusal == "AR" else "AE")

    recipient = recipients(respond)
    index, made = enqueue(store, recipient.port, [1, 2], 10)
    first = [d for d in made if index[d.control_id][0] == 1]
    head_id.append(first[0].control_id)
    others = [d for d in made if index[d.control_id][0] == 2]
    dispatcher = dispatchers(max_attempts=3)

    def head_parked_and_others_done():
        with store() as uow:
            return (uow.deliveries.get(first[0].id).state is DeliveryState.PARKED
                    and all(uow.deliveries.get(d.id).state is DeliveryState.DELIVERED
                            for d in others))

    assert drive(dispatcher, head_parked_and_others_done, 60, settle=1.0)
    before = report(f"{refusal} parked", recipient, store, made, index)
    sent_of_first = [c for c in recipient.control_ids() if index[c][0] == 1]
    assert set(sent_of_first) == {first[0].control_id}  # nothing behind the parked head
    assert before["parked"] == 1 and before["delivered"] == 10 and before["pending"] == 9

    recovered.set()
    replay_all(capsys)
    assert drive(dispatcher, lambda: states(store, made)["delivered"] == 20, 60)
    after = report(f"{refusal} replayed", recipient, store, made, index)
    assert after["inversions"] == 0 and after["parked"] == 0
    arrivals = [c for c in recipient.control_ids() if index[c][0] == 1]
    assert arrivals[len(sent_of_first):] == [d.control_id for d in first]


def test_a_recipient_refusing_connections_past_max_attempts_parks_nothing(
        store, recipients, dispatchers, capsys, monkeypatch):
    recipient = recipients()
    recipient.stop()
    index, made = enqueue(store, recipient.port, [1, 2, 3], 6)
    dispatcher = dispatchers(max_attempts=3)
    key = destination_key("127.0.0.1", recipient.port)

    def refused_ten_times():  # over three times max_attempts, and over the 0.5 s below
        with store() as uow:
            down = uow.deliveries.unreachable().get(key)
        return (down is not None and down["failures"] >= 10
                and utc_now() - down["since"] > timedelta(seconds=0.6))

    # Counted, not timed: a loaded machine makes fewer attempts in a given time.
    assert drive(dispatcher, refused_ten_times, 60)
    down = report("refused", recipient, store, made, index)
    assert down["parked"] == 0 and down["sent"] == 0
    monkeypatch.setenv("HUB_BROKER_URL", "memory://")
    monkeypatch.setenv("HUB_STATUS__MAX_UNREACHABLE", "0.5")
    status = json.loads(hub(capsys, "status", "--json"))
    figures = status["destinations"][key]
    assert figures["unreachable_s"] > 0.5 and figures["connection_failures"] >= 10
    assert f"destination {key} unreachable for" in status["health"]["summary"]

    recipient.start()
    assert drive(dispatcher, lambda: states(store, made)["delivered"] == len(made), 60)
    up = report("back up", recipient, store, made, index)
    assert (up["parked"], up["inversions"], up["sent"]) == (0, 0, len(made))
    status = json.loads(hub(capsys, "status", "--json"))
    assert status["destinations"][key]["unreachable_s"] is None
    assert "unreachable" not in status["health"]["summary"]


def test_a_late_ack_for_one_patient_does_not_hold_the_others_for_the_timeout(
        store, recipients, dispatchers):
    timeout = 10.0
    late: list[str] = []
    answered_late = threading.Event()

    def respond(n, payload):
        if late[0].encode() in payload and not answered_late.is_set():
            answered_late.set()
            return Reply("AA", delay=timeout + 2)  # past the read timeout
        return Reply("AA")

    recipient = recipients(respond)
    index, made = enqueue(store, recipient.port, [1], 3)  # queued first: its head goes first
    late.append(made[0].control_id)
    more_index, others = enqueue(store, recipient.port, [2, 3], 5)
    index.update(more_index)
    dispatcher = dispatchers(timeout=timeout, patience=0.5)

    def others_delivered():
        return states(store, others)["delivered"] == len(others)

    started = time.monotonic()
    assert drive(dispatcher, others_delivered, 60)
    held = time.monotonic() - started
    assert answered_late.is_set() and recipient.control_ids()[0] == late[0]
    assert drive(dispatcher, lambda: states(store, made + others)["delivered"] == 13, 60)
    numbers = report(f"late ack (others done after {held:.2f} s, timeout {timeout:g} s)",
                     recipient, store, made + others, index)
    assert held < timeout * 0.6  # the others did not wait for the late ACK's timeout
    assert (numbers["parked"], numbers["inversions"]) == (0, 0)
    with store() as uow:
        resent = uow.deliveries.get(made[0].id)
    assert (resent.attempts, resent.message_failures) == (2, 0)  # no answer is no failure
