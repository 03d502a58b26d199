"""The patient's choices at the `hub` command: `hub consent …` (grants, the référent) and `hub
dossier close|reopen|hide|unhide [--from]|confidentiality`.

Parsing and printing only: each choice is made, journaled and committed by hub.ops.choices,
which any other front end calls the same way. Output never shows the matricule. `consent
referent` stands in for the CNS feed until that exists, and is audited as the feed. Every
change is journaled as the patient's (or the feed's) choice recorded by the operator:
`--operator NAME`, else HUB_OPERATOR, else the OS user; a choice a representative makes for
the patient names them with `--by-representative ID` (hub.ops.representatives checks them).
"""
from __future__ import annotations

import argparse
from datetime import date, datetime

from hub.cli.acting import add_operator_option, operator
from hub.cli.output import print_json, print_table
from hub.cli.representative_cmd import add_representative_option
from hub.cli.session import current_hub
from hub.domain.consent import GrantLevel
from hub.domain.matricule import validate
from hub.domain.models import Confidentiality
from hub.domain.professional import validate_cns_code
from hub.errors import HubError
from hub.ops import choices
from hub.settings import Settings

NEVER = "never"  # --until never: a dated grant becomes open-ended


def register(subparsers, dossier_actions) -> None:
    """Add `hub consent …` to the command, and the patient's choices to `hub dossier …`."""
    p = subparsers.add_parser("consent", help="the patient's grants and référent")
    consent = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = consent.add_parser("grant", help="give a professional access")
    _patient_and_professional(c)
    c.add_argument("--level", choices=[level.value for level in GrantLevel],
                   help="extended also reaches restricted entries (a new grant: normal; a "
                   "re-grant: unchanged unless given)")
    c.add_argument("--until", metavar="YYYY-MM-DD|never",
                   help="last day of access, through the end of that day in Luxembourg; "
                   "'never': open-ended (a new grant: open-ended; a re-grant: unchanged unless "
                   "given)")
    c.add_argument("--pending", action="store_true",
                   help="the CNS code is not in the registry yet: record the grant, in force "
                   "once the professional is registered")
    add_operator_option(c)
    add_representative_option(c)
    c.set_defaults(func=grant)
    add_representative_option(add_operator_option(_patient_and_professional(
        consent.add_parser("revoke", help="end a professional's access")))).set_defaults(
        func=revoke)
    c = consent.add_parser("list", help="grants, référent and dossier state")
    c.add_argument("matricule")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=list_consent)
    add_operator_option(_patient_and_professional(consent.add_parser(
        "referent", help="declare the médecin référent (the CNS feed's job; for tests and "
        "corrections)"))).set_defaults(func=declare_referent)
    for actions, name, func, text in (
            (consent, "referent-end", end_referent, "end the référent declaration"),
            (consent, "block-referent", block_referent, "deny the référent access by declaration"),
            (consent, "unblock-referent", unblock_referent, "let the référent in again"),
            (dossier_actions, "close", close_dossier, "store and route nothing more"),
            (dossier_actions, "reopen", reopen_dossier, "undo close")):
        c = actions.add_parser(name, help=text)
        c.add_argument("matricule")
        add_operator_option(c)
        if func is not end_referent:  # the CNS feed's, not the patient's
            add_representative_option(c)
        c.set_defaults(func=func)
    for name, func, text in (("hide", hide_entry, "hide an entry from every professional, or "
                              "with --from from one"),
                             ("unhide", unhide_entry, "undo hide (with --from: for one)")):
        d = dossier_actions.add_parser(name, help=text)
        d.add_argument("matricule")
        d.add_argument("entry_id", metavar="ENTRY_ID")
        d.add_argument("--from", dest="from_", metavar="CNS_CODE",
                       help="only this professional (the others the patient allowed still see it)")
        add_representative_option(add_operator_option(d))
        d.set_defaults(func=func)
    c = consent.add_parser("default-level", help="the level new entries are filed at, at least")
    c.add_argument("matricule")
    c.add_argument("level", choices=list(choices.DEFAULT_LEVELS))
    add_operator_option(c)
    c.set_defaults(func=set_default_level)
    d = dossier_actions.add_parser("confidentiality", help="set an entry's confidentiality")
    d.add_argument("matricule")
    d.add_argument("entry_id", metavar="ENTRY_ID")
    d.add_argument("level", choices=[level.value for level in Confidentiality])
    add_representative_option(add_operator_option(d))
    d.set_defaults(func=set_confidentiality)


def grant(args: argparse.Namespace, settings: Settings) -> int:
    """Give one professional access to the dossier, at a level, optionally until a date."""
    matricule, cns_code = validate(args.matricule), validate_cns_code(args.cns_code)
    last_day: date | None | object = (choices.UNCHANGED if args.until is None
                                      else None if args.until == NEVER
                                      else _parse_date(args.until))
    with current_hub(settings) as hub:
        try:
            granted = choices.grant(hub.unit_of_work, matricule, cns_code, args.level, last_day,
                                    by=operator(args), pending=args.pending,
                                    representative=args.by_representative)
        except choices.LastDayPassed:
            raise HubError("--until is in the past") from None
    by = f"; by representative {args.by_representative}" if args.by_representative else ""
    if granted.change is None:
        print(f"unchanged: {granted.summary} already in force")
    elif granted.changed:
        print(f"changed {cns_code}'s grant: {', '.join(granted.changed)}; now {granted.summary}"
              f"{by}")
    else:
        print(f"granted {granted.summary}{by}")
    if granted.pending:
        print(f"pending: {cns_code} is not in the registry; the grant takes effect once the "
              "professional is registered")
    return 0


def revoke(args: argparse.Namespace, settings: Settings) -> int:
    """Revoke a professional's access from now on."""
    matricule, cns_code = validate(args.matricule), validate_cns_code(args.cns_code)
    with current_hub(settings) as hub:
        change = choices.revoke(hub.unit_of_work, matricule, cns_code, by=operator(args),
                                representative=args.by_representative)
    print(f"revoked {change.reason}")
    return 0


def list_consent(args: argparse.Namespace, settings: Settings) -> int:
    """The patient's grants (history included), référent and dossier state, as of now."""
    matricule = validate(args.matricule)
    with current_hub(settings) as hub:
        document = choices.consent_overview(hub.unit_of_work, matricule,
                                            settings.consent.referent_access_by_default)
    if args.json:
        print_json(document)
        return 0
    print("dossier closed" if document["closed"] else "dossier open")
    print_table(["professional", "level", "granted", "through", "revoked", "status"],
                [(g["cns_code"], g["level"], _day(g["granted_at"]), _last_day(g["last_day"]),
                  _day(g["revoked_at"]), g["status"]) for g in document["grants"]])
    referent = document["referent"]
    if referent is None:
        print("référent: none declared")
    else:
        note = "blocked by the patient" if document["referent_blocked"] else (
            "has access" if document["referent_access_by_default"]
            else "needs a grant (policy)")
        print(f"référent: {referent['cns_code']} since {_day(referent['since'])}, {note}")
    print(f"new entries: {document['default_level']} at least")
    return 0


def declare_referent(args: argparse.Namespace, settings: Settings) -> int:
    """Declare the patient's médecin référent from now on."""
    matricule, cns_code = validate(args.matricule), validate_cns_code(args.cns_code)
    with current_hub(settings) as hub:
        declared = choices.declare_referent(hub.unit_of_work, matricule, cns_code,
                                            by=operator(args)).declaration
    print(f"référent {declared.cns_code} since {declared.since.isoformat(timespec='seconds')}")
    return 0


def end_referent(args: argparse.Namespace, settings: Settings) -> int:
    """End the référent declaration in force."""
    return _choose(args, settings, "référent declaration ended", choices.end_referent)


def block_referent(args: argparse.Namespace, settings: Settings) -> int:
    """Deny the référent the access their declaration gives (a grant still counts)."""
    return _choose(args, settings, "référent blocked", choices.set_referent_blocked, True)


def unblock_referent(args: argparse.Namespace, settings: Settings) -> int:
    """Give the référent back the access their declaration gives."""
    return _choose(args, settings, "référent unblocked", choices.set_referent_blocked, False)


def close_dossier(args: argparse.Namespace, settings: Settings) -> int:
    """Close the dossier: nothing more is stored or routed for this patient."""
    return _choose(args, settings, "dossier closed", choices.set_closed, True)


def reopen_dossier(args: argparse.Namespace, settings: Settings) -> int:
    """Reopen a closed dossier."""
    return _choose(args, settings, "dossier reopened", choices.set_closed, False)


def hide_entry(args: argparse.Namespace, settings: Settings) -> int:
    """Hide one entry from every professional, or (--from) from one."""
    if args.from_ is not None:
        cns_code = validate_cns_code(args.from_)
        return _choose(args, settings, f"entry hidden from {cns_code}", choices.set_hidden_from,
                       args.entry_id, cns_code, True)
    return _choose(args, settings, "entry hidden", choices.set_hidden, args.entry_id, True)


def unhide_entry(args: argparse.Namespace, settings: Settings) -> int:
    """Show a hidden entry again to those the patient allowed (--from: to that one)."""
    if args.from_ is not None:
        cns_code = validate_cns_code(args.from_)
        return _choose(args, settings, f"entry shown to {cns_code}", choices.set_hidden_from,
                       args.entry_id, cns_code, False)
    return _choose(args, settings, "entry shown", choices.set_hidden, args.entry_id, False)


def set_default_level(args: argparse.Namespace, settings: Settings) -> int:
    """The level the patient's new entries are filed at, at least."""
    return _choose(args, settings, f"new entries filed {args.level} at least",
                   choices.set_default_level, args.level)


def set_confidentiality(args: argparse.Namespace, settings: Settings) -> int:
    """Set one entry's confidentiality level: normal, restricted or secret."""
    return _choose(args, settings, f"entry confidentiality set to {args.level}",
                   choices.set_confidentiality, args.entry_id, args.level)


def _choose(args: argparse.Namespace, settings: Settings, done: str, choice, *more) -> int:
    """Make one choice about the dossier of args.matricule, recorded by the operator; print
    `done` once committed."""
    matricule = validate(args.matricule)
    by = operator(args)
    made_by = getattr(args, "by_representative", None)
    with current_hub(settings) as hub:
        if made_by is None:
            choice(hub.unit_of_work, matricule, *more, by=by)
        else:
            choice(hub.unit_of_work, matricule, *more, by=by, representative=made_by)
    print(done)
    return 0


def _patient_and_professional(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("matricule")
    parser.add_argument("cns_code", metavar="CNS_CODE")
    return parser


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HubError("--until: expected a date as YYYY-MM-DD, or 'never'") from None


def _last_day(last_day: date | None) -> str:
    # `until` is the first instant without access; people think in last (Luxembourg) days.
    return "" if last_day is None else last_day.isoformat()


def _day(value: datetime | None) -> str:
    return "" if value is None else value.isoformat(timespec="seconds")
