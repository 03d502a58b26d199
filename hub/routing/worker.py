"""The routing worker: fetch a batch, decide each message, file them in one transaction, commit,
and only then ack the broker. A crash anywhere before the ack means a redelivery, and a
redelivered message whose row already exists is acked without being filed twice.

An unreachable database is an outage, not a message's fault: the worker keeps the batch it
holds unacked (a requeue would count toward the queue's delivery limit and park healthy
messages), takes nothing new, retries the same batch with a backoff and goes on by itself.
Only a row the database refuses sends a batch down the one-by-one path."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from hub.broker.partition_set import PartitionSet
from hub.broker.port import Broker, Consumer, Delivery
from hub.broker.topology import Topology
from hub.domain.models import MessageState
from hub.domain.ports import UnitOfWorkFactory
from hub.errors import BrokerError, DatabaseUnavailable, StoreError
from hub.logs import OutageLog, lifecycle
from hub.metrics import Metrics
from hub.routing.delivering import RoutedBatch
from hub.routing.filing import file_batch
from hub.routing.partition_balance import Balance, PartitionBalancer
from hub.mapping.loader import MappingSet
from hub.routing.outcome import Outcome, RoutingPolicy, decide, record_for

log = logging.getLogger(__name__)
RETRY_PAUSE = 1.0
# Filing a held batch again while the database is away: 0.5 s, doubling, at most 10 s.
FIRST_BACKOFF = 0.5
MAX_BACKOFF = 10.0
# How long one wait on the broker's connection lasts, so that a stop is noticed soon enough.
IDLE_SLICE = 0.5


class _Stopped(Exception):
    """The hub stops while the worker waits for the database; what it holds goes back unacked."""


class RoutingWorker:
    """Consumes the inbound partitions (and the dead-letter queue) until `stop` is set."""

    def __init__(
        self, broker: Broker, topology: Topology, uow_factory: UnitOfWorkFactory,
        mappings: MappingSet, policy: RoutingPolicy, metrics: Metrics, *, batch_size: int = 50,
        batch_wait: float = 0.02, prefetch: int = 200,
        balancer: PartitionBalancer | None = None,
    ) -> None:
        self._broker = broker
        self._topology = topology
        self._uow_factory = uow_factory
        self._mappings = mappings
        self._policy = policy
        self._metrics = metrics
        self._batch_size = batch_size
        self._batch_wait = batch_wait
        self._prefetch = prefetch
        # With a balancer the workers share the partitions (hub/routing/partition_balance.py);
        # without, this worker stands in line for every one.
        self._balancer = balancer
        self._next_look = 0.0
        self._stop = threading.Event()
        self._consumers: tuple[Consumer, ...] = ()  # every connection to keep alive in a wait
        self._parked: dict[str, str] = {}  # why filing parked messages of the last batch filed
        self.database = OutageLog(log, "database",
                                  "the worker holds its batch unacked and retries with backoff")
        self.broker = OutageLog(log, "broker", "the worker reconnects")

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, reconnecting to the broker when it goes away."""
        self._stop = stop
        while not stop.is_set():
            try:
                inbound = self._open_inbound()
                dead = self._broker.open_consumer(self._topology.dead, prefetch=self._batch_size)
            except BrokerError as exc:
                self.broker.failed(str(exc))
                stop.wait(RETRY_PAUSE)
                continue
            self.broker.recovered()
            self._consumers = (inbound, dead)
            try:
                while not stop.is_set():
                    self.work_once(inbound, self._decide, wait=self._idle_wait())
                    self.work_once(dead, self._decide_dead, wait=0.0)
                    self._rebalance(inbound)
            except BrokerError as exc:
                # What this worker held and had not acked goes back to the queue with the
                # connection (RabbitMQ redelivers it); a row already filed is not filed twice.
                self.broker.failed(f"lost the connection: {exc}")
                stop.wait(RETRY_PAUSE)
            except _Stopped:
                pass
            finally:
                self._consumers = ()
                for consumer in (inbound, dead):
                    try:
                        consumer.close()
                    except BrokerError:
                        pass
        if self._balancer is not None:
            try:
                self._balancer.retire()  # the others take this worker's share at once
            except StoreError as exc:
                log.warning("partition leases not given back (%s); they expire", _kind(exc))

    def drain(self) -> int:
        """Work what the inbound and dead-letter queues hold now, then return how many
        deliveries were handled: the loop of `run` without its waiting and reconnecting, for a
        caller that fed the broker and wants it settled (as dramatiq's stub broker lets a test
        do). What is left unacked when it raises goes back to the queue with the consumers."""
        inbound = self._open_inbound()
        try:
            dead = self._broker.open_consumer(self._topology.dead, prefetch=self._batch_size)
            try:
                handled = 0
                while done := (self.work_once(inbound, self._decide)
                               or self.work_once(dead, self._decide_dead, wait=0.0)):
                    handled += done
                return handled
            finally:
                dead.close()
        finally:
            inbound.close()

    def _idle_wait(self) -> float:
        """How long the inbound fetch of `run` may wait for a first delivery: a fetch returns
        as soon as one arrives, so a longer wait delays no batch; it only lets an idle worker
        sleep (heartbeats still go out: the consumers wait no longer than pika's next timer).
        At most `IDLE_SLICE`, so that a stop and the dead-letter queue are seen soon enough,
        and no longer than the next look at the partition leases."""
        wait = IDLE_SLICE
        if self._balancer is not None:
            wait = min(wait, self._next_look - time.monotonic())
        return max(self._batch_wait, wait)

    def _open_inbound(self) -> Consumer:
        """Every inbound partition: single-active-consumer queues, so this worker is handed a
        partition only while it is its active consumer and stands by on the others; one
        patient's messages are never held by two workers at once. With a balancer, the
        partitions it leases are subscribed first."""
        queues = self._topology.inbound_queues
        if self._balancer is None:
            return self._broker.open_partition_consumer(queues, prefetch=self._prefetch)
        leased = self._look(set())
        return PartitionSet(self._broker, queues, self._prefetch,
                            leased.leased if leased else frozenset())

    def _look(self, active: set[int]) -> Balance | None:
        assert self._balancer is not None
        self._next_look = time.monotonic() + self._balancer.every
        try:
            balance = self._balancer.look(active)
        except DatabaseUnavailable as exc:  # one outage, one WARNING: the filing's own
            self.database.failed(str(exc).removeprefix("database unreachable "))
            return None
        except StoreError as exc:  # the leases only spread the work; order does not need them
            log.warning("partition leases not read (%s); keeping the partitions as they are",
                        _kind(exc))
            return None
        self.database.recovered()
        return balance

    def _rebalance(self, inbound: Consumer) -> None:
        """Every few seconds, between two batches (nothing fetched is outstanding): hand over
        the partitions another worker leases, or this one gave up."""
        if (self._balancer is None or not isinstance(inbound, PartitionSet)
                or time.monotonic() < self._next_look):
            return
        seen, inbound.seen = inbound.seen, set()
        balance = self._look(seen)
        for partition in sorted(balance.hand_over if balance else ()):
            inbound.hand_over(partition)

    def work_once(self, consumer: Consumer, decide_one: Callable, wait: float | None = None) -> int:
        """Fetch, decide, file and ack one batch; returns how many deliveries it handled."""
        deliveries = consumer.fetch(self._batch_size, self._batch_wait if wait is None else wait)
        if not deliveries:
            return 0
        started = time.perf_counter()
        outcomes = [decide_one(d) for d in deliveries]
        try:
            states = self._file_held(consumer, outcomes)
        except _Stopped:
            raise
        except Exception as exc:  # noqa: BLE001 - one row the database refuses, or a bug
            log.error("batch of %d not filed (%s); filing one by one", len(deliveries), _kind(exc))
            self._file_singly(consumer, deliveries, outcomes)
        else:
            self._settle(consumer, deliveries, states, outcomes)
        self._metrics.batch_latency.observe(time.perf_counter() - started)
        return len(deliveries)

    def _file_singly(self, consumer: Consumer, deliveries: list[Delivery], outcomes: list[Outcome]) -> None:
        """One bad row must not take its batch with it: each message alone, and the ones that
        still fail go back to the queue (the delivery limit parks a message that always fails)."""
        failed = 0
        for delivery, outcome in zip(deliveries, outcomes):
            try:
                states = self._file_held(consumer, [outcome])
            except _Stopped:
                raise
            except Exception as exc:  # noqa: BLE001 - this message's own fault
                failed += 1
                log.error("message %s not filed, returned to the queue: %s", outcome.record.id, _kind(exc))
                consumer.reject(delivery, requeue=True)
            else:
                self._settle(consumer, [delivery], states, [outcome])
        if failed:
            time.sleep(RETRY_PAUSE)

    def _file_held(self, consumer: Consumer, outcomes: list[Outcome]) -> list[MessageState | None]:
        """File `outcomes`, waiting out an unreachable database: the deliveries stay unacked on
        `consumer` (kept alive meanwhile) and the same outcomes are filed again after a backoff.
        Filing again is safe: a message committed before the connection dropped is found by
        its id and not filed twice. Raises `_Stopped` when the hub stops first."""
        backoff = FIRST_BACKOFF
        while True:
            try:
                states = self._file(outcomes)
            except DatabaseUnavailable as exc:
                self.database.failed(str(exc).removeprefix("database unreachable "))
                self._hold(consumer, backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                continue
            self.database.recovered()
            return states

    def _hold(self, consumer: Consumer, seconds: float) -> None:
        # Each consumer has its own connection: one left unserviced past the heartbeat timeout
        # would be closed by RabbitMQ, and what it held would go back counted as a delivery.
        consumers = self._consumers or (consumer,)
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            for each in consumers:
                each.idle(min(IDLE_SLICE, remaining) / len(consumers))
        raise _Stopped()

    def _settle(self, consumer: Consumer, deliveries: list[Delivery], states: list, outcomes: list[Outcome]) -> None:
        consumer.ack(deliveries)
        now = datetime.now(timezone.utc)
        for outcome, state in zip(outcomes, states):
            if state is not None:
                record = outcome.record
                # Filing turns a stored outcome into a parked one for a reused MSH-10, or for a
                # merge with a closed dossier (noted in the batch's `parked`).
                reason = record.reason if record.state is state else (
                    self._parked.get(record.id, "conflict: MSH-10 reused with other content")
                    if state is MessageState.PARKED
                    else None)  # discarded: a resend, or a closed dossier (the audit says which)
                self._metrics.message_filed(state.value, reason, record.received_at, now)
                lifecycle("message", state.value, message_id=record.id,
                          control_id=record.control_id, sender=record.sender, type=record.type,
                          state=state.value, ack_code=record.ack_code, reason=reason)

    def _decide(self, delivery: Delivery) -> Outcome:
        return decide(delivery, self._mappings, self._policy)

    @staticmethod
    def _decide_dead(delivery: Delivery) -> Outcome:
        headers = delivery.headers
        why = headers.get("x-death-reason") or headers.get("x-first-death-reason") or "delivery limit"
        return Outcome(record_for(delivery, MessageState.PARKED, f"dead-lettered: {why}"), delivery.body)

    def _file(self, outcomes: list[Outcome]) -> list[MessageState | None]:
        with self._uow_factory() as uow:
            routing = RoutedBatch(uow, datetime.now(timezone.utc),
                                  self._policy.referent_access_by_default)
            done = uow.messages.existing_ids([o.record.id for o in outcomes])
            fresh: dict[str, Outcome] = {}
            for outcome in outcomes:  # redelivered after its commit, or twice in this batch
                if outcome.record.id not in done:
                    fresh.setdefault(outcome.record.id, outcome)
            filed = dict(zip(fresh, file_batch(uow, list(fresh.values()), self._policy,
                                               routing)))
            uow.commit()
        self._parked = routing.parked
        for routed in routing.routed:
            self._metrics.routing_decision(routed.outcome, routed.reason
                                           if routed.outcome == "denied" else None)
            lifecycle("message", "routed", message_id=routed.message_id,
                      recipient=routed.recipient, outcome=routed.outcome, reason=routed.reason,
                      destination=routed.destination, delivery_id=routed.delivery_id)
        states: list[MessageState | None] = []
        for outcome in outcomes:
            states.append(filed.pop(outcome.record.id, None))
        return states


def _kind(exc: BaseException) -> str:
    """Store errors are ours and name no values; anything else, only its type."""
    return str(exc) if isinstance(exc, StoreError) else type(exc).__name__
