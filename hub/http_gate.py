"""What one HTTP client address may cost the hub: a cap on its open connections, and a hold on
reading from it after the app told it to come back later.

A client told `429 Too Many Requests` with `Retry-After: S` (the dashboard's answer to too many
failed logins) that asks again at once would otherwise be answered again at once, as fast as it
can ask: a hundred such connections kept the hub's one Python process busy answering 429s and
cut the MLLP senders' rate to 0.3 x (bench/abuse.py). Held, its connections are not read for S
seconds — the bytes wait in the kernel's buffers, no thread and no parsing spent — so each
address costs at most one answer per connection per hold.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

log = logging.getLogger(__name__)
# Addresses followed at once; the least recently held is forgotten first (its hold lapses early).
MAX_HELD = 4096
REFUSAL_LOG_EVERY = 60.0


class PeerGate:
    """Per-address holds and connection counts for one HTTP server (used from its one asyncore
    thread and from the app's threads)."""

    def __init__(self, max_connections_per_peer: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cap = max_connections_per_peer
        self._clock = clock
        self._held: OrderedDict[str, float] = OrderedDict()
        self._open: dict[str, int] = {}
        self._refusals_logged: dict[str, float] = {}
        self._lock = threading.Lock()
        self.refused = 0

    def hold(self, address: str, seconds: float) -> None:
        """Read nothing more from `address` for `seconds`."""
        if not address or seconds <= 0:
            return
        until = self._clock() + seconds
        with self._lock:
            self._held[address] = max(until, self._held.pop(address, 0.0))
            while len(self._held) > MAX_HELD:
                self._held.popitem(last=False)

    def holding(self, address: str) -> bool:
        """Whether `address` is held now (a lapsed hold is forgotten)."""
        until = self._held.get(address)
        if until is None:
            return False
        if until > self._clock():
            return True
        with self._lock:
            if self._held.get(address, until) <= self._clock():
                self._held.pop(address, None)
        return False

    def admit(self, address: str) -> bool:
        """Count a new connection from `address`, unless it already has the most it may have
        open (then it is refused: counted, and logged once a minute per address)."""
        with self._lock:
            count = self._open.get(address, 0)
            if count < self._cap:
                self._open[address] = count + 1
                return True
            self.refused += 1
            now = self._clock()
            if now - self._refusals_logged.get(address, -REFUSAL_LOG_EVERY) >= REFUSAL_LOG_EVERY:
                self._refusals_logged[address] = now
                log.warning("http: refused a connection from %s: it has %d open already "
                            "(http.max_connections_per_peer)", address, count)
                if len(self._refusals_logged) > MAX_HELD:
                    self._refusals_logged.clear()
            return False

    def release(self, address: str) -> None:
        """A connection from `address` closed."""
        with self._lock:
            count = self._open.get(address, 0) - 1
            if count > 0:
                self._open[address] = count
            else:
                self._open.pop(address, None)

    def open_connections(self, address: str) -> int:
        """Connections from `address` open now."""
        return self._open.get(address, 0)


def holding_app(app, gate: PeerGate):
    """`app`, with every `429` answer that carries a `Retry-After` holding the client's address
    for that many seconds (capped at a minute)."""

    def held(environ, start_response):
        def starting(status, headers, exc_info=None):
            if status.startswith("429"):
                for name, value in headers:
                    if name.lower() == "retry-after" and value.isdigit():
                        gate.hold(environ.get("REMOTE_ADDR", ""), min(60, int(value)))
            return start_response(status, headers, exc_info)

        return app(environ, starting)

    return held
