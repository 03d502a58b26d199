"""The store's per-batch lookups cost the same however many rows the hub has stored: a worker
makes them for every batch, so a lookup that grew with the table slowed the whole pipeline run
after run (bench/end_to_end.py). Measured by what the database reads, not by time: blocks read
on PostgreSQL, virtual machine steps on SQLite."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text

from hub.store.tables import deliveries, entries, messages, patients
from tests.fixtures.databases import KINDS

SENDER = "LAB^HOSP"
DESTINATION = "127.0.0.1:2575"
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SMALL, LARGE = 1_000, 10_000
TABLES = ("messages", "entries", "deliveries")


def read_cost(uow, call: Callable[[], object]) -> int:
    """What the database read to run `call` in `uow`'s transaction: blocks fetched from the
    tables of TABLES and their indexes (PostgreSQL), VM steps (SQLite)."""
    connection = uow._connection
    if connection.dialect.name == "postgresql":
        blocks = text("SELECT sum(pg_stat_get_xact_blocks_fetched(c.oid)) FROM pg_class c "
                      "LEFT JOIN pg_index i ON i.indexrelid = c.oid "
                      "WHERE c.relname = ANY(:tables) OR i.indrelid::regclass::text = ANY(:tables)"
                      ).bindparams(tables=list(TABLES))
        before = connection.execute(blocks).scalar_one()
        call()
        return int(connection.execute(blocks).scalar_one() - before)
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    raw = connection.connection.driver_connection
    raw.set_progress_handler(count, 100)
    try:
        call()
    finally:
        raw.set_progress_handler(None, 100)
    return steps[0]


def message_row(n: int, patient_id: str | None = None) -> dict:
    return {"id": f"m{n:031d}", "sender": SENDER, "control_id": f"C{n}", "type": "ORU^R01",
            "version": "2.5", "state": "stored", "received_at": AT, "processed_at": AT,
            "patient_id": patient_id, "content_hash": "0" * 64, "raw_key_id": "k",
            "raw_ct": b"\0" * 200}


def store_messages(engine, start: int, stop: int, patient_id: str | None = None) -> None:
    with engine.begin() as connection:
        connection.execute(insert(messages), [message_row(n, patient_id)
                                              for n in range(start, stop)])
    analyze(engine)


def analyze(engine) -> None:
    """PostgreSQL's statistics, as autovacuum keeps them; the hub never analyzes SQLite."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()


def resend_lookup_cost(uow_factory) -> int:
    keys = [(SENDER, f"new-{n}") for n in range(20)] + [(SENDER, "C7")]
    with uow_factory() as uow:
        found: dict = {}
        cost = read_cost(uow, lambda: found.update(uow.messages.first_of(keys)))
    assert list(found) == [(SENDER, "C7")]
    return cost


def test_the_resend_check_of_a_batch_does_not_grow_with_the_messages_stored(
        uow_factory, engine):
    store_messages(engine, 0, SMALL)
    small = resend_lookup_cost(uow_factory)
    store_messages(engine, SMALL, LARGE)
    large = resend_lookup_cost(uow_factory)
    assert large <= small * 1.5 + 10, (small, large)


def numbering_cost(uow_factory, patient_id: str, n: int) -> int:
    with uow_factory() as uow:
        added: list = []
        cost = read_cost(uow, lambda: added.extend(uow.deliveries.add_many([dict(
            message_id=f"m{n:031d}", patient_id=patient_id, recipient="123456-78",
            destination=DESTINATION, control_id=f"C{n}", payload=b"MSH|")])))
        uow.commit()
    assert [d.sequence for d in added] == [n + 1]
    return cost


def queue_deliveries(engine, patient_id: str, start: int, stop: int) -> None:
    store_messages(engine, start, stop + 1, patient_id)  # and the next one's message
    with engine.begin() as connection:
        connection.execute(insert(deliveries), [{
            "id": f"d{n:031d}", "message_id": f"m{n:031d}", "patient_id": patient_id,
            "recipient": "123456-78", "destination": DESTINATION, "control_id": f"C{n}",
            "state": "delivered", "attempts": 1, "sequence": n + 1, "created_at": AT,
            "updated_at": AT, "payload_key_id": "k", "payload_ct": b"\0"}
            for n in range(start, stop)])
    analyze(engine)


def add_patient(engine) -> str:
    """One patient row (its data never read here); its id."""
    patient_id = "p" * 32
    with engine.begin() as connection:
        connection.execute(insert(patients).values(
            id=patient_id, matricule_hash="h" * 64, key_id="k", data_ct=b"\0", created_at=AT,
            updated_at=AT))
    return patient_id


# SQLite numbers a batch by grouping still (its planner reads a lone max from the index too,
# but not one per queue of a list); PostgreSQL is what runs the hub at volume.
@pytest.mark.parametrize("database_url", [k for k in KINDS if k != "sqlite"], indirect=True)
def test_numbering_a_delivery_does_not_grow_with_its_queue(uow_factory, engine):
    patient_id = add_patient(engine)
    queue_deliveries(engine, patient_id, 0, SMALL)
    small = numbering_cost(uow_factory, patient_id, SMALL)
    queue_deliveries(engine, patient_id, SMALL + 1, LARGE)
    large = numbering_cost(uow_factory, patient_id, LARGE)
    assert large <= small * 1.5 + 10, (small, large)


def file_entries(engine, patient_id: str, start: int, stop: int) -> None:
    """Messages start..stop-1 of the patient, an entry each; no ANALYZE, as on a server whose
    autovacuum is off or has not come round yet (the planner then has no statistics)."""
    with engine.begin() as connection:
        connection.execute(insert(messages), [message_row(n, patient_id)
                                              for n in range(start, stop)])
        connection.execute(insert(entries), [{
            "id": f"e{n:031d}", "patient_id": patient_id, "message_id": f"m{n:031d}",
            "seq": 0, "kind": "result", "confidentiality": "normal", "created_at": AT,
            "key_id": "k", "payload_ct": b"\0" * 200} for n in range(start, stop)])


def consent_check_cost(uow_factory, start: int) -> int:
    message_ids = [f"m{n:031d}" for n in range(start, start + 50)]
    with uow_factory() as uow:
        views: dict = {}
        cost = read_cost(uow, lambda: views.update(uow.deliveries.entry_views(message_ids)))
    assert sorted(views) == message_ids and all(len(v) == 1 for v in views.values())
    return cost


@pytest.mark.parametrize("database_url", [k for k in KINDS if k != "sqlite"], indirect=True)
def test_the_consent_check_of_a_batch_does_not_grow_with_the_entries_filed(
        uow_factory, engine):
    patient_id = add_patient(engine)
    file_entries(engine, patient_id, 0, SMALL)
    small = consent_check_cost(uow_factory, 0)
    file_entries(engine, patient_id, SMALL, LARGE)
    large = consent_check_cost(uow_factory, LARGE - 50)
    assert large <= small * 1.5 + 10, (small, large)
