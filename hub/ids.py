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


# The hex digit holding uuid4's variant bits (10xx), by the random digit they replace bits of:
# its low two bits stay.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def new_ids(count: int) -> list[str]:
    """`count` fresh row ids, each as `new_id` makes one (the same bits set), from one read of
    the system's randomness: a batch's entries and deliveries take hundreds."""
    digits = os.urandom(16 * count).hex()
    return [f"{digits[i:i + 12]}4{digits[i + 13:i + 16]}{_VARIANT_DIGIT[digits[i + 16]]}"
            f"{digits[i + 17:i + 32]}" for i in range(0, 32 * count, 32)]
