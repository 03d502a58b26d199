"""Batched sending on real SQLite and PostgreSQL, to fake MLLP recipients over loopback: order
per patient kept across a batch, a failure mid-batch stops only what is behind it, a no-answer
releases the rest, a lost recording resends the whole batch in order once its lease ends, and
no send comes later than the re-check window after its consent re-check."""
import random
import time
from datetime import timedelta

import pytest

from hub.domain.delivery import DeliveryState, parse_destination_key
from hub.hl7.message import Message
from hub.outbound.backoff import next_attempt
from hub.outbound.dispatch_loop import DispatchLoop
from hub.outbound.dispatcher import Dispatcher
from hub.outbound.sender import DestinationSender
from tests.fixtures.dispatching import Journal, allow, enqueue, state, utc_now
from tests.fixtures.deliveries import recheck_with
from tests.fixtures.fake_recipient import Reply, recipients_started

LEASE = timedelta(seconds=120)


@pytest.fixture
def recipients():
    with recipients_started() as start:
        yield start


@pytest.fixture
def dispatchers(uow_factory, monkeypatch):
    made = []

    def make(recheck=allow, *, timeout=2.0, journal=None, batch=100, recheck_window=1.0):
        rng = random.Random(1)
        recheck_with(monkeypatch, recheck)

        def senders(key):
            host, port = parse_destination_key(key)
            return DestinationSender(host, port, timeout=timeout)

        dispatcher = Dispatcher(uow_factory, senders, utc_now, 5,
                                backoff=lambda n, at: next_attempt(n, at, jitter=rng),
                                batch=batch, journal=journal, recheck_window=recheck_window)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close()


def control_id(payload: bytes) -> str:
    return Message.parse(payload.decode("latin-1")).control_id


def by_patient(recipient, queues):
    """What the recipient got of each queue, as positions in that queue, in arrival order."""
    where = {d.control_id: (i, n) for i, queue in enumerate(queues) for n, d in enumerate(queue)}
    got = [[] for _ in queues]
    for cid in recipient.control_ids():
        if cid in where:
            queue, position = where[cid]
            got[queue].append(position)
    return got


def test_batches_keep_each_patients_order_and_journal_it(uow_factory, recipients,
                                                         dispatchers):
    recipient = recipients()
    queues = [enqueue(uow_factory, recipient, 7, n=n) for n in (1, 2, 3)]
    journal = Journal()
    report = dispatchers(journal=journal, batch=6).run_due(utc_now(), wait=10)
    assert report.delivered == 21
    assert by_patient(recipient, queues) == [list(range(7))] * 3
    order = {d.id: n for queue in queues for n, d in enumerate(queue)}
    for queue in queues:
        ids = {d.id for d in queue}
        assert [order[e[0]] for e in journal.events if e[0] in ids] == list(range(7))


def test_a_retry_mid_batch_holds_back_only_its_own_queue(uow_factory, recipients, dispatchers):
    refused_once = set()

    def respond(n, payload):
        if control_id(payload) == second.control_id and not refused_once:
            refused_once.add(n)
            return Reply(code="AE")
        return Reply()

    recipient = recipients(respond)
    first, second, third = enqueue(uow_factory, recipient, 3, n=1)
    others = enqueue(uow_factory, recipient, 2, n=2)
    dispatcher = dispatchers()
    now = utc_now()
    report = dispatcher.run_due(now, wait=10)
    assert (report.delivered, report.retried) == (3, 1)
    assert [state(uow_factory, d).state for d in (first, *others)] == [
        DeliveryState.DELIVERED] * 3
    retry, behind = state(uow_factory, second), state(uow_factory, third)
    assert (retry.state, retry.attempts) == (DeliveryState.PENDING, 1)
    # Released, not left leased: due again as soon as the retry ahead of it has gone.
    assert (behind.state, behind.attempts) == (DeliveryState.PENDING, 0)
    assert behind.next_attempt_at <= now
    assert third.control_id not in recipient.control_ids()
    assert dispatcher.run_due(retry.next_attempt_at, wait=10).delivered == 2
    assert by_patient(recipient, [[first, second, third]]) == [[0, 1, 1, 2]]


def test_a_no_answer_mid_batch_stops_it_and_releases_the_rest(uow_factory, recipients,
                                                              dispatchers):
    recipient = recipients(lambda n, payload: Reply(silent=True) if n == 1 else Reply())
    queues = [enqueue(uow_factory, recipient, 3, n=n) for n in (1, 2)]
    now = utc_now()
    report = dispatchers(timeout=0.5).run_due(now, wait=10)
    assert (report.delivered, report.retried) == (1, 1)
    assert len(recipient.received) == 2
    silent = control_id(recipient.received[1])
    for delivery in queues[0] + queues[1]:
        stored = state(uow_factory, delivery)
        if delivery.control_id == silent:
            assert (stored.state, stored.attempts) == (DeliveryState.PENDING, 1)
            assert stored.last_error.startswith("no answer")
        elif stored.state is DeliveryState.PENDING:
            assert stored.attempts == 0 and stored.next_attempt_at <= now  # released
    assert [len(got) for got in by_patient(recipient, queues)] in ([2, 0], [0, 2], [1, 1])
    for got in by_patient(recipient, queues):
        assert got == list(range(len(got)))


def test_a_batch_whose_recording_is_lost_goes_out_again_in_order_when_its_lease_ends(
        uow_factory, recipients, dispatchers):
    recipient = recipients()
    queue = enqueue(uow_factory, recipient, 3, n=1)

    def broken(uow, delivery, outcome):
        raise RuntimeError("journal unavailable")

    now = utc_now()
    first = dispatchers(journal=broken)
    assert first.run_due(now, wait=10).outcomes == []
    first.close()  # as if the hub died after sending, before recording
    assert by_patient(recipient, [queue]) == [[0, 1, 2]]
    assert all(state(uow_factory, d).state is DeliveryState.PENDING for d in queue)
    second = dispatchers(journal=Journal())
    assert second.run_due(now, wait=10).attempted == 0  # still leased
    assert second.run_due(now + LEASE + timedelta(seconds=1), wait=10).delivered == 3
    assert by_patient(recipient, [queue]) == [[0, 1, 2, 0, 1, 2]]  # same MSH-10s, in order
    assert all(state(uow_factory, d).state is DeliveryState.DELIVERED for d in queue)


def test_no_send_comes_later_than_the_recheck_window_after_its_recheck(uow_factory,
                                                                       recipients, dispatchers):
    checked, sent = {}, {}

    def recheck(uow, delivery, at):
        checked.setdefault(delivery.control_id, []).append(time.monotonic())
        return True, "grant in force"

    def respond(n, payload):
        sent[control_id(payload)] = time.monotonic()
        return Reply(delay=0.4)

    recipient = recipients(respond)
    queue = enqueue(uow_factory, recipient, 4, n=1)
    report = dispatchers(recheck, recheck_window=0.3).run_due(utc_now(), wait=20)
    assert report.delivered == 4
    for delivery in queue:
        last = max(t for t in checked[delivery.control_id] if t <= sent[delivery.control_id])
        assert sent[delivery.control_id] - last < 0.3 + 0.2
    assert max(len(times) for times in checked.values()) > 1  # some were re-checked anew
    assert by_patient(recipient, [queue]) == [[0, 1, 2, 3]]


def test_a_denial_behind_a_retry_waits_for_its_turn(uow_factory, recipients, dispatchers):
    recipient = recipients(lambda n, payload: Reply(code="AE") if n == 0 else Reply())
    ahead, denied = enqueue(uow_factory, recipient, 2, n=1)
    journal = Journal()
    dispatcher = dispatchers(lambda uow, d, at: (d.id != denied.id, "grant revoked"),
                             journal=journal)
    report = dispatcher.run_due(utc_now(), wait=10)
    assert (report.retried, report.denied) == (1, 0)
    assert state(uow_factory, denied).state is DeliveryState.PENDING and journal.events == []
    report = dispatcher.run_due(state(uow_factory, ahead).next_attempt_at, wait=10)
    assert (report.delivered, report.denied) == (1, 1)
    assert [e[1] for e in journal.events] == [DeliveryState.DELIVERED, DeliveryState.DENIED]


def test_the_loop_sends_what_it_is_woken_for_without_waiting_for_the_interval(
        uow_factory, recipients, dispatchers):
    recipient = recipients()
    loop = DispatchLoop(dispatchers(), utc_now, interval=10.0)
    (first,) = enqueue(uow_factory, recipient, n=1)
    loop.start()
    try:
        assert recipient.wait_for(1, timeout=5)
        for n in range(2, 6):  # filed and woken for, as a worker of the hub's process does
            (late,) = enqueue(uow_factory, recipient, n=n)
            loop.wake()
            assert recipient.wait_for(n, timeout=1.5)
    finally:
        assert loop.stop(timeout=10)
    assert recipient.control_ids()[-1] == late.control_id


def test_what_nobody_woke_the_loop_for_goes_out_at_the_next_interval(uow_factory, recipients,
                                                                     dispatchers):
    recipient = recipients()
    loop = DispatchLoop(dispatchers(), utc_now, interval=0.3)
    loop.start()
    try:
        (first,) = enqueue(uow_factory, recipient, n=1)  # as filed by another hub process
        assert recipient.wait_for(1, timeout=5)
        (second,) = enqueue(uow_factory, recipient, n=2)
        assert recipient.wait_for(2, timeout=5)
    finally:
        assert loop.stop(timeout=10)
    assert recipient.control_ids() == [first.control_id, second.control_id]
