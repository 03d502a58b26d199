"""500 slowloris connections (a frame begun and trickled a byte at a time, never finished) and
200 idle ones against the listener: a legitimate sender's ACKs stay fast (p99 under 50 ms), the
hub stays up, and it is bounded: its connection cap refuses what comes past it, and each
slowloris connection is closed once `[mllp] read_timeout` passes. Loopback only.
"""
from __future__ import annotations

import socket
import statistics
import threading
import time
import uuid

from tests.fixtures.ledger import END, START, Ledger, exchange, poll
from tests.fixtures.messages import encoded, oru_r01, patient

SLOWLORIS = 500
IDLE = 200
PAST_CAP = 30            # connections opened once slowloris, idle and the sender are in
MAX_CONNECTIONS = 720    # [mllp] max_connections: room for all of the above but PAST_CAP
READ_TIMEOUT_S = 20.0    # [mllp] read_timeout: a begun frame must end within it
MESSAGES = 400
P99_LIMIT_S = 0.050


def test_slowloris_and_idle_connections_leave_a_legitimate_sender_fast(fault_hub, fault_report):
    env, _postgres = fault_hub
    # Every connection comes from 127.0.0.1: the per-peer cap is lifted to the global one, so
    # that the global cap is what this test measures (the per-peer cap: test_listener.py).
    env.env.update({"HUB_MLLP__MAX_CONNECTIONS": str(MAX_CONNECTIONS),
                    "HUB_MLLP__MAX_CONNECTIONS_PER_PEER": str(MAX_CONNECTIONS),
                    "HUB_MLLP__READ_TIMEOUT": str(READ_TIMEOUT_S)})
    listener = env.start("listener")
    env.start("worker")
    prefix = f"LORIS-{uuid.uuid4().hex[:6]}-"
    frames = [(f"{prefix}{n}", encoded(oru_r01(patient(n), f"{prefix}{n}", n_obx=2)))
              for n in range(MESSAGES)]
    legit = socket.create_connection(("127.0.0.1", env.mllp_port), timeout=10)
    exchange(legit, frames[0][1], 10)  # the sender is in before the crowd
    rss_before = _rss_kb(listener.pid)
    slow = [_open(env.mllp_port) for _ in range(SLOWLORIS)]
    slow_started = time.monotonic()
    idle = [_open(env.mllp_port) for _ in range(IDLE)]
    stop = threading.Event()
    trickler = threading.Thread(target=_trickle, args=(slow, stop), daemon=True)
    trickler.start()
    extra = [_open(env.mllp_port) for _ in range(PAST_CAP)]
    time.sleep(1.0)  # a refused connection is closed at once; give the hub a moment for all
    refused_past_cap = sum(_closed_by_hub(s, wait=0.0) for s in extra)
    ledger = Ledger()
    latencies: list[float] = []
    try:
        for control_id, frame in frames[1:]:
            started = time.perf_counter()
            ledger.note(control_id, exchange(legit, frame, 10))
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
        measured_s = time.monotonic() - slow_started
        slow_open_after = SLOWLORIS - sum(_closed_by_hub(s, wait=0.0) for s in slow)
        alive_during = listener.poll() is None
        rss_after = _rss_kb(listener.pid)
        stop.set()
        trickler.join(10)
        # Bounded: every slowloris connection is closed by the hub at its read timeout.
        closed = poll(lambda: sum(_closed_by_hub(s, wait=0.0) for s in slow) == SLOWLORIS,
                      timeout=READ_TIMEOUT_S + 15, every=1.0)
        slow_closed = sum(_closed_by_hub(s, wait=0.0) for s in slow)
        idle_open = IDLE - sum(_closed_by_hub(s, wait=0.0) for s in idle)
        closed_s = time.monotonic() - slow_started
    finally:
        stop.set()
        for sock in [legit, *slow, *idle, *extra]:
            sock.close()
    latencies.sort()
    p50, p99 = statistics.median(latencies), latencies[int(len(latencies) * 0.99) - 1]
    counts = {**ledger.counts(), "slowloris": SLOWLORIS, "idle": IDLE,
              "max_connections": MAX_CONNECTIONS, "refused_past_cap": refused_past_cap,
              "ack_p50_ms": round(p50 * 1000, 1), "ack_p99_ms": round(p99 * 1000, 1),
              "ack_max_ms": round(latencies[-1] * 1000, 1),
              "listener_rss_kb_before": rss_before, "listener_rss_kb_after": rss_after,
              "slowloris_open_after_measuring": slow_open_after,
              "seconds_measuring": round(measured_s, 1),
              "slowloris_closed_by_hub": slow_closed, "idle_still_open": idle_open,
              "seconds_until_slowloris_closed": round(closed_s, 1)}
    fault_report("500 slowloris + 200 idle connections", counts)

    assert alive_during and listener.poll() is None, env.logs()[-3000:]
    assert counts["aa"] == MESSAGES - 1, counts
    assert slow_open_after == SLOWLORIS, f"the slowloris were gone before the end: {counts}"
    assert p99 < P99_LIMIT_S, counts
    # 700 + the sender fit under the cap; of PAST_CAP more, those past it are closed at once.
    assert refused_past_cap == PAST_CAP - (MAX_CONNECTIONS - SLOWLORIS - IDLE - 1), counts
    assert closed and idle_open == IDLE, counts
    assert READ_TIMEOUT_S - 2 < closed_s < READ_TIMEOUT_S + 15, counts


def _open(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def _trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """A frame's start, then one byte of MSH per connection per second, never the end."""
    header = b"MSH|^~\\&|LORIS|LORIS|DSP|DSP|20261125101500||ORU^R01|" + b"9" * 4000
    sent = 0
    for sock in sockets:
        _send(sock, START)
    while not stop.is_set():
        round_started = time.monotonic()
        for sock in sockets:
            _send(sock, header[sent:sent + 1])
        sent += 1
        stop.wait(max(0.0, 1.0 - (time.monotonic() - round_started)))
    assert END[:1] not in header


def _send(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass  # closed by the hub: what the test checks afterwards


def _closed_by_hub(sock: socket.socket, wait: float) -> bool:
    """Whether the hub closed this connection (end of stream or reset) within `wait` s."""
    sock.settimeout(wait if wait > 0 else 0.001)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except BlockingIOError:
        return False
    except OSError:
        return True


def _rss_kb(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1
