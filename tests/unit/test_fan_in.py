"""How `FanInConsumer` waits on members that say what to wait on (`Consumer.waitable`): a pipe
stands for each member's socket, a period for its connection's heartbeat timer. The real
RabbitMQ members are in tests/integration/test_fan_in_waits.py."""
from __future__ import annotations

import os
import time

import pytest

from hub.broker.fan_in import FanInConsumer
from hub.broker.memory import MemoryBroker
from hub.broker.port import Consumer, Delivery, Waitable
from hub.broker.topology import Topology


class PipeMember(Consumer):
    """Hands out one delivery per byte written to its pipe; `every` seconds it is due."""

    def __init__(self, name: str, every: float | None = None) -> None:
        self.name = name
        self._read, self.write = os.pipe()
        os.set_blocking(self._read, False)
        self._every = every
        self._due = time.monotonic() + every if every else None
        self.held: list[Delivery] = []
        self.serviced = 0
        self.sliced = 0
        self._tags = 0

    def _service(self) -> None:
        self.serviced += 1
        if self._due is not None and time.monotonic() >= self._due:
            self._due = time.monotonic() + self._every
        try:
            for _ in os.read(self._read, 100):
                self._tags += 1
                self.held.append(Delivery(tag=self._tags, body=b"x",
                                          message_id=f"{self.name}-{self._tags}", queue=self.name))
        except BlockingIOError:
            pass

    def fetch(self, max_count: int, timeout: float) -> list[Delivery]:
        if timeout:  # a slice of the wait: only when the fan-in cannot wait on every member
            self.sliced += 1
            time.sleep(timeout)
        self._service()
        taken, self.held = self.held[:max_count], self.held[max_count:]
        return taken

    def idle(self, seconds: float) -> None:
        assert seconds == 0.0
        self._service()

    def waitable(self) -> Waitable:
        due = None if self._due is None else max(0.0, self._due - time.monotonic())
        return Waitable(fd=self._read, held=bool(self.held), due=due)

    def ack(self, deliveries: list[Delivery]) -> None:
        pass

    def reject(self, delivery: Delivery, *, requeue: bool) -> None:
        pass

    def close(self) -> None:
        os.close(self._read)
        os.close(self.write)


def fetch_all(fan_in: FanInConsumer, count: int) -> list[Delivery]:
    """What `fan_in` hands out until `count` came (or 5 s passed)."""
    got: list[Delivery] = []
    deadline = time.monotonic() + 5.0
    while len(got) < count and time.monotonic() < deadline:
        got += fan_in.fetch(count - len(got), 0.5)
    return got


@pytest.fixture
def fan_in_of():
    """Makes a FanInConsumer of the members given; closes them after the test."""
    made: list[Consumer] = []

    def make(*members: Consumer) -> FanInConsumer:
        made.extend(members)
        return FanInConsumer(members)

    yield make
    for member in made:
        member.close()


def test_a_write_to_the_last_member_ends_the_wait_and_only_it_is_looked_at(fan_in_of):
    quiet = [PipeMember(f"q{n}") for n in range(16)]
    last = PipeMember("last")
    fan_in = fan_in_of(*quiet, last)
    os.write(last.write, b"ab")
    assert [d.message_id for d in fan_in.fetch(10, 5.0)] == ["last-1", "last-2"]
    assert all(member.serviced == 0 for member in quiet)
    assert last.sliced == 0


def test_an_idle_member_is_serviced_when_due_and_not_in_between(fan_in_of):
    due = PipeMember("due", every=0.2)
    quiet = PipeMember("quiet")
    fan_in = fan_in_of(quiet, due)
    assert fan_in.fetch(10, 1.0) == []
    assert 3 <= due.serviced <= 7  # about once per 0.2 s: its heartbeats go out, nothing spins
    assert quiet.serviced == 0 and due.sliced == 0
    fan_in.idle(0.6)
    assert 5 <= due.serviced <= 12


def test_held_deliveries_come_at_once_but_do_not_wake_an_idle_wait(fan_in_of):
    member = PipeMember("m")
    fan_in = fan_in_of(member, PipeMember("other"))
    os.write(member.write, b"abc")
    assert [d.message_id for d in fan_in.fetch(1, 5.0)] == ["m-1"]
    serviced = member.serviced
    fan_in.idle(0.3)  # two still held: nothing to do until the next fetch
    assert member.serviced == serviced
    assert [d.message_id for d in fan_in.fetch(10, 5.0)] == ["m-2", "m-3"]


def test_a_member_without_a_socket_makes_the_fan_in_wait_in_slices(fan_in_of):
    topology = Topology("t", partitions=2)
    broker = MemoryBroker(topology)
    broker.declare_topology()
    queue = topology.inbound_queues[1]
    pipe = PipeMember("p")
    fan_in = fan_in_of(pipe, broker.open_consumer(queue, prefetch=10))
    assert fan_in.fetch(10, 0.1) == []
    assert pipe.sliced >= 1
    broker.publish_blocking(queue, b"x", message_id="memory", headers={})
    os.write(pipe.write, b"a")
    assert sorted(d.message_id for d in fetch_all(fan_in, 2)) == ["memory", "p-1"]
