"""CPU an idle routing worker burns (issue 16): one `hub serve --role worker` against the local
RabbitMQ and a throwaway PostgreSQL database, as bench/end_to_end.py starts it, with nothing to
route. An idle worker should sleep on its sockets, not poll its partitions.

Each run starts a fresh worker, waits until it consumes every inbound partition plus a settling
pause, then reads its user+system CPU (/proc/PID/stat, with its children) over --seconds and
prints it as % of one core; the median of --runs runs. With several --code checkouts (e.g. the
commit before a change, extracted with `git archive`, and this one) the runs alternate between
them, so that each comparison is made back to back on a shared, noisy machine.

    .venv/bin/python bench/idle_cpu.py [--seconds 20] [--runs 3] [--code DIR ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._procs import tree_cpu  # noqa: E402
from bench.end_to_end import DEFAULT_PG_URL, fresh_postgres  # noqa: E402
from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, REPO, HubEnv  # noqa: E402

SETTLE_SECONDS = 3.0  # after the worker consumes every partition: start-up work is done


def consuming(broker: RabbitBroker, topology: Topology) -> bool:
    stats = broker.queue_stats()
    return all(stats[queue].consumers >= 1 for queue in topology.inbound_queues)


def idle_run(env: HubEnv, code: Path, seconds: float) -> float:
    """% of one core a fresh worker running `code` (`python -m` imports hub from its cwd) uses."""
    topology = Topology(env.namespace)
    broker = RabbitBroker(env.env["HUB_BROKER_URL"], topology)
    worker = env.start("worker", cwd=code)
    try:
        if not env.wait_until(lambda: worker.poll() is None and consuming(broker, topology),
                              timeout=60):
            raise RuntimeError(f"the worker did not start consuming\n{env.logs()[-2000:]}")
        time.sleep(SETTLE_SECONDS)
        before = tree_cpu([worker.pid])
        time.sleep(seconds)
        used = tree_cpu([worker.pid]) - before
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited\n{env.logs()[-2000:]}")
        return 100.0 * used / seconds
    finally:
        env.stop_all()
        env.processes.clear()
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured idle time per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--code", type=Path, action="append",
                        help="checkout whose hub the worker runs (repeatable; default: this one)")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    parser.add_argument("--pg-url", default=os.environ.get("HUB_TEST_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args()
    codes = [path.resolve() for path in args.code or [REPO]]
    results: dict[Path, list[float]] = {code: [] for code in codes}
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.pg_url) as database_url:
        env = HubEnv(Path(tmp), database_url, broker_url=args.amqp_url)
        env.create_database()
        broker = RabbitBroker(args.amqp_url, Topology(env.namespace))
        try:
            for run in range(args.runs):
                for code in codes:
                    results[code].append(idle_run(env, code, args.seconds))
                    print(f"run {run + 1} {code}: {results[code][-1]:.2f} % of a core", flush=True)
        finally:
            broker.purge_topology()
            broker.close()
    for code, percents in results.items():
        print(f"median idle worker CPU over {args.seconds:g} s, {args.runs} runs, {code}: "
              f"{statistics.median(percents):.2f} % of a core")


if __name__ == "__main__":
    main()
