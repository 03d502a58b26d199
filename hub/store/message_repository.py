"""Received frames: their header facts in clear, their bytes encrypted, their content hashed."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite

from hub.domain.models import MessageRecord, MessageState
from hub.errors import RawCopyPurged, StoreError
from hub.store.one_of import PerDialect
from hub.store.repository import Repository, chunks
from hub.store.tables import PURGED_KEY_ID, STORED_WITH_CONTROL_ID, messages, utc_now

TABLE = "messages"
_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# The batch reads of the resend check, built once (hub.store.one_of): every worker batch
# makes them.
_EXISTING = PerDialect(lambda one_of: select(messages.c.id).where(one_of(messages.c.id, "ids")))


def _first(kept):
    # The senders too, not the control ids alone: `ix_messages_sender_control_id` leads with
    # the sender, so without it the lookup read the whole index (or table), and every batch's
    # resend check grew with the messages ever stored (99 ms a batch at 30,000 rows; 1 ms so).
    return PerDialect(lambda one_of: (
        select(messages.c.id, messages.c.sender, messages.c.control_id, messages.c.content_hash)
        .where(one_of(messages.c.sender, "senders"), one_of(messages.c.control_id, "control_ids"),
               kept)
        .order_by(messages.c.received_at, messages.c.id)))


_FIRST = _first(messages.c.state != MessageState.REJECTED.value)
_FIRST_STORED = _first(messages.c.state == MessageState.STORED.value)
CONTENT_PURPOSE = "message-content"

_RECORD_COLUMNS = (
    messages.c.id, messages.c.sender, messages.c.control_id, messages.c.type,
    messages.c.version, messages.c.state, messages.c.received_at, messages.c.reason,
    messages.c.ack_code, messages.c.processed_at, messages.c.patient_id, messages.c.peer,
    messages.c.replay_of, messages.c.err_code, messages.c.raw_key_id,
)


def _record(row) -> MessageRecord:
    values = row._mapping
    return MessageRecord(
        id=values["id"], sender=values["sender"], control_id=values["control_id"],
        type=values["type"], version=values["version"], state=MessageState(values["state"]),
        received_at=values["received_at"], reason=values["reason"],
        ack_code=values["ack_code"], processed_at=values["processed_at"],
        patient_id=values["patient_id"], peer=values["peer"], replay_of=values["replay_of"],
        err_code=values["err_code"], raw_kept=values["raw_key_id"] != PURGED_KEY_ID,
    )


class MessageRepository(Repository):
    """Messages of one unit of work. `raw` bytes go in and come out in clear; the table holds
    only their ciphertext and a keyed hash."""

    def add(self, record: MessageRecord, raw: bytes) -> None:
        """Store one message and its raw bytes."""
        self.add_many([(record, raw)])

    def add_many(self, items: Iterable[tuple[MessageRecord, bytes]]) -> None:
        """Store many messages in one statement (executemany)."""
        rows = [self._row(record, raw) for record, raw in items]
        if rows:
            self._execute("adding messages", insert(messages), rows)

    def add_unless_stored(self, items: Iterable[tuple[MessageRecord, bytes]]) -> set[str]:
        """`add_many`, except that a stored message whose sender and control id are those of a
        message already stored (the unique index `uq_messages_stored_sender_control_id`; on
        PostgreSQL a concurrent insert is waited for) is not inserted. Returns the ids of the
        messages turned away, for the caller to settle as resends and add in their new state.
        One statement; rows go in key order, so that two batches holding the same keys wait for
        each other rather than deadlock."""
        rows = sorted((self._row(record, raw) for record, raw in items),
                      key=lambda row: (row["sender"], row["control_id"], row["id"]))
        if not rows:
            return set()
        dialect_insert = _INSERTS.get(self._connection.dialect.name)
        if dialect_insert is None:
            raise StoreError(f"unsupported database {self._connection.dialect.name}")
        statement = (dialect_insert(messages)
                     .on_conflict_do_nothing(index_elements=["sender", "control_id"],
                                             index_where=text(STORED_WITH_CONTROL_ID))
                     .returning(messages.c.id))
        added = self._insert_returning_ids(
            "adding messages", messages, rows,
            f"ON CONFLICT (sender, control_id) WHERE {STORED_WITH_CONTROL_ID} DO NOTHING",
            statement)
        return {row["id"] for row in rows} - added

    def _row(self, record: MessageRecord, raw: bytes) -> dict:
        # A record that keeps no copy (filed for a closed dossier) never has its bytes
        # encrypted or written, not even for a moment: only their keyed hash, for resends.
        if record.raw_kept:
            key_id, ciphertext = self._keyring.encrypt(bytes(raw), table=TABLE,
                                                       row_id=record.id)
        else:
            key_id, ciphertext = PURGED_KEY_ID, b""
        return {
            "id": record.id, "sender": record.sender, "control_id": record.control_id,
            "type": record.type, "version": record.version,
            "state": MessageState(record.state).value, "reason": record.reason,
            "ack_code": record.ack_code, "received_at": record.received_at,
            "processed_at": record.processed_at, "patient_id": record.patient_id,
            "peer": record.peer, "replay_of": record.replay_of, "err_code": record.err_code,
            "content_hash": self._content_hash(raw), "raw_key_id": key_id, "raw_ct": ciphertext,
        }

    def _content_hash(self, raw: bytes) -> str:
        return self._keyring.lookup_hash(bytes(raw), purpose=CONTENT_PURPOSE)

    def exists(self, id: str) -> bool:
        """Whether a message with this id is stored."""
        return bool(self.existing_ids([id]))

    def existing_ids(self, ids: Iterable[str]) -> set[str]:
        """Those of `ids` that are stored."""
        wanted: Sequence[str] = list(dict.fromkeys(ids))
        found: set[str] = set()
        query = _EXISTING[self._connection.dialect.name]
        for chunk in chunks(wanted):
            found.update(self._execute("looking up message ids", query,
                                       {"ids": list(chunk)}).scalars())
        return found

    def get(self, id: str) -> MessageRecord | None:
        """The record of one message, or None."""
        query = select(*_RECORD_COLUMNS).where(messages.c.id == id)
        row = self._execute("reading a message", query).first()
        return _record(row) if row is not None else None

    def raw(self, id: str) -> bytes:
        """The message's bytes exactly as received (decrypted); StoreError if it is unknown."""
        query = select(messages.c.raw_key_id, messages.c.raw_ct).where(messages.c.id == id)
        row = self._execute("reading a message's bytes", query).first()
        if row is None:
            raise StoreError(f"no message {id}")
        if row.raw_key_id == PURGED_KEY_ID:
            raise RawCopyPurged(f"message {id}: no raw copy is kept (filed for a closed "
                                "dossier, or purged by [retention])")
        return self._keyring.decrypt(row.raw_ct, table=TABLE, row_id=id, key_id=row.raw_key_id)

    def resend_of(self, sender: str, control_id: str, raw: bytes, *,
                  exclude_id: str | None = None) -> tuple[str, bool] | None:
        """The first non-rejected message with this sender and control id, and whether its bytes
        equal `raw`; None when there is none. `exclude_id` skips the message being processed."""
        query = (
            select(messages.c.id, messages.c.content_hash)
            .where(messages.c.sender == sender, messages.c.control_id == control_id,
                   messages.c.state != MessageState.REJECTED.value)
            .order_by(messages.c.received_at, messages.c.id)
            .limit(1)
        )
        if exclude_id is not None:
            query = query.where(messages.c.id != exclude_id)
        row = self._execute("looking for a resend", query).first()
        if row is None:
            return None
        return row.id, row.content_hash == self._content_hash(raw)

    def first_of(self, keys: Iterable[tuple[str, str]], *, stored_only: bool = False,
                 ) -> dict[tuple[str, str], tuple[str, str]]:
        """For many (sender, control id) pairs at once, the first non-rejected message stored
        with each: {(sender, control_id): (id, content hash)}; pairs with none are left out.
        `stored_only` looks only at messages in state stored (what a replay must not double)."""
        wanted = set(keys)
        query = (_FIRST_STORED if stored_only else _FIRST)[self._connection.dialect.name]
        found: dict[tuple[str, str], tuple[str, str]] = {}
        senders = sorted({sender for sender, _ in wanted})
        control_ids = sorted({control_id for _, control_id in wanted})
        for chunk in chunks(control_ids):
            for row in self._execute("looking for resends", query,
                                     {"senders": senders, "control_ids": list(chunk)}):
                key = (row.sender, row.control_id)
                if key in wanted and key not in found:
                    found[key] = (row.id, row.content_hash)
        return found

    def same_content(self, content_hash: str, raw: bytes) -> bool:
        """Whether `raw` is the content whose keyed hash is `content_hash`."""
        return content_hash == self._content_hash(raw)

    def set_state(self, id: str, state: MessageState, reason: str | None = None, *,
                  patient_id: str | None = None, ack_code: str | None = None) -> None:
        """Move a message to `state` with `reason` (None clears it) and stamp `processed_at`;
        `patient_id` and `ack_code` are set when given. StoreError if the message is unknown."""
        state = MessageState(state)
        values: dict = {"state": state.value, "reason": reason,
                        "processed_at": None if state is MessageState.RECEIVED else utc_now()}
        if patient_id is not None:
            values["patient_id"] = patient_id
        if ack_code is not None:
            values["ack_code"] = ack_code
        result = self._execute("updating a message's state",
                               update(messages).where(messages.c.id == id).values(**values))
        if result.rowcount == 0:
            raise StoreError(f"no message {id}")

    def update_rejection(self, id: str, reason: str, ack_code: str, err_code: int) -> None:
        """A rejected message checked again and still refused: its new reason, ACK code and
        ERR-3, in place (it stays rejected). StoreError if no rejected message has this id."""
        query = (update(messages)
                 .where(messages.c.id == id, messages.c.state == MessageState.REJECTED.value)
                 .values(reason=reason, ack_code=ack_code, err_code=err_code,
                         processed_at=utc_now()))
        if self._execute("updating a rejection", query).rowcount == 0:
            raise StoreError(f"no rejected message {id}")

    def search(self, state: MessageState | None = None, sender: str | None = None,
               control_id: str | None = None, limit: int = 1000, *, type: str | None = None,
               patient_id: str | None = None, since: datetime | None = None,
               until: datetime | None = None) -> list[MessageRecord]:
        """Messages matching every given filter (received in [since, until)), newest first."""
        query = select(*_RECORD_COLUMNS)
        if type is not None:
            query = query.where(messages.c.type == type)
        if patient_id is not None:
            query = query.where(messages.c.patient_id == patient_id)
        if since is not None:
            query = query.where(messages.c.received_at >= since)
        if until is not None:
            query = query.where(messages.c.received_at < until)
        if state is not None:
            query = query.where(messages.c.state == MessageState(state).value)
        if sender is not None:
            query = query.where(messages.c.sender == sender)
        if control_id is not None:
            query = query.where(messages.c.control_id == control_id)
        query = query.order_by(messages.c.received_at.desc(), messages.c.id.desc()).limit(limit)
        return [_record(row) for row in self._execute("searching messages", query)]

    def stored_ids(self, *, type: str | None = None, sender: str | None = None,
                   since: datetime | None = None, until: datetime | None = None) -> list[str]:
        """Ids of the stored messages matching every given filter (received in [since,
        until)), oldest first: what a re-mapping goes through."""
        query = select(messages.c.id).where(messages.c.state == MessageState.STORED.value)
        for column, value in ((messages.c.type, type), (messages.c.sender, sender)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(messages.c.received_at >= since)
        if until is not None:
            query = query.where(messages.c.received_at < until)
        query = query.order_by(messages.c.received_at, messages.c.id)
        return list(self._execute("selecting stored messages", query).scalars())

    def replays_of(self, ids: Iterable[str]) -> dict[str, list[MessageRecord]]:
        """The messages that replay each of `ids` (filed by a worker), oldest first; ids with
        none are left out."""
        found: dict[str, list[MessageRecord]] = {}
        for chunk in chunks(list(dict.fromkeys(ids))):
            query = (select(*_RECORD_COLUMNS).where(messages.c.replay_of.in_(chunk))
                     .order_by(messages.c.received_at, messages.c.id))
            for row in self._execute("reading replays", query):
                record = _record(row)
                found.setdefault(record.replay_of, []).append(record)
        return found

    def count_replays(self) -> int:
        """How many message rows are operators' replays of parked messages (no frame, no ACK)."""
        query = select(func.count()).select_from(messages).where(messages.c.replay_of.is_not(None))
        return self._execute("counting replays", query).scalar_one()

    def count_by_state(self) -> dict[str, int]:
        """How many messages are in each state; every state is present."""
        counts = {state.value: 0 for state in MessageState}
        query = select(messages.c.state, func.count()).group_by(messages.c.state)
        for state, count in self._execute("counting messages", query):
            counts[state] = count
        return counts
