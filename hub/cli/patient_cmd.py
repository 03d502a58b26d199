"""`hub patient link LEGACY MATRICULE` and `hub patient link --all-legacy`: one dossier for a
legacy 11-digit matricule and its 13-digit form.

An operator's word links the two named ones (the legacy dossier merged into the 13-digit one,
`patient.merged` in both journals, actor operator). `--all-legacy` merges every legacy dossier
into its successor's by the rule (the same 11 digits and their check digits): it is what
turning `[identity] link_legacy_forms` on asks of an existing store, and it refuses to run
while that setting is off. Matricules are never printed; dossiers are named by id.
"""
from __future__ import annotations

import argparse

from hub.bootstrap import Hub
from hub.cli.acting import add_operator_option, operator
from hub.cli.output import print_json
from hub.domain.matricule import is_legacy, validate
from hub.errors import ConfigError, HubError, InvalidMatricule
from hub.ops import patients
from hub.settings import Settings


def register(subparsers) -> None:
    """Add `hub patient …` to the command."""
    p = subparsers.add_parser("patient", help="patient identity: link a legacy matricule")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser("link", help="one dossier for a legacy 11-digit matricule and a "
                           "13-digit one (journaled in both)")
    c.add_argument("legacy", nargs="?", metavar="LEGACY")
    c.add_argument("matricule", nargs="?", metavar="MATRICULE")
    c.add_argument("--all-legacy", action="store_true",
                   help="link every legacy dossier with its successor ([identity] "
                   "link_legacy_forms must be on)")
    c.add_argument("--json", action="store_true")
    add_operator_option(c)
    c.set_defaults(func=link)


def link(args: argparse.Namespace, settings: Settings) -> int:
    """Link the two named forms, or with --all-legacy every legacy dossier; prints what moved."""
    if args.all_legacy:
        if args.legacy or args.matricule:
            raise HubError("patient link: give LEGACY MATRICULE or --all-legacy, not both")
        if not settings.identity.link_legacy_forms:
            raise ConfigError("patient link --all-legacy links by the successor rule: turn on "
                              "[identity] link_legacy_forms first (README, Legacy matricules)")
        return _report(args, _on_hub(settings, patients.link_every_legacy))
    if not (args.legacy and args.matricule):
        raise HubError("patient link: give LEGACY MATRICULE (or --all-legacy)")
    legacy, matricule = _forms(args.legacy, args.matricule)
    by = operator(args)
    merge = _on_hub(settings, lambda uow_factory: patients.link_legacy(uow_factory, legacy,
                                                                        matricule, by))
    return _report(args, [merge] if merge is not None else [])


def _forms(legacy_text: str, matricule_text: str) -> tuple[str, str]:
    legacy = _valid(legacy_text, "LEGACY")
    matricule = _valid(matricule_text, "MATRICULE")
    if not is_legacy(legacy):
        raise HubError("patient link: LEGACY must be an 11-digit (legacy) matricule")
    if is_legacy(matricule):
        raise HubError("patient link: MATRICULE must be a 13-digit matricule")
    return legacy, matricule


def _valid(text: str, name: str) -> str:
    try:
        return validate(text)
    except InvalidMatricule as error:
        raise HubError(f"patient link: {name}: {error}") from None


def _on_hub(settings: Settings, work):
    hub = Hub(settings)
    try:
        hub.open_database()
        return work(hub.unit_of_work)
    finally:
        hub.close()


def _report(args: argparse.Namespace, merges: list) -> int:
    rows = [{"merged": m.merged_id, "into": m.survivor_id, "entries_moved": m.moved}
            for m in merges]
    if args.json:
        print_json({"linked": rows})
    elif not rows:
        print("nothing to link: already one dossier")
    else:
        for row in rows:
            print(f"dossier {row['merged']} linked into {row['into']}: "
                  f"{row['entries_moved']} entries moved")
    return 0
