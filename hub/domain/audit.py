"""The audit log's domain: one event of the patient's access journal, and what a check of the
chain found. Plain dataclasses: no SQLAlchemy.

An event names people and things by id only — a patient by `patients.id`, an entry by
`entries.id`, a message by `messages.id`, a professional by CNS code, an operator by name
(hub.domain.operator) — so the log itself holds no patient data in clear.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from hub.domain.operator import InvalidOperator, validate_operator_name
from hub.domain.professional import validate_cns_code
from hub.errors import InvalidCnsCode

GENESIS_HASH = "0" * 64

ACTION = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)*")
# A bare 11- or 13-digit number is what a matricule looks like; a reason must never carry one.
MATRICULE_LIKE = re.compile(r"\b(\d{11}|\d{13})\b")


class Actor(StrEnum):
    """Who acted, when it was not a professional (a professional is named by CNS code)."""

    PATIENT = "patient"
    CNS_FEED = "cns-feed"
    HUB = "hub"
    OPERATOR = "operator"      # an integration engineer at the `hub` command
    REPRESENTATIVE = "representative"  # one acting for the patient; the reason names which


class AuditOutcome(StrEnum):
    """How the audited act ended."""

    OK = "ok"
    DENIED = "denied"
    FAILED = "failed"


class AuditAction(StrEnum):
    """Every action the hub audits: one list a reader of the journal can look up. The values
    are what the log stores, so they never change. (validate_event still accepts any
    lower-case dotted name, so that events written by another version read back and check.)"""

    DELIVER = "deliver"
    DENY = "deny"
    READ = "read"  # a professional's read of an entry; an operator's of one document entry
    DOSSIER_READ = "dossier.read"  # an operator's full view: demographics and every entry
    IDENTITY_READ = "identity.read"  # a matricule decrypted for an operator's list
    CONSENT_GRANT = "consent.grant"
    CONSENT_REVOKE = "consent.revoke"
    CONSENT_EXPIRED = "consent.expired"  # a grant's last day passed (noted by a scheduled job)
    REFERENT_DECLARE = "referent.declare"  # by the CNS feed (ADT^A31) or `hub consent referent`
    REFERENT_END = "referent.end"
    REFERENT_BLOCK = "referent.block"
    REFERENT_UNBLOCK = "referent.unblock"
    DOSSIER_CLOSE = "dossier.close"
    DOSSIER_REOPEN = "dossier.reopen"
    ENTRY_HIDE = "entry.hide"
    ENTRY_UNHIDE = "entry.unhide"
    ENTRY_CONFIDENTIALITY = "entry.confidentiality"
    ENTRIES_REMAPPED = "entries.remapped"  # hub remap: counts and entry ids only
    MESSAGE_DISCARDED = "message.discarded"
    PATIENT_MERGED = "patient.merged"   # ADT^A40: on both the merged and the surviving dossier
    MESSAGE_REPLAYED = "message.replayed"
    MESSAGE_RETRIED = "message.retried"  # a rejected message checked again (hub rejected retry)
    MESSAGE_RAW_READ = "message.raw_read"  # an operator read a parked message's raw bytes
    KEYS_ROTATE = "keys.rotate"
    RETENTION_PURGE = "retention.purge"  # raw copies emptied (a count only)
    DOSSIER_ERASED = "dossier.erased"  # a closed dossier's content erased after its retention
    CONSENT_DEFAULT_LEVEL = "consent.default_level"  # the level new entries are filed at, at least
    ENTRY_HIDE_FROM = "entry.hide_from"  # one entry hidden from one professional (reason: CNS code)
    ENTRY_UNHIDE_FROM = "entry.unhide_from"
    # Representatives (hub.domain.representative): named by id in the reason, never by name.
    REPRESENTATIVE_ADD = "representative.add"
    REPRESENTATIVE_END = "representative.end"
    REPRESENTATIVE_ENDED_MAJORITY = "representative.majority"  # a parent's rights, at majority
    REPRESENTATIVE_LIST = "representative.list"  # an operator read the representatives' names
    ENTRIES_FILED = "entries.filed"  # a message's entries filed; ids in `detail` (FilingDetail)


@dataclass(frozen=True)
class AuditEvent:
    """One event of the audit log.

    Build it with who, what and why; the store fills `seq`, `id`, `at` (unless given),
    `prev_hash` and `hash` when it records it, after `validate_event`.

    `operator` names the operator at the `hub` command behind the event, when there was one:
    the actor itself when `actor` is "operator", else who recorded it (a consent change the
    patient made at the desk keeps actor "patient"). None for events of the hub, the feeds and
    recipients, and for every event written before operators were named.

    `detail` is a JSON object of ids and codes only (no patient data: `validate_event` refuses
    a matricule-like number in it), for what one event must name beyond one entry and one
    message: a filing's entry ids, sending facility and professional (`FilingDetail`). None
    for every other event, and for every event written before it existed.
    """

    actor: str
    action: str
    outcome: AuditOutcome | str = AuditOutcome.OK
    reason: str = ""
    patient_id: str | None = None
    entry_id: str | None = None
    message_id: str | None = None
    at: datetime | None = None
    id: str | None = None
    seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None
    operator: str | None = None
    detail: str | None = None


# Built once: every event recorded is checked against them.
_ACTORS = frozenset(a.value for a in Actor)
_OUTCOMES = frozenset(o.value for o in AuditOutcome)


def validate_event(event: AuditEvent) -> None:
    """Refuse (ValueError) an event the log must not hold: an unknown kind of actor, an action
    that is not a lower-case dotted name, an unknown outcome, a reason that is not text or looks
    like a matricule, a naive time, an operator name that is not one. Checked on the way in only, so that a tampered row can still
    be read back and reported."""
    if event.actor not in _ACTORS and not _is_cns_code(event.actor):
        raise ValueError(f"audit actor must be a CNS code or one of "
                         f"{', '.join(a.value for a in Actor)}, not {event.actor!r}")
    if not ACTION.fullmatch(event.action or ""):
        raise ValueError(f"audit action must be a lower-case dotted name, not {event.action!r}")
    if event.outcome not in _OUTCOMES:
        raise ValueError(f"audit outcome must be ok, denied or failed, not {event.outcome!r}")
    if not isinstance(event.reason, str):
        raise ValueError("audit reason must be a string")
    if MATRICULE_LIKE.search(event.reason):
        raise ValueError("audit reason must not carry a matricule")
    if event.at is not None and event.at.tzinfo is None:
        raise ValueError("audit time must be timezone-aware")
    if event.operator is not None:
        try:
            if validate_operator_name(event.operator) != event.operator:
                raise ValueError("audit operator must be given without surrounding spaces")
        except InvalidOperator as exc:
            raise ValueError(f"audit operator: {exc}") from None
    if event.detail is not None:
        _validate_detail(event.detail)


def _validate_detail(detail: object) -> None:
    if not isinstance(detail, str):
        raise ValueError("audit detail must be a JSON string")
    try:
        value = json.loads(detail)
    except ValueError:
        raise ValueError("audit detail must be JSON") from None
    if not isinstance(value, dict):
        raise ValueError("audit detail must be a JSON object")
    if MATRICULE_LIKE.search(detail):
        raise ValueError("audit detail must not carry a matricule")


@dataclass(frozen=True)
class FilingDetail:
    """What an "entries.filed" event names, by id and code only: the entries one message
    made (`entries`, in order), the sending application^facility as MSH-3^MSH-4 gave them
    (`sender`), the professional the message names for them (`professional`, a CNS code, or
    None) and in which role (`role`: "ordering" for a lab order's ORC-12/OBR-16, "author" for
    a document's TXA-9/TXA-5). Titles, test names and dates stay in the encrypted entries:
    the journal resolves them when it is shown, and says so when an entry is since erased."""

    entries: tuple[str, ...]
    sender: str = ""
    professional: str | None = None
    role: str | None = None

    def to_json(self) -> str:
        """The event's `detail`: compact, keys sorted, so its hash is stable."""
        return json.dumps({"entries": list(self.entries), "sender": self.sender,
                           "professional": self.professional, "role": self.role},
                          sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, detail: str | None) -> FilingDetail | None:
        """The detail back, or None when there is none or it is not one (a tampered row is
        reported by `hub audit verify`, not here)."""
        try:
            value = json.loads(detail or "")
            entries = tuple(str(e) for e in value.get("entries") or ())
            professional, role = value.get("professional"), value.get("role")
            return cls(entries, str(value.get("sender") or ""),
                       None if professional is None else str(professional),
                       None if role is None else str(role))
        except (ValueError, AttributeError, TypeError):
            return None


def _is_cns_code(actor: object) -> bool:
    try:
        return isinstance(actor, str) and validate_cns_code(actor) == actor
    except InvalidCnsCode:
        return False


@dataclass(frozen=True)
class VerifyResult:
    """What a check of the whole chain found: `ok`, how many events were `checked`, and when it
    is broken the seq of the first event that does not hold (`first_broken_seq`) with why
    (`problem`). `head_seq`/`head_hash` name the last event found intact: worth noting
    elsewhere, since a chain cut after its last event cannot be told from a shorter one."""

    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None
