"""A persistent, mandatory publish to the default exchange written as AMQP frames directly.

pika's `basic_publish` builds a Basic.Publish object, a Method, a Header and a Body frame object
and marshals each through lists and joins: a sixth of the listener's CPU a message under
bench/ingest.py (cProfile of `hub serve --role listener`). The method frame of a publish to one
queue never changes, so it is built once; the header and body frames are packed straight. The
frames go out through pika's own connection (its byte and frame counts, its transport), so the
channel's delivery tags and confirms are pika's as before, joined into one write where pika
makes one transport write (and buffer) per frame. tests/unit/test_publish_frames.py holds these
bytes and counts to pika's own.
"""
from __future__ import annotations

import struct
from functools import lru_cache

import pika.channel
from pika import spec

from hub.broker.amqp_properties import Properties

_FRAME_END = bytes((spec.FRAME_END,))
_HEADER = struct.Struct(">BHIHxxQ")  # frame type, channel, size; class id, weight, body size
_FRAME = struct.Struct(">BHI")


@lru_cache(maxsize=256)  # a channel publishes to a handful of queues (inbound partitions)
def _method_frame(channel_number: int, queue: str) -> bytes:
    method = spec.Basic.Publish(exchange="", routing_key=queue, mandatory=True)
    payload = struct.pack(">I", method.INDEX) + b"".join(method.encode())
    return _FRAME.pack(spec.FRAME_METHOD, channel_number, len(payload)) + payload + _FRAME_END


def publish(channel: pika.channel.Channel, queue: str, body: bytes, properties: Properties) -> None:
    """`channel.basic_publish("", queue, body, properties, mandatory=True)`, the same bytes."""
    channel._raise_if_not_open()  # noqa: SLF001 - what basic_publish checks first
    connection = channel.connection
    number = channel.channel_number
    encoded = b"".join(properties.encode())
    frames = [
        _method_frame(number, queue),
        _HEADER.pack(spec.FRAME_HEADER, number, 12 + len(encoded), properties.INDEX, len(body))
        + encoded + _FRAME_END,
    ]
    limit = connection._body_max_length  # noqa: SLF001
    for start in range(0, len(body), limit):
        chunk = body[start:start + limit]
        frames.append(_FRAME.pack(spec.FRAME_BODY, number, len(chunk)) + chunk + _FRAME_END)
    # pika's _output_marshaled_frames, with one write of the three frames rather than three.
    data = b"".join(frames)
    connection.bytes_sent += len(data)
    connection.frames_sent += len(frames)
    connection._adapter_emit_data(data)  # noqa: SLF001


def direct_publishes(channel: pika.channel.Channel) -> None:
    """Make `channel.basic_publish` write its frames through `publish` when it is the
    publisher's call (default exchange, mandatory, our Properties); any other goes to pika's."""
    pikas = channel.basic_publish

    def basic_publish(exchange: str, routing_key: str, body: bytes,
                      properties: spec.BasicProperties | None = None,
                      mandatory: bool = False) -> None:
        if exchange == "" and mandatory and type(properties) is Properties and type(body) is bytes:
            publish(channel, routing_key, body, properties)
        else:
            pikas(exchange, routing_key, body, properties, mandatory)

    channel.basic_publish = basic_publish  # type: ignore[method-assign]
