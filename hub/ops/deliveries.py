"""A second chance for parked outbound deliveries, shared by `hub deliveries replay` and any
page that offers the same.

A replayed delivery goes back at its place in its queue (same patient, same destination): it
held back everything behind it, so it goes first and the rest follow in their original order.
Consent is checked again before it is sent, as for every delivery.
"""
from __future__ import annotations

from collections.abc import Collection

from hub.domain.delivery import DeliveryState
from hub.domain.ports import UnitOfWorkFactory

_EVERY = 1_000_000


def replay_parked(uow_factory: UnitOfWorkFactory, ids: Collection[str] = (), *,
                  every_parked: bool = False) -> dict:
    """Put the parked deliveries `ids` (or with `every_parked` every parked one) back in their
    queues, in one committed transaction; an id that is not a parked delivery is left alone.

    Shape: {"requested": n, "queued": n, "refused": [ids not parked]}."""
    with uow_factory() as uow:
        chosen = list(ids) if not every_parked else [
            d.id for d in uow.deliveries.search(DeliveryState.PARKED, limit=_EVERY)]
        refused = uow.deliveries.replay_many(chosen)
        uow.commit()
    return {"requested": len(chosen), "queued": len(chosen) - len(refused), "refused": refused}
