"""Migration 0016 on a store with deliveries already retried: `message_failures` is what each
delivery's attempt history says failed for the message's own sake (not the sends nobody
answered), and the table of unreachable destinations starts empty."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import insert, select

from hub.domain.models import MessageRecord, MessageState
from hub.store.engine import make_engine
from hub.store.schema import upgrade
from hub.store.tables import new_id
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.deliveries import T0
from tests.fixtures.messages import encoded, oru_r01, patient

# The tables as revision 0015 has them.
DELIVERIES = sa.table("deliveries", *(sa.column(name) for name in (
    "id", "message_id", "patient_id", "recipient", "destination", "control_id", "state",
    "attempts", "next_attempt_at", "sequence", "created_at", "updated_at", "payload_key_id",
    "payload_ct")))
ATTEMPTS = sa.table("delivery_attempts", *(sa.column(name) for name in (
    "id", "delivery_id", "number", "at", "outcome", "code", "error")))


def test_message_failures_are_counted_from_the_history(database_url, keyring):
    upgrade(database_url, "0015")
    engine = make_engine(database_url)
    try:
        person = patient(62)
        with UnitOfWork(engine, keyring) as uow:
            pid = uow.patients.id_for(person.matricule)
            ids = []
            for n in range(3):
                record = MessageRecord(new_id(), "LAB^ACME", f"C{n}", "ORU^R01", "2.5",
                                       MessageState.STORED, T0, patient_id=pid)
                uow.messages.add(record, encoded(oru_r01(person, f"C{n}", n_obx=1)))
                ids.append(record.id)
            uow.commit()
        histories = {"mixed": ["no-answer", "AE", "no-answer", "mismatch"],
                     "refused only": ["no-answer", "no-answer"], "before 0009": None}
        made = {}
        with engine.begin() as connection:
            for sequence, (name, codes) in enumerate(histories.items(), start=1):
                made[name] = new_id()
                connection.execute(insert(DELIVERIES).values(
                    id=made[name], message_id=ids[sequence - 1], patient_id=pid,
                    recipient="123456-78", destination="127.0.0.1:7001",
                    control_id=new_id()[:20], state="pending",
                    attempts=len(codes) if codes else 3, next_attempt_at=T0, sequence=sequence,
                    created_at=T0, updated_at=T0, payload_key_id="k", payload_ct=b"x"))
                for number, code in enumerate(codes or [], start=1):
                    connection.execute(insert(ATTEMPTS).values(
                        id=new_id(), delivery_id=made[name], number=number, at=T0,
                        outcome="retry", code=code, error="x"))

        upgrade(database_url)

        deliveries = sa.table("deliveries", sa.column("id"), sa.column("attempts"),
                              sa.column("message_failures"))
        with engine.connect() as connection:
            rows = {row.id: (row.attempts, row.message_failures)
                    for row in connection.execute(select(deliveries))}
            down = connection.execute(sa.text(
                "SELECT count(*) FROM unreachable_destinations")).scalar_one()
        assert rows[made["mixed"]] == (4, 2)
        assert rows[made["refused only"]] == (2, 0)
        assert rows[made["before 0009"]] == (3, 0)
        assert down == 0
    finally:
        engine.dispose()
