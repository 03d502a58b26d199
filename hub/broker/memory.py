"""The in-memory adapter of the broker port: one process, no RabbitMQ.

It follows RabbitMQ 3.10 quorum queues where the hub depends on them: every return of a
message (a requeue, or a consumer closing with it unacked) counts a delivery; a message whose
count exceeds the queue's `x-delivery-limit`, or that is rejected without requeue, moves to the
queue's dead-letter target with `x-death-reason`. Queue rules come from `Topology.queue_arguments`.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from hub.broker.port import Broker, Consumer, Delivery, Publisher, QueueStats
from hub.broker.topology import Topology
from hub.errors import BrokerError, PublishNotConfirmed


@dataclass
class _Message:
    body: bytes
    message_id: str
    headers: dict[str, str]
    delivery_count: int = 0
    redelivered: bool = False


@dataclass
class _Queue:
    arguments: dict[str, object]
    ready: deque[_Message] = field(default_factory=deque)
    consumers: int = 0
    unacked: int = 0  # handed to a consumer and not yet acked, rejected or returned
    # Consumers in subscription order; with `x-single-active-consumer` only the first is
    # handed messages, the others stand by (RabbitMQ's single active consumer).
    subscribers: list[object] = field(default_factory=list)

    def may_take(self, consumer: object) -> bool:
        if not self.arguments.get("x-single-active-consumer"):
            return True
        return bool(self.subscribers) and self.subscribers[0] is consumer


class MemoryBroker(Broker):
    """Thread-safe queues in one process. `fail_publishes=True` makes every publish fail with
    `PublishNotConfirmed`, as a refusing broker would (for tests of that path)."""

    def __init__(self, topology: Topology, *, fail_publishes: bool = False) -> None:
        self._topology = topology
        self._changed = threading.Condition()
        self._queues: dict[str, _Queue] = {}
        self.fail_publishes = fail_publishes

    def declare_topology(self) -> None:
        with self._changed:
            for name in self._topology.all_queues:
                self._queues.setdefault(name, _Queue(self._topology.queue_arguments(name)))

    async def open_publisher(self) -> Publisher:
        return _MemoryPublisher(self)

    def open_consumer(self, queue: str, *, prefetch: int) -> Consumer:
        with self._changed:
            target = self._queue(queue)
            target.consumers += 1
            consumer = _MemoryConsumer(self, queue, prefetch)
            target.subscribers.append(consumer)
        return consumer

    def publish_blocking(
        self, queue: str, body: bytes, *, message_id: str, headers: dict[str, str], timeout: float = 10.0
    ) -> None:
        if self.fail_publishes:
            raise PublishNotConfirmed(f"publish to {queue} refused (fail_publishes is set)")
        with self._changed:
            target = self._queues.get(queue)
            if target is None:
                raise PublishNotConfirmed(f"publish to {queue} returned: no such queue")
            target.ready.append(_Message(bytes(body), message_id, dict(headers)))
            self._changed.notify_all()

    def queue_stats(self) -> dict[str, QueueStats]:
        with self._changed:
            return {
                name: QueueStats(depth=len(q.ready), consumers=q.consumers) if (q := self._queues.get(name))
                else QueueStats(depth=0, consumers=0)
                for name in self._topology.all_queues
            }

    def purge_topology(self) -> None:
        with self._changed:
            for name in self._topology.all_queues:
                self._queues.pop(name, None)
            self._changed.notify_all()

    def join(self, queue: str, timeout: float) -> None:
        """Wait until `queue` holds nothing ready and nothing handed out unacknowledged: every
        message published to it so far was settled by a consumer (dramatiq's stub broker does
        the same), so a test can wait for a worker running in a thread instead of polling the
        store. Raises `BrokerError` when `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (q := self._queue(queue)).ready or q.unacked:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BrokerError(f"{queue} not empty after {timeout} s: {len(q.ready)} ready, "
                                      f"{q.unacked} unacknowledged")
                self._changed.wait(remaining)

    def close(self) -> None:
        """Nothing to release: the queues live as long as the object."""

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise BrokerError(f"no queue {name}")
        return queue

    # The methods below run with self._changed held.

    def _take(self, name: str, count: int) -> list[_Message]:
        queue = self._queue(name)
        taken = [queue.ready.popleft() for _ in range(min(count, len(queue.ready)))]
        queue.unacked += len(taken)
        return taken

    def _settled(self, name: str, count: int) -> None:
        """`count` messages handed out from `name` are no longer outstanding."""
        if (queue := self._queues.get(name)) is not None:
            queue.unacked = max(0, queue.unacked - count)
        self._changed.notify_all()

    def _return(self, name: str, message: _Message) -> None:
        queue = self._queues.get(name)
        if queue is None:
            return
        message.delivery_count += 1
        limit = queue.arguments.get("x-delivery-limit")
        if isinstance(limit, int) and message.delivery_count > limit:
            self._dead_letter(name, queue, message, "delivery-limit")
            return
        message.redelivered = True
        queue.ready.appendleft(message)
        self._changed.notify_all()

    def _dead_letter(self, name: str, queue: _Queue, message: _Message, reason: str) -> None:
        target = self._queues.get(str(queue.arguments.get("x-dead-letter-routing-key", "")))
        if target is None:
            return  # no dead-letter target: dropped, as RabbitMQ does
        rabbit_reason = reason.replace("-", "_")
        headers = {**message.headers, "x-first-death-queue": name,
                   "x-first-death-reason": rabbit_reason, "x-death-reason": reason}
        target.ready.append(_Message(message.body, message.message_id, headers))
        self._changed.notify_all()


class _MemoryPublisher(Publisher):
    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker
        self._closed = False

    async def publish(
        self, queue: str, body: bytes, *, message_id: str, headers: dict[str, str], timeout: float
    ) -> None:
        if self._closed:
            raise PublishNotConfirmed("publisher is closed")
        self._broker.publish_blocking(queue, body, message_id=message_id, headers=headers, timeout=timeout)

    async def close(self) -> None:
        self._closed = True


class _MemoryConsumer(Consumer):
    def __init__(self, broker: MemoryBroker, queue: str, prefetch: int) -> None:
        self._broker = broker
        self._queue = queue
        self._prefetch = max(1, prefetch)
        self._tags = itertools.count(1)
        self._unacked: dict[int, _Message] = {}
        self._closed = False

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        broker = self._broker
        with broker._changed:
            while True:
                if self._closed:
                    raise BrokerError(f"the consumer of {self._queue} is closed")
                room = min(max_count, self._prefetch - len(self._unacked))
                active = broker._queue(self._queue).may_take(self)
                messages = broker._take(self._queue, room) if room > 0 and active else []
                remaining = deadline - time.monotonic()
                if messages or remaining <= 0:
                    break
                broker._changed.wait(remaining)
            deliveries = []
            for message in messages:
                tag = next(self._tags)
                self._unacked[tag] = message
                headers = dict(message.headers)
                if message.delivery_count:
                    headers["x-delivery-count"] = str(message.delivery_count)
                deliveries.append(Delivery(tag, message.body, message.message_id, headers,
                                           message.redelivered, self._queue))
            return deliveries

    def ack(self, deliveries: list[Delivery]) -> None:
        with self._broker._changed:
            self._settle([d.tag for d in deliveries])
            self._broker._changed.notify_all()  # prefetch room for this consumer

    def reject(self, delivery: Delivery, *, requeue: bool) -> None:
        broker = self._broker
        with broker._changed:
            (message,) = self._settle([delivery.tag])
            if requeue:
                broker._return(self._queue, message)
            elif (queue := broker._queues.get(self._queue)) is not None:
                broker._dead_letter(self._queue, queue, message, "rejected")

    def close(self) -> None:
        broker = self._broker
        with broker._changed:
            if self._closed:
                return
            self._closed = True
            # Put back highest tag first so the queue's head keeps the original order.
            broker._settled(self._queue, len(self._unacked))
            for tag in sorted(self._unacked, reverse=True):
                broker._return(self._queue, self._unacked.pop(tag))
            if (queue := broker._queues.get(self._queue)) is not None:
                queue.consumers -= 1
                if self in queue.subscribers:
                    queue.subscribers.remove(self)  # the next one stands in, from the head
            broker._changed.notify_all()

    def _settle(self, tags: list[int]) -> list[_Message]:
        tags = list(dict.fromkeys(tags))
        unknown = [tag for tag in tags if tag not in self._unacked]
        if unknown:
            raise BrokerError(f"delivery tags {unknown} are not outstanding on {self._queue}")
        self._broker._settled(self._queue, len(tags))
        return [self._unacked.pop(tag) for tag in tags]
