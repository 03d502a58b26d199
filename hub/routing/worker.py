"""The routing worker: fetch a batch, decide each message, file them in one transaction, commit,
and only then ack the broker. A crash anywhere before the ack means a redelivery, and a
redelivered message whose row already exists is acked without being filed twice."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone

from hub.broker.port import Broker, Consumer, Delivery
from hub.broker.topology import Topology
from hub.domain.models import MessageState
from hub.errors import BrokerError, StoreError
from hub.logs import lifecycle
from hub.metrics import Metrics
from hub.routing.batch_lookups import BatchLookups
from hub.routing.filing import file_batch
from hub.routing.mapping_loader import MappingSet
from hub.routing.outcome import Outcome, RoutingPolicy, decide, record_for

log = logging.getLogger(__name__)
RETRY_PAUSE = 1.0


class RoutingWorker:
    """Consumes the inbound queue (and the dead-letter queue) until `stop` is set."""

    def __init__(
        self, broker: Broker, topology: Topology, uow_factory: Callable, mappings: MappingSet,
        policy: RoutingPolicy, metrics: Metrics, *, batch_size: int = 50,
        batch_wait: float = 0.02, prefetch: int = 200,
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

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set, reconnecting to the broker when it goes away."""
        while not stop.is_set():
            try:
                inbound = self._broker.open_consumer(self._topology.inbound, prefetch=self._prefetch)
                dead = self._broker.open_consumer(self._topology.dead, prefetch=self._batch_size)
            except BrokerError as exc:
                log.warning("worker cannot reach the broker: %s", exc)
                stop.wait(RETRY_PAUSE)
                continue
            try:
                while not stop.is_set():
                    self.work_once(inbound, self._decide)
                    self.work_once(dead, self._decide_dead, wait=0.0)
            except BrokerError as exc:
                log.warning("worker lost the broker: %s", exc)
                stop.wait(RETRY_PAUSE)
            finally:
                for consumer in (inbound, dead):
                    try:
                        consumer.close()
                    except BrokerError:
                        pass

    def work_once(self, consumer: Consumer, decide_one: Callable, wait: float | None = None) -> int:
        """Fetch, decide, file and ack one batch; returns how many deliveries it handled."""
        deliveries = consumer.fetch(self._batch_size, self._batch_wait if wait is None else wait)
        if not deliveries:
            return 0
        started = time.perf_counter()
        outcomes = [decide_one(d) for d in deliveries]
        try:
            states = self._file(outcomes)
        except Exception as exc:  # store down, or one row the database refuses
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
                states = self._file([outcome])
            except Exception as exc:
                failed += 1
                log.error("message %s not filed, returned to the queue: %s", outcome.record.id, _kind(exc))
                consumer.reject(delivery, requeue=True)
            else:
                self._settle(consumer, [delivery], states, [outcome])
        if failed:
            time.sleep(RETRY_PAUSE)

    def _settle(self, consumer: Consumer, deliveries: list[Delivery], states: list, outcomes: list[Outcome]) -> None:
        consumer.ack(deliveries)
        now = datetime.now(timezone.utc)
        for outcome, state in zip(outcomes, states):
            if state is not None:
                record = outcome.record
                # Filing only ever turns a stored outcome into a parked one for a reused MSH-10.
                reason = record.reason if record.state is state else (
                    "conflict: MSH-10 reused with other content" if state is MessageState.PARKED
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
            lookups = BatchLookups(uow, datetime.now(timezone.utc),
                                   self._policy.referent_access_by_default)
            done = uow.messages.existing_ids([o.record.id for o in outcomes])
            fresh: dict[str, Outcome] = {}
            for outcome in outcomes:  # redelivered after its commit, or twice in this batch
                if outcome.record.id not in done:
                    fresh.setdefault(outcome.record.id, outcome)
            filed = dict(zip(fresh, file_batch(uow, list(fresh.values()), self._policy,
                                               lookups)))
            uow.commit()
        for routed in lookups.routed:
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
