"""Workers share the inbound partitions through leases (hub/routing/partition_balance.py), on
SQLite and PostgreSQL: a fair share each, an excess given up when a worker joins, the share of
a worker that stops or dies taken up again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from hub.routing.partition_balance import PartitionBalancer
from hub.store.partition_leases import PartitionLeases


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def leases(engine) -> PartitionLeases:
    return PartitionLeases(engine)


def test_one_worker_takes_every_partition_and_a_second_gets_half(leases):
    clock = Clock()
    a = PartitionBalancer(leases, 17, clock, owner="a" * 32)
    assert len(a.look().leased) == 17
    b = PartitionBalancer(leases, 17, clock, owner="b" * 32)
    assert b.look().leased == frozenset()  # nothing free yet: a holds all
    given = a.look()
    assert len(given.leased) == 9 and len(given.hand_over) == 8
    took = b.look()
    assert took.leased == given.hand_over
    assert not given.leased & took.leased


def test_a_worker_passes_on_a_partition_another_leases(leases):
    clock = Clock()
    a = PartitionBalancer(leases, 4, clock, owner="a" * 32)
    b = PartitionBalancer(leases, 4, clock, owner="b" * 32)
    a.look()
    b.look()
    a.look()  # a sees two workers and gives up its excess
    b_has = b.look().leased
    assert len(b_has) == 2
    # a was handed messages from one of b's partitions (the broker made it active there)
    assert a.look(active={min(b_has)}).hand_over == {min(b_has)}


def test_the_share_of_a_dead_worker_is_taken_up_after_its_leases_expire(leases):
    clock = Clock()
    a = PartitionBalancer(leases, 6, clock, owner="a" * 32, ttl=10)
    b = PartitionBalancer(leases, 6, clock, owner="b" * 32, ttl=10)
    a.look(), b.look(), a.look(), b.look()
    assert len(a.look().leased) == 3
    clock.now += timedelta(seconds=11)  # b stopped heartbeating (killed)
    assert len(a.look().leased) == 6


def test_a_worker_that_stops_gives_its_share_back_at_once(leases):
    clock = Clock()
    a = PartitionBalancer(leases, 6, clock, owner="a" * 32)
    b = PartitionBalancer(leases, 6, clock, owner="b" * 32)
    a.look(), b.look(), a.look(), b.look()
    b.retire()
    assert len(a.look().leased) == 6
