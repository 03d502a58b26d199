"""Reading a dossier: an operator's full view (what the patient is shown at the desk), the
dossier as one professional may see it, and one document entry, shared by `hub dossier
show|document` and any page or API that shows the same.

Every read names its reader: a professional by CNS code, anyone else as an Operator
(hub.domain.operator). Nothing is decrypted for a reader without an event in the patient's
journal naming them, what they read and why it was allowed, committed before they get it.
An operator's full view is one "dossier.read" event (reason "operator full view: …"), their
read of one document one "read" event naming the entry; the surviving matricule of a merged
dossier, shown in the full view, is an "identity.read" in the survivor's journal.

A professional's read is decided and journaled in one transaction, at one instant: each entry
goes through the same consent decision as routing (hub.domain.access, hub.domain.consent), and
each entry shown becomes a "read" event in the patient's journal; a read that shows nothing is
journaled as denied. The events are committed before these functions return, so nobody is shown
an entry whose read is not in the journal. A refused read is committed too, then raised.

A dossier merged into another (ADT^A40) says so: the patient's own view names the surviving
matricule (`"merged_into"`), a professional's only that it was merged (`"merged": true`). Both
carry the CNS summary of the prestations shown (`"cns_summary"`).

Unlike the rest of hub.ops, times stay datetimes (and dates) here, as `hub dossier show --json`
has always printed them through its JSON encoder.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from hub.domain import access
from hub.domain.audit import Actor, AuditAction, AuditEvent, AuditOutcome
from hub.domain.closure import Closure, erasure_due
from hub.domain.cns_summary import summarize
from hub.domain.consent import EntryView, Reason, decide
from hub.domain.models import Confidentiality, Patient, StoredEntry
from hub.domain.operator import Operator
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory
from hub.domain.representative import Scope
from hub.errors import HubError, UnknownMatricule
from hub.ops.representatives import (
    RepresentativeRefused, on_behalf, representatives_document,
)

DOCUMENT = "document"
OPERATOR_FULL_VIEW = "operator full view"  # why an operator may read it all: the hub's own staff
_DOSSIER = EntryView(Confidentiality.NORMAL)  # access to the dossier at all: its demographics


class ReadRefused(HubError):
    """The professional may not read (the registry refuses them, or consent denies the
    document); the denied read is already journaled and committed."""


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


def show(uow_factory: UnitOfWorkFactory, matricule: str, reader: str | Operator, *,
         referent_by_default: bool = True, at: datetime | None = None,
         closed_dossier_years: int = 0, representative: str | None = None) -> dict:
    """The dossier of `matricule` as `hub dossier show --json` prints it: an Operator's full
    view, or for `reader` a CNS code what that professional may see at `at` (now); either read
    journaled and committed. UnknownMatricule without a dossier; ReadRefused when the registry
    refuses the professional.

    Shape: {"patient": {...}, "entries": [...], "cns_summary": [...]} plus "merged_into",
    "minor", "majority_on" and the "representatives" in force (the full view;
    hub.ops.representatives) or "viewer", "access": {"allowed", "reason"}, "merged" (a
    professional's). The full view of a closed dossier adds "closure": {"closed_at",
    "erase_after", "erased_at"}: when its content is erased, `closed_dossier_years` after the
    closure (None: kept forever), and when it was (None: not yet).

    With `representative` (an Operator reader only), the full view is read for the patient by
    that representative, who must be in force with the `read` scope: the "dossier.read" event
    has actor "representative" and names them by id; a refusal is journaled as denied and
    committed, then raised (RepresentativeRefused)."""
    at = at or datetime.now(UTC)
    with uow_factory() as uow:
        patient_id = _existing(uow, matricule)
        survivor_id = uow.patients.merged_into(patient_id)
        if isinstance(reader, Operator):
            entries = uow.entries.for_patient(patient_id)
            document = {"patient": patient_document(uow.patients.get(patient_id)),
                        # Whom the patient hid an entry from is the patient's to see only.
                        "entries": [{**entry_document(e), "hidden_from": sorted(e.hidden_from)}
                                    for e in entries],
                        "cns_summary": summarize(entries),
                        # Who acts for the patient, and whether they are a minor (in force only).
                        **representatives_document(uow, patient_id, at, in_force_only=True)}
            closure = uow.patients.closure(patient_id)
            if closure.closed_at is not None:
                document["closure"] = closure_document(closure, closed_dossier_years)
            events = [_operator_event(reader, AuditAction.DOSSIER_READ, patient_id, at,
                                      f"{OPERATOR_FULL_VIEW}: demographics and "
                                      f"{len(entries)} entries")]
            if representative is not None:
                events[0] = _representative_read(uow, patient_id, at, representative, events[0])
            if survivor_id is not None:
                document["merged_into"] = uow.patients.get(survivor_id).matricule
                events.append(_operator_event(
                    reader, AuditAction.IDENTITY_READ, survivor_id, at,
                    f"{OPERATOR_FULL_VIEW}: matricule shown as the survivor of a merged dossier"))
            _journal(uow, events)
            uow.commit()
            return document
        viewer = reader
        read = read_as(uow, patient_id, viewer, at, referent_by_default)
        uow.commit()
    if read.refused:
        raise ReadRefused(f"{viewer} may not read dossiers: {read.reason}")
    document = professional_document(read, matricule)
    if survivor_id is not None:
        # Which dossier survived is the patient's to see, not every professional's.
        document["merged"] = True
    return document


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
        decision = decide(_view(entry), who, state, at)
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


def read_document(uow_factory: UnitOfWorkFactory, matricule: str, entry_id: str,
                  reader: str | Operator, *, referent_by_default: bool = True,
                  at: datetime | None = None) -> StoredEntry:
    """The document entry `entry_id` of the dossier of `matricule` (HubError when it is not a
    document of that dossier). An Operator reads it in full; for `reader` a CNS code, the
    consent question routing asks (access.may_receive) decides at `at` (now). The read,
    allowed or denied, is journaled and committed, then ReadRefused raised when denied."""
    at = at or datetime.now(UTC)
    with uow_factory() as uow:
        patient_id = _existing(uow, matricule)
        entry = _document_entry(uow.entries.for_patient(patient_id), entry_id)
        if isinstance(reader, Operator):
            _journal(uow, [_operator_event(reader, AuditAction.READ, patient_id, at,
                                           f"{OPERATOR_FULL_VIEW}: document", entry.id)])
            uow.commit()
            return entry
        viewer = reader
        decision = access.may_receive(uow, patient_id,
                                      [_view(entry)], viewer,
                                      at, referent_by_default)
        outcome = AuditOutcome.OK if decision.allowed else AuditOutcome.DENIED
        _journal(uow, [_event(viewer, patient_id, at, outcome, decision.reason, entry.id)])
        uow.commit()
    if not decision.allowed:
        raise ReadRefused(f"{viewer} may not read this document: {decision.reason}")
    return entry


def closure_document(closure: Closure, years: int) -> dict:
    """A closed dossier's dates as `hub dossier show --json` prints them."""
    closed_at = closure.closed_at or datetime.now(UTC)
    return {"closed_at": closed_at, "erase_after": erasure_due(closed_at, years),
            "erased_at": closure.erased_at if closure.erased else None}


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


def _view(entry: StoredEntry) -> EntryView:
    """What consent needs of a stored entry."""
    return EntryView(entry.confidentiality, entry.hidden, entry.hidden_from)


def _existing(uow: UnitOfWork, matricule: str) -> str:
    patient_id = uow.patients.find(matricule)
    if patient_id is None:
        raise UnknownMatricule("no dossier for this matricule")
    return patient_id


def _document_entry(entries: list[StoredEntry], entry_id: str) -> StoredEntry:
    for entry in entries:
        if entry.id == entry_id:
            if entry.kind != DOCUMENT:
                raise HubError(f"entry {entry_id} is a {entry.kind}, not a document")
            return entry
    raise HubError(f"no entry {entry_id} in this dossier")


def _event(cns_code: str, patient_id: str, at: datetime, outcome: AuditOutcome, reason: str,
           entry_id: str | None = None) -> AuditEvent:
    return AuditEvent(actor=cns_code, action=AuditAction.READ, outcome=outcome,
                      reason=str(reason), patient_id=patient_id, entry_id=entry_id, at=at)


def _operator_event(operator: Operator, action: AuditAction, patient_id: str, at: datetime,
                    reason: str, entry_id: str | None = None) -> AuditEvent:
    return AuditEvent(actor=Actor.OPERATOR, action=action, reason=reason, patient_id=patient_id,
                      entry_id=entry_id, at=at, operator=operator.name)


def _representative_read(uow: UnitOfWork, patient_id: str, at: datetime,
                         representative: str, event: AuditEvent) -> AuditEvent:
    """The full view's event as a read by `representative` for the patient; when they may not
    read, the denial journaled and committed, then RepresentativeRefused raised."""
    reason = event.reason.replace(OPERATOR_FULL_VIEW, "representative view", 1)
    try:
        actor, reason = on_behalf(uow, patient_id, at, representative, event.actor, reason,
                                  Scope.READ)
    except RepresentativeRefused as refused:
        _journal(uow, [replace(event, actor=Actor.REPRESENTATIVE, outcome=AuditOutcome.DENIED,
                               reason=f"representative view refused: {refused}")])
        uow.commit()
        raise
    return replace(event, actor=actor, reason=reason)


def _journal(uow: UnitOfWork, events: list[AuditEvent]) -> None:
    # Appending locks the chain until commit: done last, after every read of the transaction.
    uow.audit.record_many(events)
