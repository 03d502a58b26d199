"""End-to-end benchmark: MLLP in → parsed, mapped, encrypted, stored in PostgreSQL → consent →
delivered to a recipient that ACKs, in sustained runs, with each role's CPU per message,
against DESIGN.md's goal (1,000 ORU^R01/s sustained, ACK p99 under 20 ms at 8 senders) and
issue 16's CPU goals (listener ≤ 150 µs, worker ≤ 300 µs, sender ≤ 150 µs per 10-OBX ORU).

The hub runs as separate processes, as `hub serve` will by default: `hub serve --role
listener`, N × `--role worker`, `--role sender` (`--one-process` runs `--role all` instead),
on RabbitMQ and a PostgreSQL database of its own (created and dropped here), a throwaway
namespace and key file. It routes 1.5 KB ORU^R01s (10 OBX) whose ordering provider is a
registered doctor every synthetic patient granted, to a fake recipient answering AA in a
process of its own. Each run, 8 raw MLLP senders (bench/_procs.py: cheap, so they do not steal
the hub's CPU) send for `--seconds`; the run ends when the recipient has received every
message sent. Printed per run and as medians: ACK msg/s, p50/p99, delivered/s (messages ÷
seconds from the first send until the recipient got the last), and per role the CPU µs per
message: user+system time (/proc/PID/stat, the role's processes and their children) from the
first send until the last delivery, ÷ messages; beside them the fake recipient's and, as whole
servers, PostgreSQL's and RabbitMQ's (anyone else's work on them included: read them on a quiet
machine), and their sum, which says how many messages a second the cores allow at best (the
senders, in this process, are left out). The baseline, measured in each run with the
same senders for as long, is the ingest-only rate of another `hub serve --role listener`
(MLLP → confirmed publish → ACK, what bench/ingest.py measures): nothing behind the listener
goes faster, so delivered/s ÷ ingest msg/s is the share of the intake the pipeline sustains.
With `--workers 1,2` the runs are made with 1 worker process, then a second is started and
they are made again. Medians, after a warm-up, because the machine is shared and noisy.

    .venv/bin/python bench/end_to_end.py [--workers 1,2] [--seconds 10] [--runs 3]
        [--senders 8] [--patients 8] [--worker-threads N] [--outbound-interval S]
        [--connections N] [--vacuum]
    .venv/bin/python bench/end_to_end.py --one-process --runs 3      # hub serve --role all
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench._procs import CpuMeter, mllp_for, server_pids, summarise, templates  # noqa: E402
from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from hub.registry.csv_import import HEADER  # noqa: E402
from hub.store import tables  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv  # noqa: E402
from tests.fixtures.messages import encoded, oru_r01, patient  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DOCTOR = "234561-07"  # invented; the registry's NNNNNN-NN form
WARM_UP_SECONDS = 2.0
SETTLE_TIMEOUT = 600.0
@contextlib.contextmanager
def fresh_postgres(base_url: str):
    """Yield the URL of a new, empty PostgreSQL database; dropped on exit."""
    base = make_url(base_url)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"hub_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _recipient(ports, count, stop) -> None:
    """Child process: a FakeRecipient answering AA, counting what it received in `count`."""
    from tests.fixtures.fake_recipient import FakeRecipient, Reply

    def respond(n: int, payload: bytes) -> Reply:
        with count.get_lock():
            count.value += 1
        return Reply()

    recipient = FakeRecipient(respond)
    ports.put(recipient.start())
    stop.wait()
    recipient.stop()


class Recipient:
    """The fake recipient in a process of its own, so its ACKs never wait for the bench's GIL."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.count = ctx.Value("q", 0)
        self._stop = ctx.Event()
        ports = ctx.Queue()
        self._process = ctx.Process(target=_recipient, args=(ports, self.count, self._stop))
        self._process.start()
        self.port = ports.get(timeout=30)
        self.pid = self._process.pid

    def received(self) -> int:
        return self.count.value

    def close(self) -> None:
        self._stop.set()
        self._process.join(timeout=10)


def wait_delivered(recipient: Recipient, target: int, start: float) -> float:
    """Seconds from `start` until the recipient has received `target` messages in all."""
    deadline = time.perf_counter() + SETTLE_TIMEOUT
    while (got := recipient.received()) < target:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"after {SETTLE_TIMEOUT:.0f} s: {got}/{target} delivered")
        time.sleep(0.01)
    return time.perf_counter() - start


def bodies(patients: int) -> list[tuple[bytes, ...]]:
    orderer = f"{DOCTOR}^Bench^Doc"
    return templates(lambda i, mark: encoded(oru_r01(patient(i % patients), mark, n_obx=10,
                                                     orderer=orderer)), patients)


def set_up(env: HubEnv, recipient: Recipient, patients: int) -> None:
    """Create the database (`hub db upgrade`, as `hub serve` would: no other command creates
    one), register the doctor with the recipient as destination; every patient grants them."""
    env.create_database()
    registry = env.tmp_path / "professionals.csv"
    with registry.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerow((DOCTOR, "Bench", "Doc", "GP", "active", "127.0.0.1", recipient.port,
                         "EMR", "CAB"))
    env.hub("professionals", "import", str(registry))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: env.hub("consent", "grant", patient(n).matricule, DOCTOR),
                      range(patients)))


def e2e_run(env: HubEnv, recipient: Recipient, meter: CpuMeter, parts, senders: int,
            seconds: float, tag: str) -> dict:
    delivered0 = recipient.received()
    meter.start()
    start = time.perf_counter()
    elapsed, latencies = mllp_for(env.mllp_port, parts, senders, seconds, tag)
    n = len(latencies)
    t_delivered = wait_delivered(recipient, delivered0 + n, start)
    meter.stop()
    rate, p50, p99 = summarise(elapsed, latencies)
    return {"sent": n, "ack/s": rate, "p50": p50, "p99": p99, "deliv s": t_delivered,
            "deliv/s": n / t_delivered, **{f"{role} µs": us for role, us
                                           in meter.per_message_us(n).items()}}


def vacuum(database_url: str) -> None:
    """What autovacuum would have done by now: the dead row versions of sent deliveries
    reclaimed, the tables' statistics read (this project's test server runs without it)."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


def stored(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        m = tables.messages
        with engine.connect() as c:
            return c.execute(select(func.count()).select_from(m)
                             .where(m.c.state == "stored")).scalar_one()
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2",
                        help="worker process counts to measure, ascending, e.g. 1,2")
    parser.add_argument("--one-process", action="store_true",
                        help="one `hub serve --role all` process instead of one per role")
    parser.add_argument("--seconds", type=float, default=10.0, help="sending time per run")
    parser.add_argument("--senders", type=int, default=8, help="concurrent MLLP senders")
    parser.add_argument("--runs", type=int, default=3, help="runs per worker count")
    parser.add_argument("--patients", type=int, default=8, help="synthetic patients cycled over")
    parser.add_argument("--worker-threads", type=int, help="HUB_WORKER__THREADS (default: config)")
    parser.add_argument("--outbound-interval", type=float,
                        help="HUB_OUTBOUND__INTERVAL seconds (default: config)")
    parser.add_argument("--connections", type=int,
                        help="HUB_OUTBOUND__CONNECTIONS to the recipient (default: config)")
    parser.add_argument("--vacuum", action="store_true",
                        help="VACUUM ANALYZE the hub's database before each run, outside the "
                             "measured time (what autovacuum does, where the server has it on)")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    parser.add_argument("--pg-url", default=os.environ.get("HUB_TEST_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args()
    counts = [1] if args.one_process else sorted({int(n) for n in args.workers.split(",")})
    if counts[0] < 1:
        parser.error("--workers: counts of at least 1")

    extra = {}
    if args.worker_threads is not None:
        extra["HUB_WORKER__THREADS"] = str(args.worker_threads)
    if args.outbound_interval is not None:
        extra["HUB_OUTBOUND__INTERVAL"] = str(args.outbound_interval)
    if args.connections is not None:
        extra["HUB_OUTBOUND__CONNECTIONS"] = str(args.connections)
    parts = bodies(args.patients)
    size = len(b"X".join(parts[0])) - 3
    print(f"message: ORU^R01 10 OBX, {size} bytes; {args.senders} senders for {args.seconds:g} s "
          f"a run, {args.patients} patients, median of {args.runs} runs; settings: "
          f"{' '.join(f'{k}={v}' for k, v in extra.items()) or 'shipped defaults'}; hub: "
          f"{'--role all' if args.one_process else 'listener, N workers, sender processes'}"
          f"{'; VACUUM ANALYZE before each run' if args.vacuum else ''}")
    recipient = Recipient()
    run_id = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.pg_url) as database_url:
        (Path(tmp) / "e2e").mkdir()
        (Path(tmp) / "ingest").mkdir()
        env = HubEnv(Path(tmp) / "e2e", database_url, broker_url=args.amqp_url)
        env.env.update(extra)
        baseline = HubEnv(Path(tmp) / "ingest", f"sqlite:///{tmp}/ingest/hub.db",
                          broker_url=args.amqp_url)
        brokers = [RabbitBroker(args.amqp_url, Topology(e.namespace)) for e in (env, baseline)]
        try:
            set_up(env, recipient, args.patients)
            roles: dict[str, list[int]] = {}
            if args.one_process:
                roles["all"] = [env.start("all").pid]
            else:
                roles["listener"] = [env.start("listener").pid]
                roles["worker"] = []
                roles["sender"] = [env.start("sender").pid]
            roles["recipient"] = [recipient.pid]
            roles.update(server_pids(database_url))
            base_meter = CpuMeter({"listener": [baseline.start("listener").pid]})
            results = []
            for workers in counts:
                while not args.one_process and len(roles["worker"]) < workers:
                    roles["worker"].append(env.start("worker").pid)
                meter = CpuMeter(roles)
                e2e_run(env, recipient, meter, parts, args.senders, WARM_UP_SECONDS,
                        f"W{run_id}{workers}-")
                runs, ingest = [], []
                for run in range(args.runs):
                    base_meter.start()
                    seconds, latencies = mllp_for(baseline.mllp_port, parts, args.senders,
                                                  args.seconds, f"I{run_id}{workers}{run}-")
                    base_meter.stop()
                    ingest.append((*summarise(seconds, latencies),
                                   base_meter.per_message_us(len(latencies))["listener"]))
                    brokers[1].purge_topology()
                    brokers[1].declare_topology()
                    if args.vacuum:
                        vacuum(database_url)
                    runs.append(e2e_run(env, recipient, meter, parts, args.senders, args.seconds,
                                        f"E{run_id}{workers}{run}-"))
                    print(f"{workers} worker(s) run {run + 1}: "
                          + "  ".join(f"{k} {v:.0f}" if v >= 100 else f"{k} {v:.2f}"
                                      for k, v in runs[-1].items())
                          + f"  | ingest-only {ingest[-1][0]:.0f}/s p99 {ingest[-1][2]:.2f} ms "
                          f"listener {ingest[-1][3]:.0f} µs", flush=True)
                results.append((workers, runs, ingest))
            total = recipient.received()
            print(f"recipient received {total}; messages stored {stored(database_url)}")
            report(results, args.one_process)
        finally:
            env.stop_all()
            baseline.stop_all()
            recipient.close()
            for broker in brokers:
                broker.purge_topology()
                broker.close()


def report(results: list[tuple[int, list[dict], list[tuple]]], one_process: bool) -> None:
    """The medians beside the ingest-only baseline, and the goals' verdicts."""
    print("\nmedians      ack msg/s  p50 ms  p99 ms  delivered/s  ratio  CPU µs/msg by role")
    for workers, runs, ingest in results:
        e2e = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        base = [statistics.median(col) for col in zip(*ingest)]
        cpu = "  ".join(f"{k[:-3]} {v:.0f}" for k, v in e2e.items() if k.endswith(" µs"))
        label = "one process" if one_process else f"{workers} worker{'s' if workers > 1 else ''}"
        print(f"{label:<11}  {e2e['ack/s']:>9.0f}  {e2e['p50']:>6.2f}  {e2e['p99']:>6.2f}  "
              f"{e2e['deliv/s']:>11.0f}  {e2e['deliv/s'] / base[0]:>5.2f}  {cpu}")
        print(f"{'ingest-only':<11}  {base[0]:>9.0f}  {base[1]:>6.2f}  {base[2]:>6.2f}  "
              f"{'':>11}  {'':>5}  listener {base[3]:.0f}")
        spent = sum(v for k, v in e2e.items() if k.endswith(" µs"))
        print(f"{'':<11}  all of it {spent:.0f} µs a message: {os.cpu_count()} cores allow at "
              f"most {os.cpu_count() * 1e6 / spent:.0f} delivered/s")
        rate_ok, p99_ok = e2e["deliv/s"] >= 1000, e2e["p99"] < 20
        goals = {"listener": 150, "worker": 300, "sender": 150}
        cpu_verdict = ", ".join(f"{role} <= {goal} {'met' if e2e[role + ' µs'] <= goal else 'MISSED'}"
                                for role, goal in goals.items() if role + " µs" in e2e)
        print(f"goals: >= 1000 delivered/s {'met' if rate_ok else 'MISSED'} "
              f"({e2e['deliv/s']:.0f}); ACK p99 < 20 ms {'met' if p99_ok else 'MISSED'} "
              f"({e2e['p99']:.2f}){'; ' + cpu_verdict if cpu_verdict else ''}")


if __name__ == "__main__":
    main()
