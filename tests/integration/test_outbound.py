"""Outbound delivery end to end on real SQLite and PostgreSQL, to fake MLLP recipients over
loopback: delivered, retried, parked, denied, resumed after a restart, never held up."""
import random
import threading
import time
from datetime import timedelta

import pytest

from hub.domain.delivery import DeliveryState, destination_key, parse_destination_key
from hub.errors import DatabaseUnavailable
from hub.hl7.message import Message
from hub.outbound.backoff import next_attempt
from hub.outbound.dispatch_loop import DispatchLoop
from hub.outbound.dispatcher import Dispatcher
from hub.outbound.sender import DestinationSender
from tests.fixtures.dispatching import Journal, allow, enqueue, state, utc_now
from tests.fixtures.deliveries import recheck_with
from tests.fixtures.fake_recipient import Reply, recipients_started

LATER = timedelta(hours=1)


@pytest.fixture
def recipients():
    with recipients_started() as start:
        yield start


@pytest.fixture
def dispatchers(uow_factory, monkeypatch):
    made = []

    def make(recheck=allow, *, max_attempts=5, timeout=2.0, journal=None, seed=1, observe=None):
        rng = random.Random(seed)
        recheck_with(monkeypatch, recheck)

        def senders(key):
            host, port = parse_destination_key(key)
            return DestinationSender(host, port, timeout=timeout)

        dispatcher = Dispatcher(uow_factory, senders, utc_now, max_attempts,
                                backoff=lambda n, at: next_attempt(n, at, jitter=rng),
                                journal=journal, observe=observe)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close()


def test_a_delivery_reaches_its_recipient_readdressed(uow_factory, recipients, dispatchers):
    recipient = recipients()
    journal = Journal()
    (delivery,) = enqueue(uow_factory, recipient)
    report = dispatchers(journal=journal).run_due(utc_now(), wait=10)
    assert report.summary() == {"attempted": 1, "delivered": 1, "retried": 0, "parked": 0,
                                "denied": 0}
    done = state(uow_factory, delivery)
    assert (done.state, done.ack_code, done.attempts, done.next_attempt_at) == (
        DeliveryState.DELIVERED, "AA", 1, None)
    (received,) = recipient.received
    with uow_factory() as uow:
        assert received == uow.deliveries.payload(delivery.id)
    header = Message.parse(received.decode()).segments[0]
    assert header.value(5) == "CAB" and header.value(6) == "DOC"
    assert header.value(10) == delivery.control_id
    assert journal.events == [(delivery.id, DeliveryState.DELIVERED, "AA", "AA")]


def test_outcomes_are_observed_once_committed_not_when_a_later_round_reports_them(
        uow_factory, recipients, dispatchers):
    recipient = recipients(lambda n, raw: Reply("AA", delay=0.5))
    (delivery,) = enqueue(uow_factory, recipient)
    seen, observed = [], threading.Event()

    def observe(outcomes):
        seen.extend((o.delivery.id, o.state, state(uow_factory, o.delivery).state)
                    for o in outcomes)
        observed.set()

    dispatcher = dispatchers(observe=observe)
    assert dispatcher.run_due(utc_now(), wait=0).outcomes == []  # the lane is still sending
    assert observed.wait(10)
    assert seen == [(delivery.id, DeliveryState.DELIVERED, DeliveryState.DELIVERED)]
    (reported,) = dispatcher.run_due(utc_now(), wait=0).outcomes  # still reported, once
    assert reported.delivery.id == delivery.id and reported.state is DeliveryState.DELIVERED
    assert seen == [(delivery.id, DeliveryState.DELIVERED, DeliveryState.DELIVERED)]


def test_a_recipient_that_is_down_gets_its_messages_after_a_restart_in_order_once_each(
        uow_factory, recipients, dispatchers):
    recipient = recipients()
    recipient.stop()
    made = enqueue(uow_factory, recipient, 3)
    first = dispatchers()
    now = utc_now()
    for _ in range(3):
        report = first.run_due(now, wait=10)
        assert report.summary()["retried"] == 1  # only the head of the queue is tried
        now = state(uow_factory, made[0]).next_attempt_at + timedelta(milliseconds=1)
    first.close()
    with uow_factory() as uow:
        head, *rest = [uow.deliveries.get(d.id) for d in made]
    assert head.attempts == 3 and "cannot connect" in head.last_error
    assert [d.attempts for d in rest] == [0, 0]
    assert recipient.received == []

    recipient.start()
    # A new dispatcher, as after a hub restart: it knows only what the store says.
    report = dispatchers().run_due(now, wait=10)
    assert report.delivered == 3
    assert recipient.control_ids() == [d.control_id for d in made]
    assert all(state(uow_factory, d).state is DeliveryState.DELIVERED for d in made)


def test_a_delivery_claimed_by_a_hub_that_died_is_sent_when_its_lease_ends(
        uow_factory, recipients, dispatchers):
    recipient = recipients()
    (delivery,) = enqueue(uow_factory, recipient)
    now = utc_now()
    with uow_factory() as uow:
        assert uow.deliveries.claim(delivery.id, now, now + timedelta(seconds=120))
        uow.commit()
    dispatcher = dispatchers()
    assert dispatcher.run_due(now, wait=10).attempted == 0
    assert dispatcher.run_due(now + timedelta(seconds=121), wait=10).delivered == 1
    assert recipient.control_ids() == [delivery.control_id]


def test_a_rejection_parks_the_message_and_holds_its_queue_until_it_is_replayed(
        uow_factory, recipients, dispatchers):
    recipient = recipients(lambda n, payload: Reply(code="AR") if n == 0 else Reply())
    journal = Journal()
    refused, behind = enqueue(uow_factory, recipient, 2)
    dispatcher = dispatchers(journal=journal)
    report = dispatcher.run_due(utc_now(), wait=10)
    assert (report.parked, report.delivered) == (1, 0)
    parked = state(uow_factory, refused)
    assert (parked.state, parked.ack_code, parked.attempts) == (DeliveryState.PARKED, "AR", 1)
    assert parked.last_error == "refused: AR (ERR-3 207)"
    held = state(uow_factory, behind)
    assert (held.state, held.attempts) == (DeliveryState.PENDING, 0)  # held behind it
    assert dispatcher.run_due(utc_now() + LATER, wait=10).attempted == 0  # not retried, ever
    assert recipient.control_ids() == [refused.control_id]

    with uow_factory() as uow:
        assert uow.deliveries.replay_many([refused.id]) == []
        uow.commit()
    assert dispatcher.run_due(utc_now(), wait=10).delivered == 2
    assert recipient.control_ids() == [refused.control_id, refused.control_id,
                                       behind.control_id]
    assert [e[1] for e in journal.events] == [DeliveryState.PARKED, DeliveryState.DELIVERED,
                                              DeliveryState.DELIVERED]


def test_an_application_error_is_retried_with_backoff_then_delivered(uow_factory, recipients,
                                                                     dispatchers):
    recipient = recipients(lambda n, payload: Reply(code="AE") if n == 0 else Reply())
    (delivery,) = enqueue(uow_factory, recipient)
    dispatcher = dispatchers()
    before = utc_now()
    assert dispatcher.run_due(before, wait=10).retried == 1
    waiting = state(uow_factory, delivery)
    assert (waiting.state, waiting.attempts, waiting.ack_code) == (DeliveryState.PENDING, 1, "AE")
    assert waiting.last_error == "AE (ERR-3 207)"
    assert before <= waiting.next_attempt_at <= utc_now() + timedelta(seconds=2)
    assert dispatcher.run_due(waiting.next_attempt_at - timedelta(milliseconds=1),
                              wait=10).attempted == 0
    assert dispatcher.run_due(waiting.next_attempt_at, wait=10).delivered == 1
    done = state(uow_factory, delivery)
    assert (done.state, done.attempts, done.ack_code) == (DeliveryState.DELIVERED, 2, "AA")
    assert recipient.control_ids() == [delivery.control_id] * 2  # the same MSH-10 each time


def test_too_many_failures_park_the_delivery(uow_factory, recipients, dispatchers):
    recipient = recipients(lambda n, payload: Reply(code="CE"))
    (delivery,) = enqueue(uow_factory, recipient)
    dispatcher = dispatchers(max_attempts=3)
    now = utc_now()
    outcomes = [dispatcher.run_due(now + LATER * i, wait=10).outcomes[0].state for i in range(4)
                if state(uow_factory, delivery).state is DeliveryState.PENDING]
    assert outcomes == [DeliveryState.PENDING, DeliveryState.PENDING, DeliveryState.PARKED]
    parked = state(uow_factory, delivery)
    assert parked.last_error == "gave up after 3 attempts: CE (ERR-3 207)"
    assert len(recipient.received) == 3


def test_an_ack_for_another_message_is_not_credited(uow_factory, recipients, dispatchers):
    recipient = recipients(lambda n, payload: Reply(control_id="NOT-YOURS") if n == 0
                           else Reply())
    (delivery,) = enqueue(uow_factory, recipient)
    dispatcher = dispatchers()
    assert dispatcher.run_due(utc_now(), wait=10).retried == 1
    retry = state(uow_factory, delivery)
    assert (retry.ack_code, retry.last_error) == (None, "mismatch")
    assert dispatcher.run_due(utc_now() + LATER, wait=10).delivered == 1
    assert recipient.connections == 2


def test_a_denial_at_send_time_sends_nothing(uow_factory, recipients, dispatchers):
    recipient = recipients()
    journal = Journal()
    asked = []

    def revoked(uow, delivery, at):
        asked.append((delivery.id, at.tzinfo is not None, uow.deliveries.get(delivery.id)
                      is not None))
        return False, "grant revoked"

    (delivery,) = enqueue(uow_factory, recipient)
    report = dispatchers(revoked, journal=journal).run_due(utc_now(), wait=10)
    assert (report.denied, report.attempted) == (1, 0)
    assert report.denied_by_reason() == {"grant revoked": 1}
    denied = state(uow_factory, delivery)
    assert (denied.state, denied.last_error, denied.attempts) == (
        DeliveryState.DENIED, "grant revoked", 0)
    assert asked == [(delivery.id, True, True)]
    assert recipient.received == [] and recipient.connections == 0
    assert journal.events == [(delivery.id, DeliveryState.DENIED, "denied", "grant revoked")]


def test_a_failing_recheck_sends_nothing_and_retries(uow_factory, recipients, dispatchers):
    recipient = recipients()

    def broken(uow, delivery, at):
        raise RuntimeError("consent store unavailable")

    (delivery,) = enqueue(uow_factory, recipient)
    dispatchers(broken).run_due(utc_now(), wait=10)
    retry = state(uow_factory, delivery)
    assert retry.state is DeliveryState.PENDING and retry.attempts == 1
    assert retry.last_error == "failed before sending: RuntimeError"
    assert recipient.received == []


def test_a_recheck_that_finds_the_database_away_counts_nothing_against_the_delivery(
        uow_factory, recipients, dispatchers):
    recipient = recipients()

    def away(uow, delivery, at):
        raise DatabaseUnavailable("database unreachable (connection refused)")

    (delivery,) = enqueue(uow_factory, recipient)
    dispatchers(away, max_attempts=1).run_due(utc_now(), wait=10)
    after = state(uow_factory, delivery)
    assert (after.state, after.attempts, after.last_error) == (DeliveryState.PENDING, 0, None)
    assert recipient.received == []


def test_a_slow_destination_does_not_delay_another(uow_factory, recipients, dispatchers):
    slow = recipients(lambda n, payload: Reply(delay=3.0))
    fast = recipients()
    (slow_one,) = enqueue(uow_factory, slow, n=1)
    fast_ones = enqueue(uow_factory, fast, 2, n=2)
    dispatcher = dispatchers(timeout=10)
    started = time.monotonic()
    report = dispatcher.run_due(utc_now(), wait=1.0)
    assert time.monotonic() - started < 2
    assert report.delivered == 2
    assert [o.delivery.id for o in report.outcomes] == [d.id for d in fast_ones]
    assert state(uow_factory, slow_one).state is DeliveryState.PENDING
    # The slow lane is still busy: the next round skips it and serves the others at once.
    (late,) = enqueue(uow_factory, fast, n=3)
    report = dispatcher.run_due(utc_now() + timedelta(seconds=121), wait=1.0)
    assert report.busy == [destination_key("127.0.0.1", slow.port)]
    assert [o.delivery.id for o in report.outcomes] == [late.id]
    assert slow.wait_for(1) and len(slow.received) == 1  # never sent twice meanwhile
    time.sleep(3)
    report = dispatcher.run_due(utc_now(), wait=5)
    assert [o.delivery.id for o in report.outcomes] == [slow_one.id]
    assert state(uow_factory, slow_one).state is DeliveryState.DELIVERED


def test_a_dead_destination_does_not_stop_the_round_for_others(uow_factory, recipients,
                                                               dispatchers):
    dead, live = recipients(), recipients()
    dead.stop()
    (lost,) = enqueue(uow_factory, dead, n=1)
    (found,) = enqueue(uow_factory, live, n=2)
    report = dispatchers().run_due(utc_now(), wait=10)
    assert (report.retried, report.delivered) == (1, 1)
    assert state(uow_factory, lost).state is DeliveryState.PENDING
    assert state(uow_factory, found).state is DeliveryState.DELIVERED


def test_the_dispatch_loop_delivers_without_being_asked_and_stops(uow_factory, recipients,
                                                                   dispatchers):
    recipient = recipients()
    threads_before = threading.active_count()
    loop = DispatchLoop(dispatchers(), utc_now, interval=0.2)
    assert not loop.running and threading.active_count() == threads_before  # nothing yet
    (delivery,) = enqueue(uow_factory, recipient)
    loop.start()
    try:
        assert recipient.wait_for(1, timeout=5)
        deadline = time.monotonic() + 5
        while state(uow_factory, delivery).state is DeliveryState.PENDING:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        assert loop.stop(timeout=10)
    assert not loop.running
    assert state(uow_factory, delivery).state is DeliveryState.DELIVERED
    assert recipient.control_ids() == [delivery.control_id]
