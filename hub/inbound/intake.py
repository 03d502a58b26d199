"""One frame in, one ACK out: sniff the header, publish the bytes durably, then answer.

No ACK leaves before the broker confirmed the bytes, whatever its code: a rejected frame is kept
too (for inspection), so when the broker cannot take it the answer is AE 207 and the sender
resends, rather than an AR for bytes the hub no longer has.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from hub.broker.headers import (
    ACCEPTED, ACK_CODE, CONTROL_ID, PEER, REASON, RECEIVED_AT, REJECTED, SENDER, TYPE, VERDICT,
    VERSION,
)
from hub.broker.port import Publisher
from hub.errors import PublishNotConfirmed
from hub.inbound.ack import build_ack, wants_ack
from hub.inbound.sniff import Rejection, Sniffed, sniff
from hub.metrics import Metrics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakePolicy:
    """What the listener checks before it publishes."""

    supported_versions: frozenset[str]
    identity_exempt: frozenset[str]
    authorities: frozenset[str]
    fallback_charset: str = "utf-8"
    publish_timeout: float = 5.0
    hub_application: str = "DSP-HUB"
    hub_facility: str = "DSP"
    # MSH-15 NE/ER/SU ask for no accept ACK in some cases. Over MLLP a silent hub cannot be told
    # from a hung one and most senders block on the read, so by default every frame is answered.
    honour_accept_ack_conditions: bool = False


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    return uuid.uuid4().hex


class Intake:
    """Turns frames into durable broker messages and ACKs; knows nothing of sockets."""

    def __init__(
        self,
        publisher: Publisher,
        queue: str,
        policy: IntakePolicy,
        metrics: Metrics,
        clock: Callable[[], datetime] = _utcnow,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self._publisher = publisher
        self._queue = queue
        self._policy = policy
        self._metrics = metrics
        self._clock = clock
        self._new_id = new_id

    async def handle(self, payload: bytes, peer: str) -> bytes | None:
        """Return the ACK payload for one frame (None when the sender asked for no ACK)."""
        received_at = self._clock()
        sniffed = sniff(
            payload,
            fallback_charset=self._policy.fallback_charset,
            supported_versions=self._policy.supported_versions,
            identity_exempt=self._policy.identity_exempt,
            authorities=self._policy.authorities,
        )
        message_id = self._new_id()
        rejection = sniffed.rejection
        headers = {PEER: peer, RECEIVED_AT: received_at.isoformat()}
        if sniffed.header is not None:  # routing facts only; never patient data
            header = sniffed.header
            headers.update({SENDER: header.sender, CONTROL_ID: header.control_id,
                            TYPE: header.type, VERSION: header.version})
        if rejection is None:
            headers[VERDICT] = ACCEPTED
            code = "AA"
        else:
            headers.update({VERDICT: REJECTED, REASON: rejection.text, ACK_CODE: rejection.ack_code})
            code = rejection.ack_code
        try:
            await self._publisher.publish(
                self._queue, payload, message_id=message_id, headers=headers,
                timeout=self._policy.publish_timeout,
            )
        except PublishNotConfirmed as exc:
            log.warning("message %s not confirmed by the broker: %s", message_id, exc)
            code = "AE"
            rejection = Rejection("AE", 207, "", "message not stored (broker unavailable); resend it")
        # Per-message lines are DEBUG: at INFO they cost a third of the ingest rate (bench/ingest.py).
        if log.isEnabledFor(logging.DEBUG):
            log.debug("message %s from %s: %s", message_id, peer, code)
        return self._answer(sniffed, code, rejection)

    def _answer(self, sniffed: Sniffed, code: str, rejection: Rejection | None) -> bytes | None:
        self._metrics.frames_received.labels(ack_code=code).inc()
        if (self._policy.honour_accept_ack_conditions and sniffed.header is not None
                and not wants_ack(sniffed.header, code)):
            return None
        return build_ack(
            sniffed.header, code, error=rejection, control_id=self._new_id()[:20],
            now=self._clock(), hub_app=self._policy.hub_application,
            hub_facility=self._policy.hub_facility,
        )
