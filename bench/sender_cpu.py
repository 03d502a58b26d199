"""CPU per delivered message of the outbound sender under sustained load, against issue 16's
goal (the sender at most 150 µs per message).

As with `hub serve --role sender` beside a `--role worker` apart: a routing worker in another
process files 10-OBX ORU^R01s (hub.routing.worker's batch path, 50 a commit, each with one
delivery to a registered doctor every synthetic patient granted) at `--rate` messages a second
into a throwaway PostgreSQL database (created and dropped here); this process runs the sender
as the hub builds it (Hub.dispatcher in a DispatchLoop, lane leases and access journal
included) against a recipient answering AA in a process of its own (bench/end_to_end.py's).
Nothing wakes the sender but its own loop and what the database tells it.

Printed: CPU µs per delivered message of this process (time.process_time: the loop, the lanes,
the lease renewer; the driver's and SQLAlchemy's work, not PostgreSQL's), from the first filing
until the recipient got the last message, ÷ messages; medians over --runs runs after a warm-up.
`--profile FILE` writes a cProfile (each thread's own CPU time) of the sender's threads in the measured runs.

    .venv/bin/python bench/sender_cpu.py [--messages 5000] [--rate 1000] [--patients 8]
        [--runs 3] [--profile FILE]
"""
from __future__ import annotations

import argparse
import cProfile
import logging
import multiprocessing
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
from functools import wraps
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.end_to_end import Recipient, wait_delivered  # noqa: E402
from bench.worker_cpu import DEFAULT_PG_URL, DOCTOR, fresh_postgres, set_up  # noqa: E402
from hub.bootstrap import Hub  # noqa: E402
from hub.domain.professional import Destination, Professional  # noqa: E402
from hub.outbound.dispatch_loop import DispatchLoop  # noqa: E402
from hub.outbound.dispatcher import Dispatcher  # noqa: E402
from hub.settings import load_settings  # noqa: E402
from hub.store.keyring import Keyring  # noqa: E402

BATCH = 50


def _filer(url: str, key_file: str, tag: str, count: int, patients: int, rate: float,
           ready, go, done) -> None:
    """Child process: decide `count` messages beforehand, then file them `BATCH` a commit at
    `rate` messages a second once `go` is set."""
    from bench.worker_cpu import deliveries
    from hub.broker.topology import Topology
    from hub.mapping.loader import load_mappings
    from hub.metrics import Metrics
    from hub.routing.outcome import RoutingPolicy
    from hub.routing.routes import load_routes
    from hub.routing.worker import RoutingWorker
    from hub.settings import REPO_ROOT
    from hub.store.engine import make_engine
    from hub.store.keyring import Keyring
    from hub.store.unit_of_work import UnitOfWork

    keyring = Keyring.load(Path(key_file))
    engine = make_engine(url)
    policy = RoutingPolicy(routes=load_routes(REPO_ROOT / "config" / "routing.toml"),
                           hub_application="DSP-HUB", hub_facility="DSP")
    worker = RoutingWorker(None, Topology("bench"),  # type: ignore[arg-type]
                           lambda: UnitOfWork(engine, keyring),
                           load_mappings(REPO_ROOT / "mappings"), policy, Metrics(),
                           batch_size=BATCH)
    outcomes = [worker._decide(d) for d in deliveries(tag, count, patients)]
    ready.set()
    go.wait()
    started = time.monotonic()
    for at in range(0, count, BATCH):
        time.sleep(max(0.0, started + at / rate - time.monotonic()))
        worker._file(outcomes[at:at + BATCH])
    engine.dispose()
    done.set()


def file_in_background(url: str, key_file: str, tag: str, args) -> tuple:
    ctx = multiprocessing.get_context("spawn")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Event()
    process = ctx.Process(target=_filer, args=(url, key_file, tag, args.messages, args.patients,
                                                args.rate, ready, go, done))
    process.start()
    if not ready.wait(300):
        raise TimeoutError("the filer did not get ready")
    return process, go


class Profiles:
    """cProfile in every sender thread: each round of the loop and each lane job (cProfile sees one
    thread only), merged at the end."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self.on = False

    def wrap(self, fn):
        @wraps(fn)
        def profiled(*a, **kw):
            if not self.on:
                return fn(*a, **kw)
            profile = cProfile.Profile(time.thread_time)
            self.profiles.append(profile)
            profile.enable()
            try:
                return fn(*a, **kw)
            finally:
                profile.disable()
        return profiled

    def dump(self, path: str) -> None:
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            stats.add(profile)
        stats.dump_stats(path)


def one_run(url: str, key_file: str, recipient: Recipient, tag: str, args) -> float:
    """CPU µs of this process per delivered message, for one run of `args.messages`."""
    process, go = file_in_background(url, key_file, tag, args)
    before = recipient.received()
    cpu = time.process_time()
    go.set()
    wait_delivered(recipient, before + args.messages, time.perf_counter())
    cpu = time.process_time() - cpu
    process.join(60)
    return cpu / args.messages * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages filed a second")
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--pg-url", default=os.environ.get("HUB_TEST_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--profile", help="write a cProfile (CPU time) of the runs to FILE")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    recipient = Recipient()
    profiles = Profiles()
    with tempfile.TemporaryDirectory(prefix="hub-bench-") as tmp, \
            fresh_postgres(args.pg_url) as url:
        key_file = str(Path(tmp) / "keys.json")
        os.environ.update({"HUB_DATABASE_URL": url, "HUB_KEY_FILE": key_file,
                           "HUB_BROKER_URL": "memory://", "HUB_NAMESPACE": "bench-sender",
                           "HUB_ENV_FILE": str(Path(tmp) / "none.env")})
        set_up(url, Keyring.create(key_file), args.patients)
        hub = Hub(load_settings())
        with hub.unit_of_work() as uow:  # the doctor's destination: the recipient
            uow.professionals.upsert(Professional(
                DOCTOR, "Doc", "Bench", "GP",
                destination=Destination("127.0.0.1", recipient.port, "EMR", "CAB")))
            uow.commit()
        if args.profile:
            DispatchLoop._round = profiles.wrap(DispatchLoop._round)  # type: ignore[method-assign]
            Dispatcher._drain = profiles.wrap(Dispatcher._drain)  # type: ignore[method-assign]
        dispatcher = hub.dispatcher()
        loop = DispatchLoop(dispatcher, hub.clock, interval=hub.settings.outbound.interval,
                            signals=hub.due_signals())
        loop.start()
        try:
            one_run(url, key_file, recipient, "warm", argparse.Namespace(
                **{**vars(args), "messages": 500}))
            profiles.on = True
            runs = [one_run(url, key_file, recipient, f"r{r}", args) for r in range(args.runs)]
        finally:
            loop.stop()
            dispatcher.close()
            hub.close()
            recipient.close()
    if args.profile:
        profiles.dump(args.profile)
    print(f"sender CPU µs per delivered message: {statistics.median(runs):.0f} (median of "
          f"{args.runs} runs of {args.messages} at {args.rate:g}/s, {args.patients} patients; "
          f"runs: {', '.join(f'{r:.0f}' for r in runs)}; goal <= 150)", flush=True)


if __name__ == "__main__":
    main()
