"""The CNS batch feed: a spool directory the CNS drops batch files into (`cns_spool`).

The convention, for whoever writes into the spool:

- Only regular files directly in the spool root are taken. Dotfiles and names ending in `.tmp`
  or `.part` are left alone: write under such a name and rename when complete. A file is taken
  only once two looks, one poll interval apart, saw the same size and modification time, so a
  file still being written in place waits.
- A file is read and checked whole (`batch_file.read_batch_file`: FHS/BHS nesting, BTS/FTS
  counts, no stray segment) before anything is published, without being held in memory: the
  check keeps where each message is, and the messages are read back from the file a window at
  a time when they are published. A bad file moves to `rejected/` beside a
  `NAME.report.json` naming the first problem (segment and line, never patient data), and
  nothing of it is published.
- A good file's messages are published one by one through the MLLP intake's own path
  (`Intake.accept`: the same headers, the same per-message sniff, so a message without a valid
  matricule becomes a rejected record as it would over MLLP). Only once the broker confirmed
  every one does the file move to `done/`, beside a report with its counts by outcome.
- A file whose messages were not all confirmed (broker down) stays where it was, and a later
  look goes on from its first message the broker did not confirm (while the file is unchanged
  and the hub the same process). A hub that died mid-file publishes it again whole on restart:
  the workers' resend rule (same sender, same MSH-10, same bytes: discarded) makes that safe,
  though a message the sniff rejected (e.g. AE 101) is then kept and counted twice.
- A name already in `done/` or `rejected/` gets a numeric suffix (`NAME.1`, ...): nothing is
  overwritten.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import islice, takewhile
from pathlib import Path

from hub.errors import ConfigError
from hub.inbound.batch import Batch, BatchProblem
from hub.inbound.batch_file import messages_of, read_batch_file
from hub.inbound.intake import Intake

log = logging.getLogger(__name__)
DONE, REJECTED = "done", "rejected"
_SKIPPED_SUFFIXES = (".tmp", ".part")
REPORT_SUFFIX = ".report.json"
PUBLISH_WINDOW = 500  # messages read back from the file and published at a time


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class CnsSpool:
    """Polls one spool directory and imports each complete, stable file, whole or not at all."""

    def __init__(self, intake: Intake, root: Path,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._intake = intake
        self._root = root
        self._clock = clock
        self._seen: dict[str, tuple[int, int]] = {}
        self._progress: dict[str, _Progress] = {}  # files the broker stopped confirming

    def prepare(self) -> None:
        """Create the spool, done/ and rejected/ when missing (ConfigError when impossible)."""
        try:
            for path in (self._root, self._root / DONE, self._root / REJECTED):
                path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot use the CNS spool {self._root} ({exc.strerror}); "
                              "set HUB_CNS_SPOOL") from None

    async def run(self, stop: threading.Event, interval: float) -> None:
        """Look every `interval` seconds until `stop` is set; a file in progress is finished."""
        while not stop.is_set():
            try:
                await self.poll_once()
            except Exception:  # a bug must not end the feed: the next look tries again
                log.exception("CNS spool: a look at %s failed", self._root)
            deadline = asyncio.get_running_loop().time() + interval
            while not stop.is_set() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(min(0.2, interval))

    async def poll_once(self) -> dict[str, str]:
        """Take every file that is ready; returns {file name: "done" | "rejected" | "retry"}."""
        outcomes = {}
        for path in await asyncio.to_thread(self._ready):
            outcomes[path.name] = await self._take(path)
        return outcomes

    def _ready(self) -> list[Path]:
        """Files unchanged since the last look, oldest first; remembers what it saw."""
        seen: dict[str, tuple[int, int]] = {}
        ready: list[tuple[int, str, Path]] = []
        for entry in os.scandir(self._root):
            name = entry.name
            if name.startswith(".") or name.endswith(_SKIPPED_SUFFIXES):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone since the listing
            seen[name] = (stat.st_size, stat.st_mtime_ns)
            if self._seen.get(name) == seen[name]:
                ready.append((stat.st_mtime_ns, name, Path(entry.path)))
        self._seen = seen
        return [path for _, _, path in sorted(ready)]

    async def _take(self, path: Path) -> str:
        try:
            checked = await asyncio.to_thread(read_batch_file, path)
        except OSError as exc:
            log.warning("CNS spool: cannot read %s (%s); next look", path.name, exc.strerror)
            return "retry"
        if isinstance(checked, BatchProblem):
            self._progress.pop(path.name, None)
            await asyncio.to_thread(self._file_away, path, REJECTED, _rejected_report(
                path.name, checked, self._clock()))
            log.warning("CNS spool: %s rejected, nothing published: %s", path.name, checked.text)
            return "rejected"
        signature = self._seen.get(path.name)
        progress = self._progress.get(path.name)
        if progress is None or progress.signature != signature:
            progress = self._progress[path.name] = _Progress(signature, self._clock())
        try:
            complete = await self._publish(path, checked, progress)
        except OSError as exc:
            log.warning("CNS spool: cannot read %s again (%s); next look", path.name,
                        exc.strerror)
            return "retry"
        if not complete:
            return "retry"
        report = _done_report(path.name, checked, progress.codes, progress.received_at)
        try:
            await asyncio.to_thread(self._file_away, path, DONE, report)
        except OSError as exc:  # e.g. a second hub on the same spool moved it first
            log.warning("CNS spool: %s published but not moved (%s); if it is still there the "
                        "next look publishes it again, harmlessly", path.name, exc.strerror)
            return "retry"
        del self._progress[path.name]
        log.info("CNS spool: %s done, %d message(s): %s", path.name, report["messages"],
                 report["by_outcome"])
        return "done"

    async def _publish(self, path: Path, checked: Batch, progress: _Progress) -> bool:
        """Publish the file's messages from `progress.published` on, read back from it a window
        at a time (the file is never held whole), counting their ACK codes into `progress`.
        False when the broker did not confirm one: `progress` then ends before it."""
        messages = messages_of(path, checked)
        total = sum(sub.count for sub in checked.batches)
        try:
            await asyncio.to_thread(_skip, messages, progress.published)
            while window := await asyncio.to_thread(list, islice(messages, PUBLISH_WINDOW)):
                results = await self._intake.accept_all(window, f"cns-spool:{path.name}",
                                                        progress.received_at)
                confirmed = list(takewhile(lambda result: result.confirmed, results))
                progress.published += len(confirmed)
                progress.codes.update(result.code for result in confirmed)
                if len(confirmed) < len(results):
                    log.warning("CNS spool: message %d of %s (%d) not confirmed by the broker; "
                                "the file stays and the next look goes on from there",
                                progress.published + 1, path.name, total)
                    return False
        finally:
            messages.close()
        return True

    def _file_away(self, path: Path, folder: str, report: dict) -> None:
        """Write the report, then move the file beside it (a crash between leaves the file in
        the spool, so it is taken again)."""
        target = _free_name(self._root / folder, path.name)
        report["moved_to"] = f"{folder}/{target.name}"
        text = json.dumps(report, indent=2, sort_keys=True) + "\n"
        partial = target.with_name(target.name + REPORT_SUFFIX + ".part")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target.with_name(target.name + REPORT_SUFFIX))
        os.replace(path, target)
        self._seen.pop(path.name, None)


@dataclass
class _Progress:
    """How far publishing a file got: its first `published` messages are confirmed by the
    broker, answered with `codes`. Valid while the file keeps its `signature` (size, mtime)."""

    signature: tuple[int, int] | None
    received_at: datetime
    published: int = 0
    codes: Counter = field(default_factory=Counter)


def _skip(messages: Iterator[bytes], n: int) -> None:
    for _ in islice(messages, n):
        pass


def _free_name(folder: Path, name: str) -> Path:
    target, n = folder / name, 0
    while target.exists():
        n += 1
        target = folder / f"{name}.{n}"
    return target


def _rejected_report(name: str, problem: BatchProblem, at: datetime) -> dict:
    return {"file": name, "outcome": "rejected", "at": at.isoformat(), "published": 0,
            "problem": {"err_code": problem.err_code, "segment": problem.segment,
                        "line": problem.line, "text": problem.text}}


def _done_report(name: str, batch: Batch, codes: Counter, at: datetime) -> dict:
    total = sum(codes.values())
    accepted = codes.get("AA", 0)
    return {"file": name, "outcome": "done", "at": at.isoformat(), "sender": batch.sender,
            "control_id": batch.control_id, "batches": len(batch.batches), "messages": total,
            "by_outcome": {"accepted": accepted, "rejected": total - accepted},
            "by_ack_code": dict(sorted(codes.items()))}
