"""Re-address a received message for one destination: the hub becomes the sender (MSH-3/4), the
destination the receiver (MSH-5/6), and the message gets a control id of its own (MSH-10).

Only those five fields change. The rest stays byte for byte what the original sender wrote, in
the character set its MSH-18 names, so the recipient reads the same clinical content and the
original (kept in the store) still explains where every byte came from.
"""
from __future__ import annotations

import uuid

from hub.errors import HL7Error
from hub.hl7.charset import decode
from hub.hl7.constants import BOM
from hub.hl7.escape import escape
from hub.hl7.header import msh_span
from hub.hl7.message import Separators

# v2.5 gives MSH-10 (ST) 20 characters; 80 random bits make a collision practically impossible.
CONTROL_ID_LENGTH = 20

# MSH-n sits at index n - 1 of the MSH line split on the field separator.
_SENDING_APPLICATION, _SENDING_FACILITY = 2, 3
_RECEIVING_APPLICATION, _RECEIVING_FACILITY = 4, 5
_CONTROL_ID = 9


def new_control_id() -> str:
    """A fresh MSH-10 for an outbound message (20 hex characters)."""
    return uuid.uuid4().hex[:CONTROL_ID_LENGTH]


def _msh_bounds(text: str) -> tuple[int, int]:
    """(start, end) of the MSH line: at the start of the text or right after a segment end."""
    span = msh_span(text)
    if span is None:
        raise HL7Error("no MSH segment")
    return span


def readdress(
    raw: bytes,
    *,
    control_id: str,
    receiving_application: str,
    receiving_facility: str,
    sending_application: str,
    sending_facility: str,
) -> bytes:
    """Return `raw` with MSH-3/4 set to the hub, MSH-5/6 to the destination and MSH-10 to
    `control_id`; every other byte is unchanged.

    The new values are written as HD namespace ids (MSH-10 as ST): a separator inside one is
    escaped with the message's own escape character. Raises HL7Error when the message cannot be
    decoded as its MSH-18 says, has no usable MSH, or a new value cannot be written in the
    message's character set.
    """
    text, codec = decode(raw)
    start, end = _msh_bounds(text)
    line = text[start:end]
    seps = Separators.from_header(line)
    fields = line.split(seps.field)
    fields += [""] * (_CONTROL_ID + 1 - len(fields))
    for index, value in (
        (_SENDING_APPLICATION, sending_application),
        (_SENDING_FACILITY, sending_facility),
        (_RECEIVING_APPLICATION, receiving_application),
        (_RECEIVING_FACILITY, receiving_facility),
        (_CONTROL_ID, control_id),
    ):
        fields[index] = escape(value, seps)
    header = seps.field.join(fields)
    try:
        encoded_header = header.encode(codec)
    except UnicodeEncodeError:
        raise HL7Error(f"MSH-3 to MSH-10: a new value cannot be written in {codec}") from None
    # Only the header is re-encoded: decoding was strict, so the bytes around it are the
    # original's, and splicing them back avoids any doubt about a codec's round trip.
    prefix = BOM if raw.startswith(BOM) else b""
    before = text[:start].encode(codec)
    after = raw[len(prefix) + len(before) + len(line.encode(codec)):]
    return prefix + before + encoded_header + after
