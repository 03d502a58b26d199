"""Read-only figures about recent activity, for `hub status` and the dashboard: how many
messages were received and filed, and deliveries delivered, since an instant; the oldest
pending delivery of each destination; how long the newest filed message took to be filed.

Only columns stored in clear are read (times, states, destinations): nothing here decrypts.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, exists, func, literal_column, select

from hub.domain.delivery import DeliveryState
from hub.domain.models import LastFiled, MessageState
from hub.store.repository import Repository
from hub.store.tables import deliveries, messages

_DELIVERED = deliveries.c.state == literal_column(f"'{DeliveryState.DELIVERED.value}'")
# A literal, as in delivery_queue: it lets both databases use the partial pending index.
_PENDING = deliveries.c.state == literal_column(f"'{DeliveryState.PENDING.value}'")


class ActivityRepository(Repository):
    """Counts over time windows and ages, on the unit of work's connection."""

    def received_counts(self, since: Sequence[datetime]) -> list[int]:
        """For each instant of `since`, the messages filed so far whose frame was received
        (ACKed) at or after it."""
        return self._counts("counting received messages", messages.c.received_at, since)

    def filed_counts(self, since: Sequence[datetime]) -> list[int]:
        """For each instant of `since`, the messages a worker filed (committed in any final
        state) at or after it. No index serves this: one scan answers every instant."""
        return self._counts("counting filed messages", messages.c.processed_at, since)

    def delivered_counts(self, since: Sequence[datetime]) -> dict[str, list[int]]:
        """For each destination with any, and each instant of `since`, the deliveries its
        recipient acknowledged at or after it."""
        at = deliveries.c.updated_at
        query = (select(deliveries.c.destination, *_at_or_after(at, since))
                 .where(_DELIVERED, at >= min(since)).group_by(deliveries.c.destination))
        rows = self._execute("counting delivered deliveries", query).all()
        return {row[0]: [int(n or 0) for n in row[1:]] for row in rows}

    def _counts(self, doing: str, column, since: Sequence[datetime]) -> list[int]:
        query = select(*_at_or_after(column, since)).where(column >= min(since))
        return [int(n or 0) for n in self._execute(doing, query).one()]

    def oldest_pending(self) -> dict[str, datetime]:
        """For each destination with pending deliveries, when its oldest one was created."""
        query = (select(deliveries.c.destination, func.min(deliveries.c.created_at))
                 .where(_PENDING).group_by(deliveries.c.destination))
        rows = self._execute("finding the oldest pending deliveries", query).all()
        # min() bypasses the column's type on SQLite: read the value back through it.
        return {destination: _as_utc(created) for destination, created in rows}

    def open_parked(self) -> int:
        """Parked messages no replay was filed for yet: what still waits for an operator. A
        parked message whose replay was stored or discarded is settled, and one whose replay was
        parked again lives on as that replay (the partial replay index answers the lookup)."""
        replay = messages.alias("replay")
        query = (select(func.count()).select_from(messages)
                 .where(messages.c.state == MessageState.PARKED.value,
                        ~exists().where(replay.c.replay_of == messages.c.id)))
        return self._execute("counting open parked messages", query).scalar_one()

    def last_filed(self) -> LastFiled | None:
        """The newest message by reception time, or None when no message was ever filed."""
        query = (select(messages.c.received_at, messages.c.processed_at)
                 .order_by(messages.c.received_at.desc()).limit(1))
        row = self._execute("reading the newest message", query).first()
        return None if row is None else LastFiled(row.received_at, row.processed_at)


def _at_or_after(column, since: Sequence[datetime]) -> list:
    """One count per instant, so that one scan of the rows after the earliest answers all."""
    return [func.sum(case((column >= t, 1), else_=0)) for t in since]


def _as_utc(value: datetime | str) -> datetime:
    processor = deliveries.c.created_at.type
    if isinstance(value, str):  # SQLite returns an aggregate's timestamp as text
        value = datetime.fromisoformat(value)
    return processor.process_result_value(value, None)
