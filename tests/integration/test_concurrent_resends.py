"""Two units of work filing copies of the same messages at the same moment, on real databases:
both pass the resend check before either commits (a barrier holds them there), and the store
still ends with one stored copy of each, its entries once, its deliveries once; the other copy
is settled as a resend (discarded when its bytes are the same, parked as a conflict when not).
"""
from __future__ import annotations

import logging
import threading

from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.routing import ORDERER, dossier, make_worker, memory_broker, receive, register

WORKER_LOG = "hub.routing.worker"


class _HeldAtTheCheck(UnitOfWork):
    """A unit of work whose resend check (`messages.first_of`) waits at `barrier` once it has
    looked: the other unit of work looks too before either goes on to insert."""

    def __init__(self, engine, keyring, barrier: threading.Barrier):
        super().__init__(engine, keyring)
        self._barrier = barrier

    def __enter__(self):
        uow = super().__enter__()
        looked_up = uow.messages.first_of

        def first_of(keys, **kwargs):
            found = looked_up(keys, **kwargs)
            if not kwargs.get("stored_only"):
                self._barrier.wait(timeout=30)
            return found
        uow.messages.first_of = first_of
        return uow


def file_at_once(engine, keyring, batches: list[list[bytes]], caplog) -> list[int]:
    """Each batch of frames through the real intake into a broker of its own, and a worker on
    each filing its batch in its own thread and unit of work, both held after their resend check
    until the other has made its own; return how many deliveries each worker handled."""
    barrier = threading.Barrier(len(batches))
    results: list = [None] * len(batches)
    workers = []
    for frames in batches:
        broker = memory_broker()
        receive(broker, *frames)
        workers.append(make_worker(broker, lambda: _HeldAtTheCheck(engine, keyring, barrier)))

    def run(n: int) -> None:
        try:
            results[n] = workers[n].drain()
        except BaseException as exc:  # reported by the main thread
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(batches))]
    with caplog.at_level(logging.ERROR, logger=WORKER_LOG):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    # Each batch filed whole in one go: none went down the one-by-one path after an error.
    assert results == [len(frames) for frames in batches]
    assert [r.getMessage() for r in caplog.records if r.name == WORKER_LOG] == []
    return results


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


def test_the_same_batch_filed_twice_at_once_is_stored_once(engine, keyring, uow_factory,
                                                           caplog):
    register(uow_factory, ORDERER)
    person = patient(41)
    dossier(uow_factory, person, grant=ORDERER)
    frames = [encoded(oru_r01(person, f"SAME-{n}", n_obx=3)) for n in range(6)]

    file_at_once(engine, keyring, [frames, frames[::-1]], caplog)  # the other copy, the other way

    with uow_factory() as uow:
        assert {k: v for k, v in uow.messages.count_by_state().items() if v} == {
            "discarded": 6, "stored": 6}
    assert counts(uow_factory) == {f"SAME-{n}": (1, 1, 0, 3, 1) for n in range(6)}
    with uow_factory() as uow:
        stored = {m.control_id: m.id for m in uow.messages.search(state="stored")}
        reasons = {m.control_id: m.reason for m in uow.messages.search(state="discarded")}
        assert all(m.patient_id is None for m in uow.messages.search(state="discarded"))
    assert reasons == {key: f"duplicate of message {stored[key]}" for key in stored}


def test_other_bytes_under_the_same_control_id_filed_at_once_park_as_a_conflict(
        engine, keyring, uow_factory, caplog):
    register(uow_factory, ORDERER)
    person = patient(42)
    dossier(uow_factory, person, grant=ORDERER)

    file_at_once(engine, keyring, [[encoded(oru_r01(person, "REUSED-1", n_obx=2))],
                                   [encoded(oru_r01(person, "REUSED-1", n_obx=4))]], caplog)

    (stored, _, parked, entries, deliveries), = counts(uow_factory).values()
    assert (stored, parked, deliveries) == (1, 1, 1) and entries in (2, 4)
    with uow_factory() as uow:
        first = uow.messages.search(state="stored")[0]
        (conflict,) = uow.messages.search(state="parked")
    assert conflict.reason == ("conflict: MSH-10 reused with other content "
                               f"(first: message {first.id})")
