"""Cutting a file into messages: the way people keep HL7 on disk (LF or CRLF line ends, several
messages one after another, batch envelopes) is not the way it goes on the wire (CR-separated,
one message per frame)."""
from __future__ import annotations

from hub.hl7.constants import BOM, ENVELOPE_BYTES, LINE_END


def split_messages(raw: bytes) -> tuple[list[bytes], list[bytes]]:
    """The messages of a file, each from its MSH to the next and CR-terminated, and the lines
    found before the first MSH (envelope segments FHS/BHS/BTS/FTS and blank lines dropped)."""
    messages: list[list[bytes]] = []
    loose: list[bytes] = []
    for line in LINE_END.split(raw.removeprefix(BOM)):
        if not line.strip() or line.startswith(ENVELOPE_BYTES):
            continue
        if line.startswith(b"MSH") and len(line) > 3:
            messages.append([line])
        elif messages:
            messages[-1].append(line)
        else:
            loose.append(line)
    return [b"\r".join(lines) + b"\r" for lines in messages], loose
