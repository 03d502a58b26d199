"""The inbound partition of stored bytes published again (`hub dlq replay`, `hub rejected
retry`): the listener's own checks read the matricule again, and the same partition function
(hub/broker/partitions.py) chooses the queue, so a replayed message meets its patient's others."""
from __future__ import annotations

from collections.abc import Callable

from hub.broker.partitions import router
from hub.broker.topology import Topology
from hub.inbound.intake import IntakePolicy, check


def body_router(hasher, topology: Topology, policy: IntakePolicy) -> Callable[[bytes], str]:
    """bytes -> the inbound queue their patient's partition is (no-patient when refused)."""
    queue_for = router(hasher, topology)

    def route(body: bytes) -> str:
        sniffed = check(body, policy)
        return queue_for(sniffed.matricule if sniffed.rejection is None else None)
    return route
