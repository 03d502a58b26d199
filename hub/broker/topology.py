"""Every exchange and queue name, built in one place from the namespace."""
from __future__ import annotations

from dataclasses import dataclass

# Without a delivery limit a quorum queue would redeliver a message that kills its worker forever;
# past it the message is dead-lettered and parked, never dropped. Every partition hand-over and
# every worker crash returns what the worker held counted as one delivery (measured on RabbitMQ
# 3.10.8: a dropped connection raises x-delivery-count), and a partition may be passed along a
# few standbys before its leaseholder keeps it: 5 parked healthy backlogs after a few
# rebalances (tests/integration/test_partition_consumers.py), 20 leaves room for them.
DELIVERY_LIMIT = 20
# Partitions of the inbound stream (`[broker] partitions`): one queue per partition, each with a
# single active consumer, so that one patient's messages are filed in the order they came.
DEFAULT_PARTITIONS = 16
MAX_PARTITIONS = 256
NO_PATIENT = "none"  # suffix of the partition of messages that name no patient


@dataclass(frozen=True)
class Topology:
    """Names for one hub's queues; `namespace` keeps several hubs (and tests) apart on one broker."""

    namespace: str
    partitions: int = DEFAULT_PARTITIONS

    @property
    def inbound(self) -> str:
        """The inbound partition of messages that name no patient (MFN, refused frames, batches
        refused whole); also where a tool publishes bytes it cannot key. Patients' messages go
        to `partition_queue(n)`; `inbound_queues` lists them all."""
        return f"{self.namespace}.inbound.{NO_PATIENT}"

    @property
    def inbound_stream(self) -> str:
        """The name status, health, metrics and the watchdog give the inbound partitions taken
        together (`partitions.stream_stats`); no queue has it."""
        return f"{self.namespace}.inbound"

    def partition_queue(self, partition: int | None) -> str:
        """The one spelling of a partition's queue name: `{ns}.inbound.00` … and, for None,
        the no-patient partition."""
        if partition is None:
            return self.inbound
        if not 0 <= partition < self.partitions:
            raise ValueError(f"partition {partition} outside 0..{self.partitions - 1}")
        return f"{self.namespace}.inbound.{partition:0{self._width}d}"

    @property
    def _width(self) -> int:
        return max(2, len(str(self.partitions - 1)))

    @property
    def inbound_queues(self) -> tuple[str, ...]:
        """Every partition of the inbound stream, patients' first, then the no-patient one."""
        return (*(self.partition_queue(n) for n in range(self.partitions)), self.inbound)

    def is_inbound(self, queue: str) -> bool:
        return queue in self.inbound_queues

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
        return self.inbound_queues

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
        if self.is_inbound(queue):
            # One consumer at a time per partition: the others stand by and take over, in
            # order, when it goes (RabbitMQ returns what it held to the head of the queue).
            args["x-single-active-consumer"] = True
        return args
