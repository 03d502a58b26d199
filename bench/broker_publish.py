"""Confirmed persistent publishes per second: bare pika baseline against the hub's async publisher.

(a) 8 threads, each with its own pika BlockingConnection, publishing and waiting for each confirm;
(b) the hub's RabbitPublisher with 8 concurrent tasks sharing one connection and channel.
Both publish 2000 messages of 1.5 KB to a quorum queue of a throwaway namespace; each figure is
the median of 3 runs, and the ratio b/a is what DESIGN.md's ingest goal is judged against.

    .venv/bin/python bench/broker_publish.py [--url amqp://...] [--messages 2000] [--runs 3]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
import uuid

import pika

from hub.broker.rabbitmq import RabbitBroker
from hub.broker.topology import Topology

SENDERS = 8
BODY = (b"MSH|^~\\&|LAB|HOSP|DSP|CNS|20240101120000||ORU^R01|BENCH|P|2.5\r" * 30)[:1500]


def bare_pika(url: str, queue: str, messages: int) -> float:
    """Publishes/s of SENDERS threads, each awaiting its confirm on its own connection."""
    connections = [pika.BlockingConnection(pika.URLParameters(url)) for _ in range(SENDERS)]
    channels = [connection.channel() for connection in connections]
    for channel in channels:
        channel.confirm_delivery()
    start = threading.Barrier(SENDERS + 1)

    def send(channel, count: int, first: int) -> None:
        start.wait()
        for n in range(first, first + count):
            properties = pika.BasicProperties(delivery_mode=2, message_id=f"a{n}", headers={"n": str(n)},
                                              content_type="application/hl7-v2")
            channel.basic_publish("", queue, BODY, properties, mandatory=True)

    share = messages // SENDERS
    threads = [threading.Thread(target=send, args=(channel, share, i * share)) for i, channel in enumerate(channels)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    for connection in connections:
        connection.close()
    return share * SENDERS / elapsed


def hub_publisher(broker: RabbitBroker, queue: str, messages: int) -> tuple[float, float]:
    """Publishes/s and client CPU µs per publish of SENDERS tasks on one RabbitPublisher."""

    async def run() -> tuple[float, float]:
        publisher = await broker.open_publisher()
        share = messages // SENDERS

        async def send(first: int) -> None:
            for n in range(first, first + share):
                await publisher.publish(queue, BODY, message_id=f"b{n}", headers={"n": str(n)}, timeout=30)

        cpu, began = time.process_time(), time.perf_counter()
        await asyncio.gather(*(send(i * share) for i in range(SENDERS)))
        elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu
        await publisher.close()
        return share * SENDERS / elapsed, cpu / (share * SENDERS) * 1e6

    return asyncio.run(run())


def empty(url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    connection.channel().queue_purge(queue)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("HUB_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    topology = Topology(f"bench-{uuid.uuid4().hex[:8]}")
    broker = RabbitBroker(args.url, topology)
    queue = topology.inbound
    bare, hub, cpu = [], [], []
    try:
        broker.declare_topology()
        bare_pika(args.url, queue, 200)  # warm-up: connections, queue leader, code paths
        hub_publisher(broker, queue, 200)
        for run in range(args.runs):
            # Emptied, not re-created: deleting a quorum queue keeps the broker busy for a while.
            empty(args.url, queue)
            bare.append(bare_pika(args.url, queue, args.messages))
            empty(args.url, queue)
            rate, micros = hub_publisher(broker, queue, args.messages)
            hub.append(rate)
            cpu.append(micros)
            print(f"run {run + 1}: (a) bare pika {bare[-1]:8.0f}/s   (b) hub publisher {hub[-1]:8.0f}/s"
                  f"   ({micros:.0f} µs client CPU per publish)")
    finally:
        broker.purge_topology()
        broker.close()
    a, b = statistics.median(bare), statistics.median(hub)
    print(f"median of {args.runs}: (a) {a:.0f}/s  (b) {b:.0f}/s  ratio b/a = {b / a:.2f}"
          f"  (b: {statistics.median(cpu):.0f} µs CPU per publish)")


if __name__ == "__main__":
    main()
