"""Two units of work filing copies of the same messages at the same moment, on real databases:
both pass the resend check before either commits (a barrier holds them there), and the store
still ends with one stored copy of each, its entries once, its deliveries once; the other copy
is settled as a resend (discarded when its bytes are the same, parked as a conflict when not).
"""
from __future__ import annotations

import threading

import pytest

from hub.broker.memory import MemoryBroker
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.integration.test_routing import ORDERER, dossier, make_worker, register
from tests.integration.test_worker import TOPOLOGY, receive


class _HeldAtTheCheck(UnitOfWork):
    """A unit of work whose resend check (`messages.first_of`) waits at `barrier` once it has
    looked: the other unit of work looks too before either goes on to insert."""

    def __init__(self, engine, keyring, barrier: threading.Barrier):
        super().__init__(engine, keyring)
        self._barrier = barrier

    def _make_repositories(self) -> None:
        super()._make_repositories()
        looked_up = self.messages.first_of

        def first_of(keys, **kwargs):
            found = looked_up(keys, **kwargs)
            if not kwargs.get("stored_only"):
                self._barrier.wait(timeout=30)
            return found
        self.messages.first_of = first_of


def decided(worker, broker, frames: list[bytes]):
    """The frames through the real intake, fetched back and decided as the worker would."""
    receive(broker, *frames)
    consumer = broker.open_consumer(TOPOLOGY.inbound, prefetch=len(frames))
    deliveries = consumer.fetch(len(frames), 0.5)
    assert len(deliveries) == len(frames)
    return [worker._decide(d) for d in deliveries]


def file_at_once(engine, keyring, worker_of, batches) -> list:
    """File each batch of outcomes in its own thread and unit of work, both held after their
    resend check until the other has made its own; return each batch's states."""
    barrier = threading.Barrier(len(batches))
    results: list = [None] * len(batches)

    def run(n: int) -> None:
        worker = worker_of(lambda: _HeldAtTheCheck(engine, keyring, barrier))
        try:
            results[n] = worker._file(batches[n])
        except BaseException as exc:  # reported by the main thread
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


@pytest.fixture
def broker():
    broker = MemoryBroker(TOPOLOGY)
    broker.declare_topology()
    return broker


def counts(uow_factory):
    """{control id: (stored, discarded, parked, entries, deliveries)} over every message."""
    found: dict[str, list[int]] = {}
    with uow_factory() as uow:
        for message in uow.messages.search(limit=10_000):
            row = found.setdefault(message.control_id, [0, 0, 0, 0, 0])
            row[["stored", "discarded", "parked"].index(message.state.value)] += 1
            row[3] += uow.entries.count_for_message(message.id)
            row[4] += len(uow.deliveries.for_message(message.id))
        assert uow.audit.verify().ok
    return {control_id: tuple(row) for control_id, row in found.items()}


def test_the_same_batch_filed_twice_at_once_is_stored_once(broker, engine, keyring,
                                                           uow_factory):
    register(uow_factory, ORDERER)
    person = patient(41)
    dossier(uow_factory, person, grant=ORDERER)
    frames = [encoded(oru_r01(person, f"SAME-{n}", n_obx=3)) for n in range(6)]
    worker = make_worker(broker, uow_factory)
    outcomes = decided(worker, broker, frames + frames[::-1])  # the other copy, the other way

    states = file_at_once(engine, keyring, lambda uows: make_worker(broker, uows),
                          [outcomes[:6], outcomes[6:]])

    assert sorted(s.value for batch in states for s in batch) == ["discarded"] * 6 + ["stored"] * 6
    assert counts(uow_factory) == {f"SAME-{n}": (1, 1, 0, 3, 1) for n in range(6)}
    with uow_factory() as uow:
        stored = {m.control_id: m.id for m in uow.messages.search(state="stored")}
        reasons = {m.control_id: m.reason for m in uow.messages.search(state="discarded")}
        assert all(m.patient_id is None for m in uow.messages.search(state="discarded"))
    assert reasons == {key: f"duplicate of message {stored[key]}" for key in stored}


def test_other_bytes_under_the_same_control_id_filed_at_once_park_as_a_conflict(
        broker, engine, keyring, uow_factory):
    register(uow_factory, ORDERER)
    person = patient(42)
    dossier(uow_factory, person, grant=ORDERER)
    worker = make_worker(broker, uow_factory)
    outcomes = decided(worker, broker, [encoded(oru_r01(person, "REUSED-1", n_obx=2)),
                                        encoded(oru_r01(person, "REUSED-1", n_obx=4))])

    file_at_once(engine, keyring, lambda uows: make_worker(broker, uows),
                 [[outcomes[0]], [outcomes[1]]])

    (stored, _, parked, entries, deliveries), = counts(uow_factory).values()
    assert (stored, parked, deliveries) == (1, 1, 1) and entries in (2, 4)
    with uow_factory() as uow:
        first = uow.messages.search(state="stored")[0]
        (conflict,) = uow.messages.search(state="parked")
    assert conflict.reason == ("conflict: MSH-10 reused with other content "
                               f"(first: message {first.id})")
