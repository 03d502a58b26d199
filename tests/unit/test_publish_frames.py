"""The listener's publish frames are, byte for byte, the frames pika's basic_publish writes, and
counted as pika counts them."""
import pika.callback
import pika.channel
import pika.connection
import pika.exceptions
import pytest

from hub.broker.amqp_properties import Properties
from hub.broker.publish_frames import direct_publishes, publish


class _Recording:
    """The two things a publish uses of pika's connection: the frame size and the output."""

    _send_method = pika.connection.Connection._send_method
    _send_message = pika.connection.Connection._send_message

    _output_marshaled_frames = pika.connection.Connection._output_marshaled_frames

    def __init__(self, body_max_length: int) -> None:
        self._body_max_length = body_max_length
        self.callbacks = pika.callback.CallbackManager()  # what pika's Channel registers with
        self.writes: list[bytes] = []  # what went to the transport, write by write
        self.bytes_sent = self.frames_sent = 0

    def _adapter_emit_data(self, data: bytes) -> None:
        self.writes.append(data)

    @property
    def frames(self) -> bytes:
        return b"".join(self.writes)


def _open_channel(body_max_length: int, number: int) -> pika.channel.Channel:
    channel = pika.channel.Channel(_Recording(body_max_length), number, lambda _channel: None)
    channel._set_state(pika.channel.Channel.OPEN)
    return channel


@pytest.mark.parametrize("body", [b"", b"MSH|^~\\&|LAB\r" * 100, bytes(range(256)) * 40])
@pytest.mark.parametrize("number", [1, 300])
def test_same_frames_as_pika(body, number):
    properties = Properties("application/hl7-v2", 2, "0123456789abcdef",
                            {"x-hub-sender": "LAB^HOSP", "x-hub-reason": "é ü ß"})
    ours, theirs = _open_channel(4088, number), _open_channel(4088, number)
    publish(ours, "hub.inbound.3", body, properties)
    theirs.basic_publish("", "hub.inbound.3", body, properties, mandatory=True)
    assert ours.connection.frames == theirs.connection.frames
    assert ours.connection.frames_sent == theirs.connection.frames_sent == 2 + -(-len(body) // 4088)
    assert ours.connection.bytes_sent == theirs.connection.bytes_sent
    assert len(ours.connection.writes) == 1  # the frames of a publish leave in one write


def test_a_closed_channel_refuses_as_pika_does():
    channel = _open_channel(4088, 1)
    channel._set_state(pika.channel.Channel.CLOSED)
    with pytest.raises(pika.exceptions.ChannelWrongStateError):
        publish(channel, "q", b"x", Properties("application/hl7-v2", 2, "id", {}))
    assert channel.connection.frames == b""


def test_the_publisher_channel_writes_them_and_leaves_other_publishes_to_pika():
    properties = Properties("application/hl7-v2", 2, "id-1", {"x-hub-sender": "LAB^HOSP"})
    ours, theirs = _open_channel(4088, 1), _open_channel(4088, 1)
    direct_publishes(ours)
    ours.basic_publish("", "q", b"body", properties, mandatory=True)
    ours.basic_publish("x", "q", b"body", None)
    theirs.basic_publish("", "q", b"body", properties, mandatory=True)
    theirs.basic_publish("x", "q", b"body", None)
    assert ours.connection.frames == theirs.connection.frames
