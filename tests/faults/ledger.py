"""Senders that keep a ledger of every answer, and the count of what the store made of them.

A sender sends numbered messages over one MLLP connection, one at a time, as a laboratory
system does: it waits for the ACK, and resends what got anything but AA (an AE, no answer in
time, a dropped connection) until it gets one or gives up. The ledger is per MSH-10; the
count reads the `messages` table directly (sender, control id, state, reason are plain
columns), so a test can poll it often without starting a `hub` process each time.
"""
from __future__ import annotations

import collections
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import create_engine, text

from tests.fixtures.acks import read_ack

START, END = b"\x0b", b"\x1c\r"


@dataclass
class Ledger:
    """What each control id got back, in order, for every try."""

    answers: dict[str, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, control_id: str, answer: str) -> None:
        with self.lock:
            self.answers[control_id].append(answer)

    def acked(self) -> set[str]:
        """Control ids that got an AA at least once."""
        with self.lock:
            return {c for c, answers in self.answers.items() if "AA" in answers}

    def counts(self) -> dict[str, int]:
        with self.lock:
            tries = sum(len(a) for a in self.answers.values())
            codes = collections.Counter(x for a in self.answers.values() for x in a)
            return {"sent": len(self.answers), "tries": tries,
                    "aa": sum(1 for a in self.answers.values() if "AA" in a),
                    "resent": sum(1 for a in self.answers.values() if len(a) > 1),
                    **{f"answer_{code}": n for code, n in sorted(codes.items()) if code != "AA"}}


def send_numbered(port: int, frames: list[tuple[str, bytes]], ledger: Ledger, *,
                  pace: float = 0.0, timeout: float = 10.0, max_tries: int = 20,
                  stop: threading.Event | None = None) -> None:
    """Send each (control id, frame) until AA (at most `max_tries` times), noting every answer
    in `ledger`: the ACK code, or "timeout" / "dropped" / "refused"."""
    connection: socket.socket | None = None
    try:
        for control_id, frame in frames:
            for attempt in range(max_tries):
                if stop is not None and stop.is_set():
                    return
                if connection is None:
                    try:
                        connection = socket.create_connection(("127.0.0.1", port), timeout=timeout)
                    except OSError:
                        ledger.note(control_id, "refused")
                        time.sleep(0.5)
                        continue
                try:
                    code = _exchange(connection, frame, timeout)
                except TimeoutError:
                    code = "timeout"
                except OSError:
                    code = "dropped"
                ledger.note(control_id, code)
                if code in ("timeout", "dropped"):
                    connection.close()
                    connection = None
                if code == "AA":
                    break
                time.sleep(min(0.2 * (attempt + 1), 2.0))
            if pace:
                time.sleep(pace)
    finally:
        if connection is not None:
            connection.close()


def _exchange(connection: socket.socket, frame: bytes, timeout: float) -> str:
    connection.settimeout(timeout)
    connection.sendall(START + frame + END)
    answer = b""
    while not answer.endswith(END):
        chunk = connection.recv(65536)
        if not chunk:
            raise ConnectionResetError("the hub closed the connection")
        answer += chunk
    return read_ack(answer).code


class StoreCount:
    """Reads what the store holds per MSH-10 of one sender's numbered messages."""

    def __init__(self, database_url: str, prefix: str) -> None:
        self._engine = create_engine(database_url, pool_pre_ping=True)
        self._prefix = prefix

    def rows(self) -> list[tuple[str, str, str | None]]:
        """(control id, state, reason) of every message row with the prefix; [] while the
        database is unreachable."""
        try:
            with self._engine.connect() as connection:
                return [tuple(r) for r in connection.execute(
                    text("SELECT control_id, state, reason FROM messages "
                         "WHERE control_id LIKE :p"), {"p": self._prefix + "%"})]
        except Exception:  # noqa: BLE001 - down mid-outage; the caller polls again
            return []

    def tally(self, acked: set[str]) -> dict[str, int]:
        """lost: AA'd, neither stored nor parked; doubled: stored more than once; parked:
        parked rows (every message a fault test sends is healthy)."""
        by_id: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        for control_id, state, _reason in self.rows():
            by_id[control_id][state] += 1
        stored = {c for c, n in by_id.items() if n["stored"]}
        parked = {c for c, n in by_id.items() if n["parked"]}
        return {"stored": len(stored),
                "lost": len(acked - stored - parked),
                "doubled": sum(1 for n in by_id.values() if n["stored"] > 1),
                "healthy_parked": sum(n["parked"] for n in by_id.values()),
                "discarded": sum(n["discarded"] for n in by_id.values())}

    def parked_reasons(self) -> collections.Counter:
        return collections.Counter(reason for _c, state, reason in self.rows() if state == "parked")

    def close(self) -> None:
        self._engine.dispose()


def poll(predicate: Callable[[], object], timeout: float, every: float = 0.5):
    """`predicate()` until it is true or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)
