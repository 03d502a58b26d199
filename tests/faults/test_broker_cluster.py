"""The hub on a 3-node RabbitMQ cluster of its own while 8 senders send 5,000 ORU^R01: the node
that leads the inbound queue(s) is stopped (`stop_app`), started again, then the node leading
them after that is killed with -9. Every AA'd message is stored exactly once, none is lost or
parked, and the ledger reports how long the hub went without ACKing.

Why this order: a quorum queue of 3 members needs 2 to work. Stopping one node leaves 2; had a
second gone before the first was back, the queues would have no majority and the hub could
only answer AE until an operator acted, which proves nothing about the hub. So the stopped node
is started again and only then is another killed. The one killed is the new leader (the node the
first fault moved the queues to): a crash of the leader, with no clean hand-over, is the harder
case, and the node just restarted is then one of the two members that must carry on.

A stopped or killed node refuses connections: the listener's publisher and the workers'
consumers reconnect to the next node of HUB_BROKER_URL; publishes in flight get no confirm,
their messages are answered AE and the senders resend them with the same MSH-10 and bytes.
"""
from __future__ import annotations

import collections
import re
import time
import uuid
from dataclasses import dataclass, field

import pytest

from tests.fixtures.databases import fresh_database
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.kills import join_all, numbered_frames, start_senders
from tests.fixtures.ledger import Ledger, StoreCount, poll
from tests.fixtures.rabbit_cluster import RabbitCluster

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

SENDERS = 8
PER_SENDER = 625          # 5,000 in all
PACE_S = 0.08             # sending lasts ~60 s: both faults land mid-run even on a loaded machine
AA_AFTER_FAULT = 100      # AAs that show the hub works again after a fault
RECOVER_TIMEOUT_S = 90.0
SETTLE_TIMEOUT_S = 180.0


@dataclass
class TimedLedger(Ledger):
    """A ledger that also notes when each AA came, for the longest time without one."""

    aa_times: list[float] = field(default_factory=list)

    def note(self, control_id: str, answer: str) -> None:
        super().note(control_id, answer)
        if answer == "AA":
            with self.lock:
                self.aa_times.append(time.monotonic())

    def aa_since(self, moment: float) -> int:
        with self.lock:
            return sum(1 for t in self.aa_times if t > moment)

    def first_aa_after(self, moment: float) -> float | None:
        with self.lock:
            return min((t for t in self.aa_times if t > moment), default=None)

    def longest_gap(self) -> float:
        """The longest time between two consecutive AAs (any sender) while the run lasted."""
        with self.lock:
            times = sorted(self.aa_times)
        return max((b - a for a, b in zip(times, times[1:])), default=0.0)


@pytest.fixture
def cluster():
    nodes = RabbitCluster(3)
    try:
        nodes.start()
        yield nodes
    finally:
        nodes.destroy()


@pytest.fixture
def env(tmp_path, cluster):
    """A hub on a database of its own (the shared PostgreSQL) and the private cluster."""
    with fresh_database("postgres", tmp_path) as database_url:
        hub = HubEnv(tmp_path, database_url, broker_url=cluster.url)
        hub.env["HUB_MLLP__PUBLISH_TIMEOUT"] = "2"
        try:
            yield hub
        finally:
            hub.stop_all()


def test_cluster_node_stopped_then_leader_killed_loses_and_doubles_nothing(env, cluster, fault_report):
    prefix = f"CLUS-{uuid.uuid4().hex[:6]}-"
    inbound_prefix = f"{env.namespace}.inbound"  # one inbound queue, or its partitions .NN
    env.start("listener")
    env.start("worker")
    env.start("worker")
    queues = cluster.queues(inbound_prefix)
    assert queues and all(len(q["members"]) == 3 for q in queues), f"not replicated on 3: {queues}"

    ledger = TimedLedger()
    store = StoreCount(env.env["HUB_DATABASE_URL"], prefix)
    try:
        senders = start_senders(env.mllp_port, numbered_frames(prefix, SENDERS, PER_SENDER),
                                ledger, pace=PACE_S, timeout=10.0, max_tries=200)
        assert poll(lambda: ledger.aa_since(0) >= AA_AFTER_FAULT, timeout=RECOVER_TIMEOUT_S), \
            f"the hub never ACKed on the healthy cluster: {ledger.counts()}"

        # 1. stop_app on the node that leads (most of) the inbound queues; start it once the hub
        #    ACKs again without it.
        stopped = cluster.node(_main_leader(cluster, inbound_prefix))
        stopped_at = time.monotonic()
        stopped.stop_app()
        back_after_stop = poll(lambda: ledger.aa_since(stopped_at + 0.5) >= AA_AFTER_FAULT,
                               timeout=RECOVER_TIMEOUT_S, every=0.2)
        stopped.start_app()

        # 2. kill -9 the node that leads the inbound queues now (never the one just restarted).
        leader_now = _main_leader(cluster, inbound_prefix)
        killed = cluster.node(leader_now if leader_now != stopped.node
                              else next(n.node for n in cluster.nodes if n is not stopped))
        aa_before_kill = ledger.aa_since(0)
        killed_at = time.monotonic()
        killed.kill9()
        back_after_kill = poll(lambda: ledger.aa_since(killed_at + 0.5) >= AA_AFTER_FAULT,
                               timeout=RECOVER_TIMEOUT_S, every=0.2)

        assert join_all(senders, timeout=600), f"senders still running: {ledger.counts()}"
        acked = ledger.acked()
        settled = poll(lambda: store.tally(acked)["lost"] == 0, timeout=SETTLE_TIMEOUT_S)
        time.sleep(2)  # anything still moving (a double, a park) shows by now
        tally = store.tally(acked)
        reasons = store.parked_reasons()
        leaders_after = collections.Counter(cluster.leaders(inbound_prefix).values())
    finally:
        store.close()

    first_after_stop = ledger.first_aa_after(stopped_at)
    first_after_kill = ledger.first_aa_after(killed_at)
    counts = {**ledger.counts(), **tally,
              "aa_before_kill9": aa_before_kill,
              "no_aa_after_stop_app_s": round(first_after_stop - stopped_at, 2) if first_after_stop else None,
              "no_aa_after_kill9_s": round(first_after_kill - killed_at, 2) if first_after_kill else None,
              "longest_without_aa_s": round(ledger.longest_gap(), 2),
              "inbound_leaders_after": [_position(cluster, n) for n in leaders_after],
              "stopped_node": _position(cluster, stopped.node),
              "killed_node": _position(cluster, killed.node),
              **_connections(env, cluster)}
    fault_report("3-node cluster: leader stop_app, then new leader kill -9", counts)

    assert back_after_stop, f"no ACKs after the leader's stop_app: {counts}"
    assert back_after_kill, f"no ACKs after the leader's kill -9: {counts}"
    assert aa_before_kill < SENDERS * PER_SENDER, f"the kill came after the sending ended: {counts}"
    assert killed is not stopped and not killed.running(), counts
    assert counts["aa"] == counts["sent"] == SENDERS * PER_SENDER, counts
    assert settled, counts
    assert (tally["lost"], tally["doubled"], tally["healthy_parked"]) == (0, 0, 0), \
        f"{counts}; parked for {dict(reasons)}"
    assert tally["stored"] == SENDERS * PER_SENDER, counts


def _main_leader(cluster: RabbitCluster, prefix: str) -> str:
    """The node that leads the most queues named `prefix...` (all of them, with one queue)."""
    leaders = collections.Counter(cluster.leaders(prefix).values())
    assert leaders, f"no queue named {prefix}*"
    return leaders.most_common(1)[0][0]


def _position(cluster: RabbitCluster, name: str) -> int:
    """A node by its place in HUB_BROKER_URL (1, 2, 3): what the report and the logs can share."""
    return 1 + [node.node for node in cluster.nodes].index(name)


def _connections(env: HubEnv, cluster: RabbitCluster) -> dict[str, list[int]]:
    """The nodes (by place) the listener's publisher and the workers' consumers connected to, in
    the order of the log lines that say so: more than one means a connection moved."""
    places = {f"127.0.0.1:{node.port}": n for n, node in enumerate(cluster.nodes, 1)}
    said = {"publisher_nodes": [], "consumer_nodes": []}
    for process_log in (path.read_text(errors="replace") for path in env.log_paths):
        for match in re.finditer(r"publisher connected to (\S+)", process_log):
            said["publisher_nodes"].append(places.get(match.group(1), 0))
        for match in re.finditer(r"consuming \S+\.inbound\S* on RabbitMQ node (\S+)", process_log):
            said["consumer_nodes"].append(places.get(match.group(1), 0))
    return said
