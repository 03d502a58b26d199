"""Fresh ids: uuid4 hex without building a UUID object.

Every stored row takes one, and the listener two a message (the message id it publishes and
its ACK's MSH-10), so they are made from os.urandom directly: uuid.uuid4().hex costs about
twice as much for the same 32 hex characters (tests/unit/test_row_ids.py holds them to it).
"""
from __future__ import annotations

import os

# uuid4's version (4) and variant (RFC 4122) bits, set as uuid.UUID(..., version=4) sets them.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def new_id() -> str:
    """A fresh id (uuid4, 32 hex characters): what uuid.uuid4().hex gives."""
    return "%032x" % ((int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR) | _UUID4_SET)
