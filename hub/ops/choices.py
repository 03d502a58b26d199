"""The patient's choices: grants and their revocation, the référent (declared, blocked, ended),
closing and reopening the dossier, hiding an entry or setting its confidentiality.

One function per choice, shared by `hub consent …`, `hub dossier close|hide|…` and any page or
API that offers the same: each opens one unit of work from `uow_factory`, makes the change,
writes it to the audit chain in that same transaction (so neither is committed without the
other) and commits; a refusal (HubError) commits nothing. Each takes the operator who entered
the choice (`by`): the event stays the patient's choice (or the feed's), *recorded by* them. Changing consent mentions the
matricule, so it creates the (empty) dossier on first use; only changing existing entries needs
one to exist already. What they return names no matricule. `declare_referent` stands in for
the CNS feed until that exists, and is audited as the feed.

Unlike the rest of hub.ops, times stay datetimes here: callers print them to the second, and
JSON output serialises them as ISO 8601.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.consent import Grant, GrantLevel, ReferentDeclaration
from hub.domain.models import Confidentiality
from hub.domain.operator import Operator
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory
from hub.errors import HubError, UnknownMatricule
from hub.ops.representatives import on_behalf

REFERENT_SOURCE = "cli"  # the CNS feed will declare référents with its own source


class LastDayPassed(HubError):
    """A grant whose last day of access is already over."""


@dataclass(frozen=True)
class Change:
    """One choice as it went into the patient's journal: its action, who made it (the patient,
    or the CNS feed for the référent's declaration), the event's reason, and the operator who
    recorded it."""

    action: AuditAction
    actor: str
    reason: str = ""
    entry_id: str | None = None
    recorded_by: str | None = None


@dataclass(frozen=True)
class ReferentDeclared:
    """`declare_referent`'s result: the change journaled and the declaration in force."""

    change: Change
    declaration: ReferentDeclaration


def end_of_day(day: date) -> datetime:
    """When a grant "until `day`" ends: it holds through that day, to the next midnight UTC."""
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def grant(uow_factory: UnitOfWorkFactory, matricule: str, cns_code: str, level: GrantLevel | str,
          last_day: date | None = None, at: datetime | None = None, *, by: Operator,
          representative: str | None = None) -> Change:
    """Give `cns_code` access to the dossier at `level` from `at` (now), through `last_day`
    when given (LastDayPassed when that is over). The reason reads "extended access to
    123456-78 through 2030-12-31". With `representative`, that representative makes the
    choice for the patient (hub.ops.representatives.on_behalf checks they may)."""
    at = at or _now()
    level = GrantLevel(level)
    until = None if last_day is None else end_of_day(last_day)
    if until is not None and until <= at:
        raise LastDayPassed(f"the last day of access, {last_day}, is over")
    what = f"{level.value} access to {cns_code}" + (f" through {last_day}" if last_day else "")
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(matricule)
        actor, what = on_behalf(uow, patient_id, at, representative, Actor.PATIENT, what)
        uow.consents.grant(patient_id, cns_code, level.value, until, at)
        return _record(uow, patient_id, at, Change(AuditAction.CONSENT_GRANT, actor, what), by)


def revoke(uow_factory: UnitOfWorkFactory, matricule: str, cns_code: str,
           at: datetime | None = None, *, by: Operator,
           representative: str | None = None) -> Change:
    """End `cns_code`'s access from `at` (now); HubError when no grant to them is in force.
    With `representative`, as `grant`."""
    at = at or _now()
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(matricule)
        actor, what = on_behalf(uow, patient_id, at, representative, Actor.PATIENT,
                                f"access of {cns_code}")
        if not uow.consents.revoke(patient_id, cns_code, at):
            raise HubError(f"no grant in force for {cns_code}")
        return _record(uow, patient_id, at, Change(AuditAction.CONSENT_REVOKE, actor, what), by)


def consent_overview(uow_factory: UnitOfWorkFactory, matricule: str, referent_by_default: bool,
                     at: datetime | None = None) -> dict:
    """The patient's grants (history included, each with its status at `at`), référent and
    dossier state, as `hub consent list --json` prints them. Reads only: nothing is journaled.
    UnknownMatricule when the matricule has no dossier.

    Shape: {"closed", "grants": [{"cns_code", "level", "granted_at", "until", "revoked_at",
    "status"}], "referent": {"cns_code", "since", "until"} | None, "referent_blocked",
    "referent_access_by_default"}; status is "not yet", "revoked", "expired" or "in force"."""
    at = at or _now()
    with uow_factory() as uow:
        state = uow.consents.state(_existing(uow, matricule), at, referent_by_default)
    referent = state.referent
    return {
        "closed": state.closed,
        "grants": [_grant_document(g, at) for g in state.grants],
        "referent": None if referent is None else {
            "cns_code": referent.cns_code, "since": referent.since, "until": referent.until},
        "referent_blocked": state.referent_blocked,
        "referent_access_by_default": state.referent_access_by_default,
    }


def declare_referent(uow_factory: UnitOfWorkFactory, matricule: str, cns_code: str,
                     at: datetime | None = None, *, by: Operator) -> ReferentDeclared:
    """Declare `cns_code` the patient's médecin référent from `at` (now), as the CNS feed."""
    at = at or _now()
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(matricule)
        declared = uow.consents.declare_referent(patient_id, cns_code, at, REFERENT_SOURCE)
        change = _record(uow, patient_id, at, Change(
            AuditAction.REFERENT_DECLARE, Actor.CNS_FEED, f"référent {declared.cns_code}"), by)
    return ReferentDeclared(change, declared)


def end_referent(uow_factory: UnitOfWorkFactory, matricule: str, at: datetime | None = None, *,
                 by: Operator) -> Change:
    """End the référent declaration in force at `at` (now), as the CNS feed; HubError when
    there is none."""
    def end(uow: UnitOfWork, patient_id: str, at: datetime) -> None:
        if not uow.consents.end_referent(patient_id, at):
            raise HubError("no référent declaration in force")

    return _dossier_change(uow_factory, matricule, at, end,
                           Change(AuditAction.REFERENT_END, Actor.CNS_FEED), by)


def set_referent_blocked(uow_factory: UnitOfWorkFactory, matricule: str, blocked: bool,
                         at: datetime | None = None, *, by: Operator,
                         representative: str | None = None) -> Change:
    """Deny the référent the access their declaration gives (a grant still counts), or give it
    back."""
    action = AuditAction.REFERENT_BLOCK if blocked else AuditAction.REFERENT_UNBLOCK
    return _dossier_change(uow_factory, matricule, at,
                           lambda uow, pid, at: uow.consents.set_referent_blocked(pid, blocked),
                           Change(action, Actor.PATIENT), by, representative)


def set_closed(uow_factory: UnitOfWorkFactory, matricule: str, closed: bool,
               at: datetime | None = None, *, by: Operator,
               representative: str | None = None) -> Change:
    """Close the dossier (nothing more is stored or routed for this patient), or reopen it."""
    action = AuditAction.DOSSIER_CLOSE if closed else AuditAction.DOSSIER_REOPEN
    return _dossier_change(uow_factory, matricule, at,
                           lambda uow, pid, at: uow.patients.set_closed(pid, closed),
                           Change(action, Actor.PATIENT), by, representative)


def set_hidden(uow_factory: UnitOfWorkFactory, matricule: str, entry_id: str, hidden: bool,
               at: datetime | None = None, *, by: Operator,
               representative: str | None = None) -> Change:
    """Hide one entry of the dossier from every professional, or show it again to those the
    patient allowed. UnknownMatricule without a dossier; HubError when the entry is not in it."""
    action = AuditAction.ENTRY_HIDE if hidden else AuditAction.ENTRY_UNHIDE
    return _entry_change(uow_factory, matricule, at,
                         lambda uow, pid: uow.entries.set_hidden(entry_id, hidden, pid),
                         Change(action, Actor.PATIENT, "", entry_id), by, representative)


def set_confidentiality(uow_factory: UnitOfWorkFactory, matricule: str, entry_id: str,
                        level: Confidentiality | str, at: datetime | None = None, *,
                        by: Operator, representative: str | None = None) -> Change:
    """Set one entry's confidentiality: normal, restricted or secret (the event's reason)."""
    level = Confidentiality(level)
    return _entry_change(uow_factory, matricule, at,
                         lambda uow, pid: uow.entries.set_confidentiality(entry_id, level, pid),
                         Change(AuditAction.ENTRY_CONFIDENTIALITY, Actor.PATIENT, level.value,
                                entry_id), by, representative)


def _dossier_change(uow_factory: UnitOfWorkFactory, matricule: str, at: datetime | None,
                    apply: Callable[[UnitOfWork, str, datetime], object], change: Change,
                    by: Operator, representative: str | None = None) -> Change:
    """Apply one change to the dossier of `matricule` (created if new), journal it, commit;
    made by `representative` for the patient when given (checked by `_by`)."""
    at = at or _now()
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(matricule)
        change = _by(uow, patient_id, at, representative, change)
        apply(uow, patient_id, at)
        return _record(uow, patient_id, at, change, by)


def _entry_change(uow_factory: UnitOfWorkFactory, matricule: str, at: datetime | None,
                  apply: Callable[[UnitOfWork, str], object], change: Change,
                  by: Operator, representative: str | None = None) -> Change:
    """Apply one change to an entry of the existing dossier of `matricule`, journal it, commit
    (by `representative` when given, as `_dossier_change`)."""
    at = at or _now()
    with uow_factory() as uow:
        patient_id = _existing(uow, matricule)
        change = _by(uow, patient_id, at, representative, change)
        apply(uow, patient_id)
        return _record(uow, patient_id, at, change, by)


def _by(uow: UnitOfWork, patient_id: str, at: datetime, representative: str | None,
        change: Change) -> Change:
    """`change` as the patient's own, or as made by `representative` (who must be in force
    with the consent scope: RepresentativeRefused otherwise)."""
    actor, reason = on_behalf(uow, patient_id, at, representative, change.actor, change.reason)
    return replace(change, actor=actor, reason=reason)


def _record(uow: UnitOfWork, patient_id: str, at: datetime, change: Change,
            by: Operator) -> Change:
    # Last in the transaction, since appending to the chain locks it until commit.
    change = replace(change, recorded_by=by.name)
    uow.audit.record(AuditEvent(actor=change.actor, action=change.action, patient_id=patient_id,
                                entry_id=change.entry_id, reason=change.reason, at=at,
                                operator=by.name))
    uow.commit()
    return change


def _existing(uow: UnitOfWork, matricule: str) -> str:
    patient_id = uow.patients.find(matricule)
    if patient_id is None:
        raise UnknownMatricule("no dossier for this matricule")
    return patient_id


def _grant_document(g: Grant, at: datetime) -> dict:
    status = ("not yet" if not g.started(at) else "revoked" if g.revoked(at)
              else "expired" if g.expired(at) else "in force")
    return {"cns_code": g.cns_code, "level": g.level.value, "granted_at": g.granted_at,
            "until": g.until, "revoked_at": g.revoked_at, "status": status}


def _now() -> datetime:
    return datetime.now(UTC)
