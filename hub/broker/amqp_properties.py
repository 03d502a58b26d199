"""The properties of a published message, encoded without pika's general-purpose encoder.

Every publish carries the same four properties (content type, headers, persistent delivery mode,
message id), and the listener's headers are all text. pika's `BasicProperties.encode` tests
each of its fourteen properties and type-tests every header value through its general table
encoder: about half of the CPU a publish spends in pika (listener profile under bench/ingest.py).
`Properties.encode` writes the same bytes straight for that shape, and leaves any other header
value to pika (tests/unit/test_amqp_properties.py holds the two to the same bytes).
"""
from __future__ import annotations

import struct
from functools import lru_cache

from pika import spec
from pika.exceptions import ShortStringTooLong

_FLAGS = struct.pack(">H", spec.BasicProperties.FLAG_CONTENT_TYPE | spec.BasicProperties.FLAG_HEADERS
                     | spec.BasicProperties.FLAG_DELIVERY_MODE
                     | spec.BasicProperties.FLAG_MESSAGE_ID)
_TEXT = b"S"  # AMQP table value type: long string
_LONG = struct.Struct(">I").pack


@lru_cache(maxsize=64)  # header names and content types: a handful of constants
def _short_string(text: str) -> bytes:
    return _short(text.encode("utf-8"))


@lru_cache(maxsize=64)  # the few header names, each with the type of its text value after it
def _text_entry(name: str) -> bytes:
    return _short_string(name) + _TEXT


def _short(data: bytes) -> bytes:
    if len(data) > 255:
        raise ShortStringTooLong(data)
    return bytes((len(data),)) + data


class Properties(spec.BasicProperties):
    """BasicProperties with exactly content_type, headers, delivery_mode and message_id set."""

    def __init__(self, content_type: str, delivery_mode: int, message_id: str,
                 headers: dict[str, str]) -> None:
        super().__init__(content_type=content_type, delivery_mode=delivery_mode,
                         message_id=message_id, headers=headers)

    def encode(self) -> list[bytes]:
        headers = self.headers
        if headers is None:
            return super().encode()
        table: list[bytes] = []
        for key, value in headers.items():
            if type(value) is not str or type(key) is not str:
                return super().encode()  # a value of another type: pika's own encoder
            data = value.encode("utf-8")
            table += (_text_entry(key), _LONG(len(data)), data)
        entries = b"".join(table)
        return [_FLAGS, _short_string(self.content_type), _LONG(len(entries)), entries,
                struct.pack("B", self.delivery_mode), _short(self.message_id.encode("utf-8"))]
