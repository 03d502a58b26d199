"""Cutting a file into messages: the way people keep HL7 on disk (LF or CRLF line ends, several
messages one after another) is not the way they go on the wire (CR-separated, one per frame)."""
from __future__ import annotations

import re

_LINE_END = re.compile(rb"\r\n|\n|\r")
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")


def normalise_line_ends(raw: bytes) -> bytes:
    """Every segment ends with a single CR, as HL7 requires on the wire; blank lines go."""
    lines = [line for line in _LINE_END.split(raw) if line.strip()]
    return b"".join(line + b"\r" for line in lines)


def split_messages(raw: bytes) -> list[bytes]:
    """The messages in a file, each CR-terminated, cut before every MSH segment. Batch envelope
    segments (FHS/BHS/BTS/FTS) are dropped; a file with no MSH yields its content as one item,
    so that garbage is sent (and rejected) rather than silently skipped."""
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    messages: list[list[bytes]] = []
    loose: list[bytes] = []
    for line in normalise_line_ends(body).split(b"\r")[:-1]:
        if line.startswith(b"MSH"):
            messages.append([line])
        elif line[:3] in _ENVELOPE:
            continue
        elif messages:
            messages[-1].append(line)
        else:
            loose.append(line)
    if not messages:
        return [b"".join(line + b"\r" for line in loose)] if loose else []
    return [b"".join(line + b"\r" for line in segs) for segs in messages]
