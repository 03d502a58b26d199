"""`hub dossier representative add|end|list MATRICULE …`: who acts for the patient, and the
`--by-representative ID` option of the consent changes a representative makes.

Parsing and printing only (hub.ops.representatives records, checks and journals). Output never
shows the matricule; a representative's name is printed only by `list`, whose read is
journaled.
"""
from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta

from hub.cli.acting import add_operator_option, operator
from hub.cli.output import print_json, print_table
from hub.cli.session import current_hub
from hub.domain.luxembourg import LUXEMBOURG, start_of_day
from hub.domain.matricule import validate
from hub.domain.representative import (
    DEFAULT_SCOPES, RepresentativeKind, format_scopes, parse_scopes,
)
from hub.errors import HubError
from hub.ops import representatives
from hub.settings import Settings


def add_representative_option(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give a consent change its `--by-representative ID`."""
    parser.add_argument("--by-representative", metavar="ID",
                        help="the change is made by this representative of the patient (who "
                        "must be in force and hold the consent scope), not by the patient")
    return parser


def register(dossier_actions) -> None:
    """Add `hub dossier representative …` to the command."""
    p = dossier_actions.add_parser("representative", help="who acts for the patient: "
                                   "assistant DSP, parent of a minor, legal guardian")
    actions = p.add_subparsers(dest="representative_action", required=True, metavar="ACTION")
    c = actions.add_parser("add", help="record a representative (prints its id)")
    c.add_argument("matricule")
    c.add_argument("--kind", required=True, choices=[k.value for k in RepresentativeKind],
                   help="assistant (the patient's assistant DSP), parent (of a minor: ends "
                   "at majority) or guardian (a court's tutelle or curatelle)")
    c.add_argument("--name", required=True, help="the representative's name (kept encrypted)")
    c.add_argument("--scope", default=format_scopes(DEFAULT_SCOPES), metavar="consent,read",
                   help="what they may do: consent (the patient's consent choices), read (the "
                   "dossier); default: both")
    c.add_argument("--since", metavar="YYYY-MM-DD",
                   help="first day they act (from local midnight; default: now)")
    c.add_argument("--until", metavar="YYYY-MM-DD",
                   help="last day they act (through the end of that day, Luxembourg time)")
    c.add_argument("--json", action="store_true")
    add_operator_option(c)
    c.set_defaults(func=add)
    c = actions.add_parser("end", help="end a representative's rights from now on")
    c.add_argument("matricule")
    c.add_argument("representative_id", metavar="ID")
    add_operator_option(c)
    c.set_defaults(func=end)
    c = actions.add_parser("list", help="the representatives, ended ones too (names shown: "
                           "the read is journaled)")
    c.add_argument("matricule")
    c.add_argument("--json", action="store_true")
    add_operator_option(c)
    c.set_defaults(func=list_representatives)


def add(args: argparse.Namespace, settings: Settings) -> int:
    """Record a representative; print its id (the handle for `end` and --by-representative)."""
    matricule = validate(args.matricule)
    try:
        scopes = parse_scopes(args.scope)
    except ValueError as exc:
        raise HubError(f"--scope: {exc}") from None
    since = None if args.since is None else _local_midnight(_parse_date(args.since, "--since"))
    until = None if args.until is None else _local_midnight(
        _parse_date(args.until, "--until"), days=1)
    with current_hub(settings) as hub:
        added = representatives.add(hub.unit_of_work, matricule, args.kind, args.name, scopes,
                                    since, until, by=operator(args))
    if args.json:
        print_json({"id": added.id, "kind": added.kind.value,
                    "scopes": sorted(s.value for s in added.scopes), "since": added.since,
                    "until": added.until})
    else:
        print(f"representative {added.id} recorded: {added.kind.value}, scope "
              f"{format_scopes(added.scopes)}")
    return 0


def end(args: argparse.Namespace, settings: Settings) -> int:
    """End one representative's rights from now on."""
    matricule = validate(args.matricule)
    with current_hub(settings) as hub:
        ended = representatives.end(hub.unit_of_work, matricule, args.representative_id,
                                    by=operator(args))
    print(f"representative {ended.id} ended")
    return 0


def list_representatives(args: argparse.Namespace, settings: Settings) -> int:
    """Every representative of the dossier with its status, and whether the patient is a
    minor."""
    matricule = validate(args.matricule)
    with current_hub(settings) as hub:
        document = representatives.overview(hub.unit_of_work, matricule, by=operator(args))
    if args.json:
        print_json(document)
        return 0
    print_representatives(document)
    return 0


def print_representatives(document: dict) -> None:
    """The minor line and one table row per representative (for `list` and `dossier show`)."""
    if document["minor"]:
        print(f"minor: of age on {document['majority_on']} (parents' rights end then)")
    rows = [(r["id"], r["kind"], r["name"], ",".join(r["scopes"]), _day(r["since"]),
             _day(r["until"]), r["status"]) for r in document["representatives"]]
    if rows:
        print_table(["id", "kind", "name", "scope", "since", "until", "status"], rows)
    else:
        print("no representatives")


def _parse_date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise HubError(f"{option}: expected a date as YYYY-MM-DD") from None


def _local_midnight(day: date, days: int = 0) -> datetime:
    return start_of_day(day + timedelta(days=days))


def _day(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(LUXEMBOURG).isoformat(timespec="minutes")
