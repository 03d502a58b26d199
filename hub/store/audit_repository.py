"""The audit log: events appended under a hash chain, read back as a patient's journal, and the
whole chain checked (hub.domain.audit_chain holds the encoding and the check)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from sqlalchemy import func, select, text, update

from hub.domain.audit import GENESIS_HASH, AuditEvent, AuditOutcome, VerifyResult, validate_event
from hub.domain.audit_chain import HASHED_FIELDS, OPTIONAL_FIELDS, check_chain, event_hash
from hub.errors import StoreError
from hub.store.repository import Repository, chunks, translated_errors
from hub.store.tables import audit_events, new_id, utc_now

# Serialises appends to the chain across every hub process on PostgreSQL ("hub_aud").
_PG_CHAIN_LOCK = 0x6875625F617564
_VERIFY_BATCH = 1000
_COLUMNS = (*HASHED_FIELDS, *OPTIONAL_FIELDS, "hash")


class AuditRepository(Repository):
    """The audit log of one unit of work.

    Appending takes the chain's lock and keeps it until the transaction ends (a chain has one
    tail). So `record` only keeps its event: the unit of work appends what was kept with one
    lock and one insert (`flush`) just before it commits, and every read of the log here
    flushes first, so that the transaction sees its own events. `record_many` appends at once,
    after what was kept.
    """

    def __init__(self, connection, keyring, on_failure=None):
        super().__init__(connection, keyring, on_failure)
        # (transaction, seq, hash) of the tail this transaction appended; valid only while that
        # transaction is open, since it holds the lock.
        self._tail: tuple[object, int, str] | None = None
        self._kept: list[AuditEvent] = []  # recorded, not yet appended, in order

    def record(self, event: AuditEvent) -> AuditEvent:
        """Keep one event, to be appended to the chain at the commit (or the next read of the
        log or `record_many`); return it as it will be recorded, id and time filled in (its
        seq and hashes are given when it is appended). ValueError if the event is not fit for
        the log."""
        validate_event(event)
        # As dataclasses.replace makes it, at half its cost: a sender records one per delivery.
        event = type(event)(**{**vars(event), "id": event.id or new_id(),
                               "at": event.at or utc_now()})
        self._kept.append(event)
        return event

    def flush(self) -> list[AuditEvent]:
        """Append the kept events, in the order they were recorded; return them as recorded."""
        return self.record_many(())

    def record_many(self, events: Iterable[AuditEvent]) -> list[AuditEvent]:
        """Append the kept events, then `events`, in order with one lock and one insert; return
        `events` as recorded. ValueError (and nothing appended) if one is not fit for the log."""
        events = list(events)
        for event in events:
            validate_event(event)
        kept, self._kept = self._kept, []
        return self._append(kept + events, returned_from=len(kept))

    def _append(self, events: list[AuditEvent], returned_from: int = 0) -> list[AuditEvent]:
        """Append `events` to the chain; return those from `returned_from` on as recorded (the
        kept ones nobody asks for back are not built again: a sender's batch keeps a hundred)."""
        if not events:
            return []
        seq, previous = self._lock_and_read_tail()
        now = utc_now()
        bind_at = audit_events.c.at.type.process_bind_param
        dialect = self._connection.dialect
        recorded, rows = [], []
        for n, event in enumerate(events):  # each row hashed as a mapping, not as an event
            seq += 1
            row = {name: getattr(event, name) for name in _COLUMNS}
            # The outcome as its text (validate_event checked it), hashed and stored alike.
            row.update(seq=seq, id=event.id or new_id(), at=event.at or now,
                       actor=str(event.actor), action=str(event.action),
                       outcome=str(event.outcome), prev_hash=previous)
            row["hash"] = previous = event_hash(row)
            if n >= returned_from:
                recorded.append(AuditEvent(**{**row, "outcome": AuditOutcome(row["outcome"])}))
            # One COPY (an executemany elsewhere): the rows as hashed, bound as the columns
            # bind them.
            row["at"] = bind_at(row["at"], dialect)
            rows.append(row)
        self._insert_rows("recording audit events", audit_events, rows)
        self._tail = (self._connection.get_transaction(), seq, previous)
        return recorded

    def _lock_and_read_tail(self) -> tuple[int, str]:
        transaction = self._connection.get_transaction()
        if self._tail is not None and self._tail[0] is transaction:
            return self._tail[1], self._tail[2]
        if self._connection.dialect.name == "postgresql":
            self._execute("locking the audit chain", text("SELECT pg_advisory_xact_lock(:k)"),
                          {"k": _PG_CHAIN_LOCK})
        else:
            # SQLite takes its write lock at a transaction's first write, not its first read:
            # a write that changes nothing takes it now, so no other writer can slip in
            # between reading the tail and appending after it.
            self._execute("locking the audit chain",
                          update(audit_events).where(audit_events.c.seq < 0)
                          .values(seq=audit_events.c.seq))
        query = (select(audit_events.c.seq, audit_events.c.hash)
                 .order_by(audit_events.c.seq.desc()).limit(1))
        row = self._execute("reading the audit chain's tail", query).first()
        return (0, GENESIS_HASH) if row is None else (row.seq, row.hash)

    def journal(self, patient_id: str) -> list[AuditEvent]:
        """Every event about one patient, oldest first."""
        self.flush()
        query = (select(*audit_events.c).where(audit_events.c.patient_id == patient_id)
                 .order_by(audit_events.c.seq))
        return [_event(row._mapping) for row in self._execute("reading the journal", query)]

    def for_message(self, message_id: str) -> list[AuditEvent]:
        """Every event about one message, oldest first ("where did message X go?")."""
        self.flush()
        query = (select(*audit_events.c).where(audit_events.c.message_id == message_id)
                 .order_by(audit_events.c.seq))
        return [_event(row._mapping) for row in self._execute("reading audit events", query)]

    def for_messages(self, message_ids: Iterable[str], action: str) -> dict[str, list[AuditEvent]]:
        """The `action` events about each of `message_ids`, oldest first; ids with none are
        left out."""
        self.flush()
        found: dict[str, list[AuditEvent]] = {}
        for chunk in chunks(list(dict.fromkeys(message_ids))):
            query = (select(*audit_events.c).where(audit_events.c.message_id.in_(chunk),
                                                   audit_events.c.action == action)
                     .order_by(audit_events.c.seq))
            for row in self._execute("reading audit events", query):
                event = _event(row._mapping)
                found.setdefault(event.message_id, []).append(event)
        return found

    def count(self) -> int:
        """How many events the log holds."""
        self.flush()
        query = select(func.count()).select_from(audit_events)
        return self._execute("counting audit events", query).scalar_one()

    def verify(self, page_size: int = _VERIFY_BATCH) -> VerifyResult:
        """Check the whole chain, oldest first, `page_size` events at a time; the first broken
        event if any was edited, deleted, inserted or reordered."""
        self.flush()
        return check_chain(self._rows_in_order(page_size))

    def _rows_in_order(self, page_size: int) -> Iterator[Mapping[str, object]]:
        # Pages by seq rather than one cursor, so a long log is never held in memory at once.
        after = 0
        while True:
            query = (select(*audit_events.c).where(audit_events.c.seq > after)
                     .order_by(audit_events.c.seq).limit(page_size))
            try:
                rows = self._fetch(query)
            except ValueError:  # a forged value the driver cannot convert: find which row
                yield from self._rows_one_by_one(after, page_size)
                return
            yield from rows
            if len(rows) < page_size:
                return
            after = rows[-1]["seq"]

    def _rows_one_by_one(self, after: int, page_size: int) -> Iterator[Mapping[str, object]]:
        seqs = self._fetch(select(audit_events.c.seq).where(audit_events.c.seq > after)
                           .order_by(audit_events.c.seq).limit(page_size))
        for seq in (row["seq"] for row in seqs):
            try:
                yield from self._fetch(select(*audit_events.c).where(audit_events.c.seq == seq))
            except ValueError as exc:
                yield {"seq": seq, "unreadable": f"{type(exc).__name__}: {exc}"[:200]}
                return

    def _fetch(self, query) -> list[dict]:
        # Rows are converted while fetched, so database errors can surface while iterating.
        try:
            with translated_errors("reading the audit chain"):
                return [dict(row._mapping) for row in self._connection.execute(query)]
        except StoreError:
            if self._on_failure is not None:
                self._on_failure()
            raise

def _event(row: Mapping[str, object]) -> AuditEvent:
    return AuditEvent(**{name: row[name] for name in _COLUMNS})
