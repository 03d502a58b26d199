"""Each send of a delivery: when, how it ended, the code or ACK that came back.

Written by the outbound batch in the transaction that records the outcomes (one statement per
batch), read by `hub trace`. Errors are the hub's own words and codes, as in
`deliveries.last_error`: a recipient's ACK text never reaches them.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import select

from hub.domain.delivery import DeliveryAttempt
from hub.store.repository import Repository, chunks
from hub.store.tables import delivery_attempts, new_id, utc_now

ERROR_LENGTH = 500


class AttemptRepository(Repository):
    """Delivery attempts of one unit of work."""

    def add_many(self, attempts: Iterable[DeliveryAttempt]) -> None:
        """Record attempts in one round trip (a COPY on PostgreSQL); `at` defaults to now."""
        now = utc_now()
        rows = [{"id": new_id(), "delivery_id": a.delivery_id, "number": a.number,
                 "at": a.at or now, "outcome": a.outcome, "code": a.code,
                 "ack_code": a.ack_code,
                 "error": a.error[:ERROR_LENGTH] if a.error is not None else None}
                for a in attempts]
        self._insert_rows("recording delivery attempts", delivery_attempts, rows)

    def for_deliveries(self, delivery_ids: Collection[str]) -> dict[str, list[DeliveryAttempt]]:
        """The attempts of each delivery, oldest first; deliveries with none are left out."""
        found: dict[str, list[DeliveryAttempt]] = {}
        t = delivery_attempts.c
        for chunk in chunks(list(dict.fromkeys(delivery_ids))):
            query = (select(t.delivery_id, t.number, t.outcome, t.code, t.ack_code, t.error, t.at)
                     .where(t.delivery_id.in_(chunk)).order_by(t.at, t.number))
            for row in self._execute("reading delivery attempts", query):
                found.setdefault(row.delivery_id, []).append(DeliveryAttempt(**row._mapping))
        return found
