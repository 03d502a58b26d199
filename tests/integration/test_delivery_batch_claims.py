"""Claiming deliveries a batch at a time, on real SQLite and PostgreSQL: each queue's run is its
head and the due deliveries right behind it, never one with something unclaimed ahead of it."""
from datetime import timedelta

import pytest
from sqlalchemy import event

from hub.domain.delivery import DeliveryState
from hub.domain.models import Confidentiality, Entry
from hub.errors import StoreError
from tests.fixtures.deliveries import T0, queue, store_message

A, B = "10.0.0.1:2575", "10.0.0.2:2575"
NOW = T0 + timedelta(minutes=1)
LEASE_END = NOW + timedelta(seconds=120)


def queues(uow_factory, sizes, destination=A, first=1):
    """Queues of `sizes` deliveries to `destination`, one per patient (the `first`-th on); a
    list of lists."""
    made = []
    with uow_factory() as uow:
        for n, size in enumerate(sizes, start=first):
            message_id, patient_id, raw = store_message(uow, n)
            made.append([queue(uow, message_id, patient_id, raw, destination)
                         for _ in range(size)])
        uow.commit()
    return made


def claim(uow_factory, limit=100, skip=(), now=NOW):
    with uow_factory() as uow:
        batch = uow.deliveries.claim_batch(A, now, LEASE_END, limit, skip=skip)
        uow.commit()
    return [d.id for d in batch]


def ids(*runs):
    return [d.id for run in runs for d in run]


def test_a_batch_is_each_due_queue_head_with_what_is_right_behind_it(uow_factory):
    first, second = queues(uow_factory, [3, 2])
    queues(uow_factory, [2], destination=B, first=3)
    taken = claim(uow_factory)
    assert taken in (ids(first, second), ids(second, first))  # queue by queue, in order
    with uow_factory() as uow:
        assert all(uow.deliveries.get(i).next_attempt_at == LEASE_END for i in taken)
        assert uow.deliveries.due(NOW, 10, destination=A) == []  # every one is leased
    assert claim(uow_factory) == []  # another taker gets nothing


def test_a_batch_shares_its_limit_between_queues_and_skips_those_asked(uow_factory):
    first, second = queues(uow_factory, [5, 5])
    taken = claim(uow_factory, limit=4)
    assert sorted([taken[:2], taken[2:]]) == sorted([ids(first[:2]), ids(second[:2])])
    # Once their lease ran out: a queue whose head is skipped is left alone, whole.
    assert claim(uow_factory, skip={first[0].id}, now=LEASE_END) == ids(second)


def test_a_run_stops_before_a_delivery_not_yet_due(uow_factory):
    (run,) = queues(uow_factory, [3])
    with uow_factory() as uow:
        uow.deliveries.claim(run[1].id, NOW, LEASE_END)  # as after a retry, or another taker
        uow.deliveries.claim(run[0].id, NOW, NOW)  # the head stays due
        uow.commit()
    assert claim(uow_factory) == [run[0].id]
    with uow_factory() as uow:
        behind = uow.deliveries.get(run[2].id)
    assert (behind.state, behind.next_attempt_at) == (DeliveryState.PENDING, T0)  # untouched


def test_nothing_is_claimed_behind_a_head_someone_else_holds(uow_factory):
    (run,) = queues(uow_factory, [3])
    with uow_factory() as uow:
        uow.deliveries.claim(run[0].id, NOW, LEASE_END)
        uow.commit()
    assert claim(uow_factory) == []
    assert claim(uow_factory, now=LEASE_END) == ids(run)  # the lease ran out: all again


def test_release_makes_them_due_again_as_they_were(uow_factory):
    (run,) = queues(uow_factory, [2])
    with uow_factory() as uow:
        batch = uow.deliveries.claim_batch(A, NOW, LEASE_END, 10)
        uow.deliveries.release(batch)
        uow.commit()
    with uow_factory() as uow:
        assert [d.id for d in uow.deliveries.due(NOW, 10)] == [run[0].id]
        assert [uow.deliveries.get(d.id).next_attempt_at for d in run] == [T0, T0]


def test_mark_delivered_many_records_all_or_nothing(uow_factory):
    (run,) = queues(uow_factory, [3])
    with uow_factory() as uow:
        uow.deliveries.mark_delivered_many([run[0].id, run[1].id], "CA")
        uow.commit()
    with uow_factory() as uow:
        done = [uow.deliveries.get(d.id) for d in run[:2]]
        assert {(d.state, d.attempts, d.ack_code) for d in done} == {
            (DeliveryState.DELIVERED, 1, "CA")}
        with pytest.raises(StoreError):
            uow.deliveries.mark_delivered_many([run[1].id, run[2].id], "AA")


def test_payloads_and_entry_views_read_for_a_batch_answer_as_one_by_one(uow_factory):
    with uow_factory() as uow:
        plain, patient_id, raw = store_message(uow, 1)
        graded, _, _ = store_message(uow, 2, patient_n=1)
        for seq, level in enumerate((Confidentiality.NORMAL, Confidentiality.RESTRICTED)):
            entry = uow.entries.add(patient_id, graded, seq, Entry("lab_result", {}, level))
        uow.entries.set_hidden(entry, True)
        made = [queue(uow, m, patient_id, raw, A) for m in (plain, graded)]
        uow.commit()
    with uow_factory() as uow:
        views = uow.deliveries.entry_views([plain, graded])
        assert views == {m: uow.entries.views_for_message(m) for m in (plain, graded)}
        assert views[plain] == [] and [v.hidden for v in views[graded]] == [False, True]
        assert uow.deliveries.payloads([d.id for d in made]) == {
            d.id: uow.deliveries.payload(d.id) for d in made}


def test_alike_entries_of_a_batch_share_one_view(uow_factory):
    # The consent re-check (decide_all) passes over an entry whose view is the very one of
    # the entry before it: a lab report's alike results are one object, not one each.
    with uow_factory() as uow:
        first, patient_id, _ = store_message(uow, 1)
        second, _, _ = store_message(uow, 2, patient_n=1)
        for message_id in (first, second):
            for seq in range(3):
                uow.entries.add(patient_id, message_id, seq,
                                Entry("lab_result", {}, Confidentiality.NORMAL))
        uow.entries.add(patient_id, second, 3, Entry("lab_result", {}, Confidentiality.RESTRICTED))
        uow.commit()
    with uow_factory() as uow:
        views = uow.deliveries.entry_views([first, second])
    normal = views[first][0]
    assert all(view is normal for view in views[first] + views[second][:3])
    assert views[second][3].confidentiality is Confidentiality.RESTRICTED


def test_a_batchs_id_lists_do_not_change_its_statements_on_postgresql(uow_factory, engine):
    # A sender claims, re-checks, reads and marks a batch of any size: on PostgreSQL each id
    # list goes as one array, so the statements' text is the same for 2 ids as for 5 and is
    # rendered and converted once, not for every batch size (an expanding IN on SQLite).
    def one_batch(size, first):
        queues(uow_factory, [size], first=first)  # one queue: one run read, whatever the size
        texts: list[str] = []

        def seen(conn, cursor, statement, parameters, context, executemany):
            texts.append(statement)

        event.listen(engine, "before_cursor_execute", seen)
        try:
            with uow_factory() as uow:
                batch = uow.deliveries.claim_batch(A, NOW, LEASE_END, 100)
                views = uow.deliveries.entry_views({d.message_id for d in batch})
                payloads = uow.deliveries.payloads([d.id for d in batch])
                uow.deliveries.mark_delivered_many([d.id for d in batch], "AA")
                uow.commit()
        finally:
            event.remove(engine, "before_cursor_execute", seen)
        assert len(batch) == size and len(payloads) == size
        assert views == {d.message_id: [] for d in batch}  # stored here without entries
        with uow_factory() as uow:
            assert {uow.deliveries.get(d.id).state for d in batch} == {DeliveryState.DELIVERED}
        return texts

    small, large = one_batch(2, 1), one_batch(5, 2)
    if engine.dialect.name == "postgresql":
        assert small == large
    else:
        assert small != large
