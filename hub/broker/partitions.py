"""Which inbound partition a message goes to: the one function every publisher to the inbound
stream uses (the MLLP listener, the CNS spool, `hub dlq replay`, `hub rejected retry`).

The key is the keyed hash (hub/store/keyring.py, a purpose of its own) of the normalised
matricule, so a patient's messages always meet in one partition, in the order they came, and
neither the matricule nor a hash that could be compared with the store's ever leaves the process.
A message that names no patient goes to the no-patient partition. A legacy 11-digit matricule and
its 13-digit successor are keyed apart (the README says so): they are one person only once the
store links them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from hub.broker.port import QueueStats
from hub.broker.topology import Topology

PURPOSE = "partition"


class _Hasher(Protocol):
    def lookup_hash(self, value: bytes | str, *, purpose: str) -> str: ...


def partition_of(hasher: _Hasher, matricule: str | None, partitions: int) -> int | None:
    """The partition (0..partitions-1) of a normalised matricule; None when there is none."""
    if not matricule:
        return None
    digest = hasher.lookup_hash(matricule, purpose=PURPOSE)
    return int(digest[:16], 16) % partitions


def router(hasher: _Hasher, topology: Topology) -> Callable[[str | None], str]:
    """matricule (or None) -> the inbound queue to publish to, for `topology`'s partitions."""
    def queue_for(matricule: str | None) -> str:
        return topology.partition_queue(partition_of(hasher, matricule, topology.partitions))
    return queue_for


def stream_stats(stats: dict[str, QueueStats], topology: Topology) -> dict[str, QueueStats]:
    """`stats` with the inbound partitions folded into one entry named
    `topology.inbound_stream`: their depths summed, and the fewest consumers any of them has
    (a partition nobody consumes is a stream nobody fully consumes). What an operator watches
    is the stream; one partition's figures are in the broker's own tools."""
    partitions = [stats[queue] for queue in topology.inbound_queues if queue in stats]
    folded = {name: each for name, each in stats.items() if not topology.is_inbound(name)}
    if partitions:
        folded[topology.inbound_stream] = QueueStats(
            depth=sum(each.depth for each in partitions),
            consumers=min(each.consumers for each in partitions))
    return folded
