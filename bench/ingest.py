"""Ingest benchmark: MLLP in → confirmed persistent publish → ACK, against the raw ceiling.

For 1 and 8 concurrent senders it prints messages per second and p50/p99 ACK latency of a real
`hub serve --role listener` (RabbitMQ, a throwaway namespace) receiving a 1.5 KB ORU^R01, beside
bare pika publishers (same broker, same concurrency, same body, each waiting for its confirm),
and their ratio. Medians of several runs, because the machine is shared and noisy.

    .venv/bin/python bench/ingest.py [--messages 1000] [--runs 3]
"""
from __future__ import annotations

import argparse
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from hub.mllp.framing import FrameReader, wrap  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv  # noqa: E402
from tests.fixtures.messages import encoded, oru_r01, patient  # noqa: E402


def run_threads(concurrency: int, work) -> tuple[float, list[float]]:
    """Run `work(k, latencies)` in `concurrency` threads; (seconds, all latencies)."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    threads = [threading.Thread(target=work, args=(k, latencies[k])) for k in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, [x for part in latencies for x in part]


def mllp_senders(port: int, bodies: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    per_sender = len(bodies) // concurrency

    def work(k: int, latencies: list[float]) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            reader = FrameReader(1 << 20)
            for body in bodies[k * per_sender:(k + 1) * per_sender]:
                sent = time.perf_counter()
                sock.sendall(wrap(body))
                acks: list[bytes] = []
                while not acks:
                    acks = reader.feed(sock.recv(65536))
                if b"MSA|AA|" not in acks[0]:
                    raise RuntimeError(f"not accepted: {acks[0][:200]!r}")
                latencies.append(time.perf_counter() - sent)

    return run_threads(concurrency, work)


def pika_publishers(url: str, queue: str, body: bytes, count: int, concurrency: int):
    per_sender = count // concurrency

    def work(k: int, latencies: list[float]) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.confirm_delivery()
        properties = pika.BasicProperties(delivery_mode=2, message_id="bench")
        for _ in range(per_sender):
            sent = time.perf_counter()
            channel.basic_publish("", queue, body, properties, mandatory=True)
            latencies.append(time.perf_counter() - sent)
        connection.close()

    return run_threads(concurrency, work)


def summarise(seconds: float, latencies: list[float]) -> tuple[float, float, float]:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return len(latencies) / seconds, statistics.median(ordered) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="per run and concurrency")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    args = parser.parse_args()

    bodies = [encoded(oru_r01(patient(i), f"BENCH-{i}", n_obx=11)) for i in range(args.messages)]
    print(f"message: ORU^R01, {len(bodies[0])} bytes; {args.messages} per run; median of {args.runs} runs")
    with tempfile.TemporaryDirectory() as tmp:
        env = HubEnv(Path(tmp), f"sqlite:///{tmp}/hub.db", broker_url=args.amqp_url)
        env.start("listener")
        baseline_ns = f"bench-{uuid.uuid4().hex[:8]}"
        baseline = RabbitBroker(args.amqp_url, Topology(baseline_ns))
        baseline.declare_topology()
        hub_broker = RabbitBroker(args.amqp_url, Topology(env.namespace))
        try:
            print(f"{'senders':>7}  {'hub msg/s':>9}  {'p50 ms':>6}  {'p99 ms':>6}  "
                  f"{'pika msg/s':>10}  {'p50 ms':>6}  {'p99 ms':>6}  {'ratio':>5}")
            for concurrency in (1, 8):
                hub_runs, pika_runs = [], []
                for _ in range(args.runs):
                    hub_runs.append(summarise(*mllp_senders(env.mllp_port, bodies, concurrency)))
                    pika_runs.append(summarise(*pika_publishers(
                        args.amqp_url, Topology(baseline_ns).inbound, bodies[0], args.messages, concurrency)))
                    hub_broker.purge_topology()
                    hub_broker.declare_topology()
                    baseline.purge_topology()
                    baseline.declare_topology()
                hub = [statistics.median(col) for col in zip(*hub_runs)]
                raw = [statistics.median(col) for col in zip(*pika_runs)]
                print(f"{concurrency:>7}  {hub[0]:>9.0f}  {hub[1]:>6.2f}  {hub[2]:>6.2f}  "
                      f"{raw[0]:>10.0f}  {raw[1]:>6.2f}  {raw[2]:>6.2f}  {hub[0] / raw[0]:>5.2f}")
        finally:
            env.stop_all()
            for broker in (hub_broker, baseline):
                broker.purge_topology()
                broker.close()


if __name__ == "__main__":
    main()
