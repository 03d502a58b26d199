"""The access journal's side of outbound delivery: every delivery, send-time denial and parked
delivery becomes an audit event, written by the Dispatcher in the transaction that records the
outcome (so a rollback takes both, and neither exists without the other).

Reasons carry codes and the hub's own words only. A recipient's ACK text (MSA-3, ERR-8) may
hold anything, patient data included, so it never reaches the journal; the ERR-3 code is kept,
since `ack_reader` only passes on short alphanumeric ones.
"""
from __future__ import annotations

import re

from hub.domain.audit import Actor, AuditAction, AuditEvent, AuditOutcome
from hub.domain.delivery import Delivery, DeliveryState
from hub.domain.ports import UnitOfWork
from hub.domain.professional import validate_cns_code
from hub.errors import InvalidCnsCode
from hub.outbound.ack_reader import REJECTED
from hub.outbound.report import Outcome

_ERR3 = re.compile(r"ERR-3 ([A-Za-z0-9]{1,8})\)")
_CODE = re.compile(r"[A-Za-z-]{1,12}")


def delivery_event(delivery: Delivery, outcome: Outcome) -> AuditEvent | None:
    """The audit event for `outcome` of `delivery`; None for a retry (still pending), which
    is no decision the patient needs to see."""
    if outcome.state is DeliveryState.DELIVERED:
        action, result, reason = AuditAction.DELIVER, AuditOutcome.OK, _code(outcome.code)
    elif outcome.state is DeliveryState.DENIED:
        action, result, reason = AuditAction.DENY, AuditOutcome.DENIED, str(outcome.reason)
    elif outcome.state is DeliveryState.PARKED:
        action, result, reason = AuditAction.DELIVER, AuditOutcome.FAILED, parking_reason(
            delivery, outcome)
    else:
        return None
    return AuditEvent(actor=_actor(delivery.recipient), action=action, outcome=result,
                      reason=reason, patient_id=delivery.patient_id, entry_id=delivery.entry_id,
                      message_id=delivery.message_id)


def parking_reason(delivery: Delivery, outcome: Outcome) -> str:
    """Why a delivery was parked, in codes and the hub's words: refused by the recipient (AR,
    CR, with the ERR-3 code when one came), or given up after its last attempt."""
    code = _code(outcome.code)
    if outcome.code in REJECTED:
        err = _ERR3.search(outcome.reason or "")
        return f"refused by recipient: {code}" + (f" (ERR-3 {err.group(1)})" if err else "")
    return f"gave up after {delivery.attempts + 1} attempts: last {code}"


def journal_outcome(uow: UnitOfWork, delivery: Delivery, outcome: Outcome) -> None:
    """The Dispatcher's `journal` hook: record the outcome's audit event in `uow`'s
    transaction (appended when the caller commits)."""
    event = delivery_event(delivery, outcome)
    if event is not None:
        uow.audit.record(event)


def _code(code: str) -> str:
    # ACK codes and the dispatcher's pseudo codes are short words; anything else is not ours
    # to repeat.
    return code if _CODE.fullmatch(code or "") else "unrecognised answer"


def _actor(recipient: str) -> str:
    # Routing only queues deliveries to registered CNS codes; should another id ever reach a
    # delivery, the event is still written (as the hub's) rather than refused, which would
    # roll back the outcome and send the message again and again.
    try:
        return validate_cns_code(recipient)
    except InvalidCnsCode:
        return Actor.HUB.value
