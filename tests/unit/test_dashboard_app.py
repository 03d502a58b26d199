"""The dashboard's WSGI app without a hub: login, read-only, headers, escaping."""
from __future__ import annotations

import base64
import json
import threading
from wsgiref.util import setup_testing_defaults

import pytest

from hub.dashboard import pages
from hub.dashboard.app import Dashboard, build_dashboard
from hub.dashboard.auth import BasicAuth, hash_password
from hub.dashboard.samples import StatusRing
from hub.errors import ConfigError
from hub.settings import load_settings

GOOD = "Basic " + base64.b64encode(b"ops:correct horse battery").decode()
STATUS = {"messages": {"received": 4, "stored": 3, "parked": 1}, "deliveries": {"delivered": 1},
          "queues": {"hub.inbound": {"depth": 0, "consumers": 1}},
          "health": {"healthy": False, "summary": "unhealthy: 1 message parked", "problems": []}}


def call(app, path: str, method: str = "GET", auth: str | None = GOOD, query: str = ""):
    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "QUERY_STRING": query}
    if auth:
        environ["HTTP_AUTHORIZATION"] = auth
    setup_testing_defaults(environ)
    seen = {}

    def start_response(status, headers):
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body.decode()


def dashboard() -> Dashboard:
    ring = StatusRing(interval=5, history=3600)
    ring.add(1000.0, STATUS)
    # No store, no status: the overview reads only the ring; a page that needs the store is not
    # asked here.
    return Dashboard(None, None, BasicAuth("ops", hash_password("correct horse battery", n=2**10)),
                     ring)


def test_every_page_needs_the_login():
    app = dashboard()
    for path in ("/dashboard/", "/dashboard/api/overview", "/dashboard/parked",
                 "/dashboard/static/dashboard.js", "/dashboard/nowhere"):
        status, headers, body = call(app, path, auth=None)
        assert status.startswith("401"), path
        assert headers["WWW-Authenticate"].startswith('Basic realm="hub dashboard"')
        assert "unhealthy" not in body


def test_too_many_wrong_passwords_from_one_address_get_429_with_retry_after():
    app = dashboard()
    wrong = "Basic " + base64.b64encode(b"ops:not the password").decode()
    statuses = []
    for _ in range(7):
        status, headers, body = call(app, "/dashboard/", auth=wrong)
        statuses.append(status[:3])
    assert statuses == ["401"] * 5 + ["429"] * 2
    assert int(headers["Retry-After"]) >= 1 and "WWW-Authenticate" not in headers
    assert "unhealthy" not in body
    # While limited, even the right password waits (no hash is computed for that address).
    assert call(app, "/dashboard/")[0].startswith("429")


def test_the_right_password_after_a_wrong_one_opens():
    app = dashboard()
    wrong = "Basic " + base64.b64encode(b"ops:not the password").decode()
    assert call(app, "/dashboard/", auth=wrong)[0].startswith("401")
    assert call(app, "/dashboard/")[0] == "200 OK"


def test_it_is_read_only():
    status, headers, _ = call(dashboard(), "/dashboard/", method="POST")
    assert status.startswith("405") and headers["Allow"] == "GET"


def test_the_overview_and_its_json_show_the_sampled_status():
    app = dashboard()
    status, headers, body = call(app, "/dashboard/")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/html")
    assert '<span data-stat="messages.parked">1</span>' in body
    assert "unhealthy: 1 message parked" in body
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    status, _, body = call(app, "/dashboard/api/overview")
    document = json.loads(body)
    assert document["status"] == STATUS and len(document["series"]) == 1


def test_static_files_are_served_and_nothing_else_from_the_package():
    app = dashboard()
    status, headers, body = call(app, "/dashboard/static/dashboard.js")
    assert status == "200 OK" and headers["Content-Type"].startswith("text/javascript")
    assert "/dashboard/api/overview" in body
    assert call(app, "/dashboard/static/../app.py")[0].startswith("404")
    assert call(app, "/dashboard/static/samples.py")[0].startswith("404")


def test_texts_from_the_store_are_escaped():
    row = {"id": "m1", "received_at": "2026-11-26T04:00:00", "sender": "<b>LAB</b>",
           "control_id": "C1", "type": "ORU^R01", "reason_class": "conflict",
           "reason": "conflict: <script>alert(1)</script>", "status": "open"}
    html = pages.parked({"messages": [row], "deliveries": []})
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;LAB&lt;/b&gt;" in html
    trace = pages.trace('"><img src=x>', {"missing": True})
    assert "<img" not in trace


def test_control_characters_from_senders_are_shown_inert():
    sender = "LAB\x1b]0;owned\x07^HOSP\x9b2J"
    row = {"id": "m1", "received_at": "2026-11-26T04:00:00", "sender": sender,
           "control_id": "C\x001", "type": "ORU^R01", "reason_class": "conflict",
           "reason": "r\u202e21", "status": "open"}
    html = pages.parked({"messages": [row], "deliveries": []})
    message = {"id": "m1", "sender": sender, "control_id": "C1", "type": "ORU^R01",
               "version": "2.5", "state": "stored", "ack_code": "AA", "reason": None,
               "received_at": "2026-11-26T04:00:00", "processed_at": None, "replay_of": None}
    story = [{"at": "2026-11-26T04:00:00", "event": "received", "detail": f"from {sender}"}]
    trace = pages.trace("C\x1b1", {"trace": {"message": message, "story": story, "entries": [],
                                             "deliveries": [], "audit": []}})
    missing = pages.trace("C\x1b1", {"missing": True})
    for page in (html, trace, missing):
        assert not any(c in page for c in "\x00\x07\x1b\x9b\u202e")
    assert "LAB\\x1b]0;owned\\x07^HOSP\\x9b2J" in html and "C\\x001" in html
    assert "r\\u202e21" in html
    assert '<dd data-field="sender">LAB\\x1b]0;owned\\x07^HOSP\\x9b2J</dd>' in trace
    assert "from LAB\\x1b" in trace and "<code>C\\x1b1</code>" in missing


def test_the_dashboard_is_off_without_a_hash_and_a_bad_hash_stops_the_hub(monkeypatch):
    monkeypatch.delenv("HUB_DASHBOARD__PASSWORD_HASH", raising=False)
    stop = threading.Event()
    s = load_settings()
    assert build_dashboard(s.dashboard, s.http, None, None, stop) is None
    monkeypatch.setenv("HUB_DASHBOARD__PASSWORD_HASH", "hunter2")  # a password, not a hash
    s = load_settings()
    with pytest.raises(ConfigError) as caught:
        build_dashboard(s.dashboard, s.http, None, None, stop)
    assert "scrypt$N$r$p$SALT$KEY" in str(caught.value) and "hunter2" not in str(caught.value)


class _Found:
    def __init__(self, messages, deliveries):
        self._messages, self._deliveries = messages, deliveries

    def search(self, state=None, limit=1000, **_):
        rows = self._messages if self._deliveries is None else self._deliveries
        return [r for r in rows if state is None or r.state is state][:limit]


class _ErrorsUow:
    """Just what `sources.errors` reads: messages by state, deliveries newest first."""

    def __init__(self, messages, deliveries):
        self.messages, self.deliveries = _Found(messages, None), _Found(None, deliveries)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


def test_the_errors_page_groups_by_reason_so_a_junk_flood_does_not_hide_real_errors():
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace

    from hub.dashboard import sources
    from hub.domain.models import MessageState

    start = datetime(2026, 11, 26, 4, 0, tzinfo=timezone.utc)
    real = SimpleNamespace(id="real-1", received_at=start, state=MessageState.PARKED,
                           sender="LABSYS^CHL", control_id="R1",
                           reason="conflict: MSH-10 reused with other content (first: message x)")
    junk = [SimpleNamespace(id=f"junk-{n}", received_at=start + timedelta(seconds=1 + n),
                            state=MessageState.REJECTED, sender=f"EVIL{n % 7}^X", control_id=f"J{n}",
                            reason=f"HL7 version 9.{n} (MSH-12) is not supported (accepted: 2.5)")
            for n in range(1500)]
    failed = SimpleNamespace(id="d1", updated_at=start, state=SimpleNamespace(value="pending"),
                             destination="10.0.0.5:2575", control_id="R0",
                             last_error="gave up after 3 attempts: connection refused")
    groups = sources.errors(lambda: _ErrorsUow(junk + [real], [failed]))
    assert [(g["what"], g["state"], g["count"]) for g in groups] == [
        ("message", "rejected", 1500), ("message", "parked", 1), ("delivery", "pending", 1)]
    assert groups[0]["id"] == "junk-1499" and len(groups[0]["wheres"]) == 7
    html = pages.errors(groups)
    assert real.reason in html and failed.last_error in html and "1500" in html
    assert "EVIL" in html and "and 4 more" in html
    assert html.count(">junk-") == 1  # the newest example only
