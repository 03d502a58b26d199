"""What bench/ingest.py and bench/end_to_end.py share: the CPU time of a process tree read from
/proc/PID/stat, cheap MLLP clients that send for a fixed time, and the latency summary.

The clients must cost as little per message as bare pika publishers do, or the baseline they
are compared with wins because the hub's clients steal CPU from the hub (2 cores, shared): so
raw sockets, frames wrapped once before the clock starts, the ACK found with one `endswith`
on the bytes received, no hl7apy, no parser. Bodies come from a few templates in which the
control id (MSH-10, ORC-2/3, OBR-2/3) is spliced per message, so every message is new to the
hub's duplicate check and no run has to encode thousands of messages with hl7apy first.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")
START, END = b"\x0b", b"\x1c\r"
MARK = "@@CID@@"  # put where the control id goes in a template, replaced per message


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system CPU seconds) of one process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = raw[raw.rindex(b")") + 2:].split()  # after "pid (comm) "; comm may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds (user + system, since each started) of `pids` and their live descendants."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            got = _stat(int(entry))
            if got is not None:
                parents[int(entry)], cpu[int(entry)] = got
    wanted, total = set(pids), 0.0
    for pid in cpu:
        p = pid
        while p > 1 and p not in wanted:
            p = parents.get(p, 0)
        if p in wanted:
            total += cpu[pid]
    return total


def server_pids(database_url: str) -> dict[str, list[int]]:
    """The local servers the hub leans on, as whole servers (other users' work included, so
    read them on a quiet machine): PostgreSQL's postmaster (the parent of a backend of ours)
    and RabbitMQ's Erlang VM (beam.smp). A server not on this machine is left out."""
    from sqlalchemy import create_engine, text

    found: dict[str, list[int]] = {}
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        got = _stat(backend)
        if got is not None:
            found["postgres"] = [got[0]]
    finally:
        engine.dispose()
    beams = [int(e) for e in os.listdir("/proc") if e.isdigit() and _comm(int(e)) == "beam.smp"]
    if beams:
        found["rabbitmq"] = beams
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


class CpuMeter:
    """CPU seconds used by each role's processes between `start()` and `stop()`."""

    def __init__(self, roles: dict[str, list[int]]) -> None:
        self.roles = roles
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {role: tree_cpu(pids) for role, pids in self.roles.items()}

    def stop(self) -> dict[str, float]:
        self.used = {role: tree_cpu(pids) - self._start[role] for role, pids in self.roles.items()}
        return self.used

    def per_message_us(self, messages: int) -> dict[str, float]:
        return {role: seconds / max(messages, 1) * 1e6 for role, seconds in self.used.items()}


def templates(make, count: int) -> list[tuple[bytes, bytes]]:
    """`count` MLLP-framed templates split at the control id: make(i, MARK) -> HL7 bytes.
    The mark may occur several times; each occurrence takes the same id."""
    return [tuple((START + make(i, MARK) + END).split(MARK.encode())) for i in range(count)]


def frame(template: tuple[bytes, ...], control_id: bytes) -> bytes:
    return control_id.join(template)


def mllp_for(port: int, parts: list[tuple[bytes, ...]], senders: int, seconds: float,
             tag: str, limit: int | None = None) -> tuple[float, list[float]]:
    """`senders` threads, each on one connection, send one message and wait for its ACK, for
    `seconds` (or until `limit` messages in all); (elapsed seconds, ACK latencies). Raises if
    one ACK is not AA. Control ids are f"{tag}{sender}-{n}"."""
    import socket

    latencies: list[list[float]] = [[] for _ in range(senders)]
    errors: list[str] = []
    per_sender = None if limit is None else limit // senders
    clock = time.perf_counter
    deadline = [0.0]

    def work(k: int) -> None:
        out = latencies[k]
        prefix = f"{tag}{k}-".encode()
        n = 0
        try:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                recv, sendall = sock.recv, sock.sendall
                while clock() < deadline[0] and (per_sender is None or n < per_sender):
                    body = frame(parts[(k + n * senders) % len(parts)], prefix + str(n).encode())
                    sent = clock()
                    sendall(body)
                    ack = recv(65536)
                    while not ack.endswith(END):
                        more = recv(65536)
                        if not more:
                            raise ConnectionError("hub closed the connection")
                        ack += more
                    out.append(clock() - sent)
                    if b"MSA|AA|" not in ack:
                        raise RuntimeError(f"not accepted: {ack[:200]!r}")
                    n += 1
        except Exception as error:  # reported by the caller, not lost in a thread
            errors.append(f"sender {k}: {error}")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(senders)]
    start = clock()
    deadline[0] = start + seconds
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = clock() - start
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return elapsed, [x for part in latencies for x in part]


def pika_for(url: str, queue: str, body: bytes, senders: int,
             seconds: float) -> tuple[float, list[float]]:
    """The raw ceiling: `senders` threads, each with its own pika connection, publish the body
    persistent and mandatory to `queue` and wait for each confirm, for `seconds`."""
    import pika

    latencies: list[list[float]] = [[] for _ in range(senders)]
    errors: list[str] = []
    clock = time.perf_counter
    deadline = [0.0]
    ready = threading.Barrier(senders + 1)

    def work(k: int) -> None:
        out = latencies[k]
        try:
            connection = pika.BlockingConnection(pika.URLParameters(url))
            channel = connection.channel()
            channel.confirm_delivery()
            properties = pika.BasicProperties(delivery_mode=2, message_id="bench")
            ready.wait()
            ready.wait()
            while clock() < deadline[0]:
                sent = clock()
                channel.basic_publish("", queue, body, properties, mandatory=True)
                out.append(clock() - sent)
            connection.close()
        except Exception as error:
            errors.append(f"publisher {k}: {error}")
            ready.abort()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(senders)]
    for thread in threads:
        thread.start()
    ready.wait()  # every connection open: the clock measures publishing, not connecting
    start = clock()
    deadline[0] = start + seconds
    ready.wait()
    for thread in threads:
        thread.join()
    elapsed = clock() - start
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return elapsed, [x for part in latencies for x in part]


def summarise(seconds: float, latencies: list[float]) -> tuple[float, float, float]:
    """(messages per second, p50 ms, p99 ms)."""
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return len(latencies) / seconds, statistics.median(ordered) * 1000, p99 * 1000
