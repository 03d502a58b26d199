"""Several single-queue consumers seen as one (the default `Broker.open_partition_consumer`,
and `PartitionSet`): a fetch takes what the members have ready, in turn. When none has anything
it waits on all their sockets at once (`Consumer.waitable`, one poll) and then looks only at the
members that have something: an idle worker sleeps instead of polling each partition in turn,
and a delivery to any of them is seen at once. Members that cannot say what to wait on (the
memory broker's) are waited on as before, one after the other, in short slices. Each delivery
is acked or rejected through the consumer it came from."""
from __future__ import annotations

import math
import select
import time
from collections.abc import Sequence

from hub.broker.port import Consumer, Delivery
from hub.errors import BrokerError

_SLICE = 0.01  # seconds of waiting on one member without a socket before looking at the next


class FanInConsumer(Consumer):
    def __init__(self, consumers: Sequence[Consumer]) -> None:
        self._consumers = list(consumers)
        self._owner: dict[tuple[str, int], Consumer] = {}
        self._next = 0

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        while True:
            ready = self._ready(max(0.0, deadline - time.monotonic()), fetching=True)
            taken = self._sweep(max_count, ready)
            if taken or time.monotonic() >= deadline:
                return taken
            if ready is None:  # some member has no socket: give each a slice of the wait in turn
                consumer = self._consumers[self._next % len(self._consumers)]
                self._next += 1
                got = consumer.fetch(max_count, min(_SLICE, max(0.0, deadline - time.monotonic())))
                if got:
                    self._own(consumer, got)
                    return got + self._sweep(max_count - len(got), None)

    def _ready(self, wait: float, *, fetching: bool) -> set[int] | None:
        """The members worth a look (by index), after waiting up to `wait` seconds for one (less
        when one must be serviced sooner, for its heartbeats); at once when one holds deliveries
        and `fetching`. None when some member has nothing to wait on: look at every one."""
        poller = select.poll()
        members: dict[int, int] = {}
        ready: set[int] = set()
        for index, consumer in enumerate(self._consumers):
            waitable = consumer.waitable()
            if waitable is None:
                return None
            if (fetching and waitable.held) or waitable.due == 0:
                ready.add(index)
            elif waitable.due is not None:
                wait = min(wait, waitable.due)
            poller.register(waitable.fd, select.POLLIN)
            members[waitable.fd] = index
        for fd, _ in poller.poll(0 if ready else math.ceil(wait * 1000)):
            ready.add(members[fd])
        return ready

    def _sweep(self, room: int, ready: set[int] | None) -> list[Delivery]:
        """Up to `room` deliveries from the `ready` members (every member when None), in turn."""
        taken: list[Delivery] = []
        for _ in range(len(self._consumers)):
            if room - len(taken) <= 0:
                break
            index = self._next % len(self._consumers)
            self._next += 1
            if ready is not None and index not in ready:
                continue
            consumer = self._consumers[index]
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
        deadline = time.monotonic() + seconds
        wait = 0.0
        while (ready := self._ready(wait, fetching=False)) is not None:
            for index in ready:
                self._consumers[index].idle(0.0)
            wait = deadline - time.monotonic()
            if wait <= 0:
                return
        share = max(0.0, deadline - time.monotonic()) / len(self._consumers)
        for consumer in self._consumers:  # some member has no socket: each a share of the wait
            consumer.idle(share)

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
