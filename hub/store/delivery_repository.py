"""Outbound deliveries: their state in clear, their re-addressed bytes encrypted.

Order is kept per patient and destination by `sequence` (hub/store/delivery_queue.py: what is
due, claiming). A parked delivery holds its queue until it is replayed; denied deliveries leave
it (nothing of theirs will ever be sent).
"""
from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, bindparam, func, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import Select

from hub.domain.consent import EntryView
from hub.domain.delivery import Delivery, DeliveryState
from hub.errors import StoreConflict, StoreError
from hub.store.delivery_queue import CLEAR_COLUMNS, PENDING, DeliveryQueue, delivery_from_row
from hub.store.entry_repository import entry_views
from hub.store.one_of import PerDialect
from hub.store.repository import chunks
from hub.store.tables import deliveries, new_ids, utc_now

TABLE = "deliveries"
ERROR_LENGTH = 500
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# The last sequence of each of a batch's queues, built once (hub.store.one_of).
_LAST_SEQUENCES = PerDialect(lambda one_of: (
    select(deliveries.c.patient_id, deliveries.c.destination, func.max(deliveries.c.sequence))
    .where(one_of(deliveries.c.patient_id, "patient_ids"),
           one_of(deliveries.c.destination, "destinations"))
    .group_by(deliveries.c.patient_id, deliveries.c.destination)))


def _last_sequences_pg() -> Select[Any]:
    """On PostgreSQL, each queue's max(sequence) on its own, for every patient x destination
    bound: a max alone is read as the last entry of the unique index (one descent per queue),
    where the grouping above read every delivery a patient ever had, so that numbering a batch
    grew with the deliveries stored (2 ms at 150 a patient, and on)."""
    patient = func.unnest(bindparam("patient_ids", type_=ARRAY(String))).table_valued(
        "patient_id").render_derived("patient")
    destination = func.unnest(bindparam("destinations", type_=ARRAY(Text))).table_valued(
        "destination").render_derived("destination")
    last = (select(func.max(deliveries.c.sequence))
            .where(deliveries.c.patient_id == patient.c.patient_id,
                   deliveries.c.destination == destination.c.destination)
            .scalar_subquery())
    return select(patient.c.patient_id, destination.c.destination, last).select_from(
        patient.join(destination, true()))


_LAST_SEQUENCES_PG = _last_sequences_pg()
# Built once: the sender reads a batch's bytes and marks its deliveries delivered for every
# batch (see entry_repository._VIEWS).
_PAYLOADS = PerDialect(lambda one_of: select(
    deliveries.c.id, deliveries.c.payload_key_id, deliveries.c.payload_ct
).where(one_of(deliveries.c.id, "ids")))
_DELIVERED = PerDialect(lambda one_of: (
    update(deliveries)
    .where(one_of(deliveries.c.id, "ids"), deliveries.c.state == PENDING)
    .values(state=DeliveryState.DELIVERED.value, attempts=deliveries.c.attempts + 1,
            ack_code=bindparam("ack_code", type_=deliveries.c.ack_code.type), last_error=None,
            next_attempt_at=None,
            updated_at=bindparam("changed", type_=deliveries.c.updated_at.type))))


class DeliveryRepository(DeliveryQueue):
    """Deliveries of one unit of work."""

    def add(self, *, message_id: str, patient_id: str, recipient: str, destination: str,
            control_id: str, payload: bytes, entry_id: str | None = None,
            now: datetime | None = None) -> Delivery:
        """Queue one re-addressed message for one recipient, due at once; return it.

        It goes to the back of its patient's queue for that destination. Two transactions
        adding to the same queue at the same time collide on the sequence: the later one gets
        StoreConflict and is to be retried. StoreConflict too when the message already has a
        delivery to this recipient.
        """
        added = self.add_many([dict(message_id=message_id, patient_id=patient_id,
                                    recipient=recipient, destination=destination,
                                    control_id=control_id, payload=payload,
                                    entry_id=entry_id)], now)
        if not added:
            raise StoreConflict(f"message {message_id} already has a delivery to {recipient}")
        return added[0]

    def add_many(self, items: Iterable[Mapping], now: datetime | None = None) -> list[Delivery]:
        """`add` for many deliveries (each a mapping of `add`'s keyword arguments but `now`),
        in order, with one statement to number them and one to insert them. Returns those
        added: one the message already has for its recipient (`uq_deliveries_message_id_
        recipient`) is left out, not raised, as filing a resend twice must not send it twice."""
        items, now = list(items), now or utc_now()
        if not items:
            return []
        last = self._last_sequences({(i["patient_id"], i["destination"]) for i in items})
        rows, added = [], []
        ids = new_ids(len(items))
        key_id, ciphertexts = self._keyring.encrypt_many(
            [bytes(item["payload"]) for item in items], table=TABLE, row_ids=ids)
        for item, delivery_id, ciphertext in zip(items, ids, ciphertexts):
            queue = (item["patient_id"], item["destination"])
            last[queue] = last.get(queue, 0) + 1
            row = {
                "id": delivery_id, "message_id": item["message_id"],
                "entry_id": item.get("entry_id"), "patient_id": item["patient_id"],
                "recipient": item["recipient"], "destination": item["destination"],
                "control_id": item["control_id"], "state": PENDING, "attempts": 0,
                "next_attempt_at": now, "last_error": None, "ack_code": None,
                "sequence": last[queue], "created_at": now, "updated_at": now,
            }
            rows.append({**row, "payload_key_id": key_id, "payload_ct": ciphertext})
            added.append(Delivery(**{**row, "state": DeliveryState.PENDING}))
        dialect_insert = _INSERTS.get(self._connection.dialect.name)
        if dialect_insert is None:
            raise StoreError(f"unsupported database {self._connection.dialect.name}")
        statement = (dialect_insert(deliveries)
                     .on_conflict_do_nothing(index_elements=["message_id", "recipient"])
                     .returning(deliveries.c.id))
        inserted = self._insert_returning_ids(
            "adding deliveries", deliveries, rows,
            "ON CONFLICT (message_id, recipient) DO NOTHING", statement)
        added = [delivery for delivery in added if delivery.id in inserted]
        self.announce(d.destination for d in added)
        return added

    def _last_sequences(self, queues: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        # The patients' queues to the batch's few destinations, read through the unique index.
        found: dict[tuple[str, str], int] = {}
        destinations = sorted({destination for _, destination in queues})
        dialect = self._connection.dialect.name
        query = _LAST_SEQUENCES_PG if dialect == "postgresql" else _LAST_SEQUENCES[dialect]
        for chunk in chunks(sorted({patient_id for patient_id, _ in queues})):
            for patient_id, destination, sequence in self._execute(
                    "numbering deliveries", query,
                    {"patient_ids": list(chunk), "destinations": destinations}):
                if sequence is not None and (patient_id, destination) in queues:
                    found[(patient_id, destination)] = sequence
        return found

    def get(self, id: str) -> Delivery | None:
        """One delivery, or None."""
        row = self._execute("reading a delivery",
                            select(*CLEAR_COLUMNS).where(deliveries.c.id == id)).first()
        return delivery_from_row(row) if row is not None else None

    def mark_delivered_many(self, ids: Collection[str], ack_code: str) -> None:
        """`mark_delivered` for several deliveries acknowledged with the same code; StoreError
        (and nothing to commit) unless every one of them was pending."""
        if not ids:
            return
        statement = _DELIVERED[self._connection.dialect.name]
        if self._execute("marking deliveries delivered", statement, {
                "ids": list(ids), "ack_code": ack_code, "changed": utc_now()}
                         ).rowcount != len(ids):
            raise StoreError("a delivery to mark delivered is no longer pending")

    def mark_delivered(self, id: str, ack_code: str) -> None:
        """The recipient acknowledged it (AA/CA): one more attempt, done."""
        self._finish(id, DeliveryState.DELIVERED, attempts=1, ack_code=ack_code,
                     last_error=None)

    def mark_retry(self, id: str, next_at: datetime, error: str,
                   ack_code: str | None = None, *, message_failure: bool = True) -> None:
        """An attempt failed in a way worth retrying; the next one is due at `next_at`.
        `message_failure`: it counts toward `max_attempts` (not when nobody answered)."""
        self._finish(id, DeliveryState.PENDING, attempts=1, next_attempt_at=next_at,
                     last_error=error, ack_code=ack_code, failures=int(message_failure))

    def mark_parked(self, id: str, reason: str, ack_code: str | None = None) -> None:
        """An attempt was refused (AR/CR) or the last one allowed failed: park it. It holds
        its patient+destination queue until it is replayed."""
        self._finish(id, DeliveryState.PARKED, attempts=1, last_error=reason,
                     ack_code=ack_code, failures=1)

    def mark_denied(self, id: str, reason: str) -> None:
        """Consent no longer allows it: nothing was sent and nothing will be."""
        self._finish(id, DeliveryState.DENIED, attempts=0, last_error=reason)

    def _finish(self, id: str, state: DeliveryState, *, attempts: int,
                next_attempt_at: datetime | None = None, failures: int = 0, **values) -> None:
        if values.get("last_error") is not None:
            values["last_error"] = values["last_error"][:ERROR_LENGTH]
        statement = (update(deliveries)
                     .where(deliveries.c.id == id, deliveries.c.state == PENDING)
                     .values(state=state.value, attempts=deliveries.c.attempts + attempts,
                             message_failures=deliveries.c.message_failures + failures,
                             next_attempt_at=next_attempt_at, updated_at=utc_now(), **values))
        if self._execute(f"marking a delivery {state.value}", statement).rowcount == 0:
            raise StoreError(f"no pending delivery {id}")

    def replay(self, id: str, now: datetime | None = None) -> bool:
        """Put a parked delivery back in its queue, due at once, with its attempts reset.

        It keeps its sequence, so it goes before every later message of the same queue (which
        it held back while parked). False when it is not parked.
        """
        statement = (update(deliveries)
                     .where(deliveries.c.id == id,
                            deliveries.c.state == DeliveryState.PARKED.value)
                     .values(state=PENDING, attempts=0, message_failures=0,
                             next_attempt_at=now or utc_now(), ack_code=None,
                             updated_at=utc_now()))
        statement = statement.returning(deliveries.c.destination)
        destination = self._execute("replaying a delivery", statement).scalar_one_or_none()
        if destination is not None:
            self.announce([destination])
        return destination is not None

    def replay_many(self, ids: Collection[str], now: datetime | None = None) -> list[str]:
        """`replay` for several deliveries, all due at the same `now` and put back queue by
        queue in sequence order; returns the ids that were not parked (nothing done to them)."""
        now = now or utc_now()
        order = {}
        for chunk in chunks(sorted(set(ids))):
            query = (select(deliveries.c.id, deliveries.c.destination, deliveries.c.patient_id,
                            deliveries.c.sequence).where(deliveries.c.id.in_(chunk)))
            for row in self._execute("reading deliveries to replay", query):
                order[row.id] = (row.destination, row.patient_id, row.sequence)
        known = sorted((i for i in ids if i in order), key=order.__getitem__)
        refused = [i for i in ids if i not in order]
        return refused + [i for i in known if not self.replay(i, now)]

    def payload(self, id: str) -> bytes:
        """The re-addressed bytes (decrypted); StoreError if the delivery is unknown."""
        query = select(deliveries.c.payload_key_id, deliveries.c.payload_ct).where(
            deliveries.c.id == id)
        row = self._execute("reading a delivery's bytes", query).first()
        if row is None:
            raise StoreError(f"no delivery {id}")
        return self._keyring.decrypt(row.payload_ct, table=TABLE, row_id=id,
                                     key_id=row.payload_key_id)

    def payloads(self, ids: Collection[str]) -> dict[str, bytes]:
        """The re-addressed bytes of several deliveries, by id (unknown ids are left out)."""
        if not ids:
            return {}
        decrypt = self._keyring.decrypt
        return {id: decrypt(ct, table=TABLE, row_id=id, key_id=key_id)
                for id, key_id, ct in self._execute(
                    "reading deliveries' bytes", _PAYLOADS[self._connection.dialect.name],
                    {"ids": list(ids)}).fetchall()}

    def entry_views(self, message_ids: Collection[str]) -> dict[str, list[EntryView]]:
        """For a batch's consent re-check: what `EntryRepository.views_for_message` answers for
        each of `message_ids` (level and hidden flag of each entry, in entry order, nothing
        decrypted, and whom the patient hid each from), read in one query. A message that made
        no entry maps to []."""
        return entry_views(self._execute, self._connection.dialect.name, list(message_ids))

    def for_message(self, message_id: str) -> list[Delivery]:
        """Every delivery of one received message: where it went."""
        query = (select(*CLEAR_COLUMNS).where(deliveries.c.message_id == message_id)
                 .order_by(deliveries.c.created_at, deliveries.c.id))
        return [delivery_from_row(row) for row in self._execute("reading deliveries", query)]

    def search(self, state: DeliveryState | None = None, limit: int = 1000) -> list[Delivery]:
        """Deliveries in `state` (all when None), most recently changed first."""
        query = select(*CLEAR_COLUMNS)
        if state is not None:
            query = query.where(deliveries.c.state == DeliveryState(state).value)
        query = query.order_by(deliveries.c.updated_at.desc(), deliveries.c.id).limit(limit)
        return [delivery_from_row(row) for row in self._execute("searching deliveries", query)]

    def counts_by_state(self) -> dict[str, int]:
        """How many deliveries are in each state; every state is present."""
        counts = {state.value: 0 for state in DeliveryState}
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        for state, count in self._execute("counting deliveries", query):
            counts[state] = count
        return counts

    def counts_by_destination(self) -> dict[str, dict[str, int]]:
        """How many deliveries each destination (host:port) has in each state; every state is
        present for each destination that has any delivery."""
        counts: dict[str, dict[str, int]] = {}
        query = (select(deliveries.c.destination, deliveries.c.state, func.count())
                 .group_by(deliveries.c.destination, deliveries.c.state)
                 .order_by(deliveries.c.destination))
        for destination, state, count in self._execute("counting deliveries by destination",
                                                       query):
            counts.setdefault(destination, {s.value: 0 for s in DeliveryState})[state] = count
        return counts
