"""Ingest cost of the journal's filing event: the worker's filing (`file_batch`, batches of 10
ORU^R01 of 10 OBX each, one commit per batch, 300 messages) with the "entries.filed" event and
without it (its recording skipped), alternated 5 times, on SQLite and on the PostgreSQL at
HUB_TEST_PG_URL. Not a benchmark of the hub (bench/ is): one before/after.
Run: .venv/bin/python scripts/filing_event_cost.py"""
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sqlalchemy import create_engine, text
from hub.domain.audit import AuditAction
from hub.mapping.loader import load_mappings
from hub.routing.filing import file_batch
from hub.routing.outcome import RoutingPolicy, decide
from hub.routing.routes import load_routes
from hub.settings import REPO_ROOT
from hub.store import audit_repository
from hub.store.engine import make_engine
from hub.store.keyring import Keyring
from hub.store.schema import upgrade
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.routing import TOPOLOGY, memory_broker, receive

N, BATCH = 300, 10
original = audit_repository.AuditRepository.record
def without_filing(self, event):
    if event.action == AuditAction.ENTRIES_FILED:
        return event
    return original(self, event)

def outcomes():
    broker = memory_broker()
    frames = [encoded(oru_r01(patient(n % 50), f"M{uuid.uuid4().hex[:10]}", n_obx=10)) for n in range(N)]
    receive(broker, *frames)
    consumer = broker.open_consumer(TOPOLOGY.inbound, prefetch=N)
    got = consumer.fetch(N, 1.0)
    policy = RoutingPolicy(routes=load_routes(REPO_ROOT / "config" / "routing.toml"),
                           hub_application="DSP-HUB", hub_facility="DSP")
    mappings = load_mappings(REPO_ROOT / "mappings")
    return [decide(d, mappings, policy) for d in got], policy

def run(url, filing, outs, policy, tmp):
    upgrade(url)
    engine = make_engine(url)
    keyring = Keyring.create(Path(tmp) / f"k{uuid.uuid4().hex}.json")
    audit_repository.AuditRepository.record = original if filing else without_filing
    start = time.perf_counter()
    for i in range(0, len(outs), BATCH):
        with UnitOfWork(engine, keyring) as uow:
            file_batch(uow, outs[i:i + BATCH], policy)
            uow.commit()
    elapsed = time.perf_counter() - start
    with engine.connect() as c:
        events = c.execute(text("select count(*) from audit_events")).scalar_one()
    engine.dispose()
    return elapsed, events

def pg_url():
    base = os.environ.get("HUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"hub_measure_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return admin, name, admin.url.set(database=name).render_as_string(hide_password=False)

with tempfile.TemporaryDirectory() as tmp:
    for kind in ("sqlite", "postgresql"):
        times = {False: [], True: []}
        for rep in range(5):
            for filing in (False, True):
                outs, policy = outcomes()
                if kind == "sqlite":
                    url = f"sqlite:///{tmp}/{uuid.uuid4().hex}.db"
                    elapsed, events = run(url, filing, outs, policy, tmp)
                else:
                    admin, name, url = pg_url()
                    try:
                        elapsed, events = run(url, filing, outs, policy, tmp)
                    finally:
                        with admin.connect() as c:
                            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                        admin.dispose()
                times[filing].append(elapsed)
                print(kind, "filing" if filing else "before", f"{elapsed:.3f}s", f"{N / elapsed:.0f} msg/s", "events", events, flush=True)
        a, b = statistics.median(times[False]), statistics.median(times[True])
        print(f"{kind}: median before {a:.3f}s ({N/a:.0f} msg/s), with filing event {b:.3f}s ({N/b:.0f} msg/s): {100*(b-a)/a:+.1f}%", flush=True)
