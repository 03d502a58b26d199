"""The MLLP listener under good and bad input, in process, over real loopback sockets.
The broker is the in-memory adapter (or a publisher that holds its confirms) so that each
test controls exactly when a publish is confirmed."""
from __future__ import annotations

import asyncio

import pytest

from hub.broker.port import Publisher
from hub.mllp.framing import wrap
from tests.fixtures.loopback import closed_within, listen, memory_publisher, message, read_acks

class HeldPublisher(Publisher):
    """Confirms nothing until `release` is set: lets a test look for an ACK sent too early."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.published = 0

    async def publish(self, queue, body, *, message_id, headers, timeout):
        self.published += 1
        await self.release.wait()

    async def close(self):
        pass


def test_no_ack_leaves_before_the_broker_confirms():
    async def scenario():
        publisher = HeldPublisher()
        listener, port = await listen(publisher)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(wrap(message(1)))
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(65536), 0.5)
        assert publisher.published == 1
        publisher.release.set()
        [ack] = await read_acks(reader, 1)
        assert (ack.code, ack.control_id) == ("AA", "MSG-1")
        writer.close()
        await listener.close()

    asyncio.run(scenario())


def test_pipelined_frames_are_answered_in_order():
    async def scenario():
        listener, port = await listen(await memory_publisher())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(wrap(message(n)) for n in range(30)))
        acks = await read_acks(reader, 30)
        assert [a.control_id for a in acks] == [f"MSG-{n}" for n in range(30)]
        assert {a.code for a in acks} == {"AA"}
        writer.close()
        await listener.close()

    asyncio.run(scenario())


def test_garbage_gets_ar_and_the_connection_stays_open():
    async def scenario():
        listener, port = await listen(await memory_publisher())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for junk in (b"", b"\x00\x01\x02binary", b"PID|1||x", "MSH|^~\\&|no version".encode()):
            writer.write(wrap(junk))
            [ack] = await read_acks(reader, 1)
            assert ack.code == "AR"
        writer.write(wrap(message(2)))
        [ack] = await read_acks(reader, 1)
        assert ack.code == "AA"
        writer.close()
        await listener.close()

    asyncio.run(scenario())


def test_a_broker_that_refuses_gets_ae_207():
    async def scenario():
        listener, port = await listen(await memory_publisher(fail=True))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(wrap(message(3)))
        [ack] = await read_acks(reader, 1)
        assert (ack.code, ack.control_id, ack.err_code) == ("AE", "MSG-3", "207")
        writer.close()
        await listener.close()

    asyncio.run(scenario())


def test_a_frame_past_the_size_cap_gets_an_ar_and_the_connection_goes_on():
    # A lab's ORU with a PDF too big for the hub: closing without an answer made the sender
    # resend it forever; an AR tells it to stop, and the next message is taken as usual.
    async def scenario():
        publisher = await memory_publisher()
        listener, port = await listen(publisher, max_frame=4096)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        big = message(1).replace(b"OBX|1|", b"OBX|1|" + b"A" * 10_000 + b"|", 1)
        writer.write(wrap(big) + wrap(message(2)))
        refused, accepted = await read_acks(reader, 2)
        assert (refused.code, refused.control_id, refused.err_code) == ("AR", "MSG-1", "207")
        assert refused.text == (f"message of {len(big)} bytes refused: the hub takes at most "
                                "4096 bytes per frame (mllp.max_frame)")
        assert (accepted.code, accepted.control_id) == ("AA", "MSG-2")
        writer.close()
        await listener.close()

    asyncio.run(scenario())


def test_a_frame_past_the_size_cap_that_never_ends_is_closed_at_the_read_timeout():
    async def scenario():
        listener, port = await listen(await memory_publisher(), max_frame=4096, read_timeout=0.5)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x0b" + b"A" * 10_000)
        assert await closed_within(reader, 2.0)
        await listener.close()

    asyncio.run(scenario())


def test_a_frame_not_finished_within_the_read_timeout_closes_the_connection():
    async def scenario():
        listener, port = await listen(await memory_publisher(), read_timeout=0.3)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x0bMSH|^~\\&|")
        for _ in range(3):  # trickling bytes does not extend the deadline
            await asyncio.sleep(0.1)
            writer.write(b"X")
        assert await closed_within(reader, 1.0)
        await listener.close()

    asyncio.run(scenario())


def test_idle_connections_are_closed_and_the_cap_holds():
    async def scenario():
        listener, port = await listen(await memory_publisher(), idle_timeout=0.5, max_connections=2)
        first = await asyncio.open_connection("127.0.0.1", port)
        second = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.sleep(0.05)
        third_reader, _ = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_within(third_reader, 0.3)  # refused: two are open
        assert await closed_within(first[0], 1.5)      # idle past 0.5 s
        assert await closed_within(second[0], 1.5)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(wrap(message(4)))
        [ack] = await read_acks(reader, 1)
        assert ack.code == "AA"
        writer.close()
        await listener.close()

    asyncio.run(scenario())
