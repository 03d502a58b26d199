"""Health and Prometheus metrics over HTTP: /health/live, /health/ready, /metrics.

/health/live answers 200 while the process serves HTTP. /health/ready answers 200 when every
check of `hub.health.Health` passes (broker, database, mappings, as the role needs), else 503;
both bodies are JSON: {"status": "ready"|"not ready", "checks": {"broker": "ok"|"failed: …"},
"failed": ["broker", …]}."""
from __future__ import annotations

import json
import logging
import threading
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from hub.health import Health
from hub.metrics import Metrics

log = logging.getLogger(__name__)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - wsgiref's name
        log.debug("http %s", format % args)


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


def start_http(host: str, port: int, app) -> tuple[WSGIServer, threading.Thread]:
    """Serve `app` from a daemon thread; returns the server (call `shutdown()` to stop it)."""
    server = make_server(host, port, app, server_class=_ThreadingServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return server, thread


def _json(start_response, status: str, document: dict):
    data = (json.dumps(document) + "\n").encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _text(start_response, status: str, body: str):
    data = body.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]
