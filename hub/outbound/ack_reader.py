"""Read a recipient's ACK and decide what it means for the message it answers.

An ACK is credited to a message only when its MSA-2 echoes that message's MSH-10. Anything else
(an ACK for another message, a late one, bytes that are no ACK at all) means the connection's
stream is out of step: the message is retried and the connection dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

from hub.errors import HL7Error
from hub.hl7.charset import decode
from hub.hl7.message import Message

ACCEPTED = frozenset({"AA", "CA"})
RETRYABLE = frozenset({"AE", "CE"})
REJECTED = frozenset({"AR", "CR"})

# Pseudo codes for outcomes that carry no acknowledgement of the message sent.
MISMATCH = "mismatch"
UNREADABLE = "unreadable"
NO_ANSWER = "no-answer"
# Not an outcome yet: the ACK is late and is awaited aside (hub.outbound.sender).
OVERDUE = "overdue"


@dataclass(frozen=True)
class AckResult:
    """What one send achieved.

    `code` is MSA-1 (AA, AE, AR, CA, CE, CR) when the ACK answers the message sent, else one of
    the pseudo codes `mismatch`, `unreadable` or `no-answer`. `text` is the recipient's own text
    (MSA-3, ERR-8) or the hub's description of the failure: a recipient may put patient data
    in it, so it is never logged or stored; `reason` is the safe summary.
    """

    code: str
    accepted: bool
    retryable: bool
    text: str = ""
    error_code: str = ""    # ERR-3.1 (table 0357) when the recipient gave one
    drop_connection: bool = False
    reached: bool = True    # False: no connection could be made (refused, timed out, TLS)

    @property
    def correlated(self) -> bool:
        """Whether this is a real acknowledgement of the message sent."""
        return self.code in ACCEPTED | RETRYABLE | REJECTED

    @property
    def reason(self) -> str:
        """A description that names codes only, fit for logs and the store."""
        if not self.correlated:
            return self.code if self.code != NO_ANSWER else f"no answer: {self.text}"
        return f"{self.code} (ERR-3 {self.error_code})" if self.error_code else self.code


def no_answer(why: str, *, reached: bool = True) -> AckResult:
    """The result of a send that got no ACK (timeout, refused, closed, broken framing);
    `reached` False when not even a connection could be made."""
    return AckResult(NO_ANSWER, accepted=False, retryable=True, text=why, drop_connection=True,
                     reached=reached)


def overdue() -> AckResult:
    """The ACK is late: the sender waits for it aside and reports it later."""
    return AckResult(OVERDUE, accepted=False, retryable=True)


def _unreadable(why: str) -> AckResult:
    return AckResult(UNREADABLE, accepted=False, retryable=True, text=why, drop_connection=True)


def _text(payload: bytes) -> str:
    if payload.isascii():
        # What decode() gives for bytes that are all ASCII, whatever MSH-18 names (every set
        # it knows reads them alike), without reading the header first: ACKs mostly are.
        return payload.decode("ascii")
    try:
        return decode(payload)[0]
    except HL7Error:
        # MSA-1 and MSA-2 are ASCII; latin-1 decodes anything, so a stray byte in a free-text
        # field does not hide an acknowledgement that is otherwise plain.
        return payload.decode("latin-1")


def _error_code(value: str) -> str:
    # Kept only when it looks like a table 0357 code: it goes into logs and the store, and a
    # recipient could put anything in the field.
    value = value.strip()
    return value if value.isalnum() and len(value) <= 8 else ""


def read_ack(payload: bytes, expected_control_id: str) -> AckResult:
    """Interpret `payload`, the response to a message whose MSH-10 was `expected_control_id`.

    AA/CA: accepted. AE/CE: retryable. AR/CR: neither (the message is to be parked). An MSA-2
    other than `expected_control_id` is a `mismatch`, and a payload without a readable MSA or
    with an unknown MSA-1 is `unreadable`: both retryable, both drop the connection, and neither
    ever credits the message.
    """
    try:
        message = Message.parse(_text(payload))
    except HL7Error as exc:
        return _unreadable(str(exc))
    msa = message.first("MSA")
    if msa is None:
        return _unreadable("no MSA segment")
    if msa.value(2) != expected_control_id:
        return AckResult(MISMATCH, accepted=False, retryable=True,
                         text="MSA-2 does not echo the MSH-10 sent", drop_connection=True)
    code = msa.value(1).strip().upper()
    if code not in ACCEPTED | RETRYABLE | REJECTED:
        return _unreadable("MSA-1 is not an acknowledgement code")
    err = message.first("ERR")
    error_code = _error_code(err.value(3, 1) or err.value(1, 4, 1)) if err is not None else ""
    text = msa.value(3) or (err.value(8) if err is not None else "")
    return AckResult(code, accepted=code in ACCEPTED, retryable=code in RETRYABLE, text=text,
                     error_code=error_code)
