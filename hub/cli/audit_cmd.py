"""`hub journal MATRICULE` (the patient's access journal) and `hub audit verify` (the chain)."""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from hub.bootstrap import Hub
from hub.cli.output import print_json, print_table
from hub.domain.audit import Actor, AuditEvent, FilingDetail, VerifyResult
from hub.domain.matricule import validate
from hub.journal.phrases import DEFAULT_LANGUAGE, LANGUAGES
from hub.journal.render_html import render_html
from hub.journal.render_text import render_text
from hub.ops.journal import read_journal
from hub.settings import Settings

EXIT_BROKEN = 1
EXIT_USAGE = 2
FORMATS = ("text", "html", "pdf")


def register(subparsers) -> None:
    """Add `journal` and `audit verify` to the `hub` command."""
    p = subparsers.add_parser("journal", help="the patient's access journal")
    p.add_argument("matricule")
    output = p.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true",
                        help="the events as the log has them (ids, UTC), for scripts")
    output.add_argument("--format", choices=FORMATS, default=None,
                   help="the journal the patient reads, in plain words and Luxembourg time: "
                        "text, html (a page) or pdf (a letter); default: the operator's table")
    p.add_argument("--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE,
                   help="language of --format (default fr, the DSP's)")
    p.add_argument("--out", metavar="FILE",
                   help="write --format's output to FILE instead of standard output")
    p.set_defaults(func=journal)
    p = subparsers.add_parser("audit", help="the audit log")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("verify", help="check the audit log's hash chain")
    check.add_argument("--json", action="store_true")
    check.set_defaults(func=verify)


def journal(args: argparse.Namespace, settings: Settings) -> int:
    """Who filed, received or read what of one patient's dossier, when and why; oldest first.
    `--format` words it for the patient (hub.journal), `--json` gives the events for scripts."""
    matricule = validate(args.matricule)
    hub = _open_hub(settings)
    try:
        events, lines = read_journal(hub.unit_of_work, matricule)
    finally:
        hub.close()
    if args.format:
        return _write_readable(args, lines)
    rows = [as_journal_line(e) for e in events]
    if args.json:
        print_json(rows)
        return 0
    print_table(["when", "who", "action", "entry", "outcome", "reason"],
                [(r["at"].isoformat(timespec="seconds"), who(r), r["action"],
                  r["entry"] or "", r["outcome"], r["reason"]) for r in rows])
    return 0


def _write_readable(args: argparse.Namespace, lines: list) -> int:
    made_at = datetime.now(UTC)
    if args.format == "pdf":
        # fpdf2 and fontTools cost ~0.15 s of CPU to import: only a PDF pays for them.
        from hub.journal.render_pdf import render_pdf
        data = render_pdf(lines, args.lang, made_at)
    elif args.format == "html":
        data = render_html(lines, args.lang, made_at).encode("utf-8")
    else:
        data = render_text(lines, args.lang, made_at).encode("utf-8")
    if args.out:
        Path(args.out).write_bytes(data)
    elif args.format == "pdf" and sys.stdout.isatty():
        print("hub: a PDF is not for the terminal: give --out FILE or redirect it",
              file=sys.stderr)
        return EXIT_USAGE
    else:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check the whole chain; exit 1 naming the first broken event when it does not hold."""
    hub = _open_hub(settings)
    try:
        with hub.unit_of_work() as uow:
            result = uow.audit.verify()
    finally:
        hub.close()
    if args.json:
        print_json(as_verify_document(result))
    elif result.ok:
        print(f"audit chain intact: {result.checked} events")
        if result.head_seq:
            print(f"head: event {result.head_seq}, hash {result.head_hash}")
    else:
        print(f"hub: audit chain broken at event {result.first_broken_seq}: {result.problem} "
              f"({result.checked} events before it intact)", file=sys.stderr)
    return 0 if result.ok else EXIT_BROKEN


def as_journal_line(event: AuditEvent) -> dict:
    """One line of the journal as `hub journal --json` prints it (DESIGN.md's shape, and more):
    "operator" names the operator behind the event (None when there was none); "detail" the
    ids a filing names (entries, sender, professional), None for other events."""
    return {"at": event.at, "actor": event.actor, "action": event.action,
            "entry": event.entry_id, "outcome": str(event.outcome), "reason": event.reason,
            "message": event.message_id, "seq": event.seq, "operator": event.operator,
            "detail": FilingDetail.from_json(event.detail).__dict__ if event.detail else None}


def who(line: dict) -> str:
    """The journal's "who" for people: the actor, with the operator who acted or recorded it
    ("operator alice", "patient, recorded by alice")."""
    if line.get("operator") is None:
        return line["actor"]
    if line["actor"] == Actor.OPERATOR:
        return f"operator {line['operator']}"
    return f"{line['actor']}, recorded by {line['operator']}"


def as_verify_document(result: VerifyResult) -> dict:
    """`hub audit verify --json`: the result, and the head to note elsewhere."""
    return {"ok": result.ok, "checked": result.checked,
            "first_broken_seq": result.first_broken_seq, "problem": result.problem,
            "head_seq": result.head_seq, "head_hash": result.head_hash}


def _open_hub(settings: Settings) -> Hub:
    # As hub/cli/reports.py: the hub's database must exist (Hub.open_database).
    hub = Hub(settings)
    hub.open_database()
    return hub
