"""The audit log as a hash chain: the canonical encoding of an event, its hash, and the check
of a whole chain. Pure functions over plain values, so the check can be rerun by anyone from a
database dump, and a tampered row is reported, never refused.

Canonical encoding (version 1), the bytes hashed for one event::

    netstring("hub-audit-v1") + field(seq) + field(id) + field(at) + field(actor)
    + field(action) + field(patient_id) + field(entry_id) + field(message_id)
    + field(outcome) + field(reason) + field(prev_hash)

where `netstring(s)` is `<length of s in UTF-8 bytes, decimal>:<s in UTF-8>,` and `field(v)`
is `~` for a null, else the netstring of its text: integers in decimal, times in UTC as
`YYYY-MM-DDTHH:MM:SS.ffffffZ`, strings as they are. A netstring starts with a digit, so a null
cannot be taken for a value, and lengths make every split unambiguous. The event's `hash` is
the lower-case hex SHA-256 of those bytes; the first event's `prev_hash` is 64 zeros.

Version 2, only for an event that names an operator (hub.domain.operator)::

    netstring("hub-audit-v2") + the same eleven fields + field(operator)

Version 3, only for an event that carries a `detail` (a filing's ids, JSON)::

    netstring("hub-audit-v3") + the same eleven fields + field(operator) + field(detail)

An event without an operator or a detail is encoded as version 1, so every event written before operators were
named still hashes as it did: `hub audit verify` checks old and new events alike, and a
version 2 encoding (another tag, one more field) can never equal a version 1 one.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from hub.domain.audit import GENESIS_HASH, AuditEvent, VerifyResult

FORMAT_TAG = "hub-audit-v1"
FORMAT_TAG_V2 = "hub-audit-v2"  # version 1's fields, then the operator's name
FORMAT_TAG_V3 = "hub-audit-v3"  # version 2's fields, then the detail
# The order the canonical encoding puts the columns in; `hash` covers all of them.
HASHED_FIELDS = ("seq", "id", "at", "actor", "action", "patient_id", "entry_id", "message_id",
                 "outcome", "reason", "prev_hash")
# Hashed after them, only when set (version 2).
OPTIONAL_FIELDS = ("operator", "detail")
NULL = b"~"


def canonical_time(at: datetime) -> str:
    """A timestamp as the encoding writes it: UTC, microseconds, a `Z`."""
    if at.tzinfo is None:
        raise ValueError("audit time must be timezone-aware")
    at = at.astimezone(UTC)
    if at.year < 1000:  # strftime's %Y does not pad such a year: keep its exact text
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as strftime at a fifth of its cost: every filing's event is hashed.
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (
        at.year, at.month, at.day, at.hour, at.minute, at.second, at.microsecond)


def _netstring(text: str) -> bytes:
    data = text.encode("utf-8")
    return b"%d:%b," % (len(data), data)


def _field(value: object) -> bytes:
    if value is None:
        return NULL
    if type(value) is str:  # most fields (ids, codes, hashes): no further check to make
        return _netstring(value)
    if isinstance(value, bool):  # a bool is an int to Python, never a value of this log
        raise TypeError("audit field cannot be a boolean")
    if isinstance(value, int):
        return _netstring(str(value))
    if isinstance(value, datetime):
        return _netstring(canonical_time(value))
    if isinstance(value, str):  # StrEnum members too: their str() is their value
        return _netstring(str(value))
    raise TypeError(f"audit field cannot be a {type(value).__name__}")


def _values(event: AuditEvent | Mapping[str, object]) -> Mapping[str, object]:
    if isinstance(event, AuditEvent):
        return {name: getattr(event, name) for name in (*HASHED_FIELDS, *OPTIONAL_FIELDS)}
    return event


def canonical_bytes(event: AuditEvent | Mapping[str, object]) -> bytes:
    """The bytes an event's hash is computed over (see the module docstring): version 1 unless
    the event names an operator, 3 when it carries a detail. A mapping without an "operator" key
    is a version 1 row."""
    values = _values(event)
    # Strings (most fields) are written out here rather than through `_field`: every filing's
    # event is hashed, and the calls were half the cost of the encoding.
    parts = []
    for name in HASHED_FIELDS:
        value = values[name]
        if type(value) is str:
            data = value.encode("utf-8")
            parts.append(b"%d:%b," % (len(data), data))
        elif value is None:
            parts.append(NULL)
        else:
            parts.append(_field(value))
    fields = b"".join(parts)
    operator, detail = values.get("operator"), values.get("detail")
    if detail is not None:
        return _netstring(FORMAT_TAG_V3) + fields + _field(operator) + _field(detail)
    if operator is None:
        return _netstring(FORMAT_TAG) + fields
    return _netstring(FORMAT_TAG_V2) + fields + _field(operator)


def event_hash(event: AuditEvent | Mapping[str, object]) -> str:
    """The hex SHA-256 of an event's canonical encoding (its `prev_hash` included)."""
    return hashlib.sha256(canonical_bytes(event)).hexdigest()


def check_chain(rows: Iterable[Mapping[str, object]]) -> VerifyResult:
    """Check stored events given in seq order (mappings of column values, `hash` included).

    A row the store could not convert may be given as `{"seq": n, "unreadable": why}`.
    Each event must carry the next seq (1, 2, 3…; a gap is a deletion), hash to its stored
    `hash` (else it was edited) and name the previous event's hash as its `prev_hash` (else
    something was inserted, removed or moved before it). The first event that fails is
    reported; `checked` counts the events before it, all intact.
    """
    expected_seq, previous_hash, checked = 1, GENESIS_HASH, 0
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            if isinstance(seq, int) and seq > expected_seq:
                after = f"after event {expected_seq - 1}" if expected_seq > 1 else "first"
                problem = f"event {expected_seq} is missing ({after} comes event {seq})"
            else:
                problem = f"event {seq} is out of order (expected event {expected_seq})"
            return _broken(checked, expected_seq, problem, previous_hash)
        if "unreadable" in row:  # the store could not even convert the row's values
            return _broken(checked, seq, f"event {seq} cannot be read ({row['unreadable']})",
                           previous_hash)
        try:
            intact = row["hash"] == event_hash(row)
        except (TypeError, ValueError) as exc:
            return _broken(checked, seq, f"event {seq} cannot be encoded ({exc})", previous_hash)
        if not intact:
            return _broken(checked, seq, f"event {seq} does not match its hash (edited)",
                           previous_hash)
        if row["prev_hash"] != previous_hash:
            what = "the start of the chain" if seq == 1 else f"event {seq - 1}"
            return _broken(checked, seq, f"event {seq} does not link to {what}", previous_hash)
        previous_hash, expected_seq, checked = str(row["hash"]), expected_seq + 1, checked + 1
    return VerifyResult(ok=True, checked=checked, head_seq=expected_seq - 1 if checked else None,
                        head_hash=previous_hash if checked else None)


def _broken(checked: int, seq: int, problem: str, previous_hash: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, first_broken_seq=seq, problem=problem,
                        head_seq=seq - 1 if checked else None,
                        head_hash=previous_hash if checked else None)
