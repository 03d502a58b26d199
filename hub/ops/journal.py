"""The patient's journal as people read it: audit events turned into lines that name who acted
(the registry's name and specialty beside the CNS code) and what was touched (the entry's kind,
title or test name, clinical date), in no language yet — hub.journal.phrases words them.

The audit log names everything by id (hub.domain.audit): names come from the registry and
titles from the entries, decrypted here as the store does, when the journal is shown. An entry
erased since is a `Thing` with `erased` set, never an error. A delivery or a denial of a
message of several entries lists them all: the ids its filing event recorded, else (events
written before filings were journaled) the entries the message made that are still stored.

Consecutive reads of one professional at one instant (`hub dossier show --as` journals each
entry it shows) become one line: "… read 3 lab results".
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from hub.domain.audit import AuditAction, AuditEvent, FilingDetail
from hub.domain.luxembourg import LUXEMBOURG
from hub.domain.models import StoredEntry
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory
from hub.domain.professional import Professional
from hub.errors import UnknownMatricule

CNS_CODE = re.compile(r"\b\d{6}-\d{2}\b")
THROUGH = re.compile(r"\bthrough (\d{4}-\d{2}-\d{2})\b")
# Fields that title an entry, by kind, the first present wins (mappings/*.toml field names).
TITLE_FIELDS = {
    "lab_result": ("code_text", "test_text", "code"),
    "document": ("document_type_text", "code_text", "test_text", "document_type"),
}
ANY_TITLE = ("title", "code_text", "description", "test_text", "document_type_text", "code")
# Events whose message's entries are what they touched, when the event names no single entry.
MESSAGE_ACTIONS = frozenset({AuditAction.DELIVER, AuditAction.DENY, AuditAction.READ,
                             AuditAction.ENTRIES_FILED, AuditAction.MESSAGE_REPLAYED})
MERGED_ACTIONS = frozenset({AuditAction.READ})


@dataclass(frozen=True)
class Person:
    """Who acted or was named: `kind` is "professional" or an Actor value (or, for actors a
    newer hub writes, what the log says). A professional carries the registry's `name` and
    `specialty` (None when the registry does not know the code)."""

    kind: str
    cns_code: str | None = None
    name: str | None = None
    specialty: str | None = None


@dataclass(frozen=True)
class Thing:
    """An entry as the journal names it: kind, title, clinical date in Luxembourg; or erased."""

    kind: str | None
    title: str | None = None
    date: date | None = None
    erased: bool = False


@dataclass(frozen=True)
class JournalLine:
    """One readable line: `at` (aware, UTC as stored), the `action` and `outcome` as the log has
    them, `who` acted, the `things` touched, the stored `reason` (hub.journal.phrases words
    the known ones), `operator` who recorded it, and per action: the persons the reason names
    (`named`, e.g. whom a grant is for), a filing's `sender` and `professional` with its
    `role`, a grant's `level` and last day (`until`)."""

    at: datetime
    action: str
    outcome: str
    who: Person
    things: tuple[Thing, ...] = ()
    reason: str = ""
    operator: str | None = None
    named: tuple[Person, ...] = ()
    sender: str | None = None
    professional: Person | None = None
    role: str | None = None
    level: str | None = None
    until: date | None = None
    seqs: tuple[int, ...] = field(default_factory=tuple)


def read_journal(uow_factory: UnitOfWorkFactory, matricule: str) -> tuple[list[AuditEvent],
                                                                        list[JournalLine]]:
    """The events of the dossier of `matricule` (oldest first) and their readable lines;
    UnknownMatricule without a dossier."""
    with uow_factory() as uow:
        patient_id = uow.patients.find(matricule)
        if patient_id is None:
            raise UnknownMatricule("no dossier for this matricule")
        events = uow.audit.journal(patient_id)
        return events, journal_lines(uow, events)


def journal_lines(uow: UnitOfWork, events: list[AuditEvent]) -> list[JournalLine]:
    """`build_lines` with what it needs read from `uow`: the entries the events name (by id,
    then by message for older events) and the professionals they name."""
    filings = filed_entries(events)
    wanted = {e.entry_id for e in events if e.entry_id}
    wanted.update(i for ids in filings.values() for i in ids)
    entries = uow.entries.by_ids(wanted)
    by_message = dict(filings)
    for event in events:
        mid = event.message_id
        if mid and not event.entry_id and event.action in MESSAGE_ACTIONS and mid not in by_message:
            stored = uow.entries.for_message(mid)
            by_message[mid] = [e.id for e in stored]
            entries.update((e.id, e) for e in stored)
    codes = set()
    for event in events:
        codes.update(_codes_in(event))
    professionals = {code: uow.professionals.get(code) for code in sorted(codes)}
    return build_lines(events, professionals=professionals, entries=entries,
                       message_entries=by_message)


def filed_entries(events: Iterable[AuditEvent]) -> dict[str, list[str]]:
    """The entry ids each message's filing event recorded, by message id."""
    found: dict[str, list[str]] = {}
    for event in events:
        if event.action == AuditAction.ENTRIES_FILED and event.message_id:
            detail = FilingDetail.from_json(event.detail)
            if detail is not None:
                found[event.message_id] = list(detail.entries)
    return found


def build_lines(events: Iterable[AuditEvent], *,
                professionals: Mapping[str, Professional | None],
                entries: Mapping[str, StoredEntry],
                message_entries: Mapping[str, list[str]]) -> list[JournalLine]:
    """The readable lines of `events` (oldest first), with the registry's `professionals` by
    CNS code, the stored `entries` by id (an id missing is an entry erased since) and the
    entry ids of each message (`message_entries`)."""
    lines: list[JournalLine] = []
    for event in events:
        line = _line(event, professionals, entries, message_entries)
        previous = lines[-1] if lines else None
        if previous is not None and _same_read(previous, line):
            lines[-1] = replace(previous, things=previous.things + line.things,
                                seqs=previous.seqs + line.seqs)
        else:
            lines.append(line)
    return lines


def _line(event: AuditEvent, professionals: Mapping[str, Professional | None],
          entries: Mapping[str, StoredEntry],
          message_entries: Mapping[str, list[str]]) -> JournalLine:
    action = str(event.action)
    ids: list[str] = []
    sender = professional = role = None
    if action == AuditAction.ENTRIES_FILED:
        detail = FilingDetail.from_json(event.detail)
        if detail is not None:
            ids, sender, role = list(detail.entries), detail.sender or None, detail.role
            if detail.professional:
                professional = person(detail.professional, professionals)
    elif event.entry_id:
        ids = [event.entry_id]
    elif event.message_id and action in MESSAGE_ACTIONS:
        ids = list(message_entries.get(event.message_id, ()))
    things = tuple(thing(entries.get(i)) for i in ids)
    named = tuple(person(code, professionals) for code in CNS_CODE.findall(event.reason or "")
                  if code != event.actor)
    level = until = None
    if action == AuditAction.CONSENT_GRANT:
        level = "extended" if (event.reason or "").startswith("extended") else "normal"
        found = THROUGH.search(event.reason or "")
        until = date.fromisoformat(found.group(1)) if found else None
    at = event.at if event.at is not None else datetime.min.replace(tzinfo=LUXEMBOURG)
    return JournalLine(at=at, action=action, outcome=str(event.outcome),
                       who=person(str(event.actor), professionals), things=things,
                       reason=event.reason or "", operator=event.operator, named=named,
                       sender=sender, professional=professional, role=role, level=level,
                       until=until, seqs=(event.seq,) if event.seq is not None else ())


def person(actor: str, professionals: Mapping[str, Professional | None]) -> Person:
    """An actor of the log as a Person: a CNS code with the registry's name and specialty."""
    if CNS_CODE.fullmatch(actor or ""):
        known = professionals.get(actor)
        if known is None:
            return Person("professional", actor)
        name = " ".join(part for part in (known.given_name, known.family_name) if part)
        return Person("professional", actor, name or None, known.specialty or None)
    return Person(actor)


def thing(entry: StoredEntry | None) -> Thing:
    """An entry as the journal names it; None (not stored any more) is an erased one."""
    if entry is None:
        return Thing(None, erased=True)
    payload = entry.payload or {}
    title = None
    for name in TITLE_FIELDS.get(entry.kind, ANY_TITLE):
        value = payload.get(name)
        if isinstance(value, str) and value.strip():
            title = value.strip()
            break
    return Thing(entry.kind, title, clinical_date(entry.effective_at))


def clinical_date(value: str | None) -> date | None:
    """The date of an ISO 8601 clinical time in Luxembourg: a time with an offset is moved to
    Luxembourg's; one without is taken as local already (as HL7 senders here write them)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(LUXEMBOURG)
    return parsed.date()


def local_time(at: datetime) -> datetime:
    """An instant of the log in Luxembourg local time (summer and winter time alike)."""
    return at.astimezone(LUXEMBOURG)


def _same_read(previous: JournalLine, line: JournalLine) -> bool:
    return (line.action in MERGED_ACTIONS and previous.action == line.action
            and previous.at == line.at and previous.who == line.who
            and previous.outcome == line.outcome and previous.reason == line.reason
            and previous.operator == line.operator)


def _codes_in(event: AuditEvent) -> set[str]:
    codes = set(CNS_CODE.findall(event.reason or ""))
    if CNS_CODE.fullmatch(str(event.actor)):
        codes.add(str(event.actor))
    if event.action == AuditAction.ENTRIES_FILED:
        detail = FilingDetail.from_json(event.detail)
        if detail is not None and detail.professional:
            codes.add(detail.professional)
    return codes

