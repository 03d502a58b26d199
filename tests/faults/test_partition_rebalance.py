"""A second worker joins while messages flow: the first hands it half the partitions (by
dropping their connections as a crash would, hub/routing/partition_balance.py) and no
patient's messages are filed out of order, none lost or doubled."""
from __future__ import annotations

import threading
import uuid

from sqlalchemy import create_engine

from tests.faults.test_partitioned_order import (
    SENDER_THREADS, _lease_owners, env, filed_out_of_order, interleaved,
)
from tests.fixtures.kills import join_all
from tests.fixtures.ledger import Ledger, StoreCount, poll, send_numbered

__all__ = ["env"]  # the fixture, shared with the acceptance test


def test_a_joining_worker_takes_half_the_partitions_without_reordering(env):
    prefix = f"PJOIN-{uuid.uuid4().hex[:6]}-"
    env.create_database()
    env.start("listener")
    # A small prefetch and one message per transaction: a backlog waits ready in the
    # partitions while the first worker holds a few unacked, which is when a careless
    # hand-over (an AMQP close) would let the newcomer file later messages first.
    env.start("worker", HUB_WORKER__PREFETCH="2", HUB_WORKER__BATCH_SIZE="1")
    engine = create_engine(env.env["HUB_DATABASE_URL"])
    store = StoreCount(env.env["HUB_DATABASE_URL"], prefix)
    ledger = Ledger()
    try:
        assert poll(lambda: _lease_owners(engine) == 1, timeout=60)
        threads = [threading.Thread(target=send_numbered, args=(env.mllp_port,
                                    interleaved(prefix, k), ledger),
                                    kwargs={"timeout": 10.0}, daemon=True)
                   for k in range(SENDER_THREADS)]
        for thread in threads:
            thread.start()
        assert poll(lambda: len(ledger.acked()) >= 40, timeout=120, every=0.1)
        env.start("worker")  # joins mid-run
        assert poll(lambda: _lease_owners(engine) == 2, timeout=60), _lease_owners(engine)
        assert join_all(threads, timeout=300), f"senders still running: {ledger.counts()}"
        acked = ledger.acked()
        assert poll(lambda: store.tally(acked)["lost"] == 0, timeout=120), store.tally(acked)
        tally = store.tally(acked)
        assert (tally["doubled"], tally["healthy_parked"]) == (0, 0), tally
        assert filed_out_of_order(engine, prefix) == {}
        assert "deadlock" not in env.logs().lower()
    finally:
        store.close()
        engine.dispose()
