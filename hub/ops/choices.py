"""The patient's choices: grants and their revocation, the référent (declared, blocked, ended),
closing and reopening the dossier, hiding an entry (from everyone or from one professional) or
setting its confidentiality, and the level new entries are filed at.

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
from datetime import UTC, date, datetime
from enum import Enum

from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.closure import DossierClosed
from hub.domain.consent import Grant, GrantLevel, ReferentDeclaration
from hub.domain.luxembourg import end_of_day, last_day as last_day_of
from hub.domain.models import Confidentiality
from hub.domain.operator import Operator
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory
from hub.errors import HubError, UnknownMatricule
from hub.ops.representatives import on_behalf

REFERENT_SOURCE = "cli"  # the CNS feed will declare référents with its own source
# What a patient may choose as the level of new entries (secret is chosen entry by entry).
DEFAULT_LEVELS = (Confidentiality.NORMAL.value, Confidentiality.RESTRICTED.value)


class LastDayPassed(HubError):
    """A grant whose last day of access is already over."""


class UnknownProfessional(HubError):
    """A grant to a CNS code the registry does not know, not marked pending: likely a typo."""


class _Unchanged(Enum):
    TOKEN = "unchanged"


UNCHANGED = _Unchanged.TOKEN  # `grant`'s last_day when the re-grant keeps the grant's end


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


@dataclass(frozen=True)
class Granted:
    """`grant`'s result: the change journaled (None when the grant in force already said the
    same), what it changed in the grant in force (empty for a new grant), whether it waits for
    the professional's registration, and the grant in force afterwards."""

    change: Change | None
    changed: tuple[str, ...]
    pending: bool
    grant: Grant

    @property
    def summary(self) -> str:
        """The grant in words: "extended access to 123456-78 through 2030-12-31"."""
        return _grant_words(self.grant)


def grant(uow_factory: UnitOfWorkFactory, matricule: str, cns_code: str,
          level: GrantLevel | str | None = None, last_day: date | None | _Unchanged = UNCHANGED,
          at: datetime | None = None, *, by: Operator, pending: bool = False,
          representative: str | None = None) -> Granted:
    """Give `cns_code` access to the dossier from `at` (now), or change the grant in force.

    A new grant is at `level` (normal when not given), through `last_day` (the end of that day
    in Luxembourg) or open-ended when it is None or not given. On a grant in force, only what is
    given changes: `level` when given, the end when `last_day` is given (None makes it
    open-ended); the rest is kept. A grant identical to the one in force changes and journals
    nothing. LastDayPassed when `last_day` is over.

    A CNS code the registry does not know is refused (UnknownProfessional) unless `pending`, or
    a grant to it is in force already: then the grant is recorded, and takes effect once the
    professional is registered (consent denies an unregistered recipient, hub.domain.access).
    The journal's reason reads "extended access to 123456-78 through 2030-12-31", then what
    changed ("; changed: level normal → extended") or "; pending registration".

    With `representative`, that representative makes the choice for the patient
    (hub.ops.representatives.on_behalf checks they may, before anything else).

    DossierClosed while the dossier is closed: a grant there would give nothing now and,
    unseen, everything at its reopening."""
    at = at or _now()
    if isinstance(last_day, date) and end_of_day(last_day) <= at:
        raise LastDayPassed(f"the last day of access, {last_day}, is over")
    with uow_factory() as uow:
        known = uow.patients.find(matricule)
        if known is not None and uow.patients.is_closed(known):
            raise DossierClosed("the dossier is closed: no access can be granted until the "
                                "patient reopens it (hub dossier reopen)")
        if representative is not None:  # may they? asked first, even of an unchanged grant
            on_behalf(uow, uow.patients.id_for(matricule), at, representative, Actor.PATIENT, "")
        current = None if known is None else _in_force(uow.consents.grants(known), cns_code, at)
        registered = uow.professionals.get(cns_code) is not None
        if not registered and not pending and current is None:
            raise UnknownProfessional(
                f"{cns_code} is not in the professionals registry: check the code, or grant "
                "with --pending to let it take effect once the professional is registered")
        new_level = (GrantLevel(level) if level is not None
                     else current.level if current is not None else GrantLevel.NORMAL)
        until = ((current.until if current is not None else None) if last_day is UNCHANGED
                 else None if last_day is None else end_of_day(last_day))
        new = Grant(cns_code, new_level, at, until)
        changed = () if current is None else _differences(current, new)
        if current is not None and not changed:
            return Granted(None, (), not registered, current)
        patient_id = uow.patients.id_for(matricule)
        uow.consents.grant(patient_id, cns_code, new_level.value, until, at)
        reason = _grant_words(new) + (
            f"; changed: {', '.join(changed)}" if changed else "") + (
            "; pending registration" if not registered else "")
        actor, reason = on_behalf(uow, patient_id, at, representative, Actor.PATIENT, reason)
        change = _record(uow, patient_id, at, Change(AuditAction.CONSENT_GRANT, actor, reason),
                         by)
    return Granted(change, changed, not registered, new)


def _in_force(grants: list[Grant], cns_code: str, at: datetime) -> Grant | None:
    """The latest grant to `cns_code` in force at `at`."""
    mine = [g for g in grants if g.cns_code == cns_code and g.in_force(at)]
    return max(mine, key=lambda g: g.granted_at) if mine else None


def _differences(old: Grant, new: Grant) -> tuple[str, ...]:
    """What a re-grant changes, in words: "level normal → extended", "through 2030-12-31 →
    open-ended"."""
    changed = []
    if old.level != new.level:
        changed.append(f"level {old.level.value} → {new.level.value}")
    if old.until != new.until:
        changed.append(f"{_end_words(old.until)} → {_end_words(new.until)}")
    return tuple(changed)


def _end_words(until: datetime | None) -> str:
    return "open-ended" if until is None else f"through {last_day_of(until)}"


def _grant_words(g: Grant) -> str:
    return f"{g.level.value} access to {g.cns_code}" + (
        "" if g.until is None else f" through {last_day_of(g.until)}")


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

    Shape: {"closed", "grants": [{"cns_code", "level", "granted_at", "until", "last_day",
    "revoked_at", "status"}], "referent": {"cns_code", "since", "until"} | None,
    "referent_blocked", "referent_access_by_default", "default_level"}; status is "not yet",
    "revoked", "expired", "in force", or "pending registration" for a grant that would be in
    force but whose professional the registry does not know (yet). `until` is the first instant
    without access, `last_day` the Luxembourg day it runs through."""
    at = at or _now()
    with uow_factory() as uow:
        state = uow.consents.state(_existing(uow, matricule), at, referent_by_default)
        registered = {code: uow.professionals.get(code) is not None
                      for code in {g.cns_code for g in state.grants}}
    referent = state.referent
    return {
        "closed": state.closed,
        "grants": [_grant_document(g, at, registered[g.cns_code]) for g in state.grants],
        "referent": None if referent is None else {
            "cns_code": referent.cns_code, "since": referent.since, "until": referent.until},
        "referent_blocked": state.referent_blocked,
        "referent_access_by_default": state.referent_access_by_default,
        "default_level": state.default_level.value,
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
    """Close the dossier at `at` (nothing clinical more is stored or routed for this patient,
    and its retention runs from then: hub.domain.closure), or reopen it."""
    action = AuditAction.DOSSIER_CLOSE if closed else AuditAction.DOSSIER_REOPEN
    return _dossier_change(uow_factory, matricule, at,
                           lambda uow, pid, at: uow.patients.set_closed(pid, closed, at),
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


def set_hidden_from(uow_factory: UnitOfWorkFactory, matricule: str, entry_id: str,
                    cns_code: str, hidden: bool, at: datetime | None = None, *,
                    by: Operator) -> Change:
    """Hide one entry from one professional (`cns_code`), beside hiding it from everyone; or
    show it to them again. Consent then denies them that entry, at read and at send time (a
    delivery of its message waiting for a retry is denied too: a message goes out whole).
    UnknownMatricule without a dossier; HubError when the entry is not in it, is already hidden
    from them, or (unhiding) was not."""
    action = AuditAction.ENTRY_HIDE_FROM if hidden else AuditAction.ENTRY_UNHIDE_FROM

    def apply(uow: UnitOfWork, patient_id: str) -> None:
        if not uow.entries.set_hidden_from(entry_id, cns_code, hidden, patient_id,
                                           at or _now()):
            raise HubError(f"the entry is {'already' if hidden else 'not'} hidden from "
                           f"{cns_code}")

    return _entry_change(uow_factory, matricule, at, apply,
                         Change(action, Actor.PATIENT, f"from {cns_code}", entry_id), by)


def set_default_level(uow_factory: UnitOfWorkFactory, matricule: str,
                      level: Confidentiality | str, at: datetime | None = None, *,
                      by: Operator) -> Change:
    """The level the patient wants new entries filed at, at least: normal or restricted
    (filing takes the stricter of it and the sender's level). Secret is refused: it would lock
    every new entry away from its own author, which is a choice made entry by entry
    (`set_confidentiality`) or by closing the dossier. Entries already filed keep their level."""
    level = Confidentiality(level)
    if level not in DEFAULT_LEVELS:
        raise HubError(f"a default level is one of {', '.join(DEFAULT_LEVELS)}, not "
                       f"{level.value}")
    return _dossier_change(uow_factory, matricule, at,
                           lambda uow, pid, at: uow.consents.set_default_level(pid, level),
                           Change(AuditAction.CONSENT_DEFAULT_LEVEL, Actor.PATIENT,
                                  f"new entries {level.value}"), by)


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


def _grant_document(g: Grant, at: datetime, registered: bool) -> dict:
    status = ("not yet" if not g.started(at) else "revoked" if g.revoked(at)
              else "expired" if g.expired(at)
              else "in force" if registered else "pending registration")
    return {"cns_code": g.cns_code, "level": g.level.value, "granted_at": g.granted_at,
            "until": g.until, "last_day": None if g.until is None else last_day_of(g.until),
            "revoked_at": g.revoked_at, "status": status}


def _now() -> datetime:
    return datetime.now(UTC)
