"""Sender lane leases and heartbeats in the database: which sender may claim and send each
destination's deliveries, and how many senders are alive to share them.

Every write is one statement in a transaction of its own, as the scheduler's job leases are
(hub/store/job_store.py `acquire`): a lease is taken by one conditional upsert, so two senders
that ask at once cannot both get it, on PostgreSQL and SQLite alike. Times come from the
caller's clock; the senders sharing a database are expected to agree on UTC, as the job
leases already expect of the hubs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from hub.store.repository import translated_errors
from hub.store.tables import lane_leases, sender_heartbeats

# A dead sender's heartbeat row is removed this many leases after it ran out (it no longer
# counts as alive from the moment it runs out; the row is only kept from piling up).
FORGET_AFTER = 10


@dataclass(frozen=True)
class LaneLease:
    """Who holds a destination's lane, and until when."""

    destination: str
    owner: str
    expires_at: datetime


class LaneLeaseStore:
    """The lane leases and sender heartbeats on `engine`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def _upsert(self, table, key: str, values: dict, owner: str, now: datetime):
        insert = postgresql.insert if self._engine.dialect.name == "postgresql" else sqlite.insert
        statement = insert(table).values(**values)
        key_column = table.c[key]
        return statement.on_conflict_do_update(
            index_elements=[key_column],
            set_={"owner": statement.excluded.owner,
                  "expires_at": statement.excluded.expires_at},
            where=or_(table.c.expires_at < now, table.c.owner == owner),
        ).returning(table.c.owner)

    def acquire(self, destination: str, owner: str, now: datetime, lease: float) -> bool:
        """Take (or extend) `destination`'s lane for `owner` until `now + lease` seconds, in one
        statement: it succeeds when nobody holds it, its lease ran out, or `owner` holds it."""
        statement = self._upsert(lane_leases, "destination", {
            "destination": destination, "owner": owner,
            "expires_at": now + timedelta(seconds=lease)}, owner, now)
        with translated_errors("taking a lane lease"), self._engine.begin() as connection:
            return connection.execute(statement).first() is not None

    def renew(self, owner: str, now: datetime, lease: float) -> set[str]:
        """Extend every lane `owner` still holds to `now + lease` seconds; the destinations it
        holds (a lease that ran out and that another sender took is no longer among them)."""
        statement = (update(lane_leases).where(lane_leases.c.owner == owner)
                     .values(expires_at=now + timedelta(seconds=lease))
                     .returning(lane_leases.c.destination))
        with translated_errors("renewing lane leases"), self._engine.begin() as connection:
            return set(connection.execute(statement).scalars())

    def release(self, destination: str, owner: str) -> bool:
        """Give `destination`'s lane back if `owner` still holds it; whether it did."""
        statement = delete(lane_leases).where(lane_leases.c.destination == destination,
                                              lane_leases.c.owner == owner)
        with translated_errors("releasing a lane lease"), self._engine.begin() as connection:
            return connection.execute(statement).rowcount > 0

    def release_all(self, owner: str) -> None:
        """A clean stop: give back every lane of `owner` and its heartbeat, so the other
        senders need not wait for them to run out."""
        with translated_errors("releasing lane leases"), self._engine.begin() as connection:
            connection.execute(delete(lane_leases).where(lane_leases.c.owner == owner))
            connection.execute(delete(sender_heartbeats)
                               .where(sender_heartbeats.c.owner == owner))

    def beat(self, owner: str, now: datetime, lease: float) -> int:
        """Say that `owner` is alive until `now + lease` seconds; how many senders are alive
        now (itself included)."""
        statement = self._upsert(sender_heartbeats, "owner", {
            "owner": owner, "expires_at": now + timedelta(seconds=lease)}, owner, now)
        forget = now - timedelta(seconds=lease * FORGET_AFTER)
        h = sender_heartbeats.c
        with translated_errors("recording a sender heartbeat"), \
                self._engine.begin() as connection:
            connection.execute(statement)
            # Long-dead rows: at most a few at a time, in key order (never a lock cycle).
            dead = select(h.owner).where(h.expires_at < forget).order_by(h.owner).limit(20)
            if self._engine.dialect.name == "postgresql":
                dead = dead.with_for_update(skip_locked=True)
            connection.execute(delete(sender_heartbeats).where(h.owner.in_(dead.scalar_subquery())))
            return connection.execute(
                select(func.count()).select_from(sender_heartbeats).where(h.expires_at > now)
            ).scalar_one()

    def holders(self, now: datetime) -> list[LaneLease]:
        """The lanes held at `now` (leases not run out), by destination."""
        query = (select(lane_leases.c.destination, lane_leases.c.owner, lane_leases.c.expires_at)
                 .where(lane_leases.c.expires_at > now).order_by(lane_leases.c.destination))
        with translated_errors("reading lane leases"), self._engine.connect() as connection:
            return [LaneLease(r.destination, r.owner, r.expires_at)
                    for r in connection.execute(query)]

    def senders(self, now: datetime) -> list[str]:
        """The senders alive at `now` (heartbeat not run out), by name."""
        h = sender_heartbeats.c
        query = select(h.owner).where(h.expires_at > now).order_by(h.owner)
        with translated_errors("reading sender heartbeats"), self._engine.connect() as connection:
            return list(connection.execute(query).scalars())
