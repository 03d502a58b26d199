"""Outbound deliveries: one re-addressed copy of a message on its way to one recipient.

Plain dataclasses: no SQLAlchemy, no sockets. The store keeps the state (attempts, next attempt,
last error, ACK received) so that a restarted hub resumes from it alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class DeliveryState(StrEnum):
    """Where a delivery stands; only `pending` ones are ever sent."""

    PENDING = "pending"        # waiting for its first or next attempt
    DELIVERED = "delivered"    # the recipient answered AA/CA to its control id
    DENIED = "denied"          # consent no longer allowed it at send time; nothing was sent
    PARKED = "parked"          # AR/CR, or too many attempts; visible and replayable


def destination_key(host: str, port: int) -> str:
    """The key of an MLLP destination, `host:port` (IPv6 hosts in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_destination_key(key: str) -> tuple[str, int]:
    """(host, port) from a key made by `destination_key`; ValueError when it is not one."""
    host, sep, port = key.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"not a destination key: {key!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


@dataclass(frozen=True)
class Delivery:
    """One delivery as stored (its payload, encrypted, is read apart).

    `sequence` orders the deliveries of one patient to one destination: only the pending one
    with the lowest sequence is ever due, and none while a parked one is ahead of it, so a
    recipient receives a patient's messages in the order the hub filed them. `control_id` is
    the MSH-10 of the re-addressed copy, the same on every attempt, so a recipient can
    recognise a resend. `attempts` counts every send; `message_failures` only those that failed
    for the message's own sake (AE/CE, a wrong or unreadable ACK), which `max_attempts` limits.
    """

    id: str
    message_id: str
    entry_id: str | None
    patient_id: str
    recipient: str              # the professional's CNS code
    destination: str            # host:port
    control_id: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    ack_code: str | None
    sequence: int
    created_at: datetime
    updated_at: datetime
    message_failures: int = 0


@dataclass(frozen=True)
class DeliveryAttempt:
    """One send of a delivery, as `hub trace` tells it: `outcome` is delivered, retry or
    parked; `code` what came back (an ACK code or the dispatcher's pseudo code), `ack_code`
    the recipient's when its ACK answered this message, `error` the hub's words for a failure."""

    delivery_id: str
    number: int
    outcome: str
    code: str | None = None
    ack_code: str | None = None
    error: str | None = None
    at: datetime | None = None
