"""MLLP over TLS: a server certificate, and client certificates when a client CA is configured."""
from __future__ import annotations

import asyncio
import ssl

import pytest

from hub.inbound.listener import server_ssl_context
from hub.mllp.framing import wrap
from tests.fixtures.certs import make_pki
from tests.fixtures.loopback import listen, memory_publisher, message, read_acks


def _client_context(pki, with_certificate: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if with_certificate:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


async def _exchange(port: int, context: ssl.SSLContext) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
    writer.write(wrap(message(5)))
    [ack] = await read_acks(reader, 1)
    writer.close()
    return ack.code


def test_tls_with_a_server_certificate(tmp_path):
    pki = make_pki(tmp_path)

    async def scenario():
        listener, port = await listen(await memory_publisher(), ssl_context=server_ssl_context(
            str(pki.server_cert), str(pki.server_key)))
        assert await _exchange(port, _client_context(pki, with_certificate=False)) == "AA"
        await listener.close()

    asyncio.run(scenario())


def test_a_client_ca_requires_a_client_certificate(tmp_path):
    pki = make_pki(tmp_path)

    async def scenario():
        context = server_ssl_context(str(pki.server_cert), str(pki.server_key), str(pki.ca))
        listener, port = await listen(await memory_publisher(), ssl_context=context)
        assert await _exchange(port, _client_context(pki, with_certificate=True)) == "AA"
        with pytest.raises((ssl.SSLError, ConnectionError, AssertionError)):
            await _exchange(port, _client_context(pki, with_certificate=False))
        await listener.close()

    asyncio.run(scenario())
