"""Issue 14: one bad client cannot starve the HTTP side (health, metrics, dashboard). Stalled
connections cost a socket, not a thread, and are closed after `http.channel_timeout`; wrong
dashboard passwords, however many at once, cost a bounded amount of memory and hashing."""
from __future__ import annotations

import base64
import math
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


def stall(port: int, count: int, per_address: int = 10) -> list[socket.socket]:
    """`count` connections that each send half a request and then nothing, `per_address` from
    each of the addresses 127.0.5.x (under the per-address cap)."""
    sockets = []
    for n in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                        source_address=(f"127.0.5.{1 + n // per_address}", 0))
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
        """The answer's status, or 0 when the connection was refused (the per-address cap)."""
        try:
            return get(port, "/dashboard/", basic(f"wrong guess {n}"), source=source, timeout=60)[0]
        except (ConnectionError, http.client.RemoteDisconnected):
            return 0

    # A hundred at once from one address, then a hundred at once from a hundred addresses.
    with ThreadPoolExecutor(100) as pool:
        started = time.monotonic()
        one = list(pool.map(lambda n: attempt(n, "127.0.0.2"), range(100)))
        took = time.monotonic() - started
        many = list(pool.map(lambda n: attempt(n, f"127.0.1.{n + 1}"), range(100)))
    status = proc_status(process.pid)
    peak = int(status["VmHWM"].split()[0])
    print(f"\nhttp alone: VmRSS before {settled / 1024:.0f} MiB, VmHWM after 200 wrong logins "
          f"{peak / 1024:.0f} MiB, threads {status['Threads']}; one address: "
          f"{one.count(401)} x 401, {one.count(429)} x 429, {one.count(0)} refused; a hundred "
          f"addresses: {many.count(401)} x 401, {many.count(429)} x 429")
    assert set(one) <= {0, 401, 429} and set(many) <= {401, 429}
    # The address's burst, then one every 5 s (its held connections are read again after each
    # Retry-After); the rest refused before any hash.
    assert one.count(401) <= 5 + math.ceil(took / 5)
    assert peak < 300 * 1024
    assert int(status["Threads"]) <= 20
    # The right password from an address that failed once still opens.
    assert get(port, "/dashboard/", basic(PASSWORD), source="127.0.1.7")[0] == 200
    assert get(port, "/health/live")[0] == 200


def limited_app(environ, start_response):
    """/limited answers 429 with Retry-After: 2; anything else 200."""
    if environ["PATH_INFO"] == "/limited":
        start_response("429 Too Many Requests", [("Retry-After", "2"), ("Content-Length", "0")])
        return [b""]
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def test_an_address_told_to_retry_later_is_not_read_until_then_and_others_are():
    server = start_http(HTTPSettings(host="127.0.0.1", port=0), limited_app)
    told = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10,
                                      source_address=("127.0.7.1", 0))
    try:
        first_sent = time.monotonic()  # the hold starts after this, when the 429 is answered
        told.request("GET", "/limited")
        response = told.getresponse()
        assert (response.status, response.getheader("Retry-After")) == (429, "2")
        response.read()
        told.request("GET", "/again")  # the same keep-alive connection, at once
        # Meanwhile another address, and a new connection from the held one.
        assert get(server.port, "/other", source="127.0.7.2", timeout=1)[0] == 200
        with pytest.raises(TimeoutError):
            get(server.port, "/other", source="127.0.7.1", timeout=1)
        response = told.getresponse()  # answered at last (the connection's 10 s timeout bounds it)
        # Not a speed: the hold began after `first_sent` and lasts 2 s, so no answer to the
        # second request can come sooner, however fast or slow the machine.
        assert time.monotonic() - first_sent >= 2.0
        assert response.status == 200 and response.read() == b"ok"
    finally:
        told.close()
        server.close()


def test_an_address_past_its_connection_cap_is_refused_and_others_are_not():
    server = start_http(HTTPSettings(host="127.0.0.1", port=0, max_connections_per_peer=5),
                        limited_app)
    held = [socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                     source_address=("127.0.8.1", 0)) for _ in range(5)]
    try:
        for sock in held:
            sock.sendall(b"GET /a HTTP/1.1\r\nHost: hub\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        extra = socket.create_connection(("127.0.0.1", server.port), timeout=10,
                                         source_address=("127.0.8.1", 0))
        with extra:
            deadline = time.monotonic() + 3  # closed unread, after a second
            while not closed_by_peer(extra) and time.monotonic() < deadline:
                pass
            assert time.monotonic() < deadline
        assert get(server.port, "/a", source="127.0.8.2", timeout=2)[0] == 200
        assert server.gate.refused == 1
        held.pop().close()  # one closes: the address may open one more
        deadline = time.monotonic() + 5
        while server.gate.open_connections("127.0.8.1") > 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.gate.open_connections("127.0.8.1") == 4
        assert get(server.port, "/a", source="127.0.8.1", timeout=2)[0] == 200
    finally:
        for sock in held:
            sock.close()
        server.close()
