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
