"""Dossier entries: kind, confidentiality and order in clear; payload and clinical date encrypted."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    String, bindparam, delete, func, insert, literal_column, select, true, update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.sql import Select

from hub.domain.consent import EntryView
from hub.domain.models import Confidentiality, Entry, StoredEntry
from hub.errors import StoreError
from hub.store.one_of import PerDialect
from hub.store.repository import Repository, chunks, from_json_bytes, to_json_bytes
from hub.store.tables import entries, entry_hidden_from, new_ids, patients, utc_now

TABLE = "entries"
_TICK = timedelta(microseconds=1)
_LEVELS = [c.value for c in Confidentiality]  # from the loosest to the strictest


# Built once per dialect (hub.store.one_of): the sender re-checks consent for every batch, and
# building this select (its join, its cache key), rendering its id list and calling
# Confidentiality(value) per entry cost more than the query.
_VIEWS = PerDialect(lambda one_of: (
    select(entries.c.id, entries.c.message_id, entries.c.confidentiality,
           entries.c.hidden, entry_hidden_from.c.cns_code)
    .select_from(entries.outerjoin(entry_hidden_from,
                                   entry_hidden_from.c.entry_id == entries.c.id))
    .where(one_of(entries.c.message_id, "message_ids"))
    .order_by(entries.c.message_id, entries.c.seq, entries.c.id)))


def _views_pg() -> Select[Any]:
    """What _VIEWS reads, on PostgreSQL: each message's entries looked up on their own, through
    the message id index. `= ANY(list)` is planned from the table's statistics; where they are
    stale or missing (a table growing faster than it is analyzed, a server without autovacuum)
    PostgreSQL reckons 50 ids match a quarter of the table and reads all of it, every batch.
    A lateral subquery that cannot be flattened (OFFSET 0) leaves it no plan but the index."""
    wanted = func.unnest(bindparam("message_ids", type_=ARRAY(String))).table_valued(
        "message_id").render_derived("wanted")
    found = (select(entries.c.id, entries.c.message_id, entries.c.confidentiality,
                    entries.c.hidden, entries.c.seq)
             .where(entries.c.message_id == wanted.c.message_id)
             .offset(literal_column("0")).lateral("found"))
    return (select(found.c.id, found.c.message_id, found.c.confidentiality, found.c.hidden,
                   entry_hidden_from.c.cns_code)
            .select_from(wanted.join(found, true()).outerjoin(
                entry_hidden_from, entry_hidden_from.c.entry_id == found.c.id))
            .order_by(found.c.message_id, found.c.seq, found.c.id))


_VIEWS_PG = _views_pg()
_LEVEL_OF = {c.value: c for c in Confidentiality}
_NO_CODES: frozenset[str] = frozenset()


def entry_views(execute, dialect: str, message_ids: list[str]) -> dict[str, list[EntryView]]:
    """For consent: each message's entries as `EntryView`s (level, hidden flag, the CNS codes
    it is hidden from), in entry order, read in one query per chunk through `execute` (a
    repository's, on a `dialect` connection); nothing decrypted. A message that made no entry
    maps to []."""
    views: dict[str, list[EntryView]] = {id: [] for id in message_ids}
    query = _VIEWS_PG if dialect == "postgresql" else _VIEWS[dialect]
    # One EntryView per distinct (level, hidden, codes), shared by the entries that look
    # alike (a lab report's ten results): built once, and consent (decide_all) passes over
    # an entry that is the very view of the one before it without hashing it.
    made: dict[tuple[str, bool, frozenset[str]], EntryView] = {}
    for chunk in chunks(list(views)):
        rows: dict[str, tuple[str, str, bool]] = {}
        codes_of: dict[str, set[str]] = {}
        for id, message_id, level, hidden, code in execute("reading entry levels", query, {
                "message_ids": list(chunk)}).fetchall():
            if id not in rows:
                rows[id] = (message_id, level, bool(hidden))
            if code is not None:
                codes_of.setdefault(id, set()).add(code)
        for id, (message_id, level, hidden) in rows.items():  # dicts keep query order
            codes = codes_of.get(id)
            key = (level, hidden, frozenset(codes) if codes else _NO_CODES)
            view = made.get(key)
            if view is None:
                view = made[key] = EntryView(_LEVEL_OF[level], hidden, key[2])
            views[message_id].append(view)
    return views


class EntryRepository(Repository):
    """Entries of one unit of work."""

    def __init__(self, connection, keyring, on_failure=None):
        super().__init__(connection, keyring, on_failure)
        self._last_created_at: datetime | None = None

    def add(self, patient_id: str, message_id: str, seq: int, entry: Entry) -> str:
        """Store one entry; return its id."""
        return self.add_many([(patient_id, message_id, seq, entry)])[0]

    def add_many(self, items: Iterable[tuple[str, str, int, Entry]]) -> list[str]:
        """Store (patient_id, message_id, seq, entry) tuples in one statement; return their ids
        in the same order."""
        items = list(items)
        ids = new_ids(len(items))
        key_id, ciphertexts = self._keyring.encrypt_many(
            [to_json_bytes({"payload": entry.payload, "effective_at": entry.effective_at})
             for _, _, _, entry in items], table=TABLE, row_ids=ids)
        rows = [{
            "id": entry_id, "patient_id": patient_id, "message_id": message_id, "seq": seq,
            "kind": entry.kind, "confidentiality": Confidentiality(entry.confidentiality).value,
            "hidden": False, "created_at": self._next_created_at(),
            "key_id": key_id, "payload_ct": ciphertext,
        } for entry_id, ciphertext, (patient_id, message_id, seq, entry)
            in zip(ids, ciphertexts, items)]
        self._insert_rows("adding entries", entries, rows)
        return ids

    def _next_created_at(self) -> datetime:
        # Strictly increasing within a unit of work, so reading back by (created_at, seq) gives
        # insertion order even when the clock returns the same microsecond twice.
        now = utc_now()
        if self._last_created_at is not None and now <= self._last_created_at:
            now = self._last_created_at + _TICK
        self._last_created_at = now
        return now

    def for_patient(self, patient_id: str) -> list[StoredEntry]:
        """Every entry of a dossier, decrypted, oldest first (by created_at, then seq), with
        those still filed to a dossier merged into it: a worker that looked the merged patient
        up just before the merge committed may file its entries there after the merge moved the
        rest, and the survivor's dossier must show them all the same."""
        merged = select(patients.c.id).where(patients.c.merged_into == patient_id)
        query = (select(entries).where((entries.c.patient_id == patient_id)
                                       | entries.c.patient_id.in_(merged))
                 .order_by(entries.c.created_at, entries.c.seq, entries.c.id))
        return self._stored_all(list(self._execute("reading entries", query)))

    def _stored_all(self, rows: list) -> list[StoredEntry]:
        """Rows decrypted, each with the professionals its entry is hidden from."""
        hidden_from = self._hidden_from([row.id for row in rows])
        return [self._stored(row, hidden_from.get(row.id, frozenset())) for row in rows]

    def _hidden_from(self, entry_ids: list[str]) -> dict[str, frozenset[str]]:
        found: dict[str, set[str]] = {}
        for chunk in chunks(entry_ids):
            query = select(entry_hidden_from.c.entry_id, entry_hidden_from.c.cns_code).where(
                entry_hidden_from.c.entry_id.in_(chunk))
            for row in self._execute("reading whom entries are hidden from", query):
                found.setdefault(row.entry_id, set()).add(row.cns_code)
        return {entry_id: frozenset(codes) for entry_id, codes in found.items()}

    def _stored(self, row, hidden_from: frozenset[str] = frozenset()) -> StoredEntry:
        plain = self._keyring.decrypt(row.payload_ct, table=TABLE, row_id=row.id,
                                      key_id=row.key_id)
        document = from_json_bytes(plain, f"entry {row.id}")
        return StoredEntry(
            id=row.id, patient_id=row.patient_id, message_id=row.message_id, seq=row.seq,
            kind=row.kind, confidentiality=Confidentiality(row.confidentiality),
            hidden=bool(row.hidden), created_at=row.created_at,
            payload=document.get("payload") or {}, effective_at=document.get("effective_at"),
            hidden_from=hidden_from,
        )

    def for_message(self, message_id: str) -> list[StoredEntry]:
        """The entries one message made, decrypted, by seq."""
        query = select(entries).where(entries.c.message_id == message_id).order_by(entries.c.seq)
        return self._stored_all(list(self._execute("reading entries", query)))

    def by_ids(self, entry_ids: Iterable[str]) -> dict[str, StoredEntry]:
        """The entries of `entry_ids` still stored, decrypted, by id; an id erased since (or
        never stored) is simply absent."""
        found: dict[str, StoredEntry] = {}
        for chunk in chunks(list(dict.fromkeys(entry_ids))):
            query = select(entries).where(entries.c.id.in_(chunk))
            for row in self._execute("reading entries", query):
                found[row.id] = self._stored(row)
        return found

    def rewrite(self, entry_id: str, entry: Entry) -> None:
        """Give a stored entry the kind, payload and clinical date of `entry` (a mapping
        changed), encrypted afresh under the current key. Its hidden flag stays, and its level
        only ever tightens: the patient may have raised it."""
        document = {"payload": entry.payload, "effective_at": entry.effective_at}
        key_id, ciphertext = self._keyring.encrypt(to_json_bytes(document), table=TABLE,
                                                   row_id=entry_id)
        self._update_entry(entry_id, None, "rewriting an entry", kind=entry.kind,
                           key_id=key_id, payload_ct=ciphertext)
        looser = _LEVELS[:_LEVELS.index(Confidentiality(entry.confidentiality))]
        if looser:
            self._execute("tightening an entry's level", update(entries).where(
                entries.c.id == entry_id, entries.c.confidentiality.in_(looser))
                .values(confidentiality=Confidentiality(entry.confidentiality).value))

    def remove(self, entry_ids: list[str]) -> None:
        """Delete entries a mapping no longer makes."""
        if entry_ids:
            self._execute("removing entries", delete(entries).where(entries.c.id.in_(entry_ids)))

    def set_hidden(self, entry_id: str, hidden: bool, patient_id: str | None = None) -> None:
        """Hide an entry from professionals (the patient's choice), or show it again.
        With `patient_id`, only an entry of that dossier is touched."""
        self._update_entry(entry_id, patient_id, "hiding an entry", hidden=hidden)

    def set_hidden_from(self, entry_id: str, cns_code: str, hidden: bool, patient_id: str,
                        at: datetime) -> bool:
        """Hide an entry of the dossier `patient_id` from one professional (the patient's
        choice), or show it to them again; whether that changed anything. StoreError when the
        entry is not in that dossier."""
        owned = select(entries.c.id).where(entries.c.id == entry_id,
                                           entries.c.patient_id == patient_id)
        if self._execute("finding an entry", owned).first() is None:
            raise StoreError(f"no entry {entry_id} in this dossier")
        h = entry_hidden_from.c
        present = self._execute("reading whom an entry is hidden from", select(h.entry_id).where(
            h.entry_id == entry_id, h.cns_code == cns_code)).first() is not None
        if hidden and not present:
            self._execute("hiding an entry from a professional", insert(entry_hidden_from),
                          {"entry_id": entry_id, "cns_code": cns_code, "hidden_at": at})
        elif present and not hidden:
            self._execute("showing an entry to a professional", delete(entry_hidden_from).where(
                h.entry_id == entry_id, h.cns_code == cns_code))
        return hidden != present

    def set_confidentiality(self, entry_id: str, confidentiality: Confidentiality | str,
                            patient_id: str | None = None) -> None:
        """Set an entry's confidentiality level (the patient's choice).
        With `patient_id`, only an entry of that dossier is touched."""
        level = Confidentiality(confidentiality).value
        self._update_entry(entry_id, patient_id, "setting an entry's confidentiality",
                           confidentiality=level)

    def _update_entry(self, entry_id: str, patient_id: str | None, doing: str, **values) -> None:
        statement = update(entries).where(entries.c.id == entry_id)
        if patient_id is not None:
            statement = statement.where(entries.c.patient_id == patient_id)
        if self._execute(doing, statement.values(**values)).rowcount == 0:
            raise StoreError(f"no entry {entry_id}"
                             + ("" if patient_id is None else " in this dossier"))

    def views_for_message(self, message_id: str) -> list[EntryView]:
        """What consent needs of each entry a message made (level, hidden, hidden from whom),
        nothing decrypted."""
        return entry_views(self._execute, self._connection.dialect.name,
                           [message_id])[message_id]

    def outlines_for_message(self, message_id: str) -> list[dict]:
        """Id, seq, kind, confidentiality and hidden flag of each entry a message made, in
        order; nothing decrypted (what a trace may show)."""
        query = (select(entries.c.id, entries.c.seq, entries.c.kind, entries.c.confidentiality,
                        entries.c.hidden, entries.c.created_at)
                 .where(entries.c.message_id == message_id).order_by(entries.c.seq))
        return [{**row._mapping, "hidden": bool(row.hidden)}
                for row in self._execute("reading entry outlines", query)]

    def count_for_message(self, message_id: str) -> int:
        """How many entries a message produced."""
        query = select(func.count()).select_from(entries).where(
            entries.c.message_id == message_id)
        return self._execute("counting entries", query).scalar_one()

    def count(self) -> int:
        """How many entries are stored."""
        query = select(func.count()).select_from(entries)
        return self._execute("counting entries", query).scalar_one()
