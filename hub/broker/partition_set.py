"""The inbound partitions as one consumer whose members can be handed over one at a time
(hub/routing/partition_balance.py): each partition on a consumer of its own, so that dropping
one (the way a crash does, which keeps its order) leaves the others running."""
from __future__ import annotations

from collections.abc import Sequence

from hub.broker.fan_in import FanInConsumer
from hub.broker.port import Broker, Consumer, Delivery


class PartitionSet(FanInConsumer):
    """Member i consumes `queues[i]`. Subscribed `first` partitions first, then the others,
    so that on a fresh start the broker makes this worker active where it leases."""

    def __init__(self, broker: Broker, queues: Sequence[str], prefetch: int,
                 first: frozenset[int] = frozenset()) -> None:
        self._broker = broker
        self._queues = tuple(queues)
        self._prefetch = prefetch
        self._index = {queue: i for i, queue in enumerate(self._queues)}
        self.seen: set[int] = set()  # partitions this worker was handed messages from
        order = [*sorted(first), *(i for i in range(len(self._queues)) if i not in first)]
        members: dict[int, Consumer] = {}
        try:
            for i in order:
                members[i] = self._open(i)
        except BaseException:
            for member in members.values():
                member.close()
            raise
        super().__init__([members[i] for i in range(len(self._queues))])

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        deliveries = super().fetch(max_count, timeout)
        self.seen.update(self._index[d.queue] for d in deliveries)
        return deliveries

    def hand_over(self, partition: int) -> None:
        """Give partition up and stand by on it again. Call between batches: what this member
        still holds (prefetched, never fetched) goes back to the head of its queue, in order."""
        self._consumers[partition].close()
        self._consumers[partition] = self._open(partition)

    def _open(self, partition: int) -> Consumer:
        return self._broker.open_partition_consumer([self._queues[partition]],
                                                    prefetch=self._prefetch)
