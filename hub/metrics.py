"""Prometheus metrics, one registry per hub (no global registry). No patient data in labels."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The hub's counters and histograms, registered in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.frames_received = Counter(
            "hub_frames_received", "MLLP frames received and answered, by ACK code",
            ["ack_code"], registry=self.registry,
        )
        self.connections = Gauge(
            "hub_mllp_connections", "Open MLLP connections", registry=self.registry,
        )
        self.connections_refused = Counter(
            "hub_mllp_connections_refused", "MLLP connections closed at once: connection cap reached",
            registry=self.registry,
        )
        self.framing_errors = Counter(
            "hub_mllp_framing_errors", "Connections closed for broken framing or read timeout",
            ["reason"], registry=self.registry,
        )
        self.ack_latency = Histogram(
            "hub_ack_latency_seconds", "From a frame's last byte to its ACK being written",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0),
            registry=self.registry,
        )
        self.messages_processed = Counter(
            "hub_messages_processed", "Messages a worker committed, by final state",
            ["state"], registry=self.registry,
        )
        self.batch_latency = Histogram(
            "hub_worker_batch_seconds", "Time to process and commit one worker batch",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "hub_deliveries", "Outbound attempts and send-time denials, by destination (host:port) "
            "and outcome (delivered, retried, parked, denied)",
            ["destination", "outcome"], registry=self.registry,
        )
