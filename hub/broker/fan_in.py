"""Several single-queue consumers seen as one (the default `Broker.open_partition_consumer`):
a fetch takes what each has ready, in turn, and waits on them in short slices when none has
anything. Each delivery is acked or rejected through the consumer it came from."""
from __future__ import annotations

import time
from collections.abc import Sequence

from hub.broker.port import Consumer, Delivery
from hub.errors import BrokerError

_SLICE = 0.01  # seconds of waiting on one consumer before looking at the next


class FanInConsumer(Consumer):
    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self._consumers = list(consumers)
        self._owner: dict[tuple[str, int], Consumer] = {}
        self._next = 0

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while True:
            taken = self._sweep(max_count)
            if taken or time.monotonic() >= deadline:
                return taken
            consumer = self._consumers[self._next % len(self._consumers)]
            self._next += 1
            got = consumer.fetch(max_count, min(_SLICE, max(0.0, deadline - time.monotonic())))
            if got:
                self._own(consumer, got)
                return got + self._sweep(max_count - len(got))

    def _sweep(self, room: int) -> list[Delivery]:
        taken: list[Delivery] = []
        for _ in range(len(self._consumers)):
            if room - len(taken) <= 0:
                break
            consumer = self._consumers[self._next % len(self._consumers)]
            self._next += 1
            got = consumer.fetch(room - len(taken), 0.0)
            self._own(consumer, got)
            taken += got
        return taken

    def _own(self, consumer: Consumer, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self._owner[(delivery.queue, delivery.tag)] = consumer

    def ack(self, deliveries: list[Delivery]) -> None:
        by_consumer: dict[int, tuple[Consumer, list[Delivery]]] = {}
        for delivery in deliveries:
            consumer = self._consumer_of(delivery)
            by_consumer.setdefault(id(consumer), (consumer, []))[1].append(delivery)
        for consumer, own in by_consumer.values():
            consumer.ack(own)
            for delivery in own:
                self._owner.pop((delivery.queue, delivery.tag), None)

    def reject(self, delivery: Delivery, *, requeue: bool) -> None:
        self._consumer_of(delivery).reject(delivery, requeue=requeue)
        self._owner.pop((delivery.queue, delivery.tag), None)

    def idle(self, seconds: float) -> None:
        for consumer in self._consumers:
            consumer.idle(seconds / len(self._consumers))

    def close(self) -> None:
        self._owner.clear()
        for consumer in self._consumers:
            try:
                consumer.close()
            except BrokerError:
                pass

    def _consumer_of(self, delivery: Delivery) -> Consumer:
        consumer = self._owner.get((delivery.queue, delivery.tag))
        if consumer is None:
            raise BrokerError(f"delivery tag {delivery.tag} of {delivery.queue} is not outstanding")
        return consumer
