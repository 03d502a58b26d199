"""The broker port: what the hub needs from a message broker, nothing more.

Two adapters implement it: `rabbitmq.RabbitBroker` (pika; the production path) and
`memory.MemoryBroker` (one process, no RabbitMQ). The same contract tests run against both.
Publishing is asyncio (the MLLP listener awaits each confirm while many are in flight);
consuming is blocking and pull-style (a worker thread fetches a batch, commits, then acks).
"""
from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Delivery:
    """One message handed to a consumer; `tag` is only meaningful to the consumer that got it."""

    tag: int
    body: bytes
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)
    redelivered: bool = False
    queue: str = ""


@dataclass(frozen=True)
class Waitable:
    """How to wait on a consumer together with others, all at once (`FanInConsumer`), rather
    than giving each a slice of the wait in turn."""

    fd: int  # becomes readable when the broker sent the consumer something
    held: bool  # it holds deliveries that a `fetch` hands out without waiting
    # Seconds until the consumer must be serviced (a `fetch` or an `idle`, a zero timeout will
    # do) to keep its connection alive (heartbeats) or to take in what it already read;
    # None: no such deadline.
    due: float | None


@dataclass(frozen=True)
class QueueStats:
    depth: int
    consumers: int


class Publisher(ABC):
    """Publishes persistent messages from inside a running asyncio loop."""

    @abstractmethod
    async def publish(
        self, queue: str, body: bytes, *, message_id: str, headers: dict[str, str], timeout: float
    ) -> None:
        """Return once the broker confirmed the persistent message as durable.

        Raises `PublishNotConfirmed` on a nack, a return (unroutable), a lost connection or when
        `timeout` seconds pass without a confirm. Never raises a library exception."""

    @abstractmethod
    async def close(self) -> None:
        """Stop publishing; pending publishes fail with `PublishNotConfirmed`."""


class Consumer(ABC):
    """A blocking, manually-acknowledging consumer of one queue, used from one thread."""

    @abstractmethod
    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        """Wait up to `timeout` seconds for a first delivery, then take what else is ready,
        up to `max_count`. Returns [] when nothing came. Raises `BrokerError` on connection loss."""

    @abstractmethod
    def ack(self, deliveries: list[Delivery]) -> None:
        """Acknowledge these deliveries (after their database transaction committed)."""

    @abstractmethod
    def reject(self, delivery: Delivery, *, requeue: bool) -> None:
        """Give a delivery back (requeue=True) or dead-letter it (requeue=False).
        Each requeue counts towards the queue's delivery limit; past it the broker
        dead-letters the message."""

    def idle(self, seconds: float) -> None:
        """Wait `seconds` holding what was fetched, unacknowledged, while the connection stays
        alive (heartbeats). Raises `BrokerError` on connection loss, as `fetch` does."""
        time.sleep(seconds)

    def waitable(self) -> Waitable | None:
        """What to wait on for this consumer alongside others; None (the default, and a consumer
        with no socket or a closed one) when the only way to wait on it is its own `fetch`."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Close; unacknowledged deliveries go back to the queue."""


class Broker(ABC):
    """Factory for publishers and consumers on one broker, plus topology and statistics."""

    @abstractmethod
    def declare_topology(self) -> None:
        """Declare (idempotently) every exchange and queue of `topology.Topology`."""

    @abstractmethod
    async def open_publisher(self) -> Publisher:
        """Open a publisher bound to the running asyncio loop."""

    @abstractmethod
    def open_consumer(self, queue: str, *, prefetch: int) -> Consumer:
        """Open a consumer on `queue` (a full name from `Topology`) for the calling thread."""

    def open_partition_consumer(self, queues: Sequence[str], *, prefetch: int) -> Consumer:
        """One consumer of several queues (the inbound partitions), subscribed in the order
        given; deliveries of one queue come in that queue's order. This default opens one
        consumer per queue; an adapter may share a connection."""
        from hub.broker.fan_in import FanInConsumer

        consumers: list[Consumer] = []
        try:
            for queue in queues:
                consumers.append(self.open_consumer(queue, prefetch=prefetch))
        except BaseException:
            for consumer in consumers:
                consumer.close()
            raise
        return FanInConsumer(consumers)

    @abstractmethod
    def publish_blocking(
        self, queue: str, body: bytes, *, message_id: str, headers: dict[str, str], timeout: float = 10.0
    ) -> None:
        """Publish one persistent message and wait for its confirm, outside any event loop
        (replays, tests, CLI). Raises `PublishNotConfirmed` like `Publisher.publish`."""

    @abstractmethod
    def queue_stats(self) -> dict[str, QueueStats]:
        """Depth and consumer count of each queue of the topology, keyed by full name."""

    @abstractmethod
    def purge_topology(self) -> None:
        """Delete every queue and exchange of this namespace (tests only)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections held by the broker object itself."""
