"""CPU per message of a real routing worker process (`hub serve --role worker`), consume path
included: what bench/worker_cpu.py leaves out (pika reading and dispatching deliveries, acks,
the fan-in over the inbound partitions, batching, the loop). The difference between the two
figures is the consume path's cost.

Each run starts a fresh worker and waits until it consumes every inbound partition, then stops
it (SIGSTOP) while a `hub serve --role listener` takes --messages 10-OBX ORU^R01s over MLLP
and publishes them to the partitions, so that they are all waiting when the worker resumes
(SIGCONT), as under a backlog: full batches. The worker's user+system CPU (/proc/PID/stat) from
the resume until every message is filed (rows in the messages table), ÷ messages, is printed
per run and as the median of --runs. No sender runs: deliveries stay due. With several --code
checkouts (e.g. the commit before a change, extracted with `git archive`) the runs alternate
between them, so each comparison is made back to back on a shared, noisy machine.

    .venv/bin/python bench/worker_process.py [--messages 3000] [--runs 3] [--code DIR ...]
        [--py-spy PATH-TO-PY-SPY --profile FILE]

--py-spy records where the worker spends the measured interval (py-spy, installed apart: it is
a tool, not a dependency) into FILE.N (collapsed stacks) for run N.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select  # noqa: E402

from bench._procs import mllp_for, tree_cpu  # noqa: E402
from bench.end_to_end import (DEFAULT_PG_URL, Recipient, bodies, fresh_postgres,  # noqa: E402
                              set_up)
from bench.idle_cpu import SETTLE_SECONDS, consuming  # noqa: E402
from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from hub.store import tables  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, REPO, HubEnv  # noqa: E402

FILE_TIMEOUT = 300.0


def filed(engine) -> int:
    with engine.connect() as c:
        return c.execute(select(func.count()).select_from(tables.messages)).scalar_one()


def process_run(env: HubEnv, engine, code: Path, parts, messages: int, senders: int,
                tag: str, spy: list[str] | None = None) -> tuple[float, float]:
    """(worker CPU µs per message, seconds to file them) for a fresh worker running `code`."""
    topology = Topology(env.namespace)
    broker = RabbitBroker(env.env["HUB_BROKER_URL"], topology)
    worker = env.start("worker", cwd=code)
    try:
        if not env.wait_until(lambda: worker.poll() is None and consuming(broker, topology),
                              timeout=60):
            raise RuntimeError(f"the worker did not start consuming\n{env.logs()[-2000:]}")
        time.sleep(SETTLE_SECONDS)
        before = filed(engine)
        worker.send_signal(signal.SIGSTOP)
        try:
            _, latencies = mllp_for(env.mllp_port, parts, senders, 3600.0, tag, limit=messages)
            recorder = subprocess.Popen([*spy, "--pid", str(worker.pid)]) if spy else None
            if recorder:
                time.sleep(1.0)  # py-spy attached
            cpu = tree_cpu([worker.pid])
            start = time.perf_counter()
        finally:
            worker.send_signal(signal.SIGCONT)
        sent = len(latencies)
        if not env.wait_until(lambda: filed(engine) >= before + sent, timeout=FILE_TIMEOUT,
                              every=0.02):
            raise RuntimeError(f"not filed in {FILE_TIMEOUT:.0f} s\n{env.logs()[-2000:]}")
        seconds = time.perf_counter() - start
        used = tree_cpu([worker.pid]) - cpu
        if recorder:
            recorder.send_signal(signal.SIGINT)
            recorder.wait(timeout=60)
        return used / sent * 1e6, seconds
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
        env.processes.remove(worker)
        broker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=3000, help="messages per run")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--senders", type=int, default=8, help="concurrent MLLP senders")
    parser.add_argument("--patients", type=int, default=8, help="synthetic patients cycled over")
    parser.add_argument("--code", type=Path, action="append",
                        help="checkout whose hub the worker runs (repeatable; default: this one)")
    parser.add_argument("--py-spy", help="path of a py-spy executable, to profile each run")
    parser.add_argument("--profile", default="worker.stacks", help="py-spy's output: FILE.N")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    parser.add_argument("--pg-url", default=os.environ.get("HUB_TEST_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args()
    codes = [path.resolve() for path in args.code or [REPO]]
    results: dict[Path, list[float]] = {code: [] for code in codes}
    parts = bodies(args.patients)
    run_id = uuid.uuid4().hex[:6]
    recipient = Recipient()
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.pg_url) as database_url:
        env = HubEnv(Path(tmp), database_url, broker_url=args.amqp_url)
        broker = RabbitBroker(args.amqp_url, Topology(env.namespace))
        engine = create_engine(database_url)
        try:
            set_up(env, recipient, args.patients)
            env.start("listener")
            for run in range(args.runs):
                for n, code in enumerate(codes):
                    spy = [args.py_spy, "record", "--nonblocking", "--format", "raw", "--rate", "250",
                           "--output",
                           f"{args.profile}.{run}{n}"] if args.py_spy else None
                    us, seconds = process_run(env, engine, code, parts, args.messages,
                                              args.senders, f"P{run_id}{run}{n}-", spy)
                    results[code].append(us)
                    print(f"run {run + 1} {code}: worker {us:.0f} µs/msg, filed in "
                          f"{seconds:.1f} s", flush=True)
        finally:
            env.stop_all()
            recipient.close()
            engine.dispose()
            broker.purge_topology()
            broker.close()
    for code, figures in results.items():
        print(f"median worker process CPU, {args.messages} messages, {args.runs} runs, {code}: "
              f"{statistics.median(figures):.0f} µs/msg")


if __name__ == "__main__":
    main()
