"""Which destinations this sender may send to, when several sender processes share a database.

Each destination's lane is owned under a lease (table `lane_leases`, hub/store/lane_leases.py):
only the holder claims and sends that destination's deliveries, so claims are single-writer per
destination and two senders never race for one queue. The lease is taken in one conditional
upsert, renewed every third of its length by a thread of its own (so a send blocked on a slow
recipient never lets it run out), and given back on a clean stop. A crashed sender gives
nothing back: its lanes are anyone's once their leases run out, and the deliveries it had
claimed are due again when their own (delivery) lease ends; see the README on the at-least-once
window this leaves.

Fair share: every sender records a heartbeat with each renewal; a sender holds at most
ceil(destinations due or held / live senders) lanes. One that holds more (a sender joined)
stops the extra lanes at their next batch and gives them back, so the first sender to start
does not keep every lane forever. A lane whose destination has nothing due is given back too.

A sender that cannot renew (its database away) stops claiming on a lane once less than a third
of the lease is left: the lane then ends its drain, well before another sender may take it.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from hub.errors import DatabaseUnavailable, HubError
from hub.jobs.lease import new_owner
from hub.logs import OutageLog
from hub.store.lane_leases import LaneLeaseStore

log = logging.getLogger(__name__)


class LaneKeeper:
    """The lane leases of one sender (`owner`, unique by default), each `lease` seconds long,
    in `store`, on `clock()`'s aware UTC time."""

    def __init__(self, store: LaneLeaseStore, clock: Callable[[], datetime], lease: float,
                 owner: str | None = None) -> None:
        self.store = store
        self.owner = owner or new_owner()
        self.lease = lease
        self._clock = clock
        self._held: dict[str, float] = {}   # destination -> monotonic time its lease ends
        self._shedding: set[str] = set()    # held lanes to end and give back
        self._live = 1
        # destination -> monotonic time before which a lease another sender held is not asked
        # for again: rounds come every few milliseconds while lanes are busy.
        self._refused: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False  # a renewal failure of its own was logged
        # The dispatcher's outage log, once it takes these lanes: a database outage is one
        # WARNING and one INFO in a sender's log, whoever meets it first.
        self.database: OutageLog | None = None

    # -- the renewer -----------------------------------------------------------------------

    def start(self) -> None:
        """Record a first heartbeat and start renewing every third of the lease."""
        if self._thread is not None:
            return
        self.renew()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="outbound-lane-leases",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.lease / 3):
            self.renew()

    def renew(self) -> None:
        """Heartbeat, and extend every lane still held (forget those lost)."""
        started = time.monotonic()
        try:
            now = self._clock()
            live = self.store.beat(self.owner, now, self.lease)
            held = self.store.renew(self.owner, now, self.lease)
        except HubError as exc:
            if isinstance(exc, DatabaseUnavailable) and self.database is not None:
                # The sender's one outage: counted there, not a line of its own.
                self.database.failed(str(exc).removeprefix("database unreachable "))
            elif not self._warned:
                log.warning("outbound: cannot renew lane leases (%s); lanes stop before "
                            "they run out", exc)
                self._warned = True
            return
        if self._warned:
            log.info("outbound: lane leases renewed again")
        if self.database is not None:
            self.database.recovered()
        self._warned = False
        with self._lock:
            self._live = max(1, live)
            for destination in list(self._held):
                if destination in held:
                    self._held[destination] = started + self.lease
                else:
                    log.warning("outbound: lane %s lost to another sender", destination)
                    del self._held[destination]
                    self._shedding.discard(destination)

    def close(self) -> None:
        """Stop renewing and give every lane back (call once the lanes have stopped)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join()
        with self._lock:
            self._held.clear()
            self._shedding.clear()
        try:
            self.store.release_all(self.owner)
        except HubError as exc:
            log.warning("outbound: cannot give lane leases back (%s); they run out in %s s",
                        exc, self.lease)

    # -- what a round and a lane ask ----------------------------------------------------------

    def holds(self, destination: str) -> bool:
        """Whether a lane may claim another batch for `destination`: its lease is held with
        more than a third left, and it is not to be given back."""
        with self._lock:
            until = self._held.get(destination)
            return (until is not None and destination not in self._shedding
                    and time.monotonic() < until - self.lease / 3)

    def held(self) -> list[str]:
        """The destinations whose lane this sender holds, by name."""
        with self._lock:
            return sorted(self._held)

    def choose(self, due: Iterable[str], busy: Callable[[str], bool]) -> list[str]:
        """Of the destinations with something `due`, those whose lane this sender may drain
        now, taking leases up to its fair share; gives back lanes not `busy(destination)`
        that have nothing due or exceed the share."""
        due = list(due)
        with self._lock:
            held = set(self._held)
            share = math.ceil(len(held | set(due)) / self._live)
            extra = len(held) - share
            if extra > 0:
                # Idle lanes first, then the last ones by name: stopped at their next batch.
                order = sorted(held - set(due)) + sorted(held & set(due), reverse=True)
                self._shedding.update(order[:extra])
            give_back = [d for d in held if (d not in due or d in self._shedding)
                         and not busy(d)]
        for destination in give_back:
            self._give_back(destination)
        with self._lock:
            room = share - len(self._held)
        for destination in due:
            if room <= 0:
                break
            if destination in self._held or destination in give_back:
                continue
            if self._take(destination):
                room -= 1
        return [d for d in due if self.holds(d)]

    def _take(self, destination: str) -> bool:
        started = time.monotonic()
        if self._refused.get(destination, 0.0) > started:
            return False
        try:
            taken = self.store.acquire(destination, self.owner, self._clock(), self.lease)
        except HubError as exc:
            log.warning("outbound: cannot take the lane of %s: %s", destination, exc)
            return False
        if taken:
            self._refused.pop(destination, None)
            with self._lock:
                self._held[destination] = started + self.lease
            log.info("outbound: lane %s taken", destination)
        else:
            self._refused[destination] = started + min(1.0, self.lease / 10)
        return taken

    def _give_back(self, destination: str) -> None:
        with self._lock:
            self._held.pop(destination, None)
            self._shedding.discard(destination)
        try:
            self.store.release(destination, self.owner)
        except HubError as exc:  # it runs out on its own
            log.warning("outbound: cannot give the lane of %s back: %s", destination, exc)
