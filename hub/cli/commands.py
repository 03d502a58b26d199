"""Commands that act: serve, send, map, db upgrade."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from hub.bootstrap import Hub
from hub.cli.answers import ack_summary, acks
from hub.cli.output import print_json, print_table
from hub.errors import ConfigError, HubError
from hub.hl7.constants import starts_batch
from hub.hl7.split import split_messages
from hub.mllp.client import MLLPClient
from hub.mllp.tls import client_context
from hub.settings import Settings
from hub.text import inert

log = logging.getLogger(__name__)
ACCEPTED = {"AA", "CA"}


def serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the hub until interrupted: each role in a process of its own under a supervising
    parent (hub/supervisor.py), or `--role`'s in this one."""
    from hub.serve import serve as run  # the runtime pulls in asyncio servers: only when serving

    role = args.role
    if role is not None and args.workers is not None:
        raise ConfigError("--workers counts the worker processes of `hub serve` without --role; "
                          "with --role, set [worker] threads (HUB_WORKER__THREADS)")
    if role is None and settings.broker_url.startswith("memory:"):
        log.info("HUB_BROKER_URL=memory:// keeps messages inside one process: every role runs "
                 "in this one (as --role all)")
        if args.workers is not None:
            log.warning("--workers %d ignored: one process, [worker] threads routing threads",
                        args.workers)
        role = "all"
    if role is None:
        from hub.supervisor import supervise
        return supervise(Hub(settings), args.workers)
    run(Hub(settings), role, supervised=args.supervised)
    return 0


def send(args: argparse.Namespace, settings: Settings) -> int:
    """Send each message of each file over one MLLP connection; one line per ACK.
    A batch file (FHS or BHS first) goes as one frame, checked whole by the hub, which answers
    one ACK per message. Exits 1 when any message was not accepted (or a file could not be read).
    With --tls (or --cert/--ca) the hub's certificate is checked (--ca, else the system's CAs)
    and --cert/--key presented; a bad file or a refused handshake is one line, exit 1."""
    port = args.port or settings.mllp.port
    failures = 0
    # Every file read first: a mistyped name is said as such, before anything is sent.
    files = [(name, _frames(_read(name))) for name in args.files]
    tls = None
    if args.tls or args.cert or args.key or args.ca:
        tls = client_context(args.ca, args.cert, args.key)
    with MLLPClient(args.host, port, timeout=args.timeout, ssl_context=tls) as client:
        for name, frames in files:
            for payload in frames:
                for ack in acks(client.send(payload)):
                    code, control_id, text = ack_summary(ack)
                    failures += code not in ACCEPTED
                    # The ACK is the peer's text: shown inert, tab-separated for scripts.
                    print("\t".join(inert(part) for part in (name, control_id, code, text))
                          .rstrip())
    return 1 if failures else 0


def _frames(raw: bytes) -> list[bytes]:
    if starts_batch(raw):
        return [raw]
    messages, loose = split_messages(raw)
    # a file with no MSH is sent as it is: the hub's AR says what is wrong with it
    return messages or [b"\r".join(loose) + b"\r"]


def map_files(args: argparse.Namespace, settings: Settings) -> int:
    """Print what the hub would make of each message; stores nothing, publishes nothing."""
    from hub.mapping.preview import preview

    hub = Hub(settings)
    # The worker's own reading: référent declarations from the senders the senders file
    # gives declare_referent, as the listener would let them through.
    policy = hub.routing_policy
    results = []
    for name in args.files:
        results += preview(Path(name), _read(name), hub.mappings, policy=policy)
    if args.json:
        print_json(results)
    else:
        rows = [(r["file"], r.get("type", ""), r.get("control_id", ""),
                 f"{len(r['entries'])} entries" if r["ok"] else f"error: {r.get('error', '')}",
                 r.get("identity", "")) for r in results]
        print_table(["file", "type", "control id", "mapping", "identity"], rows)
    return 0 if all(r["ok"] for r in results) else 1


def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    """Migrate the database schema to the newest version."""
    Hub(settings).upgrade_database()
    print("database is up to date")
    return 0


def _read(name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except OSError as exc:
        raise HubError(f"cannot read {name}: {exc.strerror}") from None
