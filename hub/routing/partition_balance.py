"""Several routing workers share the inbound partitions fairly.

Order never depends on this module: every partition is a single-active-consumer queue, so the
broker hands it to one consumer at a time, whoever that is. The leases only decide who *should*
be active, so that the work spreads: each worker (a process, or a thread of `worker.threads`)
heartbeats, counts the live workers, and leases its fair share, ceil(partitions / workers), of
free or expired partitions, renewing them every `every` seconds and releasing any excess.
A worker subscribes to the partitions it leases first and stands by on the others, so when one
dies the broker activates a standby at once; the leases of the dead worker expire after `ttl`
and are taken up again.

Hand-over (worker A gives partition p up): A closes p's connection the way a crash does
(hub/broker/rabbit_partitions.py: a dropped socket, never an AMQP close, which lets the standby
overtake what A held), so the broker returns what A held to the head of p, in order, and
activates the next standby; A then subscribes to p again, as the last standby. When the newly
active worker does not lease p either, it passes p on the same way, until its leaseholder (or,
if nobody leases it, whoever has it) keeps it.
"""
from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from hub.store.partition_leases import PartitionLeases

EVERY = 2.0   # seconds between two looks at the leases
TTL = 10.0    # seconds a lease or heartbeat lasts unrenewed


@dataclass(frozen=True)
class Balance:
    """What one look decided: the partitions this worker leases, and the ones it should hand
    over now (it holds them as active consumer but another live worker leases them, or it
    just released them)."""

    leased: frozenset[int]
    hand_over: frozenset[int]


class PartitionBalancer:
    """One worker's side of the sharing; `count` partitions numbered 0..count-1 (the
    no-patient partition included)."""

    def __init__(self, leases: PartitionLeases, count: int, clock: Callable[[], datetime],
                 *, ttl: float = TTL, every: float = EVERY, owner: str | None = None) -> None:
        self.owner = owner or uuid.uuid4().hex
        self.every = every
        self._leases = leases
        self._count = count
        self._clock = clock
        self._ttl = ttl
        self._mine: set[int] = set()

    def look(self, active: set[int] = frozenset()) -> Balance:  # type: ignore[assignment]
        """Heartbeat, renew, give up excess, take a fair share. `active`: the partitions this
        worker was handed messages from since the last look."""
        now = self._clock()
        leases = self._leases
        leases.heartbeat(self.owner, now, self._ttl)
        share = math.ceil(self._count / max(1, leases.live_workers(now)))
        mine = leases.renew(self.owner, self._mine, now, self._ttl)
        released: set[int] = set()
        if len(mine) > share:
            released = set(sorted(mine)[share:])
            leases.release(self.owner, released)
            mine -= released
        holders = leases.holders(now)
        if len(mine) < share:
            # Start where this owner's hash points, so that workers joining together do not
            # all race for the same partitions.
            start = int(self.owner[:8], 16) % self._count
            for step in range(self._count):
                if len(mine) >= share:
                    break
                partition = (start + step) % self._count
                if partition not in holders and leases.claim(partition, self.owner, now, self._ttl):
                    mine.add(partition)
                    holders[partition] = self.owner
        self._mine = mine
        others = {p for p, owner in holders.items() if owner != self.owner}
        return Balance(frozenset(mine), frozenset(released | (set(active) & others)))

    def retire(self) -> None:
        self._leases.retire(self.owner)
        self._mine = set()
