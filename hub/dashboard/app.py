"""The read-only dashboard as a WSGI app, mounted under /dashboard on the hub's HTTP port.

GET only, every page behind HTTP Basic. Pages are rendered on the server; the
overview's script polls `/dashboard/api/overview` for the newest sample and redraws.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from importlib import resources
from urllib.parse import parse_qs

from hub.dashboard import pages, sources
from hub.dashboard.auth import BasicAuth
from hub.dashboard.samples import Sampler, StatusRing, dashboard_outage
from hub.domain.ports import UnitOfWorkFactory
from hub.errors import DatabaseUnavailable
from hub.logs import OutageLog
from hub.settings import DashboardSettings, HTTPSettings

log = logging.getLogger(__name__)
PREFIX = "/dashboard"
_STATIC = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8"}
# The pages load nothing from elsewhere and run no inline script.
_HEADERS = [
    ("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
]


class Dashboard:
    """The dashboard of one hub: its login, its status ring and its pages.

    `unit_of_work()` opens the reads of the parked, destinations, errors and trace pages;
    `status()` gives the document `hub status --json` prints (hub.ops.status.collect_status)."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, status: Callable[[], dict],
                 auth: BasicAuth, ring: StatusRing, outage: OutageLog | None = None) -> None:
        self._unit_of_work = unit_of_work
        self._collect_status = status
        self._auth = auth
        self._ring = ring
        self._database = outage or dashboard_outage()
        self._routes: dict[str, Callable[[dict], tuple[str, str, str]]] = {
            "/": self._overview, "/parked": self._parked, "/destinations": self._destinations,
            "/errors": self._errors, "/trace": self._trace, "/api/overview": self._api_overview,
        }

    def __call__(self, environ, start_response):
        """Answer one request whose path starts with /dashboard."""
        path = environ.get("PATH_INFO", "")[len(PREFIX):] or "/"
        if environ.get("REQUEST_METHOD", "GET") != "GET":
            return _reply(start_response, "405 Method Not Allowed", "text/plain; charset=utf-8",
                          "the dashboard is read-only\n", [("Allow", "GET")])
        verdict = self._auth.check(environ.get("HTTP_AUTHORIZATION"), environ.get("REMOTE_ADDR", ""))
        if verdict.retry_after:  # too many failed logins from this address: no hash computed
            return _reply(start_response, "429 Too Many Requests", "text/plain; charset=utf-8",
                          "too many failed logins; try again later\n",
                          [("Retry-After", str(verdict.retry_after))])
        if not verdict.allowed:
            return _reply(start_response, "401 Unauthorized", "text/plain; charset=utf-8",
                          "login required\n", [("WWW-Authenticate", 'Basic realm="hub dashboard", charset="UTF-8"')])
        if path.startswith("/static/") and path[8:] in _STATIC:
            body = resources.files("hub.dashboard").joinpath("static", path[8:]).read_text()
            return _reply(start_response, "200 OK", _STATIC[path[8:]], body)
        handler = self._routes.get(path)
        if handler is None:
            return _reply(start_response, "404 Not Found", "text/plain; charset=utf-8", "not found\n")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            status, content_type, body = handler(query)
        except Exception as exc:  # a store or broker failure is a 503 page, never a traceback
            if isinstance(exc, DatabaseUnavailable):  # an outage: reported once, not per page
                self._database.failed(str(exc).removeprefix("database unreachable "))
            else:
                log.warning("dashboard: %s failed", path, exc_info=True)
            return _reply(start_response, "503 Service Unavailable", "text/plain; charset=utf-8",
                          "the hub's store or broker did not answer; see the hub's log\n")
        if path not in ("/", "/api/overview"):  # these two read the sampler's ring, not the store
            self._database.recovered()
        return _reply(start_response, status, content_type, body)

    def _status(self) -> dict:
        sample = self._ring.latest()
        if sample is None:  # before the sampler's first round
            sample = {"at": time.time(), "status": self._collect_status()}
        return sample

    def _overview(self, query: dict) -> tuple[str, str, str]:
        sample = self._status()
        return "200 OK", pages.HTML, pages.overview(sample, self._ring.series(), self._ring.interval)

    def _api_overview(self, query: dict) -> tuple[str, str, str]:
        sample = self._status()
        document = {"at": sample["at"], "status": sample["status"], "series": self._ring.series(),
                    "interval": self._ring.interval}
        return "200 OK", "application/json", json.dumps(document)

    def _parked(self, query: dict) -> tuple[str, str, str]:
        return "200 OK", pages.HTML, pages.parked(sources.parked(self._unit_of_work))

    def _destinations(self, query: dict) -> tuple[str, str, str]:
        document = self._collect_status()  # fresh: one page load, not a poll
        return "200 OK", pages.HTML, pages.destinations(sources.destinations(self._unit_of_work,
                                                                             document))

    def _errors(self, query: dict) -> tuple[str, str, str]:
        return "200 OK", pages.HTML, pages.errors(sources.errors(self._unit_of_work))

    def _trace(self, query: dict) -> tuple[str, str, str]:
        q = query.get("q", "")[:200]
        return "200 OK", pages.HTML, pages.trace(q, sources.trace(self._unit_of_work, q.strip()) if q.strip() else None)


def build_dashboard(s: DashboardSettings, http: HTTPSettings,
                    unit_of_work: UnitOfWorkFactory, status: Callable[[], dict],
                    stop: threading.Event) -> Dashboard | None:
    """The dashboard (see `Dashboard`) served at `http`'s address, its sampler started (until
    `stop`); None when no password hash is set. A malformed hash is a ConfigError so that the
    hub does not start with a locked door it cannot open."""
    from hub.errors import ConfigError

    if not s.password_hash:
        return None
    try:
        auth = BasicAuth(s.user, s.password_hash)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    ring = StatusRing(s.sample_interval, s.history)
    outage = dashboard_outage()
    Sampler(ring, status, stop, outage).start()
    log.info("dashboard on http://%s:%d%s/ (user %s)", http.host, http.port, PREFIX, s.user)
    return Dashboard(unit_of_work, status, auth, ring, outage)


def _reply(start_response, status: str, content_type: str, body: str, extra: list | None = None):
    data = body.encode()
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))),
                            *_HEADERS, *(extra or [])])
    return [data]
