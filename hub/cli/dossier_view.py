"""`hub dossier show MATRICULE [--as CNS_CODE]`: the patient's own full view, or the dossier as
one professional may see it. A dossier merged into another (ADT^A40) says so: the patient's own
view names the surviving matricule (`"merged_into"`), a professional's only that it was merged
(`"merged": true`). Both carry the CNS summary of the prestations shown (`"cns_summary"`).

A professional's read is decided and journaled in one transaction, at one instant: each entry
goes through the same consent decision as routing (hub.domain.access, hub.domain.consent), and
each entry shown becomes a "read" event in the patient's journal; a read that shows nothing is
journaled as denied. The events are committed before anything is printed, so nobody sees an entry
whose read is not in the journal.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.bootstrap import Hub
from hub.cli.output import print_json, print_table
from hub.domain.audit import AuditAction, AuditEvent, AuditOutcome
from hub.domain.cns_summary import summarize
from hub.domain.consent import EntryView, Reason, decide
from hub.domain.matricule import validate
from hub.domain.models import Confidentiality, Patient, StoredEntry
from hub.domain.professional import validate_cns_code
from hub.errors import HubError, UnknownMatricule
from hub.domain import access
from hub.settings import Settings
from hub.store.unit_of_work import UnitOfWork
from hub.text import inert

_DOSSIER = EntryView(Confidentiality.NORMAL)  # access to the dossier at all: its demographics
_ENTRY_FIELDS = ("id", "kind", "confidentiality", "hidden", "effective_at", "message_id",
                 "created_at")
_LEAD = ("value", "unit", "abnormal_flag", "reference_range")  # shown first, never cut off
_VALUE_WIDTH = 80   # a longer value (a text report) is cut in the table: --json has it whole
_WIDTH = 160        # the whole summary of one entry


@dataclass(frozen=True)
class ProfessionalRead:
    """What one professional was shown of a dossier, and why.

    `refused` when the registry does not let them read at all (not registered, not active);
    `allowed` when they may see the dossier (its demographics), with `reason` the decision's
    reason either way; `entries` the entries they may see, oldest first."""

    viewer: str
    refused: bool
    allowed: bool
    reason: str
    patient: Patient | None = None
    entries: list[StoredEntry] = field(default_factory=list)


def read_as(uow: UnitOfWork, patient_id: str, cns_code: str, at: datetime,
            referent_by_default: bool) -> ProfessionalRead:
    """Decide what `cns_code` may see of the dossier `patient_id` at `at`, and record the read
    in the audit chain (not committed: the caller commits, so the read and its journal go
    together). One "read" event per entry shown; one denied "read" when nothing is shown."""
    who, registered = access.recipient(uow, cns_code)
    if not who.active:
        reason = Reason.RECIPIENT_NOT_ACTIVE if registered else access.NOT_REGISTERED
        _journal(uow, [_event(cns_code, patient_id, at, AuditOutcome.DENIED, reason)])
        return ProfessionalRead(cns_code, refused=True, allowed=False, reason=reason)
    state = access.consent_state(uow, patient_id, at, referent_by_default)
    dossier = decide(_DOSSIER, who, state, at)
    if not dossier.allowed:
        _journal(uow, [_event(cns_code, patient_id, at, AuditOutcome.DENIED, dossier.reason)])
        return ProfessionalRead(cns_code, refused=False, allowed=False, reason=dossier.reason)
    shown, events, first_denial = [], [], None
    for entry in uow.entries.for_patient(patient_id):
        decision = decide(EntryView(entry.confidentiality, entry.hidden), who, state, at)
        if decision.allowed:
            shown.append(entry)
            events.append(_event(cns_code, patient_id, at, AuditOutcome.OK, decision.reason,
                                 entry.id))
        elif first_denial is None:
            first_denial = decision.reason
    if not events:
        # Nothing shown: denied when entries were withheld; an empty dossier was still read.
        outcome = AuditOutcome.OK if first_denial is None else AuditOutcome.DENIED
        events.append(_event(cns_code, patient_id, at, outcome, first_denial or dossier.reason))
    patient = uow.patients.get(patient_id)
    _journal(uow, events)
    return ProfessionalRead(cns_code, refused=False, allowed=True, reason=dossier.reason,
                            patient=patient, entries=shown)


def show(args: argparse.Namespace, settings: Settings) -> int:
    """`hub dossier show`: the patient's own view, or with --as what that professional may see
    (the read journaled; exit 1 when the registry refuses them)."""
    matricule = validate(args.matricule)
    viewer = None if args.viewer is None else validate_cns_code(args.viewer)
    hub = Hub(settings)
    try:
        hub.upgrade_database()  # a fresh install answers "no dossier", not a schema error
        with hub.unit_of_work() as uow:
            patient_id = uow.patients.find(matricule)
            if patient_id is None:
                raise UnknownMatricule("no dossier for this matricule")
            survivor_id = uow.patients.merged_into(patient_id)
            if viewer is None:
                entries = uow.entries.for_patient(patient_id)
                document = {"patient": patient_document(uow.patients.get(patient_id)),
                            "entries": [entry_document(e) for e in entries],
                            "cns_summary": summarize(entries)}
                if survivor_id is not None:
                    document["merged_into"] = uow.patients.get(survivor_id).matricule
            else:
                read = read_as(uow, patient_id, viewer, datetime.now(UTC),
                               settings.consent.referent_access_by_default)
                uow.commit()
                if read.refused:
                    raise HubError(f"{viewer} may not read dossiers: {read.reason}")
                document = professional_document(read, matricule)
                if survivor_id is not None:
                    # Which dossier survived is the patient's to see, not every professional's.
                    document["merged"] = True
    finally:
        hub.close()
    if args.json:
        print_json(document)
    else:
        _print(document)
    return 0


def patient_document(patient: Patient) -> dict:
    """The demographics as `hub dossier show --json` prints them."""
    return {"matricule": patient.matricule, "family_name": patient.family_name,
            "given_name": patient.given_name, "birth_date": patient.birth_date,
            "sex": patient.sex}


def entry_document(entry: StoredEntry) -> dict:
    """One entry as `hub dossier show --json` prints it: its fields, then its payload."""
    return {"id": entry.id, "kind": entry.kind, "confidentiality": entry.confidentiality.value,
            "hidden": entry.hidden, "effective_at": entry.effective_at,
            "message_id": entry.message_id, "created_at": entry.created_at, **entry.payload}


def professional_document(read: ProfessionalRead, matricule: str) -> dict:
    """`hub dossier show --as --json`: the patient's demographics only when the professional has
    access to the dossier at all (else only the matricule they asked about)."""
    patient = (patient_document(read.patient) if read.allowed and read.patient is not None
               else {"matricule": matricule})
    return {"viewer": read.viewer, "access": {"allowed": read.allowed, "reason": read.reason},
            "patient": patient, "entries": [entry_document(e) for e in read.entries],
            # Summed from the prestations this professional may see, and from nothing else.
            "cns_summary": summarize(read.entries)}


def _print(document: dict) -> None:
    p = {k: inert(v) if isinstance(v, str) else v for k, v in document["patient"].items()}
    if "viewer" in document:
        print(f"as {document['viewer']}: {document['access']['reason']}")
    if "merged_into" in document:
        print(f"merged into the dossier of {document['merged_into']} (ADT^A40): "
              "its entries and new messages are there")
    elif document.get("merged"):
        print("merged into another dossier (ADT^A40): its entries are there")
    if "family_name" in p and not any(p[k] for k in ("family_name", "given_name", "birth_date")):
        print("no demographics on file yet")
    elif "family_name" in p:
        print(f"{p['family_name']}, {p['given_name']}  born {p['birth_date'] or '?'}  "
              f"sex {p['sex'] or '?'}")
    if document["entries"] or "viewer" not in document:
        print_table(["when", "kind", "what"],
                    [(e["effective_at"] or "", e["kind"], _summary(e))
                     for e in document["entries"]])
    else:
        print("no entries to show")
    if document.get("cns_summary"):
        print("\nCNS summary (prestations)")
        print_table(["year", "kind", "count", "amount"],
                    [(r["year"], r["kind"], r["count"],
                      f"{r['amount']:.2f} {r.get('currency', '')}".rstrip())
                     for r in document["cns_summary"]])


def _event(cns_code: str, patient_id: str, at: datetime, outcome: AuditOutcome, reason: str,
           entry_id: str | None = None) -> AuditEvent:
    return AuditEvent(actor=cns_code, action=AuditAction.READ, outcome=outcome,
                      reason=str(reason), patient_id=patient_id, entry_id=entry_id, at=at)


def _journal(uow: UnitOfWork, events: list[AuditEvent]) -> None:
    # Appending locks the chain until commit: done last, after every read of the transaction.
    uow.audit.record_many(events)


def _summary(entry: dict) -> str:
    """One line for a table cell: what a reader needs first (value, unit, abnormal flag, range;
    an overlong value cut to `_VALUE_WIDTH`), then the other fields up to `_WIDTH`; every cut
    ends with "…". Control characters are left to print_table, which shows them inert."""
    shown = {k: _plain(v) for k, v in entry.items()
             if k not in _ENTRY_FIELDS and v not in ("", None, [], {})}
    lead = ", ".join(f"{k}={_cut(shown.pop(k), _VALUE_WIDTH)}" for k in _LEAD if k in shown)
    line = ", ".join(part for part in (lead, *(f"{k}={v}" for k, v in shown.items())) if part)
    return line if len(line) <= max(_WIDTH, len(lead)) else _cut(line, max(_WIDTH, len(lead) + 1))


def _plain(value: object) -> str:
    """A payload value as words: a name or address by its parts, a list by its items."""
    if isinstance(value, dict):
        return " ".join(_plain(v) for v in value.values() if v not in ("", None))
    if isinstance(value, list):
        return "; ".join(_plain(v) for v in value if v not in ("", None))
    return str(value)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
