"""End-to-end benchmark: MLLP in → parsed, mapped, encrypted, stored in PostgreSQL → consent →
delivered to a recipient that ACKs, against DESIGN.md's goal (1,000 ORU^R01/s sustained, ACK
p99 under 20 ms at 8 senders).

A real `hub serve --role all` (RabbitMQ, a PostgreSQL database of its own, created and dropped
here, a throwaway namespace and key file) routes 1.5 KB ORU^R01s, whose ordering provider
(ORC-12/OBR-16) is a registered doctor every synthetic patient granted, to a fake recipient
answering AA in a process of its own. Concurrent MLLP senders send N messages; it prints the
ACK rate and p50/p99 latency, the seconds until all N are stored (messages rows in state
stored) and until the recipient received all N, and the rates those make (N / seconds since
the first send). The baseline, measured in the same run with the same senders and bodies, is
the ingest-only rate of a `hub serve --role listener` (MLLP → confirmed publish → ACK, what
bench/ingest.py measures): nothing behind the listener can go faster than it, so delivered/s ÷
ingest msg/s is the share of the intake the whole pipeline sustains. Medians of several runs,
after a warm-up, because the machine is shared and noisy.

    .venv/bin/python bench/end_to_end.py [--messages 2000] [--senders 8] [--runs 3]
        [--patients 8] [--worker-threads N] [--outbound-interval S] [--split]
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
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.ingest import mllp_senders, summarise  # noqa: E402
from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from hub.registry.csv_import import HEADER  # noqa: E402
from hub.store import tables  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv  # noqa: E402
from tests.fixtures.messages import encoded, oru_r01, patient  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DOCTOR = "234561-07"  # invented; the registry's NNNNNN-NN form
WARM_UP = 200
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

    def received(self) -> int:
        return self.count.value

    def close(self) -> None:
        self._stop.set()
        self._process.join(timeout=10)


class Sampler:
    """Every 20 ms, (seconds since start, messages stored, messages the recipient received)."""

    def __init__(self, database_url: str, recipient: Recipient) -> None:
        self.engine = create_engine(database_url)
        self.recipient = recipient
        m = tables.messages
        self._query = select(func.count()).select_from(m).where(m.c.state == "stored")

    def now(self) -> tuple[int, int]:
        with self.engine.connect() as c:
            return c.execute(self._query).scalar_one(), self.recipient.received()

    def until(self, stored: int, delivered: int, start: float) -> tuple[float, float]:
        """Seconds from `start` until both counts are reached (each timed on its own)."""
        at_stored = at_delivered = None
        deadline = time.perf_counter() + SETTLE_TIMEOUT
        while at_stored is None or at_delivered is None:
            s, d = self.now()
            t = time.perf_counter() - start
            if at_stored is None and s >= stored:
                at_stored = t
            if at_delivered is None and d >= delivered:
                at_delivered = t
            if time.perf_counter() > deadline:
                raise TimeoutError(f"after {SETTLE_TIMEOUT:.0f} s: {s}/{stored} stored, "
                                   f"{d}/{delivered} delivered")
            time.sleep(0.02)
        return at_stored, at_delivered

    def delivery_states(self) -> dict[str, int]:
        d = tables.deliveries
        with self.engine.connect() as c:
            return dict(c.execute(select(d.c.state, func.count()).group_by(d.c.state)).all())


def bodies_for(tag: str, count: int, patients: int) -> list[bytes]:
    orderer = f"{DOCTOR}^Bench^Doc"
    return [encoded(oru_r01(patient(i % patients), f"{tag}-{i}", n_obx=11, orderer=orderer))
            for i in range(count)]


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


def e2e_run(env: HubEnv, sampler: Sampler, bodies: list[bytes], senders: int) -> dict:
    stored0, delivered0 = sampler.now()
    start = time.perf_counter()
    rate, p50, p99 = summarise(*mllp_senders(env.mllp_port, bodies, senders))
    n = len(bodies)
    t_stored, t_delivered = sampler.until(stored0 + n, delivered0 + n, start)
    return {"ack/s": rate, "p50": p50, "p99": p99, "stored s": t_stored,
            "stored/s": n / t_stored, "deliv s": t_delivered, "deliv/s": n / t_delivered}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=2000, help="N per run")
    parser.add_argument("--senders", type=int, default=8, help="concurrent MLLP senders")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--patients", type=int, default=8, help="synthetic patients cycled over")
    parser.add_argument("--worker-threads", type=int, help="HUB_WORKER__THREADS (default: config)")
    parser.add_argument("--outbound-interval", type=float,
                        help="HUB_OUTBOUND__INTERVAL seconds (default: config)")
    parser.add_argument("--split", action="store_true",
                        help="three processes (--role listener, worker, sender), not --role all")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    parser.add_argument("--pg-url", default=os.environ.get("HUB_TEST_PG_URL", DEFAULT_PG_URL))
    args = parser.parse_args()
    if args.messages % args.senders:
        parser.error("--messages must be a multiple of --senders")

    extra = {}
    if args.worker_threads is not None:
        extra["HUB_WORKER__THREADS"] = str(args.worker_threads)
    if args.outbound_interval is not None:
        extra["HUB_OUTBOUND__INTERVAL"] = str(args.outbound_interval)
    sample = bodies_for("WARM", 1, args.patients)[0]
    print(f"message: ORU^R01, {len(sample)} bytes; {args.messages} per run, {args.senders} "
          f"senders, {args.patients} patients, median of {args.runs} runs; settings: "
          f"{' '.join(f'{k}={v}' for k, v in extra.items()) or 'shipped defaults'}; hub: "
          f"{'--role listener, worker, sender' if args.split else '--role all'}")
    recipient = Recipient()
    with tempfile.TemporaryDirectory() as tmp, fresh_postgres(args.pg_url) as database_url:
        (Path(tmp) / "e2e").mkdir()
        (Path(tmp) / "ingest").mkdir()
        env = HubEnv(Path(tmp) / "e2e", database_url, broker_url=args.amqp_url)
        env.env.update(extra)
        baseline = HubEnv(Path(tmp) / "ingest", f"sqlite:///{tmp}/ingest/hub.db",
                          broker_url=args.amqp_url)
        sampler = Sampler(database_url, recipient)
        brokers = [RabbitBroker(args.amqp_url, Topology(e.namespace)) for e in (env, baseline)]
        try:
            set_up(env, recipient, args.patients)
            for role in ("listener", "worker", "sender") if args.split else ("all",):
                env.start(role)
            baseline.start("listener")
            e2e_run(env, sampler, bodies_for("WARM", WARM_UP, args.patients), args.senders)
            runs, ingest = [], []
            for run in range(args.runs):
                bodies = bodies_for(f"E2E{run}", args.messages, args.patients)
                ingest.append(summarise(*mllp_senders(baseline.mllp_port, bodies, args.senders)))
                brokers[1].purge_topology()
                brokers[1].declare_topology()
                runs.append(e2e_run(env, sampler, bodies, args.senders))
                print(f"run {run + 1}: " + "  ".join(f"{k} {v:.2f}" for k, v in runs[-1].items())
                      + f"  | ingest-only {ingest[-1][0]:.0f}/s p99 {ingest[-1][2]:.2f} ms")
            states = sampler.delivery_states()
            expected = WARM_UP + args.runs * args.messages
            print(f"deliveries by state: {states}; recipient received {recipient.received()} "
                  f"of {expected}")
            report(runs, ingest)
        finally:
            env.stop_all()
            baseline.stop_all()
            sampler.engine.dispose()
            recipient.close()
            for broker in brokers:
                broker.purge_topology()
                broker.close()


def report(runs: list[dict], ingest: list[tuple]) -> None:
    """The medians beside the ingest-only baseline, and the goal's verdict."""
    e2e = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    base = [statistics.median(col) for col in zip(*ingest)]
    print("\nmedians     ack msg/s  p50 ms  p99 ms  stored s  stored/s  delivered s  delivered/s")
    print(f"end to end  {e2e['ack/s']:>9.0f}  {e2e['p50']:>6.2f}  {e2e['p99']:>6.2f}  "
          f"{e2e['stored s']:>8.2f}  {e2e['stored/s']:>8.0f}  {e2e['deliv s']:>11.2f}  "
          f"{e2e['deliv/s']:>11.0f}")
    print(f"ingest-only {base[0]:>9.0f}  {base[1]:>6.2f}  {base[2]:>6.2f}")
    print(f"ratios to ingest-only: ack {e2e['ack/s'] / base[0]:.2f}, stored "
          f"{e2e['stored/s'] / base[0]:.2f}, delivered {e2e['deliv/s'] / base[0]:.2f}")
    rate_ok, p99_ok = e2e["deliv/s"] >= 1000, e2e["p99"] < 20
    print(f"goal: >= 1000 delivered/s {'met' if rate_ok else 'MISSED'} "
          f"({e2e['deliv/s']:.0f}); ACK p99 < 20 ms {'met' if p99_ok else 'MISSED'} "
          f"({e2e['p99']:.2f})")


if __name__ == "__main__":
    main()
