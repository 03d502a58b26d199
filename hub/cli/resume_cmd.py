"""`hub dossier overdue`: the référent declarations whose résumé patient is overdue.

The list is what the overdue job flagged (hub/jobs/resume_clock.py), among the declarations still
in force: a résumé from the référent, or the declaration's end, takes one off it. Each patient
listed is named by matricule, so the listing is in their journal (hub.ops.resumes), as read by
the operator (--operator, HUB_OPERATOR or the OS user).
"""
from __future__ import annotations

import argparse
from datetime import UTC, datetime

from hub.bootstrap import Hub
from hub.cli.acting import add_operator_option, operator
from hub.cli.output import print_json, print_table
from hub.ops import resumes
from hub.settings import Settings


def register(dossier_actions) -> None:
    """Add `hub dossier overdue [--json]`."""
    c = dossier_actions.add_parser("overdue", help="référent declarations whose résumé patient "
                                   "is overdue")
    c.add_argument("--json", action="store_true")
    add_operator_option(c)
    c.set_defaults(func=overdue)


def overdue(args: argparse.Namespace, settings: Settings) -> int:
    """List the overdue résumés: matricule, référent, declared, last résumé, the Luxembourg day
    it was due by and when it was flagged (first résumés and regular updates alike)."""
    by = operator(args)
    hub = Hub(settings)
    try:
        hub.open_database()
        rows = resumes.overdue(hub.unit_of_work, datetime.now(UTC), settings.resume.months,
                               by=by, update_months=settings.resume.update_months)
    finally:
        hub.close()
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print("no résumé patient overdue")
        return 0
    print_table(["matricule", "référent", "declared", "last résumé", "due by", "flagged"],
                [(r["matricule"], r["referent"], _day(r["declared_at"]),
                  _day(r["last_resume_at"]) if r["last_resume_at"] else "none",
                  r["due_on"].isoformat(), _day(r["flagged_at"])) for r in rows])
    return 0


def _day(value: datetime) -> str:
    return value.isoformat(timespec="seconds")
