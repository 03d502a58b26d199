"""The few bytes HL7 v2 text is recognised by, defined once for every reader of raw messages.

A file or frame may start with a UTF-8 byte order mark (editors on Windows write one); segments
end with CR on the wire, and with LF or CRLF in files people keep; a batch starts with its file
(FHS) or batch (BHS) header.
"""
from __future__ import annotations

import re

BOM = b"\xef\xbb\xbf"
BOM_TEXT = "\ufeff"                       # the same mark once decoded
SEGMENT_ENDS = (b"\r", b"\n")
SEGMENT_END_CHARS = "\r\n"
LINE_END = re.compile(rb"\r\n|\r|\n")     # whichever of CR, LF or CRLF ends a line
BATCH_HEADERS = (b"FHS", b"BHS")
ENVELOPE = ("FHS", "BHS", "BTS", "FTS")   # batch and file headers and trailers
ENVELOPE_BYTES = tuple(name.encode("ascii") for name in ENVELOPE)


def without_bom(raw: bytes) -> bytes:
    """`raw` without a leading UTF-8 byte order mark."""
    return raw[len(BOM):] if raw.startswith(BOM) else raw


def starts_batch(raw: bytes) -> bool:
    """Whether `raw` (a file or frame) opens with a batch envelope: FHS or BHS first, after a
    byte order mark and blanks."""
    return without_bom(raw).lstrip().startswith(BATCH_HEADERS)
