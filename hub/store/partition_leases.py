"""The database side of sharing the inbound partitions: who is alive (a heartbeat row per
routing worker) and who leases which partition until when. Plain rows and single statements
that both SQLite and PostgreSQL run; see hub/routing/partition_balance.py for the rules."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from hub.store.repository import translated_errors
from hub.store.tables import partition_leases, partition_workers


class PartitionLeases:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def heartbeat(self, owner: str, now: datetime, ttl: float) -> None:
        """`owner` is alive until `now + ttl`; rows of workers long gone are swept."""
        statement = self._insert(partition_workers).values(
            owner=owner, seen_until=now + timedelta(seconds=ttl))
        statement = statement.on_conflict_do_update(
            index_elements=[partition_workers.c.owner],
            set_={"seen_until": statement.excluded.seen_until})
        with translated_errors("recording a worker heartbeat"), self._engine.begin() as connection:
            connection.execute(statement)
            connection.execute(delete(partition_workers).where(
                partition_workers.c.seen_until < now - timedelta(seconds=60 * ttl)))

    def live_workers(self, now: datetime) -> int:
        query = select(func.count()).select_from(partition_workers).where(
            partition_workers.c.seen_until >= now)
        with translated_errors("counting workers"), self._engine.connect() as connection:
            return int(connection.execute(query).scalar_one())

    def holders(self, now: datetime) -> dict[int, str]:
        """partition -> owner of every lease not expired at `now`."""
        query = select(partition_leases.c.partition, partition_leases.c.owner).where(
            partition_leases.c.expires_at >= now)
        with translated_errors("reading partition leases"), self._engine.connect() as connection:
            return {row.partition: row.owner for row in connection.execute(query)}

    def claim(self, partition: int, owner: str, now: datetime, ttl: float) -> bool:
        """Take `partition` for `owner` when it is free, expired or already its own."""
        statement = self._insert(partition_leases).values(
            partition=partition, owner=owner, expires_at=now + timedelta(seconds=ttl))
        statement = statement.on_conflict_do_update(
            index_elements=[partition_leases.c.partition],
            set_={"owner": statement.excluded.owner, "expires_at": statement.excluded.expires_at},
            where=or_(partition_leases.c.expires_at < now, partition_leases.c.owner == owner),
        ).returning(partition_leases.c.owner)
        with translated_errors("taking a partition lease"), self._engine.begin() as connection:
            return connection.execute(statement).first() is not None

    def renew(self, owner: str, partitions: set[int], now: datetime, ttl: float) -> set[int]:
        """Extend `owner`'s leases of `partitions`; returns the ones it still held."""
        if not partitions:
            return set()
        statement = update(partition_leases).where(
            partition_leases.c.owner == owner, partition_leases.c.partition.in_(partitions),
        ).values(expires_at=now + timedelta(seconds=ttl)).returning(partition_leases.c.partition)
        with translated_errors("renewing partition leases"), self._engine.begin() as connection:
            return {row.partition for row in connection.execute(statement)}

    def release(self, owner: str, partitions: set[int]) -> None:
        if not partitions:
            return
        statement = delete(partition_leases).where(
            partition_leases.c.owner == owner, partition_leases.c.partition.in_(partitions))
        with translated_errors("releasing partition leases"), self._engine.begin() as connection:
            connection.execute(statement)

    def retire(self, owner: str) -> None:
        """A worker that stops: its leases and its heartbeat go at once, not after the ttl."""
        with translated_errors("retiring a worker"), self._engine.begin() as connection:
            connection.execute(delete(partition_leases).where(partition_leases.c.owner == owner))
            connection.execute(delete(partition_workers).where(partition_workers.c.owner == owner))
