"""The patient's choices: `hub consent …` (grants, the référent) and `hub dossier close|reopen|
hide|unhide|confidentiality`.

Changing consent mentions the matricule, so it creates the (empty) dossier on first use; only
reading or changing existing entries needs one to exist already. Every change is written to the
audit chain in the transaction that makes it. Output never shows the matricule. `consent referent`
stands in for the CNS feed until that exists, and is audited as the feed.
"""
from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from hub.bootstrap import Hub
from hub.cli.output import print_json, print_table
from hub.domain.audit import Actor, AuditAction, AuditEvent
from hub.domain.consent import Grant, GrantLevel
from hub.domain.matricule import validate
from hub.domain.models import Confidentiality
from hub.domain.professional import validate_cns_code
from hub.errors import HubError, UnknownMatricule
from hub.settings import Settings
from hub.store.unit_of_work import UnitOfWork

REFERENT_SOURCE = "cli"  # the CNS feed will declare référents with its own source
# Audit actions beyond hub.domain.audit.AuditAction (which accepts any lower-case dotted name).
REFERENT_DECLARE, REFERENT_END = "referent.declare", "referent.end"
REFERENT_BLOCK, REFERENT_UNBLOCK = "referent.block", "referent.unblock"
ENTRY_HIDE, ENTRY_UNHIDE = "entry.hide", "entry.unhide"
ENTRY_CONFIDENTIALITY = "entry.confidentiality"


def register(subparsers, dossier_actions) -> None:
    """Add `hub consent …` to the command, and the patient's choices to `hub dossier …`."""
    p = subparsers.add_parser("consent", help="the patient's grants and référent")
    consent = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = consent.add_parser("grant", help="give a professional access")
    _patient_and_professional(c)
    c.add_argument("--level", choices=[level.value for level in GrantLevel], default="normal",
                   help="extended also reaches restricted entries")
    c.add_argument("--until", metavar="YYYY-MM-DD",
                   help="last day of access (through the end of that day, UTC)")
    c.set_defaults(func=grant)
    _patient_and_professional(consent.add_parser("revoke", help="end a professional's access")
                              ).set_defaults(func=revoke)
    c = consent.add_parser("list", help="grants, référent and dossier state")
    c.add_argument("matricule")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=list_consent)
    _patient_and_professional(consent.add_parser(
        "referent", help="declare the médecin référent (the CNS feed's job; for tests and "
        "corrections)")).set_defaults(func=declare_referent)
    for actions, name, func, text in (
            (consent, "referent-end", end_referent, "end the référent declaration"),
            (consent, "block-referent", block_referent, "deny the référent access by declaration"),
            (consent, "unblock-referent", unblock_referent, "let the référent in again"),
            (dossier_actions, "close", close_dossier, "store and route nothing more"),
            (dossier_actions, "reopen", reopen_dossier, "undo close")):
        c = actions.add_parser(name, help=text)
        c.add_argument("matricule")
        c.set_defaults(func=func)
    for name, func, text in (("hide", hide_entry, "hide an entry from every professional"),
                             ("unhide", unhide_entry, "undo hide")):
        d = dossier_actions.add_parser(name, help=text)
        d.add_argument("matricule")
        d.add_argument("entry_id", metavar="ENTRY_ID")
        d.set_defaults(func=func)
    d = dossier_actions.add_parser("confidentiality", help="set an entry's confidentiality")
    d.add_argument("matricule")
    d.add_argument("entry_id", metavar="ENTRY_ID")
    d.add_argument("level", choices=[level.value for level in Confidentiality])
    d.set_defaults(func=set_confidentiality)


def record_consent_change(uow: UnitOfWork, patient_id: str, action: str, at: datetime, *,
                          reason: str = "", entry_id: str | None = None,
                          actor: str = Actor.PATIENT) -> None:
    """Write one consent or dossier-state change into the audit chain, in the same transaction
    as the change itself, so that neither is committed without the other. Every change made
    here goes through this call; it runs last, since appending locks the chain."""
    uow.audit.record(AuditEvent(actor=actor, action=action, patient_id=patient_id,
                                entry_id=entry_id, reason=reason, at=at))


def grant(args: argparse.Namespace, settings: Settings) -> int:
    """Give one professional access to the dossier, at a level, optionally until a date."""
    matricule, cns_code = validate(args.matricule), validate_cns_code(args.cns_code)
    at = _now()
    last_day = None if args.until is None else _parse_date(args.until)
    until = None if last_day is None else _end_of_day(last_day)
    if until is not None and until <= at:
        raise HubError("--until is in the past")
    what = f"{args.level} access to {cns_code}" + (f" through {last_day}" if last_day else "")
    with _unit_of_work(settings) as uow:
        patient_id = uow.patients.id_for(matricule)
        uow.consents.grant(patient_id, cns_code, args.level, until, at)
        record_consent_change(uow, patient_id, AuditAction.CONSENT_GRANT, at, reason=what)
        uow.commit()
    print(f"granted {what}")
    return 0


def revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke a professional's access from now on."""
    matricule, cns_code = validate(args.matricule), validate_cns_code(args.cns_code)
    at = _now()
    with _unit_of_work(settings) as uow:
        patient_id = uow.patients.id_for(matricule)
        if not uow.consents.revoke(patient_id, cns_code, at):
            raise HubError(f"no grant in force for {cns_code}")
        record_consent_change(uow, patient_id, AuditAction.CONSENT_REVOKE, at,
                              reason=f"access of {cns_code}")
        uow.commit()
    print(f"revoked access of {cns_code}")
    return 0


def list_consent(args: argparse.Namespace, settings: Settings) -> int:
    """The patient's grants (history included), référent and dossier state, as of now."""
    matricule = validate(args.matricule)
    at = _now()
    with _unit_of_work(settings) as uow:
        patient_id = _existing(uow, matricule)
        state = uow.consents.state(patient_id, at, settings.consent.referent_access_by_default)
    referent = state.referent
    document = {
        "closed": state.closed,
        "grants": [_grant_document(g, at) for g in state.grants],
        "referent": None if referent is None else {
            "cns_code": referent.cns_code, "since": referent.since, "until": referent.until},
        "referent_blocked": state.referent_blocked,
        "referent_access_by_default": state.referent_access_by_default,
    }
    if args.json:
        print_json(document)
        return 0
    print("dossier closed" if state.closed else "dossier open")
    print_table(["professional", "level", "granted", "through", "revoked", "status"],
                [(g["cns_code"], g["level"], _day(g["granted_at"]), _last_day(g["until"]),
                  _day(g["revoked_at"]), g["status"]) for g in document["grants"]])
    if referent is None:
        print("référent: none declared")
    else:
        note = "blocked by the patient" if state.referent_blocked else (
            "has access" if state.referent_access_by_default else "needs a grant (policy)")
        print(f"référent: {referent.cns_code} since {_day(referent.since)}, {note}")
    return 0


def declare_referent(args: argparse.Namespace, settings: Settings) -> int:
    """Declare the patient's médecin référent from now on."""
    matricule, cns_code = validate(args.matricule), validate_cns_code(args.cns_code)
    at = _now()
    with _unit_of_work(settings) as uow:
        patient_id = uow.patients.id_for(matricule)
        declared = uow.consents.declare_referent(patient_id, cns_code, at, REFERENT_SOURCE)
        record_consent_change(uow, patient_id, REFERENT_DECLARE, at, actor=Actor.CNS_FEED,
                              reason=f"référent {declared.cns_code}")
        uow.commit()
    print(f"référent {declared.cns_code} since {declared.since.isoformat(timespec='seconds')}")
    return 0


def end_referent(args: argparse.Namespace, settings: Settings) -> int:
    """End the référent declaration in force."""
    def end(uow: UnitOfWork, patient_id: str, at: datetime) -> None:
        if not uow.consents.end_referent(patient_id, at):
            raise HubError("no référent declaration in force")

    return _change(args, settings, REFERENT_END, "référent declaration ended", end,
                   actor=Actor.CNS_FEED)


def block_referent(args: argparse.Namespace, settings: Settings) -> int:
    """Deny the référent the access their declaration gives (a grant still counts)."""
    return _change(args, settings, REFERENT_BLOCK, "référent blocked",
                   lambda uow, pid, at: uow.consents.set_referent_blocked(pid, True))


def unblock_referent(args: argparse.Namespace, settings: Settings) -> int:
    """Give the référent back the access their declaration gives."""
    return _change(args, settings, REFERENT_UNBLOCK, "référent unblocked",
                   lambda uow, pid, at: uow.consents.set_referent_blocked(pid, False))


def close_dossier(args: argparse.Namespace, settings: Settings) -> int:
    """Close the dossier: nothing more is stored or routed for this patient."""
    return _change(args, settings, AuditAction.DOSSIER_CLOSE, "dossier closed",
                   lambda uow, pid, at: uow.patients.set_closed(pid, True))


def reopen_dossier(args: argparse.Namespace, settings: Settings) -> int:
    """Reopen a closed dossier."""
    return _change(args, settings, AuditAction.DOSSIER_REOPEN, "dossier reopened",
                   lambda uow, pid, at: uow.patients.set_closed(pid, False))


def hide_entry(args: argparse.Namespace, settings: Settings) -> int:
    """Hide one entry from every professional."""
    return _entry_change(args, settings, ENTRY_HIDE, "", "entry hidden",
                         lambda uow, pid: uow.entries.set_hidden(args.entry_id, True, pid))


def unhide_entry(args: argparse.Namespace, settings: Settings) -> int:
    """Show a hidden entry again to those the patient allowed."""
    return _entry_change(args, settings, ENTRY_UNHIDE, "", "entry shown",
                         lambda uow, pid: uow.entries.set_hidden(args.entry_id, False, pid))


def set_confidentiality(args: argparse.Namespace, settings: Settings) -> int:
    """Set one entry's confidentiality level: normal, restricted or secret."""
    return _entry_change(args, settings, ENTRY_CONFIDENTIALITY, args.level,
                         f"entry confidentiality set to {args.level}",
                         lambda uow, pid: uow.entries.set_confidentiality(
                             args.entry_id, args.level, pid))


def _change(args, settings, action: str, done: str, apply, actor: str = Actor.PATIENT) -> int:
    """Apply one change to the dossier of args.matricule (created if new), audit it, commit."""
    matricule = validate(args.matricule)
    at = _now()
    with _unit_of_work(settings) as uow:
        patient_id = uow.patients.id_for(matricule)
        apply(uow, patient_id, at)
        record_consent_change(uow, patient_id, action, at, actor=actor)
        uow.commit()
    print(done)
    return 0


def _entry_change(args, settings, action: str, reason: str, done: str, apply) -> int:
    matricule = validate(args.matricule)
    at = _now()
    with _unit_of_work(settings) as uow:
        patient_id = _existing(uow, matricule)
        apply(uow, patient_id)
        record_consent_change(uow, patient_id, action, at, reason=reason,
                              entry_id=args.entry_id)
        uow.commit()
    print(done)
    return 0


@contextmanager
def _unit_of_work(settings: Settings) -> Iterator[UnitOfWork]:
    """A unit of work on a hub whose schema is current; the hub is closed afterwards."""
    hub = Hub(settings)
    try:
        hub.upgrade_database()
        with hub.unit_of_work() as uow:
            yield uow
    finally:
        hub.close()


def _existing(uow: UnitOfWork, matricule: str) -> str:
    patient_id = uow.patients.find(matricule)
    if patient_id is None:
        raise UnknownMatricule("no dossier for this matricule")
    return patient_id


def _patient_and_professional(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("matricule")
    parser.add_argument("cns_code", metavar="CNS_CODE")
    return parser


def _grant_document(g: Grant, at: datetime) -> dict:
    status = ("not yet" if not g.started(at) else "revoked" if g.revoked(at)
              else "expired" if g.expired(at) else "in force")
    return {"cns_code": g.cns_code, "level": g.level.value, "granted_at": g.granted_at,
            "until": g.until, "revoked_at": g.revoked_at, "status": status}


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HubError("--until: expected a date as YYYY-MM-DD") from None


def _end_of_day(day: date) -> datetime:
    # A grant "until 2024-12-31" holds through that day: it ends at the next midnight, UTC.
    return datetime.combine(day + timedelta(days=1), time(), UTC)


def _last_day(until: datetime | None) -> str:
    # `until` is the first instant without access; people think in last days.
    return "" if until is None else (until - timedelta(microseconds=1)).date().isoformat()


def _now() -> datetime:
    return datetime.now(UTC)


def _day(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")
