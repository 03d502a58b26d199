"""Send the deliveries that are due, each destination on a lane of its own.

A lane is one worker thread per destination (`host:port`) with that destination's persistent
connection. `run_due` only looks up which destinations have work and hands it to their idle
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

from hub.domain.delivery import Delivery, DeliveryState
from hub.errors import HubError
from hub.outbound.ack_reader import NO_ANSWER
from hub.outbound.backoff import next_attempt, should_park
from hub.outbound.report import DispatchReport, Outcome
from hub.outbound.sender import DestinationSender

log = logging.getLogger(__name__)

Recheck = Callable[[object, Delivery, datetime], tuple[bool, str]]
Journal = Callable[[object, Delivery, Outcome], None]


class _Lane:
    """One destination's worker thread, sender and current job."""

    def __init__(self, destination: str) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1,
                                           thread_name_prefix=f"outbound {destination}")
        self.sender: DestinationSender | None = None
        self.job: Future | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None and not self.job.done()


class Dispatcher:
    """Deliver due deliveries: re-check consent, send, record the outcome.

    `uow_factory()` makes units of work; `senders(destination)` makes the DestinationSender of
    a `host:port` (called once per destination, in its lane); `recheck(uow, delivery, at)`
    answers (allowed, reason) just before each send; `clock()` gives the aware UTC time.
    `journal(uow, delivery, outcome)`, when given, is called in the transaction that records a
    delivered, parked or denied outcome (the access journal and audit trail). A delivery is
    sent at least once: if recording its outcome fails, it is sent again when its lease ends,
    with the same MSH-10.
    """

    def __init__(self, uow_factory: Callable[[], object],
                 senders: Callable[[str], DestinationSender], recheck: Recheck,
                 clock: Callable[[], datetime], max_attempts: int, *,
                 backoff: Callable[[int, datetime], datetime] = next_attempt,
                 batch: int = 100, wait: float = 0.9, lease: float = 120.0,
                 journal: Journal | None = None) -> None:
        self._uow_factory = uow_factory
        self._senders = senders
        self._recheck = recheck
        self._clock = clock
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._batch = batch
        self._wait = wait
        # Keep it well above a send's worst case (the sender's timeout for the connect, then
        # again for the ACK): a lease that ran out mid-send would let another dispatcher send
        # the same delivery.
        self._lease = timedelta(seconds=lease)
        self._journal = journal
        self._lanes: dict[str, _Lane] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def run_due(self, now: datetime, wait: float | None = None) -> DispatchReport:
        """Hand the destinations with due deliveries to their lanes and wait at most `wait`
        seconds (default: the constructor's) for them.

        The report holds the outcomes of every lane job that finished since the last call,
        and the destinations skipped because their lane was still busy.
        """
        with self._lock:
            report = DispatchReport()
            self._harvest(report)
            try:
                with self._uow_factory() as uow:
                    destinations = uow.deliveries.due_destinations(now)
            except HubError as exc:
                log.error("outbound: cannot read due deliveries: %s", exc)
                return report
            started = []
            for destination in destinations:
                lane = self._lanes.get(destination)
                if lane is None:
                    lane = self._lanes[destination] = _Lane(destination)
                if lane.busy:
                    report.busy.append(destination)
                    continue
                lane.job = lane.executor.submit(self._drain, lane, destination, now)
                started.append(lane.job)
            if started:
                futures_wait(started, timeout=self._wait if wait is None else wait)
            self._harvest(report)
            return report

    def close(self) -> None:
        """Let running lanes finish their current send, then close every connection."""
        self._stopping.set()
        with self._lock:
            lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.executor.shutdown(wait=True)
            if lane.sender is not None:
                lane.sender.close()

    def _harvest(self, report: DispatchReport) -> None:
        for destination, lane in self._lanes.items():
            if lane.job is None or not lane.job.done():
                continue
            job, lane.job = lane.job, None
            error = job.exception()
            if error is not None:
                log.error("outbound lane %s failed: %r", destination, error)
                continue
            report.outcomes.extend(job.result())

    def _drain(self, lane: _Lane, destination: str, now: datetime) -> list[Outcome]:
        """Send what is due for one destination until nothing more is, in this lane's thread.

        Each delivered head may make the next delivery of its queue due, so the lane asks
        again until a round brings nothing new. It stops early at a `no-answer`: the
        destination is down or slow, and the rest waits for the next round instead of each
        costing a timeout now.
        """
        if lane.sender is None:
            lane.sender = self._senders(destination)
        outcomes: list[Outcome] = []
        tried: set[str] = set()
        while not self._stopping.is_set():
            with self._uow_factory() as uow:
                due = [d for d in uow.deliveries.due(now, self._batch, destination=destination)
                       if d.id not in tried]
            if not due:
                break
            for delivery in due:
                if self._stopping.is_set():
                    break
                tried.add(delivery.id)
                outcome = self._deliver(lane.sender, delivery, now)
                if outcome is not None:
                    outcomes.append(outcome)
                    if outcome.code == NO_ANSWER:
                        return outcomes
        return outcomes

    def _deliver(self, sender: DestinationSender, delivery: Delivery,
                 now: datetime) -> Outcome | None:
        """One attempt; None when another dispatcher had already taken the delivery."""
        try:
            with self._uow_factory() as uow:
                lease_end = max(now, self._clock()) + self._lease
                if not uow.deliveries.claim(delivery.id, now, lease_end):
                    return None
                allowed, reason = self._recheck(uow, delivery, self._clock())
                if not allowed:
                    outcome = Outcome(delivery, DeliveryState.DENIED, "denied", reason)
                    uow.deliveries.mark_denied(delivery.id, reason)
                    self._record(uow, delivery, outcome)
                    uow.commit()
                    return outcome
                payload = uow.deliveries.payload(delivery.id)
                uow.commit()
        except Exception as exc:  # noqa: BLE001 - a lane must outlive any one delivery
            log.exception("outbound: delivery %s failed before sending", delivery.id)
            return self._settle(delivery, f"failed before sending: {type(exc).__name__}",
                                ack_code=None, retryable=True)
        result = sender.send(payload, delivery.control_id)
        if result.accepted:
            outcome = Outcome(delivery, DeliveryState.DELIVERED, result.code, result.reason)
            return self._save(delivery, outcome, lambda uow: uow.deliveries.mark_delivered(
                delivery.id, result.code))
        ack_code = result.code if result.correlated else None
        return self._settle(delivery, result.reason, ack_code=ack_code,
                            retryable=result.retryable, code=result.code)

    def _settle(self, delivery: Delivery, reason: str, *, ack_code: str | None,
                retryable: bool, code: str = "error") -> Outcome | None:
        """Record a failed attempt: retry with backoff, or park when refused or worn out."""
        attempts = delivery.attempts + 1
        if not retryable:
            outcome = Outcome(delivery, DeliveryState.PARKED, code, f"refused: {reason}")
        elif should_park(attempts, self._max_attempts):
            outcome = Outcome(delivery, DeliveryState.PARKED, code,
                              f"gave up after {attempts} attempts: {reason}")
        else:
            next_at = self._backoff(attempts, self._clock())
            outcome = Outcome(delivery, DeliveryState.PENDING, code, reason)
            return self._save(delivery, outcome, lambda uow: uow.deliveries.mark_retry(
                delivery.id, next_at, reason, ack_code))
        return self._save(delivery, outcome, lambda uow: uow.deliveries.mark_parked(
            delivery.id, outcome.reason, ack_code))

    def _save(self, delivery: Delivery, outcome: Outcome, mark) -> Outcome | None:
        try:
            with self._uow_factory() as uow:
                mark(uow)
                self._record(uow, delivery, outcome)
                uow.commit()
        except Exception:  # noqa: BLE001
            # The lease runs out and the delivery is tried again: at least once, never lost.
            log.exception("outbound: cannot record %s of delivery %s", outcome.state.value,
                          delivery.id)
            return None
        log.info("outbound: delivery %s to %s %s (%s)", delivery.id, delivery.destination,
                 outcome.state.value, outcome.code)
        return outcome

    def _record(self, uow, delivery: Delivery, outcome: Outcome) -> None:
        if self._journal is not None and outcome.state is not DeliveryState.PENDING:
            self._journal(uow, delivery, outcome)
