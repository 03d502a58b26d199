"""Send the deliveries that are due, each destination on a lane of its own, or on several.

A lane is one worker thread per destination (`host:port`) with that destination's persistent
connection; with `connections` N > 1 a destination has N lanes, each with its own thread and
connection and a disjoint share of the patients (hub.domain.delivery.Lane), so one patient's
deliveries still go out one at a time and in order while the lanes send side by side. `run_due` only looks up which destinations have work and hands it to their idle
lanes; a lane still busy with a slow or dead recipient is skipped, so it can never hold up
another destination, nor the next `run_due`. Blocking sockets with bounded timeouts keep each
lane simple (one exchange at a time, which a persistent MLLP connection needs anyway); a thread
per destination is cheap at the scale of a registry's MLLP endpoints.

Everything a lane needs comes from the store (due deliveries, their payloads) and everything it
learns goes back to it, so a restarted hub resumes from the store alone.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from datetime import datetime, timedelta
from functools import partial

from hub.domain.ports import UnitOfWorkFactory
from hub.domain.delivery import Lane, lanes_of
from hub.errors import DatabaseUnavailable, HubError
from hub.logs import OutageLog
from hub.outbound.backoff import next_attempt
from hub.outbound.batch import Backoff, BatchRunner, Journal, LanePolicy
from hub.outbound.lanes import LaneKeeper
from hub.outbound.report import DispatchReport, Outcome
from hub.outbound.sender import DestinationSender

log = logging.getLogger(__name__)

Observe = Callable[[list[Outcome]], None]


def unreachable_reason(exc: DatabaseUnavailable) -> str:
    """The words an OutageLog line quotes for `exc` (its own "database unreachable" dropped)."""
    return str(exc).removeprefix("database unreachable ")


class _Lane:
    """One lane's worker thread, sender, current job and the outcomes it recorded that no
    round has reported yet."""

    def __init__(self, name: str, destination: str, lane: Lane) -> None:
        self.name, self.destination, self.lane = name, destination, lane
        self.executor = ThreadPoolExecutor(max_workers=1,
                                           thread_name_prefix=f"outbound {name}")
        self.sender: DestinationSender | None = None
        self.job: Future | None = None
        self._watched: Future | None = None  # the job whose end `call_when_free` awaits
        self._outcomes: list[Outcome] = []
        self._outcomes_lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self.job is not None and not self.job.done()

    def call_when_free(self, callback: Callable[[], None]) -> bool:
        """Call `callback()` when the current job ends (at once if it just did); once per job,
        however many ask. False when there is no job."""
        job = self.job
        if job is None:
            return False
        if job is not self._watched:
            self._watched = job
            job.add_done_callback(lambda _job: callback())
        return True

    def put(self, outcomes: list[Outcome]) -> None:
        """Keep a recorded batch's outcomes for the next round's report."""
        with self._outcomes_lock:
            self._outcomes.extend(outcomes)

    def take(self) -> list[Outcome]:
        """The outcomes kept since the last call."""
        with self._outcomes_lock:
            outcomes, self._outcomes = self._outcomes, []
        return outcomes


class Dispatcher:
    """Deliver due deliveries: re-check consent, send, record the outcome.

    `uow_factory()` makes units of work; `senders(destination)` makes the DestinationSender of
    a `host:port` (called once per destination, in its lane); consent is re-checked just before
    each send (hub.domain.access.delivery_decision, with `referent_by_default`); `clock()`
    gives the aware UTC time. `journal(uow, delivery, outcome)`, when given, is called in the
    transaction that records a delivered, parked or denied outcome (the access journal and
    audit trail; its `audit.record` events are appended in order at the commit). A delivery is
    sent at least once: if recording its outcome fails, it is sent again when its lease ends,
    with the same MSH-10. A lane sends up to `batch` deliveries per claim (hub.outbound.batch),
    each within `recheck_window` seconds of its consent re-check.
    `observe(outcomes)`, when given, is called in the lane's thread as soon as a batch's
    outcomes are committed (the hub's metrics), not when a later round reports them (for a
    late ACK awaited aside, in that connection's thread). `backoff(attempts, now)` spaces the
    retries of one delivery; `unreachable_backoff(failures, now)` (default: `backoff`) those of
    a destination that refused or timed out `failures` connection attempts in a row.
    `lanes`, when given, owns each lane under a lease shared with the other senders on the
    database (hub.outbound.lanes): a round drains only the lanes whose lease this dispatcher
    holds, and a lane stops when it no longer does. Without it this dispatcher assumes it is
    the only sender. `connections` is the number of lanes (connections) per destination.
    """

    def __init__(self, uow_factory: UnitOfWorkFactory,
                 senders: Callable[[str], DestinationSender],
                 clock: Callable[[], datetime], max_attempts: int, *,
                 backoff: Backoff = next_attempt,
                 batch: int = 100, wait: float = 0.9, lease: float = 120.0,
                 journal: Journal | None = None, recheck_window: float = 1.0,
                 observe: Observe | None = None,
                 unreachable_backoff: Backoff | None = None,
                 referent_by_default: bool = True,
                 lanes: LaneKeeper | None = None, connections: int = 1) -> None:
        self.uow_factory = uow_factory
        self.connections = connections
        self.lanes = lanes
        self.stopping = threading.Event()
        self._senders = senders
        self._observe = observe
        self._wait = wait
        # Rounds and lanes that find the database away: one WARNING and one INFO per outage.
        self.database = OutageLog(log, "database", "outbound deliveries wait for it")
        if lanes is not None:
            lanes.database = self.database
        policy = LanePolicy(
            max_attempts=max_attempts, backoff=backoff,
            unreachable_backoff=unreachable_backoff or backoff, batch=batch,
            # Keep it well above a send's worst case (the sender's timeout for the connect,
            # then again for the ACK): a lease that ran out mid-send would let another
            # dispatcher send the same delivery.
            lease=timedelta(seconds=lease), recheck_window=recheck_window,
            referent_by_default=referent_by_default)
        self._runner = BatchRunner(policy, uow_factory, clock, journal=journal,
                                   stopping=self.stopping, database=self.database)
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()

    def run_due(self, now: datetime, wait: float | None = None,
                on_free: Callable[[], None] | None = None) -> DispatchReport:
        """Hand the destinations with due deliveries to their lanes and wait at most `wait`
        seconds (default: the constructor's) for them.

        The report holds the outcomes the lanes recorded since the last call (a lane with a
        backlog keeps draining across rounds, reporting each batch as it is recorded), and the
        destinations skipped because their lane was still busy. `on_free()`, when given, is
        called (in the lane's thread) once each skipped lane ends its drain: what was due for
        it may have come after its last look.
        """
        with self._lock:
            report = DispatchReport()
            self._harvest(report)
            try:
                with self.uow_factory() as uow:
                    destinations = uow.deliveries.due_destinations(now)
            except DatabaseUnavailable as exc:
                self.database.failed(unreachable_reason(exc))
                return report
            except HubError as exc:
                log.error("outbound: cannot read due deliveries: %s", exc)
                return report
            self.database.recovered()
            names = {lane.name(d): (d, lane) for d in destinations
                     for lane in lanes_of(self.connections)}
            chosen = list(names)
            if self.lanes is not None:
                self.lanes.start()  # at once the first time: a heartbeat before choosing
                chosen = self.lanes.choose(chosen, self._busy)
            started = []
            for name in chosen:
                lane = self._lanes.get(name)
                if lane is None:
                    lane = self._lanes[name] = _Lane(name, *names[name])
                if lane.busy:
                    report.busy.append(name)
                    if on_free is not None:
                        lane.call_when_free(on_free)
                    continue
                lane.job = lane.executor.submit(self._drain, lane, now)
                started.append(lane.job)
                report.started.append(name)
            if started:
                futures_wait(started, timeout=self._wait if wait is None else wait)
            self._harvest(report)
            return report

    def after_drain(self, destination: str, callback: Callable[[], None]) -> bool:
        """Whether every lane of `destination` is draining (or has not been harvested since), a
        drain that takes what is due for it batch after batch; if so, `callback()` is called
        (in the lanes' threads, or at once) when each ends, since what came after its last
        batch waits for a round. Safe from any thread."""
        lanes = [self._lanes.get(lane.name(destination)) for lane in lanes_of(self.connections)]
        return all(lane is not None and lane.job is not None for lane in lanes) and all(
            [lane is not None and lane.call_when_free(callback) for lane in lanes])

    def close(self) -> None:
        """Let running lanes finish their current send, then close every connection and give
        the lane leases back."""
        self.stopping.set()
        with self._lock:
            lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.executor.shutdown(wait=True)
            if lane.sender is not None:
                lane.sender.close()
        if self.lanes is not None:
            self.lanes.close()

    def _busy(self, name: str) -> bool:
        lane = self._lanes.get(name)
        return lane is not None and lane.busy

    def _harvest(self, report: DispatchReport) -> None:
        for name, lane in self._lanes.items():
            report.outcomes.extend(lane.take())
            if lane.job is None or not lane.job.done():
                continue
            job, lane.job = lane.job, None
            error = job.exception()
            if error is not None:
                log.error("outbound lane %s failed: %r", name, error)
            report.outcomes.extend(lane.take())

    def _drain(self, lane: _Lane, now: datetime) -> None:
        """Send what is due for one lane until nothing more is, in its thread (hub.outbound.
        batch); outcomes are handed to the next round as each batch is recorded."""
        if lane.sender is None:
            lane.sender = self._senders(lane.destination)
        keep = None if self.lanes is None else partial(self.lanes.holds, lane.name)
        self._runner.drain(lane.sender, lane.destination, now, partial(self._recorded, lane),
                           keep=keep, lane=lane.lane)

    def _recorded(self, lane: _Lane, outcomes: list[Outcome]) -> None:
        lane.put(outcomes)
        if self._observe is not None:
            try:
                self._observe(outcomes)
            except Exception:  # noqa: BLE001 - counting must never stop a lane
                log.exception("outbound: observing outcomes failed")
