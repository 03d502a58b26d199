"""The dossier's domain objects. Plain dataclasses: no SQLAlchemy, no pika, no keys."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class MessageState(StrEnum):
    """Where a received frame ended; every frame ends in exactly one of these."""

    RECEIVED = "received"    # accepted, not yet processed by a worker
    STORED = "stored"        # its entries are committed
    REJECTED = "rejected"    # AR/AE sent; bytes kept for inspection
    PARKED = "parked"        # could not be processed; reason kept; replayable
    DISCARDED = "discarded"  # dropped by policy (e.g. an identical resend); audited


class Confidentiality(StrEnum):
    NORMAL = "normal"
    RESTRICTED = "restricted"
    SECRET = "secret"


@dataclass
class MessageRecord:
    """What the hub knows about one received frame. Holds no patient data in clear."""

    id: str
    sender: str                 # MSH-3^MSH-4 as received ("" when no header could be read)
    control_id: str             # MSH-10
    type: str                   # e.g. "ORU^R01"
    version: str                # MSH-12
    state: MessageState
    received_at: datetime
    reason: str | None = None
    ack_code: str | None = None
    processed_at: datetime | None = None
    patient_id: str | None = None
    peer: str | None = None     # remote address of the connection it came on
    replay_of: str | None = None
    err_code: int | None = None  # ERR-3 of a rejection (table 0357); None before migration 0014
    # False when no copy of its bytes is kept: filed for a closed dossier (hub.domain.closure),
    # or emptied by retention.
    raw_kept: bool = True


@dataclass
class Patient:
    """Demographics of one insured person; `matricule` is the 13-digit (or legacy 11-digit) id."""

    matricule: str
    family_name: str = ""
    given_name: str = ""
    birth_date: str = ""        # ISO 8601 date (YYYY-MM-DD), or as precise as the source gave
    sex: str = ""


@dataclass
class Entry:
    """One entry of a patient's dossier, before it is stored."""

    kind: str                   # e.g. "lab_result", "encounter", "demographics"
    payload: dict[str, Any]
    confidentiality: Confidentiality = Confidentiality.NORMAL
    effective_at: str | None = None   # ISO 8601 timestamp of the clinical fact, when known


@dataclass
class StoredEntry:
    """An entry as read back from the store (decrypted)."""

    id: str
    patient_id: str
    message_id: str
    seq: int
    kind: str
    confidentiality: Confidentiality
    hidden: bool
    created_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    effective_at: str | None = None
    hidden_from: frozenset[str] = frozenset()   # CNS codes the patient hid it from


@dataclass(frozen=True)
class Merge:
    """What a merge did: dossier `merged_id` now files into `survivor_id`, `moved` entries went."""

    merged_id: str
    survivor_id: str
    moved: int


@dataclass(frozen=True)
class LastFiled:
    """The most recently received message that has a row (every row is a filed message)."""

    received_at: datetime
    processed_at: datetime | None
