"""The queue watchdog on SQLite and PostgreSQL, run directly with a controlled clock: a queue is
flagged when it holds messages and has no consumer, or made no progress for `checks` checks; a
busy queue whose depth stays flat or grows while a real worker files its messages is not."""
import asyncio
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry, Gauge

from hub.broker.memory import MemoryBroker
from hub.broker.port import QueueStats
from hub.broker.topology import Topology
from hub.inbound.intake import Intake, IntakePolicy
from hub.jobs.watchdog import check_queues, stalled_queues
from hub.metrics import Metrics
from hub.mapping.loader import load_mappings
from hub.routing.outcome import RoutingPolicy, decide
from hub.routing.worker import RoutingWorker
from hub.settings import REPO_ROOT
from hub.store.job_store import JobStore
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.dossier_rows import T0

TOPOLOGY = Topology("wd")
INBOUND, DEAD = TOPOLOGY.inbound, TOPOLOGY.dead
STREAM = TOPOLOGY.inbound_stream  # every inbound partition, as the watchdog judges them


@pytest.fixture
def store(engine, keyring):
    return JobStore(engine, keyring)


@pytest.fixture
def gauge():
    return Gauge("hub_queue_stalled", "test", ["queue"], registry=CollectorRegistry())


def flag(gauge, queue: str) -> float:
    """The gauge's value for `queue`, read as a scrape would."""
    [family] = gauge.collect()
    return next(s.value for s in family.samples if s.labels == {"queue": queue})


class ScriptedBroker:
    """Answers queue_stats from a script, one answer per check (the watchdog asks only that)."""

    def __init__(self, answers):
        self._answers = iter(answers)

    def queue_stats(self):
        return {name: QueueStats(depth, consumers)
                for name, (depth, consumers) in next(self._answers).items()}


def test_the_watchdog_flags_queues_without_consumers_or_progress(store, gauge):
    # Queues the store keeps no record of work for: judged by their depth alone.
    broker = ScriptedBroker([
        {"work": (5, 1), "orphan": (3, 0), "busy": (9, 2), "idle": (0, 0)},
        {"work": (5, 1), "orphan": (3, 0), "busy": (4, 2), "idle": (0, 0)},
        {"work": (6, 1), "orphan": (3, 0), "busy": (8, 2), "idle": (0, 0)},
        {"work": (2, 1), "orphan": (0, 0), "busy": (3, 2), "idle": (0, 0)},
    ])
    times = [T0 + timedelta(minutes=i) for i in range(4)]

    def check(i):
        return {v.queue for v in check_queues(store, broker, TOPOLOGY, lambda: times[i], 2,
                                              gauge)}

    assert check(0) == {"orphan"}                       # messages and nobody to take them
    assert check(1) == {"orphan"}                       # work: one check without progress
    assert check(2) == {"orphan", "work"}               # work: two; busy went down, then up once
    assert flag(gauge, "work") == 1
    assert flag(gauge, "busy") == 0
    shown = stalled_queues(store)
    assert set(shown) == {"orphan", "work"}
    assert shown["work"]["since"] == times[2].isoformat() and shown["work"]["depth"] == 6
    assert shown["orphan"]["since"] == times[0].isoformat() and shown["orphan"]["consumers"] == 0
    assert check(3) == set()                            # work and busy went down, orphan emptied
    assert stalled_queues(store) == {}
    assert flag(gauge, "work") == 0


def receive(broker: MemoryBroker, first: int, count: int) -> None:
    """Frames through the real intake (sniff, publish, ACK), as the listener takes them."""
    async def run() -> None:
        policy = IntakePolicy(supported_versions=frozenset({"2.5"}), identity_exempt=frozenset(),
                              authorities=frozenset())
        intake = Intake(await broker.open_publisher(), INBOUND, policy, Metrics())
        for n in range(first, first + count):
            await intake.handle(encoded(oru_r01(patient(n), f"W-{n}", n_obx=1)), "127.0.0.1:9")
    asyncio.run(run())


def test_a_busy_inbound_queue_is_judged_by_the_work_filed_not_its_depth(store, gauge,
                                                                       uow_factory):
    broker = MemoryBroker(TOPOLOGY)
    broker.declare_topology()
    mappings, policy = load_mappings(REPO_ROOT / "mappings"), RoutingPolicy()
    worker = RoutingWorker(broker, TOPOLOGY, uow_factory, mappings, policy, Metrics(),
                           batch_size=3, batch_wait=0.0)

    def decide_one(delivery):  # what the worker's own loop decides each inbound delivery with
        return decide(delivery, mappings, policy)
    inbound = broker.open_partition_consumer(TOPOLOGY.inbound_queues, prefetch=3)
    times = iter(T0 + timedelta(minutes=i) for i in range(20))
    sent = 0

    def send(count):
        nonlocal sent
        receive(broker, sent + 1, count)
        sent += count

    def check():
        stalled = {v.queue for v in check_queues(store, broker, TOPOLOGY, lambda: next(times),
                                                 2, gauge)}
        return stalled, broker.queue_stats()[INBOUND].depth

    send(6)
    assert check() == (set(), 6)
    for depth in (7, 8, 9, 10):        # heavy load: 3 filed and 4 more received between checks
        assert worker.work_once(inbound, decide_one) == 3
        send(4)
        assert check() == (set(), depth)
    with uow_factory() as uow:
        assert uow.messages.count_by_state()["stored"] == 12

    # The worker stops filing while its consumer stays: flagged after two checks, not before.
    send(1)
    assert check() == (set(), 11)
    assert check() == ({STREAM}, 11)
    assert flag(gauge, STREAM) == 1
    assert stalled_queues(store)[STREAM]["consumers"] == 1

    # Filing again clears it, though the depth did not go down.
    assert worker.work_once(inbound, decide_one) == 3
    send(3)
    assert check() == (set(), 11)
    assert flag(gauge, STREAM) == 0

    # Without a consumer a queue with messages is flagged at once, whatever was filed.
    inbound.close()
    broker.publish_blocking(DEAD, b"dead", message_id="d1", headers={})
    assert check() == ({STREAM, DEAD}, 11)
    assert stalled_queues(store)[DEAD]["consumers"] == 0
