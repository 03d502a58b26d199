"""One frame in, one ACK out: sniff the header, publish the bytes durably, then answer.

No ACK leaves before the broker confirmed the bytes, whatever its code: a rejected frame is kept
too (for inspection), so when the broker cannot take it the answer is AE 207 and the sender
resends, rather than an AR for bytes the hub no longer has.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from hub.broker.headers import (
    ACCEPTED, ACK_CODE, CONTROL_ID, ERR_CODE, PEER, REASON, RECEIVED_AT, REJECTED, SENDER, TYPE,
    VERDICT, VERSION,
)
from hub.broker.port import Publisher
from hub.errors import PublishNotConfirmed
from hub.ids import new_id as _new_id
from hub.inbound.ack import build_ack, wants_ack
from hub.inbound.batch import BatchProblem, is_batch, read_batch
from hub.inbound.batch_ack import batch_answer, rejection_header
from hub.inbound.senders import Certificate, Refusal, SenderRules
from hub.inbound.sniff import Rejection, Sniffed, sniff
from hub.logs import lifecycle
from hub.metrics import Metrics

log = logging.getLogger(__name__)
_WINDOW = 256  # a batch's publishes awaiting their confirms at once
BATCH_TYPE = "BATCH"  # x-hub-type of a refused batch, kept whole


@dataclass(frozen=True)
class Accepted:
    """What became of one message: its sniff, the ACK code (original mode), the ERR, and
    whether the broker confirmed it (False: code AE 207, resend)."""

    sniffed: Sniffed
    code: str
    rejection: Rejection | None
    confirmed: bool


@dataclass(frozen=True)
class IntakePolicy:
    """What the listener checks before it publishes."""

    supported_versions: frozenset[str]
    identity_exempt: frozenset[str]
    authorities: frozenset[str]
    fallback_charset: str = "utf-8"
    # Types the hub handles (mapped, or the registry's MFN^M02): others get AR 200/201 when
    # worker.unmapped_policy is "reject"; None ("park") lets them through to be parked.
    served_types: frozenset[str] | None = None
    publish_timeout: float = 5.0
    hub_application: str = "DSP-HUB"
    hub_facility: str = "DSP"
    # MSH-15 NE/ER/SU ask for no accept ACK in some cases. Over MLLP a silent hub cannot be told
    # from a hung one and most senders block on the read, so by default every frame is answered.
    honour_accept_ack_conditions: bool = False
    # Who may send what (hub/inbound/senders.py), checked once the sniff passed a message: a
    # malformed frame is refused for its form first. The composition root always sets it (the
    # file's rules, or the open mode); None checks no sender (tests of the other rules).
    senders: SenderRules | None = None


def check(payload: bytes, policy: IntakePolicy, peer: str | None = None,
          certificate: Certificate | None = None) -> Sniffed:
    """The listener's checks of one message under `policy` (what `hub rejected retry` runs
    again over a kept rejected message's bytes); with `peer`, the senders file's too."""
    return judged(payload, policy, peer, certificate)[0]


def judged(payload: bytes, policy: IntakePolicy, peer: str | None,
           certificate: Certificate | None = None) -> tuple[Sniffed, Refusal | None]:
    """`check`, and the senders file's refusal when that is why the message is refused."""
    sniffed = sniff(
        payload,
        fallback_charset=policy.fallback_charset,
        supported_versions=policy.supported_versions,
        identity_exempt=policy.identity_exempt,
        authorities=policy.authorities,
        served_types=policy.served_types,
    )
    if (policy.senders is None or peer is None or sniffed.rejection is not None
            or sniffed.header is None):
        return sniffed, None
    refusal = policy.senders.judge(sniffed.header, peer, certificate)
    if refusal is None:
        return sniffed, None
    return Sniffed(sniffed.header, sniffed.message, refusal.rejection), refusal


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Intake:
    """Turns frames into durable broker messages and ACKs; knows nothing of sockets."""

    def __init__(
        self,
        publisher: Publisher,
        queue: str | Callable[[str | None], str],
        policy: IntakePolicy,
        metrics: Metrics,
        clock: Callable[[], datetime] = _utcnow,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self._publisher = publisher
        # Where each message goes: one queue, or (as `hub serve` wires it) the inbound partition
        # of the message's matricule, hub/broker/partitions.py.
        self._queue_for: Callable[[str | None], str] = (
            (lambda _matricule: queue) if isinstance(queue, str) else queue)
        self._policy = policy
        self._metrics = metrics
        self._clock = clock
        self._new_id = new_id

    async def handle(self, payload: bytes, peer: str,
                     certificate: Certificate | None = None) -> bytes | None:
        """Return the ACK payload for one frame (None when the sender asked for no ACK).
        A frame holding a batch gets one answer for the whole (see `hub.inbound.batch_ack`).
        `certificate`: what the connection's TLS client certificate proves, if it had one."""
        if is_batch(payload):
            return await self._handle_batch(payload, peer, certificate)
        accepted = await self.accept(payload, peer, self._clock(), certificate)
        return self._answer(accepted)

    async def refuse_oversize(self, head: bytes, size: int, limit: int, peer: str) -> bytes | None:
        """Answer a frame longer than `limit` bytes with AR 207 (resending it cannot help). Its
        first bytes, `head`, are kept as a rejected record, so it is counted like any other."""
        rejection = Rejection("AR", 207, "", f"message of {size} bytes refused: the hub takes "
                              f"at most {limit} bytes per frame (mllp.max_frame)")
        refused = Sniffed(rejection_header(head), None, rejection)
        return self._answer(await self._publish(head, peer, self._clock(), refused))

    async def accept(self, payload: bytes, peer: str, received_at: datetime,
                     certificate: Certificate | None = None) -> Accepted:
        """Sniff one message, check its sender, and publish its bytes with the verdict; returns
        once the broker confirmed (or refused: code AE 207, `confirmed` False). The MLLP and
        spool path alike."""
        sniffed, refusal = judged(payload, self._policy, peer, certificate)
        if refusal is not None:
            self._metrics.sender_refusals.labels(reason=refusal.reason).inc()
        return await self._publish(payload, peer, received_at, sniffed, certificate=certificate)

    async def accept_all(self, payloads: list[bytes], peer: str, received_at: datetime,
                         certificate: Certificate | None = None) -> list[Accepted]:
        """`accept` each message of a batch, in order, with their confirms overlapping."""
        if not payloads:
            return []
        # The first alone opens the publisher's channel, so the rest are published in order.
        results = [await self.accept(payloads[0], peer, received_at, certificate)]
        for at in range(1, len(payloads), _WINDOW):
            results += await asyncio.gather(*(self.accept(payload, peer, received_at, certificate)
                                              for payload in payloads[at:at + _WINDOW]))
        return results

    async def _publish(
        self, payload: bytes, peer: str, received_at: datetime, sniffed: Sniffed,
        message_type: str | None = None, certificate: Certificate | None = None,
    ) -> Accepted:
        message_id = self._new_id()
        rejection = sniffed.rejection
        headers = {PEER: peer, RECEIVED_AT: received_at.isoformat()}
        if sniffed.header is not None:  # routing facts only; never patient data
            header = sniffed.header
            headers.update({SENDER: header.sender, CONTROL_ID: header.control_id,
                            TYPE: message_type or header.type, VERSION: header.version})
        if rejection is None:
            headers[VERDICT] = ACCEPTED
            code = "AA"
        else:
            headers.update({VERDICT: REJECTED, REASON: rejection.text, ACK_CODE: rejection.ack_code,
                            ERR_CODE: str(rejection.err_code)})
            code = rejection.ack_code
        label = (headers.get(SENDER) if self._policy.senders is None
                 else self._policy.senders.label(sniffed.header, peer, certificate))
        try:
            queue = self._queue_for(sniffed.matricule if rejection is None else None)
            await self._publisher.publish(
                queue, payload, message_id=message_id, headers=headers,
                timeout=self._policy.publish_timeout,
            )
        except PublishNotConfirmed as exc:
            log.warning("message %s not confirmed by the broker: %s", message_id, exc)
            self._received(message_id, headers, "AE", None, label)
            return Accepted(sniffed, "AE", Rejection(
                "AE", 207, "", "message not stored (broker unavailable); resend it"), False)
        self._received(message_id, headers, code, rejection, label)
        return Accepted(sniffed, code, rejection, True)

    def _received(self, message_id: str, headers: dict, code: str, rejection: Rejection | None,
                  label: str | None) -> None:
        """Count the message by sender (`label`: bounded, see hub/inbound/senders.py), type
        and code, and log its lifecycle line (ids only)."""
        self._metrics.message_answered(label, headers.get(TYPE), code)
        # DEBUG: at INFO this line costs the ingest path a third or more (hub/logs.py).
        lifecycle("message", "received", logging.DEBUG, message_id=message_id,
                  control_id=headers.get(CONTROL_ID),
                  sender=headers.get(SENDER), type=headers.get(TYPE), ack_code=code,
                  reason=rejection.text if rejection else None)  # sniff's texts name fields only

    async def _handle_batch(self, payload: bytes, peer: str,
                            certificate: Certificate | None = None) -> bytes | None:
        """Check the whole batch first: refused, it is kept as one rejected record and answered
        with one AR; accepted, every message is published and confirmed, then one batch of ACKs
        answers them all. `received` counts what got an ACK: each message, or the refused batch."""
        received_at = self._clock()
        checked = read_batch(payload)
        if isinstance(checked, BatchProblem):
            rejection = Rejection("AR", checked.err_code, checked.location, checked.text)
            refused = Sniffed(rejection_header(payload), None, rejection)
            return self._answer(await self._publish(payload, peer, received_at, refused, BATCH_TYPE,
                                                    certificate))
        results = await self.accept_all(checked.messages, peer, received_at, certificate)
        acks = [self._ack(result) for result in results]
        return batch_answer(checked, acks, control_id=self._new_id()[:16], now=self._clock(),
                            hub_app=self._policy.hub_application, hub_facility=self._policy.hub_facility)

    def _answer(self, accepted: Accepted) -> bytes | None:
        header = accepted.sniffed.header
        if (self._policy.honour_accept_ack_conditions and header is not None
                and not wants_ack(header, accepted.code)):
            self._metrics.frame_answered(accepted.code)
            return None
        return self._ack(accepted)

    def _ack(self, accepted: Accepted) -> bytes:
        self._metrics.frame_answered(accepted.code)
        return build_ack(
            accepted.sniffed.header, accepted.code, error=accepted.rejection,
            control_id=self._new_id()[:20], now=self._clock(), hub_app=self._policy.hub_application,
            hub_facility=self._policy.hub_facility,
        )
