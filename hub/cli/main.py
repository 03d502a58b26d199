"""`hub`: the one console command. Thin: parse arguments, build the hub, call one function.

Errors reach the user as one line on stderr and a non-zero exit code, never a traceback
(set HUB_DEBUG=1 to see one).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from hub.cli import (acting, audit_cmd, commands, consent_cmd, deliveries_cmd, dlq_cmd, document_cmd,
                     dossier_view, keys_cmd, patient_cmd, professionals_cmd, rejected_cmd,
                     remap_cmd, reports, representative_cmd, resume_cmd, trace_cmd)
from hub.cli.output import positive_count
from hub.errors import ConfigError, HubError
from hub.logs import configure_logging
from hub.settings import load_settings

EXIT_ERROR = 1
EXIT_CONFIG = 2
EXIT_INTERNAL = 70


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="DSP hub: HL7 v2 in, dossier out.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="run the hub")
    p.add_argument("--role", default=None,
                   choices=["all", "listener", "worker", "sender", "scheduler"],
                   help="run one role in this process (all: every role in this one process); "
                   "default: each role in a process of its own, under a supervising parent")
    p.add_argument("--workers", type=positive_count, default=None, metavar="N",
                   help="worker processes under the parent (default: the number of cores); "
                   "not with --role: one process's worker threads are [worker] threads")
    p.add_argument("--supervised", default=None, type=Path, help=argparse.SUPPRESS)
    p.set_defaults(func=commands.serve)

    p = sub.add_parser("send", help="send messages over MLLP, one line per ACK")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: the hub's MLLP port")
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--tls", action="store_true",
                   help="MLLP over TLS (implied by --cert or --ca)")
    p.add_argument("--cert", default="", metavar="PEM",
                   help="client certificate to present (a listener with a client CA asks for one)")
    p.add_argument("--key", default="", metavar="PEM",
                   help="its private key, unless it is in the --cert file")
    p.add_argument("--ca", default="", metavar="PEM",
                   help="CA to check the hub's certificate against (default: the system's)")
    p.set_defaults(func=commands.send)

    p = sub.add_parser("map", help="what the hub would make of a message; stores nothing")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=commands.map_files)

    p = sub.add_parser("status", help="is the hub healthy (a line naming what is not), then "
                       "queues, rates, counts by state, oldest waits; exit 3: broker unreachable")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=reports.status)

    p = sub.add_parser("messages", help="find messages")
    p.add_argument("--state", choices=["received", "stored", "rejected", "parked", "discarded"])
    p.add_argument("--sender")
    p.add_argument("--control-id")
    p.add_argument("--limit", type=positive_count, default=1000)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=reports.messages)

    p = sub.add_parser("dossier", help="a patient's dossier")
    dossier = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = dossier.add_parser("show", help="the whole dossier (an operator's full view), or "
                              "(--as) what a professional may see; either read is journaled")
    show.add_argument("matricule")
    show.add_argument("--as", dest="viewer", metavar="CNS_CODE",
                      help="show only what this professional may see, and journal the read")
    acting.add_operator_option(show)
    show.add_argument("--by-representative", metavar="ID",
                      help="the full view, read for the patient by this representative (in "
                      "force, with the read scope); journaled as theirs")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=dossier_view.show)

    p = sub.add_parser("db", help="database operations")
    db = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    db.add_parser("upgrade", help="migrate the schema to the newest version").set_defaults(
        func=commands.db_upgrade)
    professionals_cmd.register(sub)
    consent_cmd.register(sub, dossier)
    document_cmd.register(dossier)
    resume_cmd.register(dossier)
    representative_cmd.register(dossier)
    audit_cmd.register(sub)
    deliveries_cmd.register(sub)
    dlq_cmd.register(sub)
    rejected_cmd.register(sub)
    trace_cmd.register(sub)
    keys_cmd.register(sub)
    remap_cmd.register(sub)
    patient_cmd.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `hub` console script."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.log.level, settings.log.json_lines)
        return args.func(args, settings) or 0
    except ConfigError as exc:
        print(f"hub: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except HubError as exc:
        print(f"hub: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `hub ... | head`: the reader has what it wanted
        return 0
    except Exception as exc:
        if os.environ.get("HUB_DEBUG"):
            raise
        print(f"hub: internal error ({type(exc).__name__}); rerun with HUB_DEBUG=1 for details",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
