"""What `hub send` reads from the hub's answer to a frame: one ACK, or the ACKs of a batch
answer (FHS/BHS … one ACK per message … BTS/FTS), each summed up as a line to print."""
from __future__ import annotations

from hub.errors import HubError
from hub.hl7.charset import decode
from hub.hl7.constants import starts_batch
from hub.hl7.message import Message
from hub.hl7.split import split_messages


def acks(answer: bytes) -> list[bytes]:
    """The ACK messages of an answer: one, or one per message of a batch answer (none when
    the batch held no message: HL7 allows an empty batch and the hub answers it in kind)."""
    messages, _ = split_messages(answer)
    if not messages and starts_batch(answer):
        return []
    return messages or [answer]


def ack_summary(ack: bytes) -> tuple[str, str, str]:
    """(MSA-1, MSA-2, the error text if any) of an ACK."""
    try:
        text, _ = decode(ack)
        message = Message.parse(text)
    except HubError:
        return "??", "", "unreadable ACK"
    err = message.first("ERR")
    reason = ""
    if err is not None:
        reason = err.value(8) or err.value(3, 2) or err.value(1, 4, 2)
    return message.value("MSA-1"), message.value("MSA-2"), reason or message.value("MSA-3")
