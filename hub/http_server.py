"""Health and Prometheus metrics over HTTP: /health/live, /health/ready, /metrics.

/health/live answers 200 while the process serves HTTP. /health/ready answers 200 when every
check of `hub.health.Health` passes (broker, database, mappings, as the role needs), else 503;
both bodies are JSON: {"status": "ready"|"not ready", "checks": {"broker": "ok"|"failed: …"},
"failed": ["broker", …]}.

Served by waitress: one thread reads and writes every socket (asyncore), a pool of
`http.threads` runs the app, at most `http.connection_limit` connections are open and one that
sends nothing for `http.channel_timeout` seconds is closed. A stalled client costs a socket and a
few kilobytes, never a thread (wsgiref's thread per connection let 500 of them make 517 threads).
One address has at most `http.max_connections_per_peer` connections open, and one told `429`
with `Retry-After` is not read until then (hub/http_gate.py)."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque

from prometheus_client import make_wsgi_app
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

from hub.health import Health
from hub.http_gate import PeerGate, holding_app
from hub.metrics import Metrics
from hub.settings import HTTPSettings

log = logging.getLogger(__name__)
# Browsers send a few kilobytes of headers; these endpoints take no body worth the name.
MAX_HEADER_BYTES = 16 * 1024
MAX_BODY_BYTES = 64 * 1024
# A connection refused for its address's cap waits this long, unread, before it is closed.
REFUSED_LINGER = 1.0
MAX_LINGERING = 1000
# waitress's own lines: "Serving on", and a warning each time the task queue grows while every
# thread is busy (a burst of logins does that). The hub logs its own start line; the queue
# lines are kept for debugging.
for _name, _level in (("waitress", logging.WARNING), ("waitress.queue", logging.ERROR)):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(_level)


def health_app(metrics: Metrics, health: Health, dashboard=None):
    """A WSGI app: liveness, readiness (every check of `health` passes), the metrics registry
    (which reads `health` for its connectivity and queue gauges), and the dashboard's WSGI app
    under /dashboard when one is given."""
    metrics_app = make_wsgi_app(metrics.registry)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/health/live":
            return _json(start_response, "200 OK", {"status": "live"})
        if path == "/health/ready":
            ok, results = health.ready()
            body = {"status": "ready" if ok else "not ready",
                    "checks": {name: r.detail for name, r in results.items()},
                    "failed": [name for name, r in results.items() if not r.ok]}
            return _json(start_response, "200 OK" if ok else "503 Service Unavailable", body)
        if path == "/metrics":
            return metrics_app(environ, start_response)
        if dashboard is not None and (path == "/dashboard" or path.startswith("/dashboard/")):
            return dashboard(environ, start_response)
        return _text(start_response, "404 Not Found", "not found\n")

    return app


class _GatedChannel(HTTPChannel):
    """waitress's connection, read only while its address is not held, and counted per address."""

    gate: PeerGate
    _released = False

    def readable(self) -> bool:
        return super().readable() and not self.gate.holding(self.addr[0])

    def del_channel(self, map=None) -> None:  # every way a channel closes ends here
        if not self._released:
            self._released = True
            self.gate.release(self.addr[0])
        super().del_channel(map)


class _GatedServer(TcpWSGIServer):
    """waitress's TCP server, refusing a connection whose address has too many open.

    A refused connection is closed unread after REFUSED_LINGER seconds rather than at once: a
    client that reconnects as soon as it is closed (a hundred login attackers from one address,
    bench/abuse.py) otherwise made a thousand accept-and-close rounds a second, each a pass of
    waitress's loop over every open connection. At most MAX_LINGERING wait so; past that, a
    refused connection is closed at once."""

    gate: PeerGate
    _lingering: deque[tuple[float, socket.socket]]

    def readable(self) -> bool:
        lingering = self._lingering
        if lingering and lingering[0][0] <= time.monotonic():
            while lingering and lingering[0][0] <= time.monotonic():
                lingering.popleft()[1].close()
        return super().readable()

    def close_lingering(self) -> None:
        """Close every refused connection still waiting."""
        while self._lingering:
            self._lingering.popleft()[1].close()

    def handle_accept(self) -> None:
        try:
            accepted = self.accept()
        except OSError:
            return
        if accepted is None:
            return
        conn, addr = accepted
        if not self.gate.admit(addr[0]):
            if len(self._lingering) < MAX_LINGERING:
                self._lingering.append((time.monotonic() + REFUSED_LINGER, conn))
            else:
                conn.close()
            return
        try:
            self.set_socket_options(conn)
            self.channel_class(self, conn, addr, self.adj, map=self._map)
        except OSError:  # the client left before we got to it
            self.gate.release(addr[0])
            conn.close()


class HTTPServer:
    """The hub's HTTP endpoints, served from a thread of their own until `close()`."""

    def __init__(self, settings: HTTPSettings, app) -> None:
        timeout = settings.channel_timeout
        self.gate = PeerGate(settings.max_connections_per_peer)
        channel = type("Channel", (_GatedChannel,), {"gate": self.gate})
        # Idle channels are looked for every `cleanup_interval` seconds: a stalled one is closed
        # between channel_timeout and 1.25 x channel_timeout after its last byte.
        adjustments = Adjustments(
            host=settings.host, port=settings.port, threads=settings.threads,
            connection_limit=settings.connection_limit, channel_timeout=timeout,
            cleanup_interval=max(1, min(30, timeout // 4)),
            max_request_header_size=MAX_HEADER_BYTES, max_request_body_size=MAX_BODY_BYTES,
            asyncore_use_poll=True,  # select() cannot watch a descriptor numbered past 1023
            ident=None,  # no Server header
            expose_tracebacks=False)
        self._server = _GatedServer(holding_app(app, self.gate), map={}, adj=adjustments)
        self._server.gate = self.gate
        self._server._lingering = deque()
        self._server.channel_class = channel
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)

    def start(self) -> HTTPServer:
        self._thread.start()
        return self

    def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and let the requests in progress finish (at
        most `timeout` seconds). The sockets are closed by the serving thread itself (a thunk
        it runs when woken), so no socket is closed under its feet."""
        server = self._server
        if self._thread.is_alive():
            try:
                server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
            except OSError:  # its trigger is closed already: the loop is ending; close the rest
                wasyncore.close_all(server._map)
            self._thread.join(timeout)
        else:
            wasyncore.close_all(server._map)
        server.close_lingering()
        server.task_dispatcher.shutdown(timeout=timeout)


def start_http(settings: HTTPSettings, app) -> HTTPServer:
    """Serve `app` at `settings`' address from a daemon thread; `close()` the result to stop."""
    return HTTPServer(settings, app).start()


def _json(start_response, status: str, document: dict):
    data = (json.dumps(document) + "\n").encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _text(start_response, status: str, body: str):
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]
