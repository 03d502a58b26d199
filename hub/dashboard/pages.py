"""The dashboard's HTML, rendered on the server; every value is escaped, and what came from a
sender or the store is shown through `hub.text.inert` (a control character as `\x1b`).

Numbers carry `data-stat="section.name"` attributes: the overview's script updates them in
place, and tests read them.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape

from hub.text import inert

HTML = "text/html; charset=utf-8"
NAV = [("", "Overview"), ("parked", "Parked"), ("destinations", "Destinations"),
       ("errors", "Errors"), ("trace", "Trace")]


def _page(title: str, current: str, body: str, script: bool = False) -> str:
    links = "".join(
        f'<a href="/dashboard/{href}"{" aria-current=page" if href == current else ""}>{label}</a>'
        for href, label in NAV)
    js = '<script src="/dashboard/static/dashboard.js" defer></script>' if script else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)} · DSP hub</title>'
            f'<link rel="stylesheet" href="/dashboard/static/dashboard.css">{js}</head>'
            f'<body><header><strong>DSP hub</strong><nav>{links}</nav></header>'
            f'<main><h1>{escape(title)}</h1>{body}</main></body></html>')


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], id: str = "",
           empty: str = "nothing to show") -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        body = f'<tr><td colspan="{len(headers)}" class="empty">{escape(empty)}</td></tr>'
    return f'<table{f" id={escape(id)}" if id else ""}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value: object) -> str:
    if isinstance(value, _Raw):
        return value.html
    return _text("" if value is None else value)


def _text(value: object) -> str:
    """Data for the page: control characters shown as escapes, then HTML-escaped."""
    return escape(inert(str(value)))


class _Raw:
    """Markup built here from escaped parts, placed in a cell as is."""

    def __init__(self, html: str) -> None:
        self.html = html


def _stat(key: str, value: object) -> _Raw:
    return _Raw(f'<span data-stat="{escape(key)}">{escape(str(value))}</span>')


def _t(value: str | None) -> str:
    """A stored time (ISO 8601) to the second; the zone kept unless it is UTC ("Z")."""
    if not value:
        return ""
    text = value.replace("T", " ")
    head, dot, rest = text.partition(".")
    zone = rest.lstrip("0123456789") if dot else ""
    text = head + zone
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _trace_link(message_id: str) -> _Raw:
    return _Raw(f'<a href="/dashboard/trace?q={escape(message_id)}">{escape(message_id)}</a>')


def overview(sample: dict, series: list[dict], interval: float) -> str:
    """Health, counts, rates, queue depths and the last hour's chart; no patient data at all."""
    status = sample["status"]
    health = status.get("health", {"healthy": True, "summary": ""})
    verdict = (f'<p id="health" class="{"ok" if health["healthy"] else "warn"}">'
               f'{escape(health["summary"])}</p>')
    messages = _table(["messages", "count"],
                      [(name, _stat(f"messages.{name}", n)) for name, n in status["messages"].items()])
    deliveries = _table(["deliveries", "count"],
                        [(name, _stat(f"deliveries.{name}", n)) for name, n in status["deliveries"].items()])
    rates = status.get("rates", {})
    windows = list(rates.get("windows_s", {}))
    rate_rows = [(name.removesuffix("_per_s"),
                  *(_stat(f"rates.{name}.{w}", rates[name].get(w, 0)) for w in windows))
                 for name in ("received_per_s", "filed_per_s", "delivered_per_s") if name in rates]
    rate_table = _table(["per second", *windows], rate_rows)
    queues = _table(["queue", "depth", "consumers"],
                    [(name, _stat(f"queues.{name}.depth", q["depth"]),
                      _stat(f"queues.{name}.consumers", q["consumers"]))
                     for name, q in status["queues"].items()], id="queues")
    broker = (f'<p class="warn" id="broker-error">broker: {escape(status["broker_error"])}</p>'
              if status.get("broker_error") else '<p class="warn" id="broker-error" hidden></p>')
    warnings = "".join(f'<p class="warn hub-warning">{escape(text)}</p>'
                       for text in status.get("warnings", []))
    chart = (f'<figure><svg id="chart" viewBox="0 0 720 220" role="img" '
             f'aria-label="queue depth and messages received per second, last hour" '
             f'data-series="{escape(json.dumps(series))}" data-interval="{interval}"></svg>'
             f'<figcaption><span class="key depth">queue depth (all queues)</span> '
             f'<span class="key rate">received per second</span> · last hour, a sample every '
             f'{interval:g} s · updated <time id="updated"></time></figcaption></figure>')
    body = (f'{verdict}{warnings}{broker}<section class="grid">{messages}{deliveries}{rate_table}</section>'
            f'{chart}<h2>Queues</h2>{queues}')
    return _page("Overview", "", body, script=True)


def parked(found: dict) -> str:
    """Parked messages (as `hub dlq list` shows them) and parked deliveries, with reasons."""
    messages = _table(["message", "received", "sender", "MSH-10", "type", "reason class",
                       "reason", "replay status"],
                      [(_trace_link(m["id"]), _t(m["received_at"]), m["sender"], m["control_id"],
                        m["type"], m["reason_class"], m["reason"], m["status"])
                       for m in found["messages"]],
                      id="parked-messages", empty="no parked message")
    deliveries = _table(["delivery", "message", "recipient", "destination", "attempts", "reason"],
                        [(d["id"], _trace_link(d["message_id"]), d["recipient"], d["destination"],
                          d["attempts"], d["last_error"]) for d in found["deliveries"]],
                        id="parked-deliveries", empty="no parked delivery")
    return _page("Parked", "parked", f"<h2>Messages</h2>{messages}<h2>Deliveries</h2>{deliveries}")


def destinations(rows: list[dict]) -> str:
    """Deliveries by state per destination, rate, oldest pending, and each one's last error."""
    states = list(rows[0]["counts"]) if rows else ["pending", "delivered", "denied", "parked"]
    table = _table(["destination", "health", *states, "delivered/s 1m", "oldest pending s",
                    "last error", "at"],
                   [(r["destination"], "ok" if r["healthy"] else "failing",
                     *(_stat(f"destinations.{r['destination']}.{s}", r["counts"].get(s, 0)) for s in states),
                     r["delivered_per_s"].get("1m", ""), r["oldest_pending_age_s"] or "",
                     r["last_error"], _t(r["last_error_at"])) for r in rows],
                   id="destinations", empty="no delivery yet")
    return _page("Destinations", "destinations", table)


def errors(groups: list[dict]) -> str:
    """Rejected and parked messages and failed delivery attempts grouped by reason (see
    `sources.errors`), the group with the newest example first: how many, from which senders
    or to which destinations, and the newest one's text and id."""
    shown = 3

    def wheres(names: list[str]) -> str:
        more = f" and {len(names) - shown} more" if len(names) > shown else ""
        return ", ".join(str(n) for n in names[:shown]) + more

    table = _table(["latest", "what", "state", "count", "senders / destinations", "reason",
                    "latest id", "MSH-10"],
                   [(_t(g["at"]), g["what"], g["state"], g["count"],
                     wheres(g["wheres"]), g["reason"],
                     _trace_link(g["id"]) if g["what"] == "message" else g["id"], g["control_id"])
                    for g in groups],
                   id="errors", empty="no error")
    return _page("Last errors", "errors", table)


def trace(query: str, found: dict | None) -> str:
    """The search form, then the message's story, entries (kinds), deliveries and audit events;
    or the messages that share the MSH-10 searched for."""
    form = (f'<form method="get" action="/dashboard/trace" role="search">'
            f'<label for="q">MSH-10 or message id</label> '
            f'<input id="q" name="q" value="{_text(query)}" required autofocus> '
            f'<button type="submit">Trace</button></form>')
    if found is None:
        return _page("Trace", "trace", form)
    if "candidates" in found:
        table = _table(["message", "sender", "MSH-10", "type", "state", "received"],
                       [(_trace_link(m["id"]), m["sender"], m["control_id"], m["type"], m["state"],
                         _t(m["received_at"])) for m in found["candidates"]], id="candidates")
        return _page("Trace", "trace", f'{form}<p>{len(found["candidates"])} messages carry '
                                       f'MSH-10 <code>{_text(query)}</code>: choose one.</p>{table}')
    if "trace" not in found:
        return _page("Trace", "trace", f'{form}<p id="not-found">no message with id or MSH-10 '
                                       f'<code>{_text(query)}</code></p>')
    t = found["trace"]
    m = t["message"]
    fields = [("id", m["id"]), ("sender", m["sender"]), ("MSH-10", m["control_id"]),
              ("type", m["type"]), ("version", m["version"]), ("state", m["state"]),
              ("ACK", m["ack_code"]), ("reason", m["reason"]), ("received", _t(m["received_at"])),
              ("processed", _t(m["processed_at"])), ("replay of", m["replay_of"])]
    record = "".join(f'<dt>{escape(k)}</dt><dd data-field="{escape(k)}">{_text(v)}</dd>'
                     for k, v in fields if v)
    story = _table(["at", "event", "detail"], [(_t(e["at"]), e["event"], e["detail"]) for e in t["story"]],
                   id="story")
    entries = _table(["entry", "#", "kind", "confidentiality", "hidden"],
                     [(e["id"], e["seq"], e["kind"], e["confidentiality"], "yes" if e["hidden"] else "")
                      for e in t["entries"]], empty="no entry")
    deliveries = _table(["delivery", "recipient", "destination", "MSH-10 sent", "state",
                         "attempts", "ACK", "last error"],
                        [(d["id"], d["recipient"], d["destination"], d["control_id"], d["state"],
                          d["attempts"], d["ack_code"], d["last_error"]) for d in t["deliveries"]],
                        empty="no delivery")
    events = _table(["#", "at", "actor", "action", "outcome", "reason", "entry"],
                    [(e["seq"], _t(e["at"]), e["actor"], e["action"], e["outcome"], e["reason"],
                      e["entry_id"]) for e in t["audit"]], empty="no audit event")
    body = (f'{form}<section class="trace" data-message="{escape(m["id"])}">'
            f'<h2>Message {escape(m["id"])}</h2><dl>{record}</dl><h3>Story</h3>{story}'
            f'<h3>Entries ({len(t["entries"])})</h3>{entries}'
            f'<h3>Deliveries</h3>{deliveries}<h3>Audit events</h3>{events}</section>')
    return _page("Trace", "trace", body)
