"""Several senders on one database (hub/outbound/lanes.py): lane leases taken in one statement,
a destination drained only by its lane's holder, two dispatchers on separate engines sharing
many destinations (every delivery sent once, in each queue's order, both at work, the first
giving lanes back when the second joins), and a claim that never waits for another's locks,
so two senders cannot deadlock on PostgreSQL."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from hub.cli.status_view import lane_owners
from hub.domain.delivery import parse_destination_key
from hub.outbound.dispatch_loop import DispatchLoop
from hub.outbound.dispatcher import Dispatcher
from hub.outbound.lanes import LaneKeeper
from hub.outbound.sender import DestinationSender
from hub.store.engine import make_engine
from hub.store.lane_leases import LaneLeaseStore
from hub.store.tables import deliveries
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.deliveries import recheck_with
from tests.fixtures.dispatching import allow, enqueue, state, utc_now
from tests.fixtures.fake_recipient import Reply, recipients_started
from tests.fixtures.hub_process import free_port
from tests.fixtures.polling import wait_for

LEASE = 3.0  # seconds: short, so that a lost lane comes back within the test


@pytest.fixture
def recipients():
    with recipients_started() as start:
        yield start


def senders(key):
    host, port = parse_destination_key(key)
    return DestinationSender(host, port, timeout=5.0)


def test_a_lane_lease_is_one_senders_until_it_runs_out_or_is_given_back(engine):
    store = LaneLeaseStore(engine)
    now = utc_now()
    assert store.acquire("h:1", "a", now, 30)
    assert not store.acquire("h:1", "b", now, 30)
    assert store.acquire("h:1", "a", now, 30)  # its holder extends it
    assert store.renew("a", now, 30) == {"h:1"}
    assert store.renew("b", now, 30) == set()
    assert store.acquire("h:1", "b", now + timedelta(seconds=31), 30)  # ran out: anyone's
    assert store.renew("a", now, 30) == set()  # lost
    assert not store.release("h:1", "a")
    assert store.release("h:1", "b")
    assert store.acquire("h:1", "a", now, 30)
    assert [(h.destination, h.owner) for h in store.holders(now)] == [("h:1", "a")]
    store.beat("a", now, 30)
    assert lane_owners(store, now) == {"senders": ["a"], "owners": {"h:1": "a"}}  # hub status


def test_heartbeats_count_the_live_senders(engine):
    store = LaneLeaseStore(engine)
    now = utc_now()
    assert store.beat("a", now, 30) == 1
    assert store.beat("b", now, 30) == 2
    assert store.beat("a", now + timedelta(seconds=31), 30) == 1  # b's ran out
    store.release_all("a")
    assert store.senders(now + timedelta(seconds=31)) == []


def test_a_destination_held_by_another_sender_is_not_sent_to(engine, uow_factory, recipients,
                                                             monkeypatch):
    recheck_with(monkeypatch, allow)
    recipient = recipients()
    queued = enqueue(uow_factory, recipient, 3)
    store = LaneLeaseStore(engine)
    destination = queued[0].destination
    assert store.acquire(destination, "another sender", utc_now(), 60)
    dispatcher = Dispatcher(uow_factory, senders, utc_now, 5,
                            lanes=LaneKeeper(store, utc_now, LEASE))
    try:
        report = dispatcher.run_due(utc_now(), wait=5)
        assert report.started == [] and recipient.received == []
        assert all(state(uow_factory, d).state.value == "pending" for d in queued)
        assert store.release(destination, "another sender")
        delivered = []  # a lane refused is asked for again within a second
        assert wait_for(lambda: delivered.append(
            dispatcher.run_due(utc_now(), wait=10).delivered) or sum(delivered) == 3, timeout=30)
        assert len(recipient.received) == 3
        assert [h.owner for h in store.holders(utc_now())] == [dispatcher.lanes.owner]
    finally:
        dispatcher.close()
    assert store.holders(utc_now()) == []  # given back on a clean stop
    assert store.senders(utc_now()) == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_claim_never_waits_for_rows_another_claim_holds(database_url, engine, keyring,
                                                          uow_factory, recipients):
    """Two claims of one destination's overlapping deliveries at once: the second returns
    while the first's transaction still holds its row locks (so no wait, no lock cycle), with
    none of the rows the first took."""
    recipient = recipients()
    for n in range(1, 5):
        enqueue(uow_factory, recipient, 5, n=n)
    destination = f"127.0.0.1:{recipient.port}"
    other = make_engine(database_url)
    try:
        now = utc_now()
        until = now + timedelta(seconds=60)
        with uow_factory() as first:
            taken = first.deliveries.claim_batch(destination, now, until, 100)
            assert len(taken) == 20
            second: list = []

            def claim():
                with UnitOfWork(other, keyring) as uow:
                    second.append(uow.deliveries.claim_batch(destination, now, until, 100))
                    uow.commit()

            thread = threading.Thread(target=claim, daemon=True)
            thread.start()
            thread.join(timeout=30)
            done = not thread.is_alive()
            first.commit()
        thread.join(timeout=30)
        assert done, "the second claim waited for the first one's locks"
        assert second == [[]]
    finally:
        other.dispose()


@pytest.mark.parametrize("connections", [1, 3])
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_senders_share_many_destinations_each_delivery_once_in_order(
        database_url, engine, keyring, recipients, monkeypatch, caplog, connections):
    """Six destinations, 8 patients each with 8 messages, two dispatchers on engines of their
    own: the first starts alone and takes every lane; once the second starts, the first gives
    lanes back to its fair share and the second sends too. Every message arrives exactly once,
    each patient's in its queue's order, and no database error (a deadlock) is logged. With
    several `connections`, each destination's lanes are leased apart."""
    caplog.set_level(logging.INFO)
    recheck_with(monkeypatch, allow)
    uow_factory = lambda: UnitOfWork(engine, keyring)  # noqa: E731
    slow = lambda n, payload: Reply(delay=0.03)  # noqa: E731 - work enough for the sharing to show
    targets = [recipients(slow) for _ in range(6)]
    queues = {}
    for d, recipient in enumerate(targets):
        for p in range(8):
            queues[(d, p)] = enqueue(uow_factory, recipient, 8, n=d * 10 + p + 1)
    total = sum(len(q) for q in queues.values())
    engines = [make_engine(database_url) for _ in range(2)]
    sent = [0, 0]
    owners = [set(), set()]
    lock = threading.Lock()
    dispatchers, loops = [], []
    for k, own in enumerate(engines):
        def observe(outcomes, k=k):
            with lock:
                sent[k] += sum(o.state.value == "delivered" for o in outcomes)
        dispatcher = Dispatcher(lambda own=own: UnitOfWork(own, keyring), senders, utc_now, 5,
                                batch=10, observe=observe, connections=connections,
                                lanes=LaneKeeper(LaneLeaseStore(own), utc_now, LEASE))
        dispatchers.append(dispatcher)
        loops.append(DispatchLoop(dispatcher, utc_now, interval=0.1))

    def delivered():
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(deliveries).where(
                deliveries.c.state == "delivered")).scalar_one()

    store = LaneLeaseStore(engine)
    try:
        loops[0].start()
        assert wait_for(lambda: len(store.holders(utc_now())) == 6 * connections, timeout=30)
        loops[1].start()

        def finished():
            for holder in store.holders(utc_now()):  # who holds which lane, as it goes
                for k, d in enumerate(dispatchers):
                    if holder.owner == d.lanes.owner:
                        owners[k].add(holder.destination)
            return delivered() == total
        assert wait_for(finished, timeout=120), f"{delivered()} of {total} delivered"
    finally:
        for loop in loops:
            loop.stop()
        for dispatcher in dispatchers:
            dispatcher.close()
        for own in engines:
            own.dispose()
    assert sent[0] > 0 and sent[1] > 0, f"sent by each sender: {sent}"
    assert owners[1], "the second sender never held a lane"
    assert sum(sent) == total
    for d, recipient in enumerate(targets):
        got = recipient.control_ids()
        assert len(got) == len(set(got)), f"destination {d} received a message twice"
        for p in range(8):
            expected = [x.control_id for x in queues[(d, p)]]
            assert [c for c in got if c in set(expected)] == expected
    logged = caplog.text.lower()
    assert "deadlock" not in logged
    assert not [r for r in caplog.records
                if r.levelno >= logging.ERROR and r.name.startswith("hub")]


def test_a_database_outage_is_one_warning_in_a_sender_s_log(engine, keyring, caplog):
    """The renewer and the rounds both meet the outage: one WARNING and one INFO between them."""
    caplog.set_level(logging.INFO, logger="hub.outbound")
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    store = {"engine": away}
    lanes = LaneKeeper(_SwitchingStore(store), utc_now, LEASE)
    dispatcher = Dispatcher(lambda: UnitOfWork(store["engine"], keyring), senders, utc_now,
                            max_attempts=3, lanes=lanes)
    try:
        lanes.renew()
        dispatcher.run_due(utc_now(), wait=0.0)
        lanes.renew()
        store["engine"] = engine
        lanes.renew()
        dispatcher.run_due(utc_now(), wait=0.0)
    finally:
        lanes.close()
        away.dispose()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records
             if r.name.startswith("hub.outbound") and r.levelno >= logging.INFO]
    assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
    assert lines[0][1].startswith("database unreachable (while "), lines
    assert lines[1][1].startswith("database reachable again after 3 failed attempts"), lines


def test_a_lane_keeper_on_its_own_warns_once_per_outage(engine, caplog):
    """Without a dispatcher's outage log the renewer keeps its own pair of lines."""
    caplog.set_level(logging.INFO, logger="hub.outbound")
    away = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    store = {"engine": away}
    lanes = LaneKeeper(_SwitchingStore(store), utc_now, LEASE)
    try:
        lanes.renew()
        lanes.renew()
        store["engine"] = engine
        lanes.renew()
    finally:
        lanes.close()
        away.dispose()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "hub.outbound.lanes"]
    assert [level for level, _ in lines] == ["WARNING", "INFO"], lines
    assert lines[1][1] == "outbound: lane leases renewed again"

class _SwitchingStore:
    """The real lease statements, on whichever database is in force."""

    def __init__(self, engines: dict) -> None:
        self._engines = engines

    def __getattr__(self, name: str):
        return getattr(LaneLeaseStore(self._engines["engine"]), name)
