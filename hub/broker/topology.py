"""Every exchange and queue name, built in one place from the namespace."""
from __future__ import annotations

from dataclasses import dataclass

# Without a delivery limit a quorum queue would redeliver a message that kills its worker forever;
# past it the message is dead-lettered and parked, never dropped.
DELIVERY_LIMIT = 5


@dataclass(frozen=True)
class Topology:
    """Names for one hub's queues; `namespace` keeps several hubs (and tests) apart on one broker."""

    namespace: str

    @property
    def inbound(self) -> str:
        """Raw frames accepted by the listener, waiting for a routing worker."""
        return f"{self.namespace}.inbound"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.namespace}.dlx"

    @property
    def dead(self) -> str:
        """Messages the broker dead-lettered (delivery limit reached, or rejected)."""
        return f"{self.namespace}.dead"

    @property
    def work_queues(self) -> tuple[str, ...]:
        """Queues that dead-letter into `dead`."""
        return (self.inbound,)

    @property
    def all_queues(self) -> tuple[str, ...]:
        return (*self.work_queues, self.dead)

    def queue_arguments(self, queue: str) -> dict[str, object]:
        """Quorum queue arguments; work queues dead-letter at least once, never drop.

        No `x-quorum-initial-group-size`: without it RabbitMQ 3.10 puts a member on each node of
        a 3-node cluster (tests/faults/test_broker_cluster.py checks it), and adding it
        would change the arguments of every deployed queue, which RabbitMQ refuses
        (PRECONDITION_FAILED) on the next declaration."""
        args: dict[str, object] = {"x-queue-type": "quorum", "x-overflow": "reject-publish"}
        if queue in self.work_queues:
            args.update({
                "x-dead-letter-exchange": self.dead_letter_exchange,
                "x-dead-letter-routing-key": self.dead,
                "x-dead-letter-strategy": "at-least-once",
                "x-delivery-limit": DELIVERY_LIMIT,
            })
        return args
