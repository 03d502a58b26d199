"""Health and Prometheus metrics over HTTP: /health/live, /health/ready, /metrics."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from hub.metrics import Metrics

log = logging.getLogger(__name__)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - wsgiref's name
        log.debug("http %s", format % args)


def health_app(metrics: Metrics, ready_checks: dict[str, Callable[[], bool]]):
    """A WSGI app: liveness, readiness (every check true), and the metrics registry."""
    metrics_app = make_wsgi_app(metrics.registry)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/health/live":
            return _text(start_response, "200 OK", "live\n")
        if path == "/health/ready":
            failing = [name for name, check in ready_checks.items() if not _safe(check)]
            if failing:
                return _text(start_response, "503 Service Unavailable", f"not ready: {', '.join(failing)}\n")
            return _text(start_response, "200 OK", "ready\n")
        if path == "/metrics":
            return metrics_app(environ, start_response)
        return _text(start_response, "404 Not Found", "not found\n")

    return app


def start_http(host: str, port: int, app) -> tuple[WSGIServer, threading.Thread]:
    """Serve `app` from a daemon thread; returns the server (call `shutdown()` to stop it)."""
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return server, thread


def _safe(check: Callable[[], bool]) -> bool:
    try:
        return bool(check())
    except Exception:  # a failing probe means "not ready", never a 500
        return False


def _text(start_response, status: str, body: str):
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]
