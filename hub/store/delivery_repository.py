"""Outbound deliveries: their state in clear, their re-addressed bytes encrypted.

Order is kept per patient and destination by `sequence`: only the pending delivery with the
lowest sequence of its queue is ever due. Parked and denied deliveries leave the queue, so one
message the recipient refuses does not hold back the patient's next ones.
"""
from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from itertools import takewhile

from sqlalchemy import (
    and_, bindparam, func, insert, literal_column, select, union_all, update,
)

from hub.domain.consent import EntryView
from hub.domain.delivery import Delivery, DeliveryState
from hub.domain.models import Confidentiality
from hub.errors import StoreError
from hub.store.repository import Repository
from hub.store.tables import deliveries, entries, new_id, utc_now

TABLE = "deliveries"
ERROR_LENGTH = 500
PENDING = DeliveryState.PENDING.value

# Spelled as a literal, not a bound parameter, so that SQLite and PostgreSQL (even with a
# generic prepared plan) can match it with the partial index of pending deliveries.
_IS_PENDING = deliveries.c.state == literal_column(f"'{PENDING}'")

_COLUMNS = [column for column in deliveries.c if column.name not in ("payload_key_id",
                                                                       "payload_ct")]


def _delivery(row) -> Delivery:
    values = dict(row._mapping)
    values["state"] = DeliveryState(values["state"])
    return Delivery(**values)


def _queue_heads(destination: str | None = None):
    """Each pending queue's head joined back to its row: the lowest pending sequence of every
    patient+destination (of `destination` when given).

    The grouping reads the pending rows once, in the order of the partial index on pending
    deliveries, so its cost follows the pending backlog rather than its square.
    """
    lowest = (select(deliveries.c.destination, deliveries.c.patient_id,
                     func.min(deliveries.c.sequence).label("sequence"))
              .where(_IS_PENDING))
    if destination is not None:
        lowest = lowest.where(deliveries.c.destination == destination)
    heads = lowest.group_by(deliveries.c.destination, deliveries.c.patient_id).subquery("heads")
    return deliveries.join(heads, and_(deliveries.c.destination == heads.c.destination,
                                       deliveries.c.patient_id == heads.c.patient_id,
                                       deliveries.c.sequence == heads.c.sequence))


class DeliveryRepository(Repository):
    """Deliveries of one unit of work."""

    def add(self, *, message_id: str, patient_id: str, recipient: str, destination: str,
            control_id: str, payload: bytes, entry_id: str | None = None,
            now: datetime | None = None) -> Delivery:
        """Queue one re-addressed message for one recipient, due at once; return it.

        It goes to the back of its patient's queue for that destination. Two transactions
        adding to the same queue at the same time collide on the sequence: the later one gets
        StoreConflict and is to be retried.
        """
        now = now or utc_now()
        last = select(func.max(deliveries.c.sequence)).where(
            deliveries.c.patient_id == patient_id, deliveries.c.destination == destination)
        sequence = (self._execute("numbering a delivery", last).scalar() or 0) + 1
        delivery_id = new_id()
        key_id, ciphertext = self._keyring.encrypt(bytes(payload), table=TABLE,
                                                   row_id=delivery_id)
        row = {
            "id": delivery_id, "message_id": message_id, "entry_id": entry_id,
            "patient_id": patient_id, "recipient": recipient, "destination": destination,
            "control_id": control_id, "state": PENDING, "attempts": 0,
            "next_attempt_at": now, "last_error": None, "ack_code": None,
            "sequence": sequence, "created_at": now, "updated_at": now,
        }
        self._execute("adding a delivery", insert(deliveries),
                      {**row, "payload_key_id": key_id, "payload_ct": ciphertext})
        return Delivery(**{**row, "state": DeliveryState.PENDING})

    def get(self, id: str) -> Delivery | None:
        """One delivery, or None."""
        row = self._execute("reading a delivery",
                            select(*_COLUMNS).where(deliveries.c.id == id)).first()
        return _delivery(row) if row is not None else None

    def due(self, now: datetime, limit: int, *, destination: str | None = None) -> list[Delivery]:
        """Pending deliveries whose time has come and that head their patient+destination
        queue, the longest waiting first; only those for `destination` when it is given."""
        query = (select(*_COLUMNS).select_from(_queue_heads(destination))
                 .where(_IS_PENDING, deliveries.c.next_attempt_at <= now)
                 .order_by(deliveries.c.next_attempt_at, deliveries.c.sequence, deliveries.c.id)
                 .limit(limit))
        return [_delivery(row) for row in self._execute("finding due deliveries", query)]

    def due_destinations(self, now: datetime) -> list[str]:
        """The destinations that have at least one delivery `due`, in key order.

        A dispatcher asks this first and then each destination for its own due deliveries, so
        that a destination with a long backlog cannot crowd the others out of one `limit`.
        """
        query = (select(deliveries.c.destination).select_from(_queue_heads())
                 .where(_IS_PENDING, deliveries.c.next_attempt_at <= now)
                 .distinct().order_by(deliveries.c.destination))
        return list(self._execute("finding due destinations", query).scalars())

    def claim(self, id: str, now: datetime, until: datetime) -> bool:
        """Take a due delivery for an attempt: push its next attempt to `until` (a lease).

        False when it is no longer pending and due, for example because another dispatcher
        claimed it first. Should the process die mid-send, the delivery is due again at `until`.
        """
        statement = (update(deliveries)
                     .where(deliveries.c.id == id, deliveries.c.state == PENDING,
                            deliveries.c.next_attempt_at <= now)
                     .values(next_attempt_at=until, updated_at=utc_now()))
        return self._execute("claiming a delivery", statement).rowcount == 1

    def claim_batch(self, destination: str, now: datetime, until: datetime, limit: int, *,
                    skip: Collection[str] = ()) -> list[Delivery]:
        """Claim up to `limit` deliveries to `destination` for one batch of sends, as `claim`
        does each (lease until `until`), and return them in the order they are to be sent.

        The queues whose head is due are taken longest waiting first (but not those whose
        head is in `skip`), each with the deliveries right behind its head that are due too,
        in sequence order, up to `limit // queues` per queue. A queue's run stops before the
        first delivery that is not due or that someone else claimed first, so no delivery is
        ever claimed while one ahead of it in its queue is pending and not claimed with it.
        """
        heads = [h for h in self.due(now, limit + len(skip), destination=destination)
                 if h.id not in skip][:limit]
        if not heads:
            return []
        per_queue = max(1, limit // len(heads))
        runs = [[head] for head in heads] if per_queue == 1 else self._runs(
            destination, now, heads, per_queue)
        wanted = [d.id for run in runs for d in run]
        statement = (update(deliveries)
                     .where(deliveries.c.id.in_(wanted), deliveries.c.state == PENDING,
                            deliveries.c.next_attempt_at <= now)
                     .values(next_attempt_at=until, updated_at=utc_now())
                     .returning(deliveries.c.id))
        claimed = set(self._execute("claiming deliveries", statement).scalars())
        batch, stray = [], []
        for run in runs:
            taken = list(takewhile(lambda d: d.id in claimed, run))
            batch.extend(taken)
            stray.extend(d for d in run[len(taken):] if d.id in claimed)
        self.release(stray)
        return batch

    def _runs(self, destination: str, now: datetime, heads: list[Delivery],
              per_queue: int) -> list[list[Delivery]]:
        # Each queue's run read on its own through the partial index (its head and what is
        # behind it, `per_queue` rows at most), all in one statement: the cost follows the
        # batch, not the backlog behind it.
        runs_read = [select(*_COLUMNS).where(_IS_PENDING, deliveries.c.destination == destination,
                                             deliveries.c.patient_id == head.patient_id)
                     .order_by(deliveries.c.sequence).limit(per_queue).subquery()
                     for head in heads]
        query = union_all(*(select(*run.c) for run in runs_read))
        by_patient: dict[str, list[Delivery]] = {}
        for row in self._execute("finding a batch of deliveries", query):
            by_patient.setdefault(row.patient_id, []).append(_delivery(row))
        for run in by_patient.values():
            run.sort(key=lambda d: d.sequence)
        runs = []
        for head in heads:
            queue = by_patient.get(head.patient_id, [])
            if not queue or queue[0].id != head.id:
                continue  # the queue moved since its head was read
            runs.append(list(takewhile(lambda d: d.next_attempt_at <= now, queue)))
        return runs

    def release(self, claimed: Collection[Delivery]) -> None:
        """Give back claimed deliveries that were not attempted: due again as they were
        before the claim (their `next_attempt_at` as read), attempts unchanged."""
        if not claimed:
            return
        statement = (update(deliveries)
                     .where(deliveries.c.id == bindparam("released_id"),
                            deliveries.c.state == PENDING)
                     .values(next_attempt_at=bindparam("was_due"), updated_at=utc_now()))
        self._execute("releasing deliveries", statement,
                      [{"released_id": d.id, "was_due": d.next_attempt_at} for d in claimed])

    def mark_delivered_many(self, ids: Collection[str], ack_code: str) -> None:
        """`mark_delivered` for several deliveries acknowledged with the same code; StoreError
        (and nothing to commit) unless every one of them was pending."""
        if not ids:
            return
        statement = (update(deliveries)
                     .where(deliveries.c.id.in_(list(ids)), deliveries.c.state == PENDING)
                     .values(state=DeliveryState.DELIVERED.value,
                             attempts=deliveries.c.attempts + 1, ack_code=ack_code,
                             last_error=None, next_attempt_at=None, updated_at=utc_now()))
        if self._execute("marking deliveries delivered", statement).rowcount != len(ids):
            raise StoreError("a delivery to mark delivered is no longer pending")

    def mark_delivered(self, id: str, ack_code: str) -> None:
        """The recipient acknowledged it (AA/CA): one more attempt, done."""
        self._finish(id, DeliveryState.DELIVERED, attempts=1, ack_code=ack_code,
                     last_error=None)

    def mark_retry(self, id: str, next_at: datetime, error: str,
                   ack_code: str | None = None) -> None:
        """An attempt failed in a way worth retrying; the next one is due at `next_at`."""
        self._finish(id, DeliveryState.PENDING, attempts=1, next_attempt_at=next_at,
                     last_error=error, ack_code=ack_code)

    def mark_parked(self, id: str, reason: str, ack_code: str | None = None) -> None:
        """An attempt was refused (AR/CR) or the last one allowed failed: park it."""
        self._finish(id, DeliveryState.PARKED, attempts=1, last_error=reason,
                     ack_code=ack_code)

    def mark_denied(self, id: str, reason: str) -> None:
        """Consent no longer allows it: nothing was sent and nothing will be."""
        self._finish(id, DeliveryState.DENIED, attempts=0, last_error=reason)

    def _finish(self, id: str, state: DeliveryState, *, attempts: int,
                next_attempt_at: datetime | None = None, **values) -> None:
        if values.get("last_error") is not None:
            values["last_error"] = values["last_error"][:ERROR_LENGTH]
        statement = (update(deliveries)
                     .where(deliveries.c.id == id, deliveries.c.state == PENDING)
                     .values(state=state.value, attempts=deliveries.c.attempts + attempts,
                             next_attempt_at=next_attempt_at, updated_at=utc_now(), **values))
        if self._execute(f"marking a delivery {state.value}", statement).rowcount == 0:
            raise StoreError(f"no pending delivery {id}")

    def replay(self, id: str, now: datetime | None = None) -> bool:
        """Put a parked delivery back in its queue, due at once, with its attempts reset.

        It keeps its sequence, so it goes before any later message of the same queue still
        pending. False when it is not parked.
        """
        statement = (update(deliveries)
                     .where(deliveries.c.id == id,
                            deliveries.c.state == DeliveryState.PARKED.value)
                     .values(state=PENDING, attempts=0, next_attempt_at=now or utc_now(),
                             ack_code=None, updated_at=utc_now()))
        return self._execute("replaying a delivery", statement).rowcount == 1

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
        query = select(deliveries.c.id, deliveries.c.payload_key_id, deliveries.c.payload_ct
                       ).where(deliveries.c.id.in_(list(ids)))
        return {row.id: self._keyring.decrypt(row.payload_ct, table=TABLE, row_id=row.id,
                                              key_id=row.payload_key_id)
                for row in self._execute("reading deliveries' bytes", query)}

    def entry_views(self, message_ids: Collection[str]) -> dict[str, list[EntryView]]:
        """For a batch's consent re-check: what `EntryRepository.views_for_message` answers for
        each of `message_ids` (level and hidden flag of each entry, in entry order, nothing
        decrypted), read in one query. A message that made no entry maps to []."""
        views: dict[str, list[EntryView]] = {id: [] for id in message_ids}
        if not views:
            return views
        query = (select(entries.c.message_id, entries.c.confidentiality, entries.c.hidden)
                 .where(entries.c.message_id.in_(list(views)))
                 .order_by(entries.c.message_id, entries.c.seq))
        for row in self._execute("reading entry levels", query):
            views[row.message_id].append(EntryView(Confidentiality(row.confidentiality),
                                                   bool(row.hidden)))
        return views

    def for_message(self, message_id: str) -> list[Delivery]:
        """Every delivery of one received message: where it went."""
        query = (select(*_COLUMNS).where(deliveries.c.message_id == message_id)
                 .order_by(deliveries.c.created_at, deliveries.c.id))
        return [_delivery(row) for row in self._execute("reading deliveries", query)]

    def search(self, state: DeliveryState | None = None, limit: int = 1000) -> list[Delivery]:
        """Deliveries in `state` (all when None), most recently changed first."""
        query = select(*_COLUMNS)
        if state is not None:
            query = query.where(deliveries.c.state == DeliveryState(state).value)
        query = query.order_by(deliveries.c.updated_at.desc(), deliveries.c.id).limit(limit)
        return [_delivery(row) for row in self._execute("searching deliveries", query)]

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
