"""The listener's read deadlines (hub/inbound/read_deadline.py): a read past its deadline raises
TimeoutError as under asyncio.timeout, a deadline put off by later reads is kept, a sooner one
is kept too, another cancellation stays one, and many reads share one timer."""
from __future__ import annotations

import asyncio

import pytest

from hub.inbound.read_deadline import ReadDeadline


def _run(scenario):
    return asyncio.run(scenario())


def test_a_read_with_data_in_time_returns_it():
    async def scenario():
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        reads = ReadDeadline(loop, asyncio.current_task())
        loop.call_later(0.01, reader.feed_data, b"abc")
        assert await reads.read(reader, 100, loop.time() + 5.0) == b"abc"
        reads.close()
    _run(scenario)


def test_a_read_past_its_deadline_times_out_then_and_not_before():
    async def scenario():
        loop = asyncio.get_running_loop()
        reads = ReadDeadline(loop, asyncio.current_task())
        started = loop.time()
        with pytest.raises(TimeoutError):
            await reads.read(asyncio.StreamReader(), 100, started + 0.2)
        assert 0.2 <= loop.time() - started < 2.0
        assert not asyncio.current_task().cancelling()  # the cancellation was taken back
    _run(scenario)


def test_a_deadline_put_off_by_later_reads_is_the_one_kept():
    async def scenario():
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        reads = ReadDeadline(loop, asyncio.current_task())
        started = loop.time()
        loop.call_later(0.05, reader.feed_data, b"a")
        await reads.read(reader, 100, started + 0.2)  # the timer is set for 0.2 s
        with pytest.raises(TimeoutError):
            await reads.read(reader, 100, started + 0.5)  # put off: not timed out at 0.2 s
        assert loop.time() - started >= 0.5
    _run(scenario)


def test_a_sooner_deadline_moves_the_timer():
    async def scenario():
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        reads = ReadDeadline(loop, asyncio.current_task())
        started = loop.time()
        loop.call_later(0.01, reader.feed_data, b"a")
        await reads.read(reader, 100, started + 30.0)
        with pytest.raises(TimeoutError):
            await reads.read(reader, 100, loop.time() + 0.1)
        assert loop.time() - started < 5.0
        reads.close()
    _run(scenario)


def test_a_past_deadline_times_out_a_read_that_waits():
    async def scenario():
        loop = asyncio.get_running_loop()
        reads = ReadDeadline(loop, asyncio.current_task())
        with pytest.raises(TimeoutError):
            await reads.read(asyncio.StreamReader(), 100, loop.time() - 1.0)
    _run(scenario)


def test_a_cancellation_from_elsewhere_stays_a_cancellation():
    async def reading(reads_box):
        loop = asyncio.get_running_loop()
        reads = reads_box[0] = ReadDeadline(loop, asyncio.current_task())
        await reads.read(asyncio.StreamReader(), 100, loop.time() + 30.0)

    async def scenario():
        box: list[ReadDeadline] = [None]  # type: ignore[list-item]
        task = asyncio.create_task(reading(box))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        box[0].close()
    _run(scenario)


def test_many_reads_put_off_share_one_timer():
    async def scenario():
        loop = asyncio.get_running_loop()
        armed = []
        call_at = loop.call_at

        def counting_call_at(when, callback, *args, **kwargs):
            armed.append(when)
            return call_at(when, callback, *args, **kwargs)

        loop.call_at = counting_call_at  # type: ignore[method-assign]
        reader = asyncio.StreamReader()
        reads = ReadDeadline(loop, asyncio.current_task())
        for n in range(200):
            reader.feed_data(b"x")
            await reads.read(reader, 100, loop.time() + 600.0)
        reads.close()
        assert len(armed) == 1
    _run(scenario)
