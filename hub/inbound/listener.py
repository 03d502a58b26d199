"""The asyncio MLLP listener: connections, timeouts, caps, pipelining, optional TLS.

Frames on one connection are handled concurrently (their broker confirms overlap) but answered
strictly in order. Broken framing or a read timeout inside a frame closes the connection;
anything inside a well-formed frame gets an ACK and the connection stays open.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from dataclasses import dataclass

from hub.inbound.intake import Intake
from hub.inbound.senders import Certificate
from hub.metrics import Metrics
from hub.mllp.framing import FrameReader, Oversize, wrap

log = logging.getLogger(__name__)
READ_CHUNK = 65536
# What is kept of a frame past mllp.max_frame: enough for its MSH, so that the AR answering it
# names its control id, and for the rejected record that counts it.
OVERSIZE_HEAD = 4096


@dataclass(frozen=True)
class ListenerLimits:
    max_frame: int = 1 << 20
    read_timeout: float = 30.0
    idle_timeout: float = 600.0
    max_connections: int = 1000
    max_in_flight: int = 64


class MLLPListener:
    """Accepts MLLP connections and answers every frame through an `Intake`."""

    def __init__(
        self, intake: Intake, limits: ListenerLimits, metrics: Metrics,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._intake = intake
        self._limits = limits
        self._metrics = metrics
        self._ssl = ssl_context
        self._server: asyncio.base_events.Server | None = None
        self._open = 0
        self._handlers: set[asyncio.Task] = set()
        self._readers: set[asyncio.StreamReader] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        """Start listening; returns the bound port (useful when `port` is 0)."""
        self._server = await asyncio.start_server(
            self._connection, host, port, ssl=self._ssl, limit=READ_CHUNK, backlog=512,
        )
        return self._server.sockets[0].getsockname()[1]

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting, then close open connections once their frames in flight are answered
        (at most `grace` seconds)."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.pause_reading()
        for reader in list(self._readers):
            reader.feed_eof()  # the read loop ends; frames already read are still answered
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=grace)
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = _peer_name(writer)
        certificate = client_certificate(writer)
        if self._open >= self._limits.max_connections:
            self._metrics.connections_refused.inc()
            log.warning("connection from %s refused: %d connections open", peer, self._open)
            writer.close()
            return
        self._open += 1
        self._metrics.connections.inc()
        self._handlers.add(asyncio.current_task())
        self._readers.add(reader)
        self._writers.add(writer)
        answers: asyncio.Queue[asyncio.Task | None] = asyncio.Queue(self._limits.max_in_flight)
        answering = asyncio.create_task(self._write_answers(answers, writer))
        try:
            await self._read_frames(reader, peer, answers, certificate)
        finally:
            await answers.put(None)
            await answering
            self._open -= 1
            self._metrics.connections.dec()
            self._handlers.discard(asyncio.current_task())
            self._readers.discard(reader)
            self._writers.discard(writer)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass

    async def _read_frames(
        self, reader: asyncio.StreamReader, peer: str, answers: asyncio.Queue,
        certificate: Certificate | None = None,
    ) -> None:
        frames = FrameReader(self._limits.max_frame, keep_head=OVERSIZE_HEAD)
        frame_deadline: float | None = None  # a frame must complete within read_timeout in all
        loop = asyncio.get_running_loop()
        while True:
            if frame_deadline is None:
                timeout = self._limits.idle_timeout
            else:
                timeout = max(0.0, frame_deadline - loop.time())
            try:
                data = await asyncio.wait_for(reader.read(READ_CHUNK), timeout)
            except asyncio.TimeoutError:
                reason = "idle_timeout" if frame_deadline is None else "read_timeout"
                self._metrics.framing_errors.labels(reason=reason).inc()
                log.info("closing connection from %s: %s", peer, reason)
                return
            except (ConnectionError, ssl.SSLError) as exc:
                log.info("connection from %s lost: %s", peer, type(exc).__name__)
                return
            if not data:
                return
            payloads = frames.feed(data)  # a frame past the cap comes out as an Oversize
            if not frames.in_frame:
                frame_deadline = None
            elif frame_deadline is None or payloads:
                frame_deadline = loop.time() + self._limits.read_timeout
            arrived = time.perf_counter()
            for payload in payloads:
                if isinstance(payload, Oversize):
                    self._metrics.framing_errors.labels(reason="frame_too_large").inc()
                    log.warning("frame of %d bytes from %s refused (mllp.max_frame %d)",
                                payload.size, peer, self._limits.max_frame)
                    handling = self._intake.refuse_oversize(payload.head, payload.size,
                                                            self._limits.max_frame, peer)
                else:
                    handling = self._intake.handle(payload, peer, certificate)
                task = asyncio.create_task(handling)
                task.arrived = arrived  # type: ignore[attr-defined]
                await answers.put(task)

    async def _write_answers(self, answers: asyncio.Queue, writer: asyncio.StreamWriter) -> None:
        broken = False
        while (task := await answers.get()) is not None:
            try:
                ack = await task
            except Exception:  # a bug, not bad input: answer nothing, so the sender resends
                log.exception("frame handling failed; closing the connection")
                broken = True
                writer.close()
                continue
            if ack is None or broken:
                continue
            try:
                # One write per ACK: common clients read an ACK with a single receive.
                writer.write(wrap(ack))
                await writer.drain()
                self._metrics.ack_latency.observe(time.perf_counter() - task.arrived)
            except (ConnectionError, ssl.SSLError):
                broken = True


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


_SUBJECT_NAMES = {"commonName": "CN", "organizationName": "O", "organizationalUnitName": "OU",
                  "countryName": "C", "localityName": "L", "stateOrProvinceName": "ST",
                  "emailAddress": "emailAddress", "serialNumber": "serialNumber"}


def client_certificate(writer: asyncio.StreamWriter) -> Certificate | None:
    """What the connection's verified TLS client certificate proves (None without one): its
    subject as "CN=...,O=..." in the certificate's order, and its SHA-256 fingerprint."""
    tls = writer.get_extra_info("ssl_object")
    if tls is None:
        return None
    der = tls.getpeercert(binary_form=True)
    if not der:
        return None
    subject = tls.getpeercert().get("subject", ())
    names = ",".join(f"{_SUBJECT_NAMES.get(key, key)}={value}"
                     for rdn in subject for key, value in rdn)
    return Certificate(names, hashlib.sha256(der).hexdigest())


def server_ssl_context(cert_file: str, key_file: str, client_ca_file: str = "") -> ssl.SSLContext:
    """TLS for the listener; with `client_ca_file`, clients must present a certificate it signed."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    return context

