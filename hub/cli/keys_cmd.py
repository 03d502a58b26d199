"""`hub keys rotate [--now|--resume]` and `hub keys status`: the data keys.

`rotate` adds a key to the key file and makes it current: new values are written under it
from then on (a running hub re-reads the file when its key-rotation job runs, or when it meets
a key id it does not know). Rows still under older keys are re-encrypted by that job in small
batches; `--now` does it here, in the foreground, with a progress bar. Every batch is its own
transaction, so Ctrl-C loses nothing: `--resume` finishes under the current key without adding
another. Old keys stay in the file (`status` counts the rows each one still protects).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.bootstrap import Hub
from hub.cli.interrupt import ctrl_c_noted
from hub.cli.output import positive_count, print_json, print_table
from hub.errors import ConfigError
from hub.ops.keys import add_current_key
from hub.settings import Settings

EXIT_INTERRUPTED = 130


def register(subparsers) -> None:
    """Add `hub keys rotate` and `hub keys status`."""
    p = subparsers.add_parser("keys", help="data keys: rotate, status")
    keys = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = keys.add_parser("rotate", help="add a new current key; the scheduler (or --now) "
                        "re-encrypts rows under older keys")
    mode = c.add_mutually_exclusive_group()
    mode.add_argument("--now", action="store_true",
                      help="re-encrypt every row under older keys now, in the foreground")
    mode.add_argument("--resume", action="store_true",
                      help="add no key; finish re-encrypting under the current key now")
    c.add_argument("--batch-size", type=positive_count, default=None,
                   help="rows per transaction (default: [jobs] key_rotation_batch)")
    c.set_defaults(func=rotate)
    c = keys.add_parser("status", help="the current key and how many rows each key protects")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=status)


def rotate(args: argparse.Namespace, settings: Settings) -> int:
    """Add a key (unless --resume) and, with --now or --resume, re-encrypt in the foreground."""
    hub = Hub(settings)
    try:
        hub.open_database()  # a missing database is named first: it explains a missing key file
        _require_key_file(settings)
        if not args.resume:
            key_id = add_current_key(hub.unit_of_work, hub.keyring)
            print(f"key {key_id} added and made current")
        if not (args.now or args.resume):
            print(f"{hub.key_rotation.pending()} row(s) still under older keys: the scheduler "
                  "re-encrypts them (or run `hub keys rotate --resume`)")
            return 0
        return _reencrypt(hub, args.batch_size or settings.jobs.key_rotation_batch)
    finally:
        hub.close()


def _reencrypt(hub: Hub, batch_size: int) -> int:
    rotation, current = hub.key_rotation, hub.keyring.current_key_id
    total, done, started = rotation.pending(), 0, time.monotonic()
    columns = (TextColumn(f"re-encrypting under {current}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with ctrl_c_noted() as stop, \
            Progress(*columns, console=Console(stderr=True), disable=not total) as bar:
        task = bar.add_task("rows", total=total)

        def advance(n: int) -> None:
            nonlocal done
            done += n
            bar.update(task, completed=min(done, total))

        rotation.run(batch_size, keep_going=lambda: not stop.is_set(), on_batch=advance)
    left = rotation.pending()
    if stop.is_set() and left:
        print(f"interrupted: {done} row(s) re-encrypted, {left} still under older keys (every "
              "batch is whole); `hub keys rotate --resume` finishes", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"{done} row(s) re-encrypted under {current} in {time.monotonic() - started:.1f} s; "
          f"{left} left under older keys")
    return 0 if left == 0 else 1


def _require_key_file(settings: Settings) -> None:
    # The hub creates a missing key file on start; here that would hide a wrong HUB_KEY_FILE
    # behind a fresh keyring that opens nothing.
    if not Path(settings.key_file).exists():
        raise ConfigError(f"key file {settings.key_file} does not exist")


def status(args: argparse.Namespace, settings: Settings) -> int:
    """The current key id, every key id in the file, and rows per key id per table."""
    hub = Hub(settings)
    try:
        hub.open_database()
        _require_key_file(settings)
        counts = hub.key_rotation.counts()
        document = {"current": hub.keyring.current_key_id, "keys": hub.keyring.key_ids(),
                    "rows": counts}
    finally:
        hub.close()
    if args.json:
        print_json(document)
        return 0
    print(f"current key: {document['current']}")
    # Rows under a key id the file lacks (an old copy of the file, a lost key) are the ones
    # nothing can open: listed too, and named on stderr.
    missing = sorted({k for per_key in counts.values() for k in per_key} - set(document["keys"]))
    print_table(["key", "patients", "messages", "entries", "deliveries"],
                [(k, *(counts[t].get(k, 0) for t in ("patients", "messages", "entries",
                                                      "deliveries")))
                 for k in document["keys"] + missing])
    for key_id in missing:
        print(f"hub: key {key_id} protects rows but is not in {settings.key_file}",
              file=sys.stderr)
    return 0
