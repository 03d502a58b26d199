"""Deliveries filed by any hub process, announced to the senders on PostgreSQL.

Filing deliveries (`DeliveryRepository.add_many`) and replaying them notify CHANNEL with each
destination, in the filing transaction: PostgreSQL delivers a notification only once that
transaction committed, so a sender that hears it finds the deliveries. A sender listens on a
connection of its own (DueListener) instead of asking the database every few milliseconds
whether another process queued something. SQLite has no such channel: its senders poll.

A notification is a hint, never the only way work is found: one sent while the listener was
reconnecting is lost, so the listener reports every (re)connection and the sender then looks
at everything, and its interval round still comes.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine

from hub.logs import OutageLog

log = logging.getLogger(__name__)

CHANNEL = "hub_deliveries_due"
RECONNECT = 1.0   # seconds between attempts to listen again after the connection was lost
WAKE_EVERY = 0.5  # seconds the listener waits for notifications before looking at `stop`


def announcement(destination: str) -> Select[Any]:
    """The PostgreSQL statement that notifies CHANNEL of `destination` once its transaction
    commits (the same destination twice in a transaction is heard once)."""
    return select(func.pg_notify(CHANNEL, destination))


class DueListener:
    """Listens to CHANNEL on a connection of `engine`'s own, in a thread, from `start()` until
    `stop()`: `on_due(destination)` for each notification, `on_listen()` each time listening
    (re)starts (what was announced meanwhile was not heard). `listening` tells whether
    notifications are heard now."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._listening = False
        # The sender's database outage log, when it has one: an outage is then one WARNING and
        # one INFO in its log, whoever meets it first (hub/logs.py).
        self.outage: OutageLog | None = None

    @property
    def listening(self) -> bool:
        """Whether every delivery filed now is announced to `on_due`."""
        return self._listening

    def start(self, on_due: Callable[[str], None], on_listen: Callable[[], None]) -> None:
        """Start listening in a thread of its own."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, args=(on_due, on_listen),
                                        name="outbound-due-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (within WAKE_EVERY seconds) and close the connection."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()

    def _run(self, on_due: Callable[[str], None], on_listen: Callable[[], None]) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                raw = self._engine.raw_connection()
            except Exception as exc:  # noqa: BLE001 - the poll goes on; try again
                failing = self._lost(exc, failing)
                self._stopping.wait(RECONNECT)
                continue
            try:
                connection = raw.driver_connection
                assert connection is not None  # a connection checked out holds its driver's
                connection.autocommit = True
                connection.execute(f"LISTEN {CHANNEL}")
                self._listening = True
                if failing and self.outage is None:
                    log.info("outbound: listening for filed deliveries again")
                if failing and self.outage is not None:
                    self.outage.recovered()
                failing = False
                on_listen()
                while not self._stopping.is_set():
                    for notice in connection.notifies(timeout=WAKE_EVERY):
                        on_due(notice.payload)
            except Exception as exc:  # noqa: BLE001 - the poll goes on; listen again
                failing = self._lost(exc, failing)
                self._stopping.wait(RECONNECT)
            finally:
                self._listening = False
                raw.invalidate()  # autocommit and LISTEN: not for the pool

    def _lost(self, exc: Exception, failing: bool) -> bool:
        if self.outage is not None:
            self.outage.failed(f"while listening for filed deliveries: {type(exc).__name__}")
        elif not failing:
            log.warning("outbound: cannot listen for filed deliveries (%s); the sender polls "
                        "until it can", type(exc).__name__)
        return True
