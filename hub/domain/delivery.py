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


# The characters a patient id may end with: ids are uuid4 hex (hub/ids.py new_id), whose
# last digit is random, so lanes split patients evenly by it.
_HEX_DIGITS = "0123456789abcdef"
MAX_CONNECTIONS = len(_HEX_DIGITS)


@dataclass(frozen=True)
class Lane:
    """Lane `index` of the `count` lanes of one destination (`[outbound] connections`, each
    its own connection): the patients whose id ends with a hex digit d with int(d, 16) % count
    == index, and the last lane also every patient whose id ends otherwise. Every patient is in
    exactly one lane, so a patient's queue keeps its order while the lanes send side by side."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.count <= MAX_CONNECTIONS or not 0 <= self.index < self.count:
            raise ValueError(f"no lane {self.index} of {self.count}")

    def endings(self, index: int | None = None) -> list[str]:
        """The id endings of lane `index` (default this one's), in both cases."""
        index = self.index if index is None else index
        digits = [d for n, d in enumerate(_HEX_DIGITS) if n % self.count == index]
        return digits + [d.upper() for d in digits if d.isalpha()]

    def holds(self, patient_id: str) -> bool:
        """Whether `patient_id`'s queues are this lane's (the store says it in SQL)."""
        if self.index < self.count - 1:
            return patient_id[-1:] in self.endings()
        return not any(patient_id[-1:] in self.endings(n) for n in range(self.count - 1))

    def name(self, destination: str) -> str:
        """The lane's name (its thread and lease): the destination's own when it is the only
        one, else `host:port#index`."""
        return destination if self.count == 1 else f"{destination}#{self.index}"


ONE_LANE = Lane()


def lanes_of(count: int) -> list[Lane]:
    """The `count` lanes of a destination."""
    return [Lane(index, count) for index in range(count)]
