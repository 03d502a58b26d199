"""`hub dossier show MATRICULE [--as CNS_CODE | --operator NAME]`: an operator's full view, or
the dossier as one professional may see it (hub.ops.dossier.show decides, journals and commits
either read before anything is printed). Parsing and printing only.
"""
from __future__ import annotations

import argparse

from hub.cli.acting import reader
from hub.cli.output import print_json, print_table
from hub.cli.representative_cmd import print_representatives
from hub.cli.session import current_hub
from hub.domain.matricule import validate
from hub.domain.operator import Operator
from hub.errors import HubError
from hub.ops import dossier
from hub.settings import Settings
from hub.text import inert

_ENTRY_FIELDS = ("id", "kind", "confidentiality", "hidden", "effective_at", "message_id",
                 "created_at")
_LEAD = ("value", "unit", "abnormal_flag", "reference_range")  # shown first, never cut off
_VALUE_WIDTH = 80   # a longer value (a text report) is cut in the table: --json has it whole
_WIDTH = 160        # the whole summary of one entry


def show(args: argparse.Namespace, settings: Settings) -> int:
    """`hub dossier show`: the operator's full view, or with --as what that professional may see
    (the read journaled either way; exit 1 when the registry refuses them)."""
    matricule = validate(args.matricule)
    who = reader(args)
    with current_hub(settings) as hub:
        document = dossier.show(hub.unit_of_work, matricule, who,
                                referent_by_default=settings.consent.referent_access_by_default,
                                closed_dossier_years=settings.retention.closed_dossier_years,
                                representative=_representative(args, who))
    if args.json:
        print_json(document)
    else:
        print_dossier(document)
    return 0


def _representative(args: argparse.Namespace, who) -> str | None:
    representative = getattr(args, "by_representative", None)
    if representative is not None and not isinstance(who, Operator):
        raise HubError("give --as or --by-representative, not both")
    return representative


def print_dossier(document: dict) -> None:
    """Print for people a document of hub.ops.dossier.show: who reads it and why, a merge, the
    demographics, one table line per entry (`entry_summary`) and the CNS summary; every value
    shown inert."""
    p = {k: inert(v) if isinstance(v, str) else v for k, v in document["patient"].items()}
    if "viewer" in document:
        print(f"as {document['viewer']}: {document['access']['reason']}")
    if "merged_into" in document:
        print(f"merged into the dossier of {document['merged_into']} (ADT^A40): "
              "its entries and new messages are there")
    elif document.get("merged"):
        print("merged into another dossier (ADT^A40): its entries are there")
    if "closure" in document:
        print(closure_line(document["closure"]))
    if "family_name" in p and not any(p[k] for k in ("family_name", "given_name", "birth_date")):
        print("no demographics on file yet")
    elif "family_name" in p:
        print(f"{p['family_name']}, {p['given_name']}  born {p['birth_date'] or '?'}  "
              f"sex {p['sex'] or '?'}")
    if document.get("minor") or document.get("representatives"):
        print_representatives(document)
    if document["entries"] or "viewer" not in document:
        print_table(["when", "kind", "what"],
                    [(e["effective_at"] or "", e["kind"], entry_summary(e))
                     for e in document["entries"]])
    else:
        print("no entries to show")
    if document.get("cns_summary"):
        print("\nCNS summary (prestations)")
        print_table(["year", "kind", "count", "amount"],
                    [(r["year"], r["kind"], r["count"],
                      f"{r['amount']:.2f} {r.get('currency', '')}".rstrip())
                     for r in document["cns_summary"]])


def closure_line(closure: dict) -> str:
    """A closed dossier's state in one line: since when, and when its content is (or was)
    erased ([retention] closed_dossier_years)."""
    since = f"dossier closed by the patient on {closure['closed_at'].date().isoformat()}"
    if closure["erased_at"] is not None:
        return f"{since}; its content was erased on {closure['erased_at'].date().isoformat()}"
    if closure["erase_after"] is None:
        return f"{since}; its content is kept ([retention] closed_dossier_years = 0)"
    return (f"{since}; its content will be erased on "
            f"{closure['erase_after'].date().isoformat()} unless it is reopened")


def entry_summary(entry: dict) -> str:
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
