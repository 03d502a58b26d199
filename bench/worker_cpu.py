"""CPU per message of the routing worker's sustained batch path, against the goal of issue 16
("Cut the CPU per message": at most 300 µs for a 10-OBX ORU^R01 of about 1.5 KB).

What a worker does with a batch of 50 once the broker handed it over, without the broker:
decide (parse + map: hub.routing.outcome.decide), file (hub.routing.filing through
RoutingWorker._file: resend check, dossier, entries encrypted, audit, consent, deliveries) and
commit, in a throwaway PostgreSQL database (created and dropped here) and in a SQLite file.
The ordering provider (ORC-12/OBR-16) is a registered doctor with an MLLP destination whom
every synthetic patient granted, so each message is filed with its deliveries too.

It prints CPU microseconds per message (time.process_time, this process only: PostgreSQL's own
work is not counted, the driver's and SQLAlchemy's are), split into decide, file and commit,
and the wall time; medians over --runs runs, each on fresh message ids.

    .venv/bin/python bench/worker_cpu.py [--messages 5000] [--patients 300] [--runs 3]
        [--backend postgres,sqlite] [--profile FILE]
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from hub.broker import headers as h  # noqa: E402
from hub.broker.port import Delivery  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from hub.domain.professional import Destination, Professional  # noqa: E402
from hub.hl7.header import read_header  # noqa: E402
from hub.mapping.loader import load_mappings  # noqa: E402
from hub.metrics import Metrics  # noqa: E402
from hub.routing.outcome import RoutingPolicy  # noqa: E402
from hub.routing.routes import load_routes  # noqa: E402
from hub.routing.worker import RoutingWorker  # noqa: E402
from hub.settings import REPO_ROOT  # noqa: E402
from hub.store.engine import make_engine  # noqa: E402
from hub.store.keyring import Keyring  # noqa: E402
from hub.store.schema import upgrade  # noqa: E402
from hub.store.unit_of_work import UnitOfWork  # noqa: E402
from tests.fixtures.messages import encoded, oru_r01, patient  # noqa: E402

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DOCTOR = "234561-07"  # invented; the registry's NNNNNN-NN form
BATCH = 50


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


@contextlib.contextmanager
def fresh_sqlite():
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp:
        yield f"sqlite:///{tmp}/hub.db"


def deliveries(tag: str, count: int, patients: int) -> list[Delivery]:
    """`count` deliveries as the listener publishes them: 10-OBX ORU^R01s ordered by DOCTOR."""
    orderer = f"{DOCTOR}^Bench^Doc"
    received = datetime.now(UTC).isoformat()
    out = []
    for i in range(count):
        body = encoded(oru_r01(patient(i % patients), f"{tag}-{i}", n_obx=10, orderer=orderer))
        header = read_header(body)
        assert header is not None
        out.append(Delivery(i, body, uuid.uuid4().hex, {
            h.PEER: "127.0.0.1:9", h.RECEIVED_AT: received, h.SENDER: "LABSYS^CHL",
            h.CONTROL_ID: f"{tag}-{i}", h.TYPE: "ORU^R01", h.VERSION: "2.5",
            h.VERDICT: h.ACCEPTED}))
    return out


def set_up(url: str, keyring: Keyring, patients: int) -> None:
    """Migrate; register DOCTOR with a destination; every patient grants DOCTOR."""
    upgrade(url)
    engine = make_engine(url)
    try:
        with UnitOfWork(engine, keyring) as uow:
            uow.professionals.upsert(Professional(
                DOCTOR, "Doc", "Bench", "GP",
                destination=Destination("127.0.0.1", 7999, "EMR", "CAB")))
            granted = datetime.now(UTC) - timedelta(minutes=5)
            for n in range(patients):
                uow.consents.grant(uow.patients.id_for(patient(n).matricule), DOCTOR, "normal",
                                   None, granted)
            uow.commit()
    finally:
        engine.dispose()


class Timed:
    """A unit of work factory that times `commit` apart from the rest of filing."""

    def __init__(self, engine, keyring: Keyring) -> None:
        self.engine, self.keyring = engine, keyring
        self.commit_cpu = 0.0

    def __call__(self) -> UnitOfWork:
        uow = UnitOfWork(self.engine, self.keyring)
        commit = uow.commit

        def timed_commit() -> None:
            started = time.process_time()
            commit()
            self.commit_cpu += time.process_time() - started
        uow.commit = timed_commit  # type: ignore[method-assign]
        return uow


def one_run(worker: RoutingWorker, factory: Timed, batch: list[Delivery],
            profiler: cProfile.Profile | None) -> dict[str, float]:
    factory.commit_cpu = 0.0
    decide_cpu = file_cpu = 0.0
    wall = time.perf_counter()
    if profiler:
        profiler.enable()
    for at in range(0, len(batch), BATCH):
        chunk = batch[at:at + BATCH]
        started = time.process_time()
        outcomes = [worker._decide(d) for d in chunk]
        decided = time.process_time()
        states = worker._file(outcomes)
        file_cpu += time.process_time() - decided
        decide_cpu += decided - started
        assert all(s is not None and s.value == "stored" for s in states), states
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - wall
    n = len(batch)
    commit = factory.commit_cpu
    return {"total": (decide_cpu + file_cpu) / n * 1e6, "decide": decide_cpu / n * 1e6,
            "file": (file_cpu - commit) / n * 1e6, "commit": commit / n * 1e6,
            "wall": wall / n * 1e6}


def bench(kind: str, url: str, args, profiler: cProfile.Profile | None) -> None:
    with tempfile.TemporaryDirectory(prefix="hub-bench-keys-") as tmp:
        keyring = Keyring.create(Path(tmp) / "keys.json")
        set_up(url, keyring, args.patients)
        engine = make_engine(url)
        try:
            factory = Timed(engine, keyring)
            policy = RoutingPolicy(routes=load_routes(REPO_ROOT / "config" / "routing.toml"),
                                   hub_application="DSP-HUB", hub_facility="DSP")
            worker = RoutingWorker(None, Topology("bench"), factory,  # type: ignore[arg-type]
                                   load_mappings(REPO_ROOT / "mappings"), policy, Metrics(),
                                   batch_size=BATCH)
            one_run(worker, factory, deliveries("warm", 200, args.patients), None)
            runs = [one_run(worker, factory, deliveries(f"r{r}", args.messages, args.patients),
                            profiler)
                    for r in range(args.runs)]
        finally:
            engine.dispose()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    print(f"{kind:8s} CPU µs/message: total {med['total']:.0f} = decide {med['decide']:.0f} "
          f"+ file {med['file']:.0f} + commit {med['commit']:.0f}; wall {med['wall']:.0f} µs "
          f"(median of {args.runs} runs of {args.messages}, batches of {BATCH}; runs: "
          + ", ".join(f"{r['total']:.0f}" for r in runs) + "; the best, less disturbed by "
          f"other work on the machine: {min(r['total'] for r in runs):.0f})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", default="postgres,sqlite")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--profile", help="write a cProfile (CPU time) of the measured runs to FILE.<backend>")
    args = parser.parse_args()
    for kind in args.backend.split(","):
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        with (fresh_postgres(args.pg_url) if kind == "postgres" else fresh_sqlite()) as url:
            bench(kind, url, args, profiler)
        if profiler:
            profiler.dump_stats(f"{args.profile}.{kind}")


if __name__ == "__main__":
    main()
