"""One bad client cannot starve the others (issue 14), against the real listener over loopback:
junk outside frames does not keep a connection open, one source address cannot take every
connection, refusals and failed TLS handshakes are counted and logged without flooding the log.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time

from hub.inbound.listener import server_ssl_context
from hub.metrics import Metrics
from hub.mllp.framing import wrap
from tests.fixtures.certs import make_pki
from tests.fixtures.loopback import closed_within, listen, memory_publisher, message, read_acks

IDLE_S = 1.0
MARGIN_S = 1.5


async def _closed_while_trickling(reader, writer, junk: bytes, every: float, within: float) -> float | None:
    """Send `junk` every `every` s until the listener closes the connection; the seconds that
    took, or None if it was still open after `within` s."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            writer.write(junk)
            await writer.drain()
        except ConnectionError:
            return time.monotonic() - started
        if await closed_within(reader, every):
            return time.monotonic() - started
    return None


def test_a_connection_sending_only_junk_is_closed_at_the_idle_timeout(caplog):
    async def scenario():
        listener, port = await listen(await memory_publisher(), idle_timeout=IDLE_S)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # one junk byte five times per idle timeout: each used to put the timeout off
        took = await _closed_while_trickling(reader, writer, b"x", IDLE_S / 5, IDLE_S + MARGIN_S)
        writer.close()
        await listener.close()
        return took

    with caplog.at_level(logging.INFO, logger="hub.inbound.listener"):
        took = asyncio.run(scenario())
    assert took is not None, "the junk-trickling connection was still open"
    assert IDLE_S - 0.3 < took < IDLE_S + MARGIN_S
    assert any("idle_timeout" in r.getMessage() and "outside a frame" in r.getMessage()
               for r in caplog.records)


def test_junk_between_frames_does_not_put_off_the_idle_timeout_but_frames_do():
    async def scenario():
        listener, port = await listen(await memory_publisher(), idle_timeout=IDLE_S)
        # frames every half idle timeout: the connection stays open past two idle timeouts
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for n in range(5):
            writer.write(wrap(message(n)))
            [ack] = await read_acks(reader, 1)
            assert ack.code == "AA"
            assert not await closed_within(reader, IDLE_S / 2)
        # then only stray bytes between frames (CR/LF, junk): closed one idle timeout later
        took = await _closed_while_trickling(reader, writer, b"\r\n", IDLE_S / 5, IDLE_S + MARGIN_S)
        writer.close()
        await listener.close()
        return took

    took = asyncio.run(scenario())
    assert took is not None and took < IDLE_S + MARGIN_S


def test_one_peer_cannot_take_every_connection_and_refusals_are_logged_once(caplog):
    metrics = Metrics()

    async def scenario():
        listener, port = await listen(await memory_publisher(), metrics=metrics)
        held = []
        for n in range(50):  # [mllp] max_connections_per_peer's default
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(wrap(message(n)))
            [ack] = await read_acks(reader, 1)  # admitted and answered
            assert ack.code == "AA"
            held.append((reader, writer))
        refused = []
        for _ in range(4):  # the 51st and later from the same address
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            refused.append(await closed_within(reader, 1.0))
            writer.close()
        # another address (all of 127/8 is loopback on Linux) still gets in
        reader, writer = await asyncio.open_connection("127.0.0.1", port,
                                                       local_addr=("127.0.0.2", 0))
        writer.write(wrap(message(99)))
        [other] = await read_acks(reader, 1)
        writer.close()
        # and when one of the 50 closes, the first address may open one more
        held[0][1].close()
        await asyncio.sleep(0.2)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(wrap(message(100)))
        [again] = await read_acks(reader, 1)
        writer.close()
        for _, w in held[1:]:
            w.close()
        await listener.close()
        return refused, other.code, again.code

    with caplog.at_level(logging.INFO, logger="hub.inbound.listener"):
        refused, other, again = asyncio.run(scenario())
    assert refused == [True] * 4
    assert (other, again) == ("AA", "AA")
    assert metrics.registry.get_sample_value(
        "hub_mllp_connections_refused_total", {"reason": "max_connections_per_peer"}) == 4
    assert metrics.registry.get_sample_value(
        "hub_mllp_connections_refused_total", {"reason": "max_connections"}) in (None, 0)
    lines = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1, lines  # once per peer per minute, not once per connection
    assert lines[0].startswith("connection from 127.0.0.1 refused") and "per_peer 50" in lines[0]


def test_the_global_cap_is_counted_apart():
    metrics = Metrics()

    async def scenario():
        listener, port = await listen(await memory_publisher(), metrics=metrics,
                                      max_connections=2)
        first = await asyncio.open_connection("127.0.0.1", port)
        second = await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))
        await asyncio.sleep(0.05)
        third_reader, third_writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.3", 0))
        refused = await closed_within(third_reader, 1.0)
        for _, writer in (first, second, (third_reader, third_writer)):
            writer.close()
        await listener.close()
        return refused

    assert asyncio.run(scenario())
    assert metrics.registry.get_sample_value(
        "hub_mllp_connections_refused_total", {"reason": "max_connections"}) == 1


def test_a_client_certificate_from_an_unknown_ca_is_logged_and_counted(tmp_path, caplog):
    (tmp_path / "stranger").mkdir()
    pki, stranger = make_pki(tmp_path), make_pki(tmp_path / "stranger")  # another CA's client
    metrics = Metrics()

    async def scenario():
        context = server_ssl_context(str(pki.server_cert), str(pki.server_key), str(pki.ca))
        listener, port = await listen(await memory_publisher(), ssl_context=context,
                                      metrics=metrics)
        client = ssl.create_default_context(cafile=str(pki.ca))
        client.load_cert_chain(str(stranger.client_cert), str(stranger.client_key))
        answered = None
        try:  # TLS 1.3: the client may finish its side before the server refuses
            reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
            writer.write(wrap(message(1)))
            answered = await read_acks(reader, 1, timeout=2.0)
        except (ssl.SSLError, ConnectionError, AssertionError, asyncio.TimeoutError):
            pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not metrics.registry.get_sample_value(
                "hub_mllp_tls_handshake_failures_total", {"reason": "certificate"}):
            await asyncio.sleep(0.05)
        # a trusted client still gets in
        good = ssl.create_default_context(cafile=str(pki.ca))
        good.load_cert_chain(str(pki.client_cert), str(pki.client_key))
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=good)
        writer.write(wrap(message(2)))
        [ack] = await read_acks(reader, 1)
        writer.close()
        await listener.close()
        return answered, ack.code

    with caplog.at_level(logging.INFO, logger="hub.inbound.listener"):
        answered, code = asyncio.run(scenario())
    assert answered is None and code == "AA"
    assert metrics.registry.get_sample_value(
        "hub_mllp_tls_handshake_failures_total", {"reason": "certificate"}) == 1
    [line] = [r for r in caplog.records if r.getMessage().startswith("TLS handshake from")]
    assert line.levelno == logging.WARNING
    assert "127.0.0.1:" in line.getMessage() and "CERTIFICATE_VERIFY_FAILED" in line.getMessage()
    assert "BEGIN CERTIFICATE" not in line.getMessage()
