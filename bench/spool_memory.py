"""Spool memory benchmark: what a large CNS batch file costs the hub that imports it.

Writes a batch file of N DFT^P03 (FHS/BHS ... BTS/FTS), starts `hub serve --role listener`
(RabbitMQ, SQLite in a temp dir, a throwaway namespace) on an empty spool, drops the file in,
and samples the hub's VmRSS every 50 ms until the file is in done/. Prints the resident memory
before the drop, the peak while importing, the growth as a fraction of the file's size (the
baseline: a hub that held the file whole would grow by at least 1.0), and the import rate.
Medians over --runs.

    .venv/bin/python bench/spool_memory.py [--messages 40000] [--runs 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.memory import MB, Sampler, rss_mb  # noqa: E402
from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv  # noqa: E402
from tests.fixtures.messages import batch, dft_p03, encoded, patient  # noqa: E402


def batch_file(path: Path, messages: int) -> int:
    """Write the batch file; its size in bytes."""
    lines = [("20261101", "CS", "C1", "42.10", "123456-78")] * 3
    body = [dft_p03(patient(n % 500), f"SP{n}", lines) for n in range(messages)]
    path.write_bytes(encoded(batch(*body)))
    return path.stat().st_size


def one_run(messages: int, amqp_url: str, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "feed.hl7"
        size = batch_file(source, messages)
        env = HubEnv(root, f"sqlite:///{tmp}/hub.db", broker_url=amqp_url)
        env.env["HUB_SPOOL__INTERVAL"] = "0.2"
        process = env.start("listener")
        spool = root / "spool"
        sampler = Sampler(process.pid)
        try:
            env.wait_until(lambda: (spool / "done").is_dir(), timeout=30)
            time.sleep(1.0)
            before = rss_mb(process.pid)
            sampler.start()
            sampler.reset()
            started = time.monotonic()
            source.rename(spool / "feed.hl7")
            done = env.wait_until(lambda: (spool / "done" / "feed.hl7.report.json").exists(),
                                  timeout=timeout, every=0.1)
            took = time.monotonic() - started
            report = json.loads((spool / "done" / "feed.hl7.report.json").read_text()) \
                if done else {"messages": 0}
        finally:
            sampler.stopped.set()
            env.stop_all()
            broker = RabbitBroker(amqp_url, Topology(env.namespace))
            try:
                broker.purge_topology()
            finally:
                broker.close()
    return {"size_mb": size / MB, "before": before, "peak": sampler.peak,
            "growth": (sampler.peak - before) / (size / MB), "published": report["messages"],
            "rate": report["messages"] / took}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=40000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    args = parser.parse_args()
    runs = [one_run(args.messages, args.amqp_url, args.timeout) for _ in range(args.runs)]
    for n, run in enumerate(runs, 1):
        print(f"run {n}: file {run['size_mb']:.1f} MB, {run['published']} published; RSS before "
              f"{run['before']:.1f} MB, peak {run['peak']:.1f} MB, growth {run['growth']:.2f} x "
              f"file, {run['rate']:.0f} msg/s")
    median = {key: statistics.median(run[key] for run in runs)
              for key in ("before", "peak", "growth", "rate")}
    print(f"median of {len(runs)}: RSS before {median['before']:.1f} MB, peak "
          f"{median['peak']:.1f} MB, growth {median['growth']:.2f} x the file's size "
          f"(1.0 = holding it whole), {median['rate']:.0f} msg/s")


if __name__ == "__main__":
    main()
