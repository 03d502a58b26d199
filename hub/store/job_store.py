"""What the scheduler's periodic jobs read and write, each call one transaction of its own:
job lease locks, grant expiries to note, raw message copies to purge, closed dossiers to erase,
the queue watchdog's memory. Jobs get this object from the composition root; nothing here returns patient data.

A purged raw copy keeps its row (the message's story, counts and hashes stay) with the marker
key id tables.PURGED_KEY_ID and an empty ciphertext: `messages.raw_ct` stays NOT NULL, so no table
rebuild, and the key rotation and `MessageRepository.raw` recognise the marker.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.store.audit_repository import AuditRepository
from hub.store.dossier_erasure import Erased, erase_closed_dossiers
from hub.store.keyring import Keyring
from hub.store.repository import translated_errors
from hub.store.tables import PURGED_KEY_ID, consent_grants, job_locks, messages, queue_watch

# Messages whose bytes may still be needed are never purged: in flight, or parked for replay.
PURGEABLE_STATES = ("stored", "rejected", "discarded")


@dataclass(frozen=True)
class QueueWatch:
    """The watchdog's view of one queue after a check."""

    queue: str
    depth: int
    consumers: int
    still_checks: int
    stalled_since: datetime | None
    checked_at: datetime

    @property
    def stalled(self) -> bool:
        """Whether the watchdog flagged this queue at its last check."""
        return self.stalled_since is not None


class JobStore:
    """The periodic jobs' database side, on `engine` (keys used only to record audit events)."""

    def __init__(self, engine: Engine, keyring: Keyring) -> None:
        self._engine = engine
        self._keyring = keyring

    # -- lease locks ---------------------------------------------------------------------------

    def acquire(self, job_id: str, owner: str, now: datetime, lease: float) -> bool:
        """Take (or extend) the lease of `job_id` for `owner` until `now + lease` seconds, in one
        statement: it succeeds when nobody holds it, its lease ran out, or `owner` holds it."""
        dialect = self._engine.dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = insert(job_locks).values(job_id=job_id, owner=owner,
                                             leased_until=now + timedelta(seconds=lease))
        statement = statement.on_conflict_do_update(
            index_elements=[job_locks.c.job_id],
            set_={"owner": statement.excluded.owner,
                  "leased_until": statement.excluded.leased_until},
            where=or_(job_locks.c.leased_until < now, job_locks.c.owner == owner),
        ).returning(job_locks.c.owner)
        with translated_errors("taking a job lease"), self._engine.begin() as connection:
            return connection.execute(statement).first() is not None

    def release(self, job_id: str, owner: str) -> bool:
        """Give the lease of `job_id` back if `owner` still holds it; whether it did."""
        statement = delete(job_locks).where(job_locks.c.job_id == job_id,
                                            job_locks.c.owner == owner)
        with translated_errors("releasing a job lease"), self._engine.begin() as connection:
            return connection.execute(statement).rowcount > 0

    def holder(self, job_id: str) -> tuple[str, datetime] | None:
        """(owner, leased_until) of `job_id`'s lease row, or None."""
        query = select(job_locks.c.owner, job_locks.c.leased_until).where(
            job_locks.c.job_id == job_id)
        with translated_errors("reading a job lease"), self._engine.connect() as connection:
            row = connection.execute(query).first()
        return None if row is None else (row.owner, row.leased_until)

    # -- consent grants that ran out -----------------------------------------------------------

    def note_expired_grants(self, now: datetime, limit: int = 500) -> int:
        """Record one "grant expired" audit event (on the patient's journal) for each grant whose
        `until` passed by `now`, never revoked before then and not noted yet; at most `limit`
        per call, in one transaction; return how many were noted."""
        g = consent_grants.c
        query = (select(g.id, g.patient_id, g.cns_code, g.level, g.until)
                 .where(g.until.is_not(None), g.until <= now, g.expiry_noted_at.is_(None),
                        or_(g.revoked_at.is_(None), g.revoked_at > g.until))
                 .order_by(g.until, g.id).limit(limit))
        with translated_errors("noting expired grants"), self._engine.begin() as connection:
            events = []
            for row in connection.execute(query).all():
                # Guarded by the column itself: a grant is noted once even if two runs met.
                noted = connection.execute(
                    update(consent_grants).where(g.id == row.id, g.expiry_noted_at.is_(None))
                    .values(expiry_noted_at=now)).rowcount
                if noted:
                    events.append(AuditEvent(
                        actor=Actor.HUB, action=AuditAction.CONSENT_EXPIRED, patient_id=row.patient_id,
                        reason=f"grant to {row.cns_code} ({row.level}) expired at "
                               f"{row.until.isoformat(timespec='seconds')}"))
            AuditRepository(connection, self._keyring).record_many(events)
        return len(events)

    # -- retention of raw copies ---------------------------------------------------------------

    def purge_raw(self, received_before: datetime, limit: int = 500) -> int:
        """Empty the raw copies of at most `limit` settled messages received before
        `received_before`, and audit how many (count only), in one transaction; return it."""
        m = messages.c
        query = (select(m.id).where(m.received_at < received_before,
                                    m.raw_key_id != PURGED_KEY_ID,
                                    m.state.in_(PURGEABLE_STATES))
                 .order_by(m.received_at, m.id).limit(limit))
        with translated_errors("purging raw copies"), self._engine.begin() as connection:
            ids = [row.id for row in connection.execute(query)]
            if not ids:
                return 0
            purged = connection.execute(
                update(messages).where(m.id.in_(ids), m.raw_key_id != PURGED_KEY_ID)
                .values(raw_key_id=PURGED_KEY_ID, raw_ct=b"")).rowcount
            # Appended now (`record` would keep it for a unit of work's commit).
            AuditRepository(connection, self._keyring).record_many([AuditEvent(
                actor=Actor.HUB, action=AuditAction.RETENTION_PURGE,
                reason=f"{purged} raw message copies received before "
                       f"{received_before.isoformat(timespec='seconds')} purged")])
        return purged

    # -- closed dossiers past their retention ---------------------------------------------------

    def erase_closed_dossiers(self, closed_before: datetime, now: datetime, years: int,
                              limit: int = 100) -> list[Erased]:
        """Erase the content of at most `limit` dossiers closed before `closed_before`
        (hub/store/dossier_erasure.py: each in one transaction, with its audit event)."""
        return erase_closed_dossiers(self._engine, self._keyring, closed_before, now, years,
                                     limit)

    # -- the queue watchdog's memory -----------------------------------------------------------

    def newest_filed(self) -> datetime | None:
        """When the newest message filed so far was received (None before the first): the
        inbound queue's progress mark. Each message a worker takes from that queue becomes a
        row, in about the order it was received, so the mark moves whenever one is filed; the
        index on `received_at` answers it without reading the table."""
        m = messages.c
        query = select(m.received_at).order_by(m.received_at.desc()).limit(1)
        with translated_errors("reading the newest filed message"), \
                self._engine.connect() as connection:
            return connection.execute(query).scalar()

    def watch_queues(self, stats: dict[str, tuple[int, int]], now: datetime, checks: int,
                     marks: dict[str, datetime | None] | None = None) -> list[QueueWatch]:
        """Record one check of the broker queues (`{name: (depth, consumers)}`) and return
        each queue's view. A queue is stalled when it holds messages and has no consumer, or
        made no progress over `checks` checks in a row. Progress is its depth going down, or
        its mark in `marks` (the store's record of work consumed from it) moving since the
        last check: a busy queue's depth can stay flat while its consumers work. A queue
        without a mark is judged by its depth alone."""
        marks = marks or {}
        q = queue_watch.c
        with translated_errors("recording a queue check"), self._engine.begin() as connection:
            before = {row.queue: row for row in connection.execute(select(*queue_watch.c))}
            views = []
            for name, (depth, consumers) in sorted(stats.items()):
                last = before.get(name)
                mark = marks.get(name)
                still = 0
                if depth > 0 and last is not None and depth >= last.depth \
                        and (mark is None or mark == last.progress_mark):
                    still = last.still_checks + 1
                stalled = depth > 0 and (consumers == 0 or still >= checks)
                since = ((last.stalled_since if last is not None else None) or now) \
                    if stalled else None
                row = {"depth": depth, "consumers": consumers, "still_checks": still,
                       "stalled_since": since, "checked_at": now, "progress_mark": mark}
                if last is None:
                    connection.execute(queue_watch.insert().values(queue=name, **row))
                else:
                    connection.execute(update(queue_watch).where(q.queue == name).values(**row))
                views.append(QueueWatch(name, depth, consumers, still, since, now))
        return views

    def queue_views(self) -> list[QueueWatch]:
        """The watchdog's view of every queue at its last check, by name."""
        with translated_errors("reading queue checks"), self._engine.connect() as connection:
            rows = connection.execute(select(*queue_watch.c).order_by(queue_watch.c.queue))
            return [QueueWatch(r.queue, r.depth, r.consumers, r.still_checks, r.stalled_since,
                               r.checked_at) for r in rows]
