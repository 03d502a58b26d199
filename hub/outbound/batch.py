"""One lane's work for one destination, a batch at a time: claim, re-check, send, record.

A batch is two transactions around the sends. The first claims the due queues' heads and the
deliveries right behind them (`DeliveryRepository.claim_batch`), re-checks consent for each
and reads the payloads of the allowed ones. Then, queue by queue in sequence order, each allowed
delivery goes out over the open connection and each denied one is set aside. The second records
every outcome (denials included) with its journal event, in that order, and gives back
(releases) what was claimed but neither sent nor denied.

The guarantees of one delivery at a time still hold:
- consent is re-checked before each send (`hub.domain.access.delivery_decision`, the question
  routing asked): in the claim transaction, at most `recheck_window` seconds before it; what a
  slow batch has not sent by then is released and re-checked anew. The consent of the batch's
  patients and the entries of its messages are read with one query each;
- order per patient+destination: a queue's run stops at its first attempt that is to be
  retried or was parked (the rest is released and waits behind it: a parked delivery holds
  its queue until it is replayed), and at a late ACK awaited aside (the delivery stays claimed
  until its outcome is recorded, so nothing behind it is due); a `no-answer` stops the whole
  batch;
- whose fault: AR/CR parks at once; AE/CE and an ACK that is not for the message or cannot be
  read count toward `max_attempts` (`message_failures`). A send nobody answered (a read
  timeout, a closed connection) is retried without counting; a connection that could not be
  made at all is the destination's: it is recorded against the destination
  (`unreachable_destinations`), whose deliveries all wait for its own capped backoff;
- at least once, same MSH-10: should recording fail (or the process die), every claimed
  delivery is due again when its lease ends, and is sent again, in order, as it was.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from hub.domain.access import delivery_decision
from hub.domain.delivery import ONE_LANE, Delivery, DeliveryAttempt, DeliveryState, Lane
from hub.domain.ports import UnitOfWork, UnitOfWorkFactory
from hub.errors import DatabaseUnavailable
from hub.logs import OutageLog, lifecycle
from hub.outbound.ack_reader import NO_ANSWER, OVERDUE, AckResult
from hub.outbound.backoff import next_attempt, should_park
from hub.outbound.report import Outcome
from hub.outbound.sender import DestinationSender

log = logging.getLogger(__name__)

Backoff = Callable[[int, datetime], datetime]
Journal = Callable[[UnitOfWork, Delivery, Outcome], None]
Emit = Callable[[list[Outcome]], None]


@dataclass(frozen=True)
class LanePolicy:
    """How every lane sends (the `[outbound]` settings): `max_attempts` message failures park a
    delivery; `backoff(attempts, now)` spaces one delivery's retries, `unreachable_backoff
    (failures, now)` those of a destination that could not be reached; up to `batch`
    deliveries are claimed at once, for `lease`; none is sent later than `recheck_window`
    seconds after its consent re-check, which reads consent with `referent_by_default`."""

    max_attempts: int
    backoff: Backoff = next_attempt
    unreachable_backoff: Backoff = next_attempt
    batch: int = 100
    lease: timedelta = timedelta(seconds=120)
    recheck_window: float = 1.0
    referent_by_default: bool = True


@dataclass(frozen=True)
class Attempt:
    """An outcome with what the store needs to record it."""

    outcome: Outcome
    ack_code: str | None = None
    next_at: datetime | None = None
    message_failure: bool = True   # a failure that counts toward max_attempts
    unreachable: bool = False      # no connection: next_at is the destination's backoff

    @property
    def delivery(self) -> Delivery:
        return self.outcome.delivery


class BatchRunner:
    """Sends the due deliveries of one destination in batches; see the module docstring.

    `uow_factory()` makes units of work, `clock()` gives the aware UTC time; `journal(uow,
    delivery, outcome)`, when given, is called in the transaction that records a delivered,
    parked or denied outcome; once `stopping` is set no new send starts; `database` hears of
    outages (one line each).
    """

    def __init__(self, policy: LanePolicy, uow_factory: UnitOfWorkFactory,
                 clock: Callable[[], datetime], *, journal: Journal | None,
                 stopping: threading.Event, database: OutageLog) -> None:
        self._policy = policy
        self._uow_factory = uow_factory
        self._clock = clock
        self._journal_hook = journal
        self._stopping = stopping
        self._database = database

    def drain(self, sender: DestinationSender, destination: str, now: datetime,
              emit: Emit, keep: Callable[[], bool] | None = None, lane: Lane = ONE_LANE) -> None:
        """Send batches until nothing more is due, a `no-answer` or stop; `emit(outcomes)`
        after each recorded batch. Each batch asks the clock afresh (never before `now`), so
        deliveries queued meanwhile go out in this same drain. `keep()`, when given, is asked
        before each batch: false ends the drain (the lane's lease is no longer held). Only
        `lane`'s patients are taken (one of the destination's connections)."""
        retried: set[str] = set()
        while not self._stopping.is_set() and (keep is None or keep()):
            outcomes, go_on = self.run(sender, destination, max(now, self._clock()), retried,
                                       emit, lane)
            emit(outcomes)
            # A retry may come due again within this drain; it waits for a later round.
            retried.update(o.delivery.id for o in outcomes if o.state is DeliveryState.PENDING)
            if not go_on:
                return

    def run(self, sender: DestinationSender, destination: str, now: datetime, retried: set[str],
            emit: Emit | None = None, lane: Lane = ONE_LANE) -> tuple[list[Outcome], bool]:
        """One batch; its recorded outcomes and whether to go on with another. `emit`, when
        given, receives the outcome of a late ACK awaited aside once it is recorded."""
        p = self._policy
        failed: Delivery | None = None
        try:
            with self._uow_factory() as uow:
                lease_end = max(now, self._clock()) + p.lease
                batch = uow.deliveries.claim_batch(destination, now, lease_end, p.batch,
                                                   skip=retried, lane=lane)
                if not batch:
                    return [], False
                at, denials = self._clock(), {}
                views = uow.deliveries.entry_views({d.message_id for d in batch})
                failed = batch[0]  # the first re-check reads the consent of the whole batch
                uow.consents.prefetch([d.patient_id for d in batch], at, p.referent_by_default)
                for delivery in batch:
                    failed = delivery
                    decision = delivery_decision(uow, delivery, at, p.referent_by_default,
                                                 views[delivery.message_id])
                    if not decision.allowed:
                        denials[delivery.id] = Attempt(Outcome(
                            delivery, DeliveryState.DENIED, "denied", str(decision.reason)))
                failed = None
                payloads = uow.deliveries.payloads([d.id for d in batch if d.id not in denials])
                uow.commit()
        except Exception as exc:  # noqa: BLE001 - a lane must outlive any one delivery
            # Rolled back: nothing of the batch is claimed. The delivery whose re-check failed
            # waits for a retry; the others are taken again at once.
            if isinstance(exc, DatabaseUnavailable):  # the surroundings' fault, not a message's
                self._database.failed(_reason(exc))
                return [], False
            log.exception("outbound: a batch to %s failed before sending", destination)
            if failed is None:
                return [], False
            attempt = self.settle(failed, f"failed before sending: {type(exc).__name__}",
                                  ack_code=None, retryable=True)
            return self.save([attempt]), True
        checked = time.monotonic()
        attempts, unsent, stop = self._send(sender, batch, denials, payloads, checked, emit)
        return self.save(attempts, unsent), not stop

    def _send(self, sender: DestinationSender, batch: list[Delivery],
              denials: dict[str, Attempt], payloads: dict[str, bytes], checked: float,
              emit: Emit | None = None) -> tuple[list[Attempt], list[Delivery], bool]:
        # A denial is an outcome in its queue's order like any other: one behind a delivery
        # to be retried is released, not recorded, and decided again when its turn comes.
        attempts: list[Attempt] = []
        unsent: list[Delivery] = []
        stopped: set[str] = set()  # patients whose queue waits behind a retry
        stop = False
        for delivery in batch:
            payload = payloads.get(delivery.id)
            if (stop or delivery.patient_id in stopped or self._stopping.is_set()
                    or time.monotonic() - checked > self._policy.recheck_window):
                unsent.append(delivery)
                continue
            if delivery.id in denials:
                attempts.append(denials[delivery.id])
                continue
            if payload is None:
                unsent.append(delivery)
                continue
            result = (sender.send(payload, delivery.control_id,
                                  on_late=partial(self._late, delivery, emit))
                      if emit is not None else sender.send(payload, delivery.control_id))
            if result.code == OVERDUE:
                # Awaited aside, still claimed: its queue waits for it; the others go on.
                stopped.add(delivery.patient_id)
                continue
            attempt = self.judge(delivery, result)
            attempts.append(attempt)
            if attempt.outcome.state is not DeliveryState.DELIVERED:
                stopped.add(delivery.patient_id)
                stop = attempt.outcome.code == NO_ANSWER
        # Freshly re-checked deliveries left over by a slow recipient: go on with a new batch.
        return attempts, unsent, stop or (bool(unsent) and not attempts)

    def judge(self, delivery: Delivery, result: AckResult) -> Attempt:
        """What a send's result makes of the delivery."""
        if result.accepted:
            return Attempt(Outcome(delivery, DeliveryState.DELIVERED, result.code, result.reason),
                           ack_code=result.code)
        if result.code == NO_ANSWER and not result.reached:
            # The destination's fault: its backoff is decided when it is recorded (_apply).
            return Attempt(Outcome(delivery, DeliveryState.PENDING, result.code, result.reason),
                           message_failure=False, unreachable=True)
        ack_code = result.code if result.correlated else None
        return self.settle(delivery, result.reason, ack_code=ack_code,
                           retryable=result.retryable, code=result.code,
                           message_failure=result.code != NO_ANSWER)

    def settle(self, delivery: Delivery, reason: str, *, ack_code: str | None,
               retryable: bool, code: str = "error", message_failure: bool = True) -> Attempt:
        """A failed attempt: to be retried with backoff, or parked when refused or when its
        message failures reach `max_attempts` (one that is not a `message_failure` never
        parks it)."""
        failures = delivery.message_failures + message_failure
        if not retryable:
            outcome = Outcome(delivery, DeliveryState.PARKED, code, f"refused: {reason}")
        elif message_failure and should_park(failures, self._policy.max_attempts):
            outcome = Outcome(delivery, DeliveryState.PARKED, code,
                              f"gave up after {failures} attempts: {reason}")
        else:
            return Attempt(Outcome(delivery, DeliveryState.PENDING, code, reason), ack_code,
                           self._policy.backoff(delivery.attempts + 1, self._clock()),
                           message_failure=message_failure)
        return Attempt(outcome, ack_code)

    def _late(self, delivery: Delivery, emit: Emit, result: AckResult) -> None:
        # In the sender's thread for the connection set aside: record what came, as any send.
        emit(self.save([self.judge(delivery, result)]))

    def save(self, attempts: list[Attempt],
             unsent: Sequence[Delivery] = ()) -> list[Outcome]:
        """Record `attempts` (with their journal events, in send order) and release `unsent`,
        in one transaction; should that fail, each on its own, so that one bad record does
        not make the whole batch go out again. Returns the outcomes recorded."""
        try:
            with self._uow_factory() as uow:
                self._apply(uow, attempts)
                uow.deliveries.release(unsent)
                reached = {a.delivery.destination for a in attempts
                           if a.outcome.sent and not a.unreachable}
                for destination in reached:
                    uow.deliveries.record_reachable(destination)
                uow.commit()
        except Exception as exc:  # noqa: BLE001
            self._failed(exc, "outbound: cannot record a batch of %d; one by one", len(attempts))
            return self._save_each(attempts, unsent)
        for attempt in attempts:
            self._log(attempt.outcome)
        return [attempt.outcome for attempt in attempts]

    def _save_each(self, attempts: list[Attempt],
                   unsent: Sequence[Delivery]) -> list[Outcome]:
        recorded = []
        for attempt in attempts:
            try:
                with self._uow_factory() as uow:
                    self._apply(uow, [attempt])
                    uow.commit()
            except Exception as exc:  # noqa: BLE001
                # The lease runs out and the delivery is sent again: at least once, never lost.
                self._failed(exc, "outbound: cannot record %s of delivery %s",
                             attempt.outcome.state.value, attempt.delivery.id)
                continue
            self._log(attempt.outcome)
            recorded.append(attempt.outcome)
        try:
            with self._uow_factory() as uow:
                uow.deliveries.release(unsent)
                uow.commit()
        except Exception as exc:  # noqa: BLE001 - they are due again when their lease ends
            self._failed(exc, "outbound: cannot release %d unsent deliveries", len(unsent))
        return recorded

    def _failed(self, exc: Exception, text: str, *args: object) -> None:
        # An outage goes to the dispatcher's OutageLog (no traceback, once); anything else is
        # unexpected and keeps its traceback.
        if isinstance(exc, DatabaseUnavailable):
            self._database.failed(_reason(exc))
        else:
            log.error(text, *args, exc_info=exc)

    def _apply(self, uow: UnitOfWork, attempts: list[Attempt]) -> None:
        delivered = defaultdict(list)
        for attempt in attempts:
            outcome, d = attempt.outcome, attempt.delivery
            if outcome.state is DeliveryState.DELIVERED:
                delivered[attempt.ack_code].append(d.id)
            elif outcome.state is DeliveryState.DENIED:
                uow.deliveries.mark_denied(d.id, outcome.reason)
            elif outcome.state is DeliveryState.PENDING:
                next_at = attempt.next_at
                if attempt.unreachable:
                    next_at = uow.deliveries.record_unreachable(
                        d.destination, self._clock(), outcome.reason,
                        self._policy.unreachable_backoff)
                uow.deliveries.mark_retry(d.id, next_at, outcome.reason, attempt.ack_code,
                                          message_failure=attempt.message_failure)
            else:
                uow.deliveries.mark_parked(d.id, outcome.reason, attempt.ack_code)
        for ack_code, ids in delivered.items():
            uow.deliveries.mark_delivered_many(ids, ack_code)
        uow.attempts.add_many(_attempt(a) for a in attempts
                              if a.outcome.state is not DeliveryState.DENIED)
        # The journal's `audit.record` events are appended in this order, in one insert, when
        # the unit of work commits.
        for attempt in attempts:
            self._journal(uow, attempt.outcome)

    def _journal(self, uow: UnitOfWork, outcome: Outcome) -> None:
        if self._journal_hook is not None and outcome.state is not DeliveryState.PENDING:
            self._journal_hook(uow, outcome.delivery, outcome)

    @staticmethod
    def _log(outcome: Outcome) -> None:
        # One lifecycle line per recorded outcome (`log.lifecycle` silences them at volume);
        # the reason names codes and consent reasons only.
        d = outcome.delivery
        lifecycle("delivery", "retried" if outcome.state is DeliveryState.PENDING
                  else outcome.state.value, delivery_id=d.id, message_id=d.message_id,
                  control_id=d.control_id, recipient=d.recipient, destination=d.destination,
                  attempts=d.attempts + (outcome.state is not DeliveryState.DENIED),
                  ack_code=outcome.code, reason=outcome.reason or None)


def _attempt(attempt: Attempt) -> DeliveryAttempt:
    """The history row of one send (a denial sent nothing and has none)."""
    outcome, d = attempt.outcome, attempt.delivery
    state = "retry" if outcome.state is DeliveryState.PENDING else outcome.state.value
    return DeliveryAttempt(d.id, d.attempts + 1, state, outcome.code, attempt.ack_code,
                           None if outcome.state is DeliveryState.DELIVERED else outcome.reason)


def _reason(exc: DatabaseUnavailable) -> str:
    return str(exc).removeprefix("database unreachable ")
