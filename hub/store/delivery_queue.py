"""The order of outbound deliveries, and how a dispatcher takes its due ones.

Order is kept per patient and destination by `sequence`: only the pending delivery with the
lowest sequence of its queue is ever due, and a batch takes, queue by queue, a head and the due
deliveries right behind it. Claiming is a lease on `next_attempt_at`, so a dispatcher that dies
mid-send leaves its deliveries due again when the lease ends, and two dispatchers never send
the same delivery at once.

A parked delivery holds its queue: nothing of the same patient and destination with a higher
sequence is due while it stays parked (`hub status` counts it, and its queue's oldest pending
age grows). `hub deliveries replay` makes it pending again at its own sequence, so it goes first
and the rest follow in order. Delivered and denied deliveries have left their queue.

A destination whose last connection attempt failed (`unreachable_destinations`) has nothing
due until its `retry_at`: the whole destination backs off, not one message.

A destination may be sent to over several connections at once (`[outbound] connections`), each
a lane of its own that takes a disjoint share of the patients (hub.domain.delivery.Lane): a
patient's queue is always in exactly one lane, so its order holds while the lanes send side by
side.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from itertools import takewhile

from sqlalchemy import (
    and_, bindparam, delete, exists, func, insert, literal_column, not_, select, union_all,
    update,
)

from hub.domain.delivery import MAX_CONNECTIONS, ONE_LANE, Delivery, DeliveryState, Lane
from hub.store.due_signals import announcement
from hub.store.one_of import one_of
from hub.store.repository import Repository
from hub.store.tables import deliveries, unreachable_destinations, utc_now

PENDING = DeliveryState.PENDING.value
PARKED = DeliveryState.PARKED.value
ERROR_LENGTH = 500

# Spelled as a literal, not a bound parameter, so that SQLite and PostgreSQL (even with a
# generic prepared plan) can match it with the partial index of pending deliveries.
_IS_PENDING = deliveries.c.state == literal_column(f"'{PENDING}'")

# A parked delivery ahead in the same queue (read through the partial index of parked ones).
_ahead = deliveries.alias("ahead")
_NOT_HELD = ~exists().where(_ahead.c.destination == deliveries.c.destination,
                            _ahead.c.patient_id == deliveries.c.patient_id,
                            _ahead.c.state == literal_column(f"'{PARKED}'"),
                            _ahead.c.sequence < deliveries.c.sequence)


def _not_backing_off(now):
    """The delivery's destination is not waiting out a failed connection attempt at `now`."""
    down = unreachable_destinations
    return ~exists().where(down.c.destination == deliveries.c.destination,
                           down.c.retry_at > now)

# Every column but the encrypted payload: what a Delivery holds.
CLEAR_COLUMNS = [column for column in deliveries.c
                 if column.name not in ("payload_key_id", "payload_ct")]


def delivery_from_row(row) -> Delivery:
    """A Delivery from a row of CLEAR_COLUMNS."""
    values = dict(row._mapping)
    values["state"] = DeliveryState(values["state"])
    return Delivery(**values)


def _lane_condition(lane: Lane):
    """The SQL condition on `deliveries.patient_id` of `lane`'s patients (Lane's rule)."""
    ending = func.substr(deliveries.c.patient_id, func.length(deliveries.c.patient_id), 1)
    if lane.index == lane.count - 1:
        return not_(ending.in_([e for n in range(lane.count - 1) for e in lane.endings(n)]))
    return ending.in_(lane.endings())


def _queue_heads(by_destination: bool = False, lane: Lane = ONE_LANE):
    """Each pending queue's head joined back to its row: the lowest pending sequence of every
    patient+destination (`by_destination`: of the one bound as "destination"), of `lane`'s
    patients.

    The grouping reads the pending rows once, in the order of the partial index on pending
    deliveries, so its cost follows the pending backlog rather than its square.
    """
    lowest = (select(deliveries.c.destination, deliveries.c.patient_id,
                     func.min(deliveries.c.sequence).label("sequence"))
              .where(_IS_PENDING))
    if lane.count > 1:
        lowest = lowest.where(_lane_condition(lane))
    if by_destination:
        lowest = lowest.where(deliveries.c.destination == bindparam("destination"))
    heads = lowest.group_by(deliveries.c.destination, deliveries.c.patient_id).subquery("heads")
    return deliveries.join(heads, and_(deliveries.c.destination == heads.c.destination,
                                       deliveries.c.patient_id == heads.c.patient_id,
                                       deliveries.c.sequence == heads.c.sequence))


# A dispatcher asks these for every batch and every round: built once, their values bound by
# name ("now", "limit", "destination"), since building and keying them anew cost more CPU
# than reading the rows.
_NOW = bindparam("now", type_=deliveries.c.next_attempt_at.type)


@functools.lru_cache(maxsize=2 * MAX_CONNECTIONS ** 2)
def _due_query(by_destination: bool, lane: Lane = ONE_LANE):
    return (select(*CLEAR_COLUMNS).select_from(_queue_heads(by_destination, lane))
            .where(_IS_PENDING, deliveries.c.next_attempt_at <= _NOW, _NOT_HELD,
                   _not_backing_off(_NOW))
            .order_by(deliveries.c.next_attempt_at, deliveries.c.sequence, deliveries.c.id)
            .limit(bindparam("limit")))


_DUE_DESTINATIONS = (select(deliveries.c.destination).select_from(_queue_heads())
                     .where(_IS_PENDING, deliveries.c.next_attempt_at <= _NOW, _NOT_HELD,
                            _not_backing_off(_NOW))
                     .distinct().order_by(deliveries.c.destination))


@functools.lru_cache(maxsize=2)
def _claim_statement(dialect: str):
    """claim_batch's update of the ids bound as "wanted" that are still pending and due at
    "now", to "until" (and "updated_at" "changed"); skipping locked rows on PostgreSQL. The
    ids go as hub.store.one_of has them go, rendered once."""
    target = (select(deliveries.c.id)
              .where(one_of(dialect)(deliveries.c.id, "wanted"),
                     deliveries.c.state == PENDING, deliveries.c.next_attempt_at <= _NOW)
              .order_by(deliveries.c.id))
    if dialect == "postgresql":
        target = target.with_for_update(skip_locked=True)
    return (update(deliveries)
            .where(deliveries.c.id.in_(target.scalar_subquery()))
            .values(next_attempt_at=bindparam("until", type_=deliveries.c.next_attempt_at.type),
                    updated_at=bindparam("changed", type_=deliveries.c.updated_at.type))
            .returning(deliveries.c.id))


@functools.lru_cache(maxsize=256)
def _runs_query(queues: int):
    """DeliveryQueue._runs's statement for `queues` queues, its values bound by name
    (destination, per_queue, patient_0...): built once per size, since making the union of
    subqueries anew for every batch cost the sender a fifth of its CPU."""
    runs_read = [select(*CLEAR_COLUMNS).where(_IS_PENDING,
                                         deliveries.c.destination == bindparam("destination"),
                                         deliveries.c.patient_id == bindparam(f"patient_{n}"),
                                         _NOT_HELD)
                 .order_by(deliveries.c.sequence).limit(bindparam("per_queue")).subquery()
                 for n in range(queues)]
    return union_all(*(select(*run.c) for run in runs_read))


class DeliveryQueue(Repository):
    """The queue side of the deliveries table: what is due, claiming, releasing."""

    def due(self, now: datetime, limit: int, *, destination: str | None = None,
            lane: Lane = ONE_LANE) -> list[Delivery]:
        """Pending deliveries whose time has come and that head their patient+destination
        queue (no parked one ahead of them), the longest waiting first, of destinations not
        backing off; only those for `destination` when it is given, of `lane`'s patients."""
        values = {"now": now, "limit": limit}
        if destination is not None:
            values["destination"] = destination
        rows = self._execute("finding due deliveries",
                             _due_query(destination is not None, lane), values).fetchall()
        return [delivery_from_row(row) for row in rows]

    def due_destinations(self, now: datetime) -> list[str]:
        """The destinations that have at least one delivery `due`, in key order.

        A dispatcher asks this first and then each destination for its own due deliveries, so
        that a destination with a long backlog cannot crowd the others out of one `limit`.
        """
        return list(self._execute("finding due destinations", _DUE_DESTINATIONS,
                                  {"now": now}).scalars())

    def claim(self, id: str, now: datetime, until: datetime) -> bool:
        """Take a due delivery for an attempt: push its next attempt to `until` (a lease).

        False when it is no longer pending and due, for example because another dispatcher
        claimed it first. Should the process die mid-send, the delivery is due again at `until`.
        """
        statement = (update(deliveries)
                     .where(deliveries.c.id == id, deliveries.c.state == PENDING,
                            deliveries.c.next_attempt_at <= now)
                     .values(next_attempt_at=until, updated_at=utc_now()))
        return self._execute("claiming a delivery", statement).rowcount == 1

    def claim_batch(self, destination: str, now: datetime, until: datetime, limit: int, *,
                    skip: Collection[str] = (), lane: Lane = ONE_LANE) -> list[Delivery]:
        """Claim up to `limit` deliveries to `destination` for one batch of sends, as `claim`
        does each (lease until `until`), and return them in the order they are to be sent;
        only deliveries of `lane`'s patients.

        The queues whose head is due are taken longest waiting first (but not those whose
        head is in `skip`), each with the deliveries right behind its head that are due too,
        in sequence order, up to `limit // queues` per queue. A queue's run stops before the
        first delivery that is not due or that someone else claimed first, so no delivery is
        ever claimed while one ahead of it in its queue is pending and not claimed with it.
        """
        heads = [h for h in self.due(now, limit + len(skip), destination=destination,
                                     lane=lane) if h.id not in skip][:limit]
        if not heads:
            return []
        per_queue = max(1, limit // len(heads))
        runs = [[head] for head in heads] if per_queue == 1 else self._runs(
            destination, now, heads, per_queue)
        wanted = [d.id for run in runs for d in run]
        # The rows are locked in id order, and on PostgreSQL a row another transaction holds
        # is skipped, not waited for: a claim never waits on another claim, so two senders
        # claiming overlapping sets cannot deadlock (tests/integration/test_lane_leases.py). A
        # skipped row ends its run as one claimed first by someone else does.
        statement = _claim_statement(self._connection.dialect.name)
        claimed = set(self._execute("claiming deliveries", statement, {
            "wanted": wanted, "now": now, "until": until, "changed": utc_now()}).scalars())
        batch, stray = [], []
        for run in runs:
            taken = list(takewhile(lambda d: d.id in claimed, run))
            batch.extend(taken)
            stray.extend(d for d in run[len(taken):] if d.id in claimed)
        self.release(stray)
        return batch

    def _runs(self, destination: str, now: datetime, heads: list[Delivery],
              per_queue: int) -> list[list[Delivery]]:
        # Each queue's run read on its own through the partial index (its head and what is
        # behind it, `per_queue` rows at most), all in one statement: the cost follows the
        # batch, not the backlog behind it.
        values = {"destination": destination, "per_queue": per_queue,
                  **{f"patient_{n}": head.patient_id for n, head in enumerate(heads)}}
        by_patient: dict[str, list[Delivery]] = {}
        for row in self._execute("finding a batch of deliveries", _runs_query(len(heads)),
                                 values).fetchall():  # at once: a row at a time cost more
            by_patient.setdefault(row.patient_id, []).append(delivery_from_row(row))
        for run in by_patient.values():
            run.sort(key=lambda d: d.sequence)
        runs = []
        for head in heads:
            queue = by_patient.get(head.patient_id, [])
            if not queue or queue[0].id != head.id:
                continue  # the queue moved since its head was read
            runs.append(list(takewhile(lambda d: d.next_attempt_at <= now, queue)))
        return runs

    def announce(self, destinations: Iterable[str]) -> None:
        """Tell the senders listening on PostgreSQL that deliveries to `destinations` may be
        due, once this transaction commits (hub/store/due_signals.py); nothing on SQLite."""
        if self._connection.dialect.name == "postgresql":
            for destination in sorted(set(destinations)):
                self._execute("announcing due deliveries", announcement(destination))

    def release(self, claimed: Collection[Delivery]) -> None:
        """Give back claimed deliveries that were not attempted: due again as they were
        before the claim (their `next_attempt_at` as read), attempts unchanged."""
        if not claimed:
            return
        statement = (update(deliveries)
                     .where(deliveries.c.id == bindparam("released_id"),
                            deliveries.c.state == PENDING)
                     .values(next_attempt_at=bindparam("was_due"), updated_at=utc_now()))
        self._execute("releasing deliveries", statement,
                      [{"released_id": d.id, "was_due": d.next_attempt_at}
                       for d in sorted(claimed, key=lambda d: d.id)])  # id order, as claimed

    def record_unreachable(self, destination: str, now: datetime, error: str,
                           backoff: Callable[[int, datetime], datetime]) -> datetime:
        """A connection attempt to `destination` failed: count it and return when the next one
        is due (`backoff(failures in a row, now)`); nothing to it is due before then."""
        down = unreachable_destinations
        row = self._execute("reading an unreachable destination",
                            select(down.c.failures).where(down.c.destination == destination)
                            ).first()
        failures = 1 if row is None else row.failures + 1
        retry_at = backoff(failures, now)
        values = {"failures": failures, "retry_at": retry_at,
                  "last_error": error[:ERROR_LENGTH], "updated_at": now}
        if row is None:
            self._execute("recording an unreachable destination", insert(down),
                          {"destination": destination, "since": now, **values})
        else:
            self._execute("recording an unreachable destination",
                          update(down).where(down.c.destination == destination).values(**values))
        return retry_at

    def record_reachable(self, destination: str) -> None:
        """A connection to `destination` succeeded: it is no longer backing off."""
        down = unreachable_destinations
        self._execute("clearing an unreachable destination",
                      delete(down).where(down.c.destination == destination))

    def unreachable(self) -> dict[str, dict]:
        """Each destination whose last connection attempt failed: {"since", "failures",
        "retry_at", "last_error"} (the error names the address and the socket's words)."""
        down = unreachable_destinations
        query = select(down.c.destination, down.c.since, down.c.failures, down.c.retry_at,
                       down.c.last_error).order_by(down.c.destination)
        return {row.destination: {"since": row.since, "failures": row.failures,
                                  "retry_at": row.retry_at, "last_error": row.last_error}
                for row in self._execute("reading unreachable destinations", query)}
