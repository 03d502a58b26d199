"""Who acts for the patient, as operators record it and as consent changes check it:
`hub dossier representative add|end|list` and `hub consent grant|revoke --by-representative`.

Recording or ending a representative is the desk's act on proof (the patient's designation of
an assistant DSP, a birth certificate, a court's order): journaled with actor "operator" and
the operator's name, the representative named by id and kind only — their name is personal
data, kept encrypted (hub/store/representative_repository.py). Listing them decrypts their
names, so a list is journaled too ("representative.list").

A change a representative makes for the patient (`on_behalf`) is refused (HubError, exit 1 at
the command) unless that representative belongs to the dossier, is in force at that instant
(a parent only while the patient is a minor: hub.domain.majority) and holds the scope; the
change is journaled with actor "representative" and the id in the reason.
"""
from __future__ import annotations

from datetime import UTC, datetime

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.majority import (
    is_minor, majority_at, majority_day, patient_birth, patient_majority,
)
from hub.domain.operator import Operator
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory
from hub.domain.representative import (
    Representative, RepresentativeKind, Scope, acting_reason, format_scopes,
    is_representative_id,
)
from hub.errors import HubError, UnknownMatricule


class RepresentativeRefused(HubError):
    """A representative who may not do what was asked (unknown, ended, out of scope)."""


def add(uow_factory: UnitOfWorkFactory, matricule: str, kind: RepresentativeKind | str,
        name: str, scopes: frozenset[Scope], since: datetime | None = None,
        until: datetime | None = None, at: datetime | None = None, *,
        by: Operator) -> Representative:
    """Record a representative of the dossier of `matricule` (created if new), acting from
    `since` (now) until `until` (open). A parent is refused for a patient of age at `since`:
    parents act for minors only (a guardian is the kind for an adult)."""
    at = at or _now()
    since = since or at
    kind = RepresentativeKind(kind)
    name = name.strip()
    if not name:
        raise HubError("a representative needs a name")
    if until is not None and until <= since:
        raise HubError("a representative's end must come after their start")
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(matricule)
        majority = patient_majority(uow, patient_id)
        if kind is RepresentativeKind.PARENT and majority is not None and since >= majority:
            raise HubError("the patient is of age: a parent acts for a minor only "
                           "(record a guardian for an adult under tutelle)")
        added = uow.representatives.add(patient_id, kind, name, scopes, since, until)
        what = f"{kind.value} representative {added.id}, scope {format_scopes(scopes)}"
        if until is not None:
            what += f", until {until.isoformat()}"
        _record(uow, patient_id, at, AuditAction.REPRESENTATIVE_ADD, what, by)
    return added


def end(uow_factory: UnitOfWorkFactory, matricule: str, representative_id: str,
        at: datetime | None = None, *, by: Operator) -> Representative:
    """End a representative's rights from `at` (now); HubError when they are not this
    dossier's or no longer act."""
    at = at or _now()
    with uow_factory() as uow:
        patient_id = _existing(uow, matricule)
        found = _of_dossier(uow, patient_id, representative_id)
        # Ended by `end`, by their own term or (a parent) by majority; one not yet in force
        # may still be ended, so that they never act.
        over = at >= found.since and not found.in_force(at, patient_majority(uow, patient_id))
        if over or not uow.representatives.end(representative_id, at):
            raise HubError(f"representative {representative_id} no longer acts")
        _record(uow, patient_id, at, AuditAction.REPRESENTATIVE_END,
                f"{found.kind.value} representative {found.id}", by)
    return found


def overview(uow_factory: UnitOfWorkFactory, matricule: str, at: datetime | None = None, *,
             by: Operator) -> dict:
    """Every representative of the dossier (ended ones too) with their status at `at` (now),
    and whether the patient is a minor; the read of their names journaled and committed.

    Shape: {"minor": bool, "majority_on": "YYYY-MM-DD" | None, "representatives": [{"id",
    "kind", "name", "scopes", "since", "until", "end_reason", "status"}]}; status is
    "in force", "not yet" or "ended"."""
    at = at or _now()
    with uow_factory() as uow:
        patient_id = _existing(uow, matricule)
        document = representatives_document(uow, patient_id, at, in_force_only=False)
        _record(uow, patient_id, at, AuditAction.REPRESENTATIVE_LIST,
                f"operator view: {len(document['representatives'])} representatives", by)
    return document


def representatives_document(uow: UnitOfWork, patient_id: str, at: datetime, *,
                             in_force_only: bool) -> dict:
    """The dossier's representatives (all, or those in force at `at`) and its minor flag, as
    `overview` and `hub dossier show` print them. Reads only; the caller journals."""
    birth = patient_birth(uow, patient_id)
    majority = None if birth is None else majority_at(birth)
    rows = []
    for rep in uow.representatives.for_patient(patient_id):
        status = _status(rep, at, majority)
        if in_force_only and status != "in force":
            continue
        rows.append({"id": rep.id, "kind": rep.kind.value, "name": rep.name,
                     "scopes": sorted(s.value for s in rep.scopes), "since": rep.since,
                     "until": rep.end_at(majority) if status == "ended" else rep.until,
                     "end_reason": None if rep.end_reason is None else rep.end_reason.value,
                     "status": status})
    return {"minor": birth is not None and is_minor(birth, at),
            "majority_on": None if birth is None else majority_day(birth).isoformat(),
            "representatives": rows}


def on_behalf(uow: UnitOfWork, patient_id: str, at: datetime, representative_id: str | None,
              actor: str, reason: str, scope: Scope = Scope.CONSENT) -> tuple[str, str]:
    """The (actor, reason) of a change to the dossier `patient_id`: as given when the patient
    made it (`representative_id` None), else "representative" and the reason naming them,
    after checking they may act for `scope` at `at` (RepresentativeRefused if not)."""
    if representative_id is None:
        return actor, reason
    rep = _of_dossier(uow, patient_id, representative_id)
    why = rep.refusal(at, patient_majority(uow, patient_id), scope)
    if why is not None:
        raise RepresentativeRefused(why)
    return Actor.REPRESENTATIVE, acting_reason(reason, rep.id)


def _status(rep: Representative, at: datetime, majority: datetime | None) -> str:
    if at < rep.since:
        return "not yet"
    return "in force" if rep.in_force(at, majority) else "ended"


def _of_dossier(uow: UnitOfWork, patient_id: str, representative_id: str) -> Representative:
    if not is_representative_id(representative_id):
        raise RepresentativeRefused("no such representative for this dossier (an id is 32 "
                                    "hex digits, as `hub dossier representative list` shows)")
    found = uow.representatives.get(representative_id)
    if found is None or found.patient_id != patient_id:
        raise RepresentativeRefused(f"no representative {representative_id} for this dossier")
    return found


def _record(uow: UnitOfWork, patient_id: str, at: datetime, action: AuditAction, reason: str,
            by: Operator) -> None:
    uow.audit.record(AuditEvent(actor=Actor.OPERATOR, action=action, patient_id=patient_id,
                                reason=reason, at=at, operator=by.name))
    uow.commit()


def _existing(uow: UnitOfWork, matricule: str) -> str:
    patient_id = uow.patients.find(matricule)
    if patient_id is None:
        raise UnknownMatricule("no dossier for this matricule")
    return patient_id


def _now() -> datetime:
    return datetime.now(UTC)
