"""Issue 14: one bad client cannot starve the HTTP side (health, metrics, dashboard). Stalled
connections cost a socket, not a thread, and are closed after `http.channel_timeout`; wrong
dashboard passwords, however many at once, cost a bounded amount of memory and hashing."""
from __future__ import annotations

import base64
import http.client
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from hub.health import Health
from hub.http_server import health_app, start_http
from hub.metrics import Metrics
from hub.settings import HTTPSettings
from tests.fixtures.hub_process import REPO

STALLED = 500
PASSWORD = "correct horse battery staple"


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"ops:{password}".encode()).decode()


def get(port: int, path: str, auth: str | None = None, source: str = "127.0.0.1",
        timeout: float = 10.0) -> tuple[int, dict, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                            source_address=(source, 0))
    try:
        connection.request("GET", path, headers={"Authorization": auth} if auth else {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def stall(port: int, count: int) -> list[socket.socket]:
    """`count` connections that each send half a request and then nothing."""
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: hub\r\nX-Half: ")
        sockets.append(sock)
    return sockets


def closed_by_peer(sock: socket.socket) -> bool:
    sock.settimeout(0.2)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except ConnectionError:
        return True


@pytest.fixture
def server():
    health = Health({"database": lambda: True}, timeout=2.0, ttl=1.0)
    metrics = Metrics()
    metrics.watch(health)
    started = start_http(HTTPSettings(host="127.0.0.1", port=0, threads=4, channel_timeout=3),
                         health_app(metrics, health))
    yield started
    started.close()


def test_stalled_connections_cost_no_thread_and_the_probe_still_answers(server):
    before = threading.active_count()
    sockets = stall(server.port, STALLED)
    try:
        time.sleep(0.5)  # every one accepted and read
        assert threading.active_count() <= before + 1, [t.name for t in threading.enumerate()]
        started = time.monotonic()
        status, _, body = get(server.port, "/health/live", timeout=2)
        assert status == 200 and b"live" in body
        assert time.monotonic() - started < 1.0
        assert get(server.port, "/metrics", timeout=2)[0] == 200
        assert threading.active_count() <= before + 1
    finally:
        for sock in sockets:
            sock.close()


def test_stalled_connections_are_closed_after_the_channel_timeout(server):
    sockets = stall(server.port, 50)
    try:
        time.sleep(1.0)
        assert not any(closed_by_peer(sock) for sock in sockets[:5])  # not before the timeout
        deadline = time.monotonic() + 3 + 5  # channel_timeout, then at most a cleanup round
        while time.monotonic() < deadline and not all(closed_by_peer(s) for s in sockets):
            time.sleep(0.25)
        assert all(closed_by_peer(sock) for sock in sockets)
    finally:
        for sock in sockets:
            sock.close()


def test_closing_the_server_closes_its_connections_and_threads():
    before = threading.active_count()
    health = Health({"database": lambda: True}, timeout=2.0, ttl=1.0)
    server = start_http(HTTPSettings(host="127.0.0.1", port=0), health_app(Metrics(), health))
    sockets = stall(server.port, 20)
    assert get(server.port, "/health/live")[0] == 200
    server.close()
    assert all(closed_by_peer(sock) for sock in sockets)
    assert threading.active_count() == before
    with pytest.raises(ConnectionRefusedError):
        get(server.port, "/health/live", timeout=2)
    for sock in sockets:
        sock.close()


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


@pytest.fixture
def alone():
    """The HTTP endpoints in a process of their own (tests/fixtures/http_alone.py)."""
    process = subprocess.Popen([sys.executable, "-m", "tests.fixtures.http_alone", PASSWORD],
                               cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        yield process, port
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_concurrent_wrong_passwords_cost_bounded_memory_and_the_right_one_still_opens(alone):
    process, port = alone
    assert get(port, "/dashboard/", basic(PASSWORD), source="127.0.0.200")[0] == 200
    settled = int(proc_status(process.pid)["VmRSS"].split()[0])

    def attempt(n: int, source: str) -> int:
        return get(port, "/dashboard/", basic(f"wrong guess {n}"), source=source, timeout=60)[0]

    # A hundred at once from one address, then a hundred at once from a hundred addresses.
    with ThreadPoolExecutor(100) as pool:
        one = list(pool.map(lambda n: attempt(n, "127.0.0.2"), range(100)))
        many = list(pool.map(lambda n: attempt(n, f"127.0.1.{n + 1}"), range(100)))
    status = proc_status(process.pid)
    peak = int(status["VmHWM"].split()[0])
    print(f"\nhttp alone: VmRSS before {settled / 1024:.0f} MiB, VmHWM after 200 wrong logins "
          f"{peak / 1024:.0f} MiB, threads {status['Threads']}; one address: "
          f"{one.count(401)} x 401, {one.count(429)} x 429; a hundred addresses: "
          f"{many.count(401)} x 401, {many.count(429)} x 429")
    assert set(one) <= {401, 429} and set(many) <= {401, 429}
    assert one.count(401) <= 5  # the address's burst; the rest refused before any hash
    assert peak < 300 * 1024
    assert int(status["Threads"]) <= 20
    # The right password from an address that failed once still opens.
    assert get(port, "/dashboard/", basic(PASSWORD), source="127.0.1.7")[0] == 200
    assert get(port, "/health/live")[0] == 200
