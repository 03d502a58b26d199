"""Ingest benchmark: MLLP in → confirmed persistent publish → ACK, against the raw ceiling, in
sustained rounds.

Each round sends for `--seconds` from 8 MLLP senders to a real `hub serve --role listener`
(RabbitMQ, a throwaway namespace) a 1.5 KB ORU^R01 with 10 OBX, then for as long from 8 bare
pika publishers (same broker, same body, each waiting for its confirm, the raw ceiling). Rounds
alternate, so the machine's noise (shared, 2 cores) falls on both sides alike; the verdict is
the median of the rounds' ratios (goal ≥ 0.8). Beside the rates it prints the listener's CPU
per message: user+system time of its process (/proc/PID/stat) over the round ÷ messages
(goal ≤ 150 µs). The clients cost about as little per message as the pika ones (raw sockets,
pre-framed bodies, bench/_procs.py), so they do not tilt the ratio.

    .venv/bin/python bench/ingest.py [--seconds 8] [--rounds 3] [--senders 8]
    .venv/bin/python bench/ingest.py --rounds 5 --senders 1     # one sender's latency
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._procs import CpuMeter, mllp_for, pika_for, summarise, templates  # noqa: E402
from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv  # noqa: E402
from tests.fixtures.messages import encoded, oru_r01, patient  # noqa: E402

WARM_UP_SECONDS = 2.0


def bodies(patients: int = 16) -> list[tuple[bytes, ...]]:
    return templates(lambda i, mark: encoded(oru_r01(patient(i), mark, n_obx=10)), patients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="sending time per side and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    args = parser.parse_args()

    parts = bodies()
    raw_body = b"".join((parts[0][0], b"RAW", *parts[0][1:]))[1:-2]
    print(f"message: ORU^R01 10 OBX, {len(raw_body)} bytes; {args.senders} senders; "
          f"{args.rounds} rounds of {args.seconds:g} s a side")
    with tempfile.TemporaryDirectory() as tmp:
        env = HubEnv(Path(tmp), f"sqlite:///{tmp}/hub.db", broker_url=args.amqp_url)
        listener = env.start("listener")
        baseline_ns = f"bench-{uuid.uuid4().hex[:8]}"
        baseline = RabbitBroker(args.amqp_url, Topology(baseline_ns))
        baseline.declare_topology()
        hub_broker = RabbitBroker(args.amqp_url, Topology(env.namespace))
        meter = CpuMeter({"listener": [listener.pid]})
        run = uuid.uuid4().hex[:6]
        try:
            mllp_for(env.mllp_port, parts, args.senders, WARM_UP_SECONDS, f"W{run}")
            print(f"{'round':>5}  {'hub msg/s':>9}  {'p50 ms':>6}  {'p99 ms':>6}  "
                  f"{'listener µs/msg':>15}  {'pika msg/s':>10}  {'p50 ms':>6}  {'p99 ms':>6}  "
                  f"{'ratio':>5}")
            hubs, raws, cpus, ratios = [], [], [], []
            for r in range(args.rounds):
                meter.start()
                seconds, latencies = mllp_for(env.mllp_port, parts, args.senders, args.seconds,
                                              f"R{run}{r}-")
                meter.stop()
                hub = summarise(seconds, latencies)
                cpu = meter.per_message_us(len(latencies))["listener"]
                raw = summarise(*pika_for(args.amqp_url, Topology(baseline_ns).inbound, raw_body,
                                          args.senders, args.seconds))
                for broker in (hub_broker, baseline):
                    broker.purge_topology()
                    broker.declare_topology()
                hubs.append(hub)
                raws.append(raw)
                cpus.append(cpu)
                ratios.append(hub[0] / raw[0])
                print(f"{r + 1:>5}  {hub[0]:>9.0f}  {hub[1]:>6.2f}  {hub[2]:>6.2f}  {cpu:>15.0f}  "
                      f"{raw[0]:>10.0f}  {raw[1]:>6.2f}  {raw[2]:>6.2f}  {ratios[-1]:>5.2f}",
                      flush=True)
            hub = [statistics.median(col) for col in zip(*hubs)]
            raw = [statistics.median(col) for col in zip(*raws)]
            ratio, cpu = statistics.median(ratios), statistics.median(cpus)
            print(f"{'median':>5}  {hub[0]:>9.0f}  {hub[1]:>6.2f}  {hub[2]:>6.2f}  {cpu:>15.0f}  "
                  f"{raw[0]:>10.0f}  {raw[1]:>6.2f}  {raw[2]:>6.2f}  {ratio:>5.2f}")
            print(f"goal: ratio >= 0.8 {'met' if ratio >= 0.8 else 'MISSED'} ({ratio:.2f}); "
                  f"listener <= 150 µs/msg {'met' if cpu <= 150 else 'MISSED'} ({cpu:.0f})")
        finally:
            env.stop_all()
            for broker in (hub_broker, baseline):
                broker.purge_topology()
                broker.close()


if __name__ == "__main__":
    main()
