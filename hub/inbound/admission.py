"""Who may open one more MLLP connection: the global cap and the per-peer cap.

One client must not be able to take every connection the hub has (issue 14): beside
`[mllp] max_connections` for all peers together, `[mllp] max_connections_per_peer` bounds what
one source address may hold. A refusal is counted by which cap refused it (the metric has no
per-address label, so its size does not depend on who connects) and logged at most once per
peer per minute, so a client hammering the port cannot flood the log either.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

from hub.metrics import Metrics

log = logging.getLogger("hub.inbound.listener")  # the listener's lines, as before the split

# The two values of hub_mllp_connections_refused_total's `reason`, named for their settings.
GLOBAL_CAP = "max_connections"
PEER_CAP = "max_connections_per_peer"


class PeerLog:
    """Says something about a peer at most once per `interval` seconds; what it did not say is
    counted and given on the next line said about that peer.

    The memory it keeps is bounded: when more than `max_peers` peers have been seen, those not
    heard of for an interval are forgotten (their next line is said at once, as it would be).
    """

    def __init__(self, interval: float = 60.0, max_peers: int = 4096,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._max_peers = max_peers
        self._clock = clock
        self._said: dict[str, tuple[float, int]] = {}  # peer -> (when said, suppressed since)

    def should_say(self, peer: str) -> int | None:
        """None when `peer` was spoken of less than `interval` ago (this event is counted);
        otherwise how many events about it went unsaid since the last line (0 for the first)."""
        now = self._clock()
        said = self._said.get(peer)
        if said is not None and now - said[0] < self._interval:
            self._said[peer] = (said[0], said[1] + 1)
            return None
        if said is None and len(self._said) >= self._max_peers:
            self._forget_older_than(now - self._interval)
        self._said[peer] = (now, 0)
        return 0 if said is None else said[1]

    def _forget_older_than(self, moment: float) -> None:
        for peer in [p for p, (when, _) in self._said.items() if when < moment]:
            del self._said[peer]
        if len(self._said) >= self._max_peers:  # all recent: forget the oldest half
            for peer in sorted(self._said, key=lambda p: self._said[p][0])[:self._max_peers // 2]:
                del self._said[peer]


class Admission:
    """Counts open connections, in all and per source address, and admits or refuses one more."""

    def __init__(self, max_connections: int, max_per_peer: int, metrics: Metrics,
                 refusals: PeerLog | None = None) -> None:
        self._max = max_connections
        self._max_per_peer = max_per_peer
        self._metrics = metrics
        self._refusals = refusals or PeerLog()
        self._per_peer: dict[str, int] = {}
        self.open = 0

    def admit(self, address: str) -> bool:
        """Take one connection from `address` in, or refuse it (counted, logged per minute)."""
        held = self._per_peer.get(address, 0)
        if self.open >= self._max:
            self._refuse(address, GLOBAL_CAP, f"{self.open} connections open "
                         f"(mllp.max_connections {self._max})")
            return False
        if held >= self._max_per_peer:
            self._refuse(address, PEER_CAP, f"{held} connections open from this address "
                         f"(mllp.max_connections_per_peer {self._max_per_peer})")
            return False
        self._per_peer[address] = held + 1
        self.open += 1
        return True

    def release(self, address: str) -> None:
        """One admitted connection from `address` is closed."""
        self.open -= 1
        held = self._per_peer.get(address, 0) - 1
        if held > 0:
            self._per_peer[address] = held
        else:
            self._per_peer.pop(address, None)

    def _refuse(self, address: str, reason: str, why: str) -> None:
        self._metrics.connections_refused.labels(reason=reason).inc()
        unsaid = self._refusals.should_say(address)
        if unsaid is None:
            return
        more = f"; {unsaid} more refused since the last line about it" if unsaid else ""
        log.warning("connection from %s refused: %s%s", address, why, more)
