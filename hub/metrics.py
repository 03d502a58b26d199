"""Prometheus metrics, one registry per hub (no global registry).

No patient data in labels, and every label has a bounded set of values:
- `sender` is MSH-3^MSH-4 only for a sender the senders file names literally (and whose peer
  it admits), else `other` (hub/inbound/senders.py: junk cannot grow the registry, and in open
  mode every sender is `other`); `type` is MSH-9's code^event, and a `type` not of MSH-9's
  shape (MESSAGE_TYPE) is `other` at once. Ids an operator already sees in configuration and
  ACKs, never about a patient; as a second bound each label keeps the first
  `max_label_values` distinct values it meets and counts later ones as `other`;
- `reason` of a sender refusal is one of unknown_sender, peer, type, privilege;
- `ack_code`, `state`, `outcome`, `stage` are fixed code sets; `reason` of a consent denial is
  one of `hub.domain.consent.Reason` (or the routing's two own reasons), of a parked message one
  of PARK_CLASSES, never the free text stored beside it;
- `destination` is a registry destination (host:port), `queue` one of the namespace's queues.
- `reason` of a refused MLLP connection names the cap reached, of a failed TLS handshake its
  class (hub/mllp/tls.py): never the peer's address.
Queue depths and broker/database connectivity are read at scrape time from `hub.health.Health`.
"""
from __future__ import annotations

import re
import threading
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

PARK_CLASSES = ("unmapped", "identity", "mapping", "conflict", "parse", "dead_letter", "closed",
                "other")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                   300.0, 3600.0)


# MSH-9 as the label keeps it: a message code and, after ^, a trigger event (HL7 tables 0076
# and 0003 use 3 letters and 3 letters or digits; sites add Z codes of the same shape).
_ANSWERED_KEPT = 4096  # (sender, type, code) keys remembered; junk senders past it are looked up
MESSAGE_TYPE = re.compile(r"[A-Z][A-Z0-9]{2}(\^[A-Z0-9]{3})?")


class BoundedLabel:
    """Passes the first `limit` distinct values of a label, then answers `other`; with `shape`,
    a value that does not match it in full is `other` at once (junk does not use up the limit)."""

    def __init__(self, limit: int, shape: re.Pattern[str] | None = None) -> None:
        self._limit = limit
        self._shape = shape
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str | None) -> str:
        value = (value or "unknown")[:64]
        if value in self._seen:
            return value
        if self._shape is not None and value != "unknown" and not self._shape.fullmatch(value):
            return "other"
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return "other"


def park_class(reason: str | None) -> str:
    """The bounded class of a parked message's reason (PARK_CLASSES)."""
    text = reason or ""
    for prefix, name in (("unmapped:", "unmapped"), ("conflict:", "conflict"),
                         ("dead-lettered:", "dead_letter"), ("MappingError", "mapping"),
                         ("PID-3", "identity"), ("InvalidMatricule", "identity"),
                         ("UnknownMatricule", "identity"), ("HL7Error", "parse"),
                         ("UnicodeDecodeError", "parse"), ("LookupError", "parse"),
                         ("closed:", "closed")):
        if text.startswith(prefix):
            return name
    return "other"


class Metrics:
    """The hub's counters and histograms, registered in a registry of its own."""

    def __init__(self, max_label_values: int = 200) -> None:
        self.registry = r = CollectorRegistry()
        self._sender = BoundedLabel(max_label_values)
        self._type = BoundedLabel(max_label_values, shape=MESSAGE_TYPE)
        # The counter of each (sender, type, code) the listener met: a bounded label maps a value
        # the same way for good once it has seen it, and labels() costs a lock and checks.
        self._answered: dict[tuple[str | None, str | None, str], Counter] = {}
        self._frames: dict[str, Counter] = {}
        self.messages_received = Counter(
            "hub_messages_received", "Frames received and answered, by sender (MSH-3^MSH-4), "
            "type (MSH-9) and ACK code: AA/CA accepted, AR/CR rejected, AE/CE not stored",
            ["sender", "type", "ack_code"], registry=r)
        self.sender_refusals = Counter(
            "hub_sender_refusals", "Messages refused by the senders file (AR 207), by reason: "
            "unknown_sender, peer, type, privilege", ["reason"], registry=r)
        self.frames_received = Counter(
            "hub_frames_received", "MLLP frames received and answered, by ACK code",
            ["ack_code"], registry=r)
        self.connections = Gauge("hub_mllp_connections", "Open MLLP connections", registry=r)
        self.queue_stalled = Gauge(
            "hub_queue_stalled", "1 while the watchdog finds a queue holding messages with no "
            "consumer or no progress (hub/jobs/watchdog.py)", ["queue"], registry=r)
        self.connections_refused = Counter(
            "hub_mllp_connections_refused", "MLLP connections closed at once, by the cap reached "
            "(max_connections, max_connections_per_peer)", ["reason"], registry=r)
        self.tls_handshake_failures = Counter(
            "hub_mllp_tls_handshake_failures", "MLLP connections whose TLS handshake failed, by "
            "class (certificate, protocol, timeout, closed, other)", ["reason"], registry=r)
        self.framing_errors = Counter(
            "hub_mllp_framing_errors", "Connections closed for broken framing or read timeout",
            ["reason"], registry=r)
        self.ack_latency = Histogram(
            "hub_ack_latency_seconds", "From a frame's last byte to its ACK being written",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0), registry=r)
        self.messages_processed = Counter(
            "hub_messages_processed", "Messages a worker committed, by final state "
            "(stored, parked, rejected, discarded)", ["state"], registry=r)
        self.processing_latency = Histogram(
            "hub_message_processing_seconds", "From a message's receipt by the listener to its "
            "final state committed by a worker", ["state"], buckets=LATENCY_BUCKETS, registry=r)
        self.parked = Counter(
            "hub_messages_parked", "Messages parked, by reason class (" + ", ".join(PARK_CLASSES)
            + ")", ["reason"], registry=r)
        self.batch_latency = Histogram(
            "hub_worker_batch_seconds", "Time to process and commit one worker batch", registry=r)
        self.routed = Counter(
            "hub_routing_decisions", "Recipients considered when a message was filed, by outcome "
            "(queued, denied, no_destination, cannot_readdress)", ["outcome"], registry=r)
        self.denials = Counter(
            "hub_consent_denials", "Recipients kept out by consent, by stage (routing, send) and "
            "reason", ["stage", "reason"], registry=r)
        self.deliveries = Counter(
            "hub_deliveries", "Outbound attempts and send-time denials, by destination (host:port) "
            "and outcome (delivered, retried, parked, denied)", ["destination", "outcome"],
            registry=r)
        self.delivery_latency = Histogram(
            "hub_delivery_seconds", "From a delivery being queued (its message stored) to the "
            "recipient's accepting ACK", buckets=LATENCY_BUCKETS, registry=r)

    def frame_answered(self, ack_code: str) -> None:
        """Count one MLLP frame answered (AA, AE or AR: three counters, looked up once)."""
        counter = self._frames.get(ack_code)
        if counter is None:
            counter = self._frames[ack_code] = self.frames_received.labels(ack_code=ack_code)
        counter.inc()

    def message_answered(self, sender: str | None, message_type: str | None, ack_code: str) -> None:
        """Count one frame the listener answered."""
        key = (sender, message_type, ack_code)
        counter = self._answered.get(key)
        if counter is None:
            kind = "^".join((message_type or "").split("^")[:2])
            counter = self.messages_received.labels(self._sender(sender), self._type(kind), ack_code)
            if len(self._answered) < _ANSWERED_KEPT:
                self._answered[key] = counter
        counter.inc()

    def message_filed(self, state: str, reason: str | None, received_at: datetime | None,
                      now: datetime | None = None) -> None:
        """Count one message a worker committed in `state`, and how long it took since receipt."""
        self.messages_processed.labels(state=state).inc()
        if state == "parked":
            self.parked.labels(reason=park_class(reason)).inc()
        if received_at is not None:
            now = now or datetime.now(timezone.utc)
            self.processing_latency.labels(state=state).observe(
                max(0.0, (now - received_at).total_seconds()))

    def routing_decision(self, outcome: str, denial: str | None = None) -> None:
        """Count one recipient decision at routing time (`denial`: the consent reason)."""
        self.routed.labels(outcome=outcome).inc()
        if denial is not None:
            self.denials.labels(stage="routing", reason=denial).inc()

    def delivery_outcome(self, destination: str, outcome: str, *, reason: str | None = None,
                         queued_at: datetime | None = None, now: datetime | None = None) -> None:
        """Count one recorded delivery outcome; a send-time denial by reason, a delivery's
        latency since it was queued."""
        self.deliveries.labels(destination, outcome).inc()
        if outcome == "denied":
            self.denials.labels(stage="send", reason=reason or "unknown").inc()
        if outcome == "delivered" and queued_at is not None:
            now = now or datetime.now(timezone.utc)
            self.delivery_latency.observe(max(0.0, (now - queued_at).total_seconds()))

    def watch(self, health) -> None:
        """Expose `health`'s checks (connectivity, queue depths) at scrape time."""
        self.registry.register(HealthCollector(health))


class HealthCollector:
    """Gauges read when scraped: hub_broker_up, hub_database_up, hub_mappings_loaded (1/0, for
    the checks this process runs) and hub_queue_depth / hub_queue_consumers per queue."""

    _UP = {"broker": ("hub_broker_up", "1 when the broker answered the last check"),
           "database": ("hub_database_up", "1 when the database answered the last check"),
           "mappings": ("hub_mappings_loaded", "1 when the mappings are loaded")}

    def __init__(self, health) -> None:
        self._health = health

    def collect(self):
        """The gauges, from a check at most `health.ttl` seconds old."""
        results = self._health.run()
        for name, result in results.items():
            metric, text = self._UP.get(name, (f"hub_{name}_up", f"1 when {name} answered"))
            yield GaugeMetricFamily(metric, text, value=1 if result.ok else 0)
        stats = self._health.value("broker")
        if isinstance(stats, dict):
            depth = GaugeMetricFamily("hub_queue_depth", "Messages ready in a broker queue",
                                      labels=["queue"])
            consumers = GaugeMetricFamily("hub_queue_consumers", "Consumers of a broker queue",
                                          labels=["queue"])
            for queue, q in stats.items():
                depth.add_metric([queue], q.depth)
                consumers.add_metric([queue], q.consumers)
            yield depth
            yield consumers
