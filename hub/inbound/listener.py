"""The asyncio MLLP listener: connections, timeouts, caps, pipelining, optional TLS.

Frames on one connection are handled concurrently (their broker confirms overlap) but answered
strictly in order. Broken framing or a read timeout inside a frame closes the connection;
anything inside a well-formed frame gets an ACK and the connection stays open. Only frames keep
a connection alive: bytes outside a frame are skipped and do not put off its idle timeout, so a
client trickling junk is closed like a silent one. Connections are capped in all and per source
address (hub/inbound/admission.py), before any TLS handshake, so refusing one costs no crypto;
a failed handshake (or one not done within read_timeout) is logged, at most once a minute per
address and kind of failure, and counted.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
import time
from dataclasses import dataclass

from hub.inbound.admission import Admission, PeerLog
from hub.inbound.answer_order import OrderedAnswers
from hub.inbound.intake import Intake
from hub.inbound.read_deadline import ReadDeadline
from hub.inbound.senders import Certificate
from hub.metrics import Metrics
from hub.mllp.framing import FrameReader, Oversize
from hub.mllp.tls import CLOSED, handshake_failure

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
    max_connections_per_peer: int = 50
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
        self._admission = Admission(limits.max_connections, limits.max_connections_per_peer,
                                    metrics)
        self._handshake_failures = PeerLog()
        self._handlers: set[asyncio.Task] = set()
        self._readers: set[asyncio.StreamReader] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str, port: int) -> int:
        """Start listening; returns the bound port (useful when `port` is 0)."""
        if self._ssl is None:
            self._server = await asyncio.start_server(
                self._connection, host, port, limit=READ_CHUNK, backlog=512,
            )
        else:
            # TLS is started by `_connection` itself, once the connection is admitted, so that
            # a refused one costs no handshake and a failed handshake is seen (asyncio's own
            # ssl= server drops it silently).
            loop = asyncio.get_running_loop()
            self._server = await loop.create_server(
                lambda: _HeldUntilTLS(asyncio.StreamReader(READ_CHUNK, loop), self._connection,
                                      loop=loop),
                host, port, backlog=512,
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
        address = _peer_address(writer)
        if not self._admission.admit(address):
            writer.close()
            return
        self._metrics.connections.inc()
        self._handlers.add(asyncio.current_task())
        self._readers.add(reader)
        self._writers.add(writer)
        answers: OrderedAnswers | None = None
        try:
            if self._ssl is not None and not await self._handshake(writer, peer, address):
                return
            certificate = client_certificate(writer)  # verified by the handshake just made
            answers = OrderedAnswers(writer, self._metrics, self._limits.max_in_flight)
            await self._read_frames(reader, peer, answers, certificate)
        finally:
            if answers is not None:
                await answers.finish()
            self._admission.release(address)
            self._metrics.connections.dec()
            self._handlers.discard(asyncio.current_task())
            self._readers.discard(reader)
            self._writers.discard(writer)
            writer.close()
            try:
                if answers is not None:  # after a failed handshake, asyncio has closed it
                    await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass

    async def _handshake(self, writer: asyncio.StreamWriter, peer: str, address: str) -> bool:
        """Start TLS on an admitted connection (within read_timeout); False when it failed,
        which is counted by class and logged with OpenSSL's reason (at most once a minute per
        address and class)."""
        try:
            await writer.start_tls(self._ssl, ssl_handshake_timeout=self._limits.read_timeout)
            return True
        except (OSError, EOFError) as exc:  # ssl.SSLError, ConnectionError, TimeoutError
            kind, text = handshake_failure(exc)
            self._metrics.tls_handshake_failures.labels(reason=kind).inc()
            # per address and class: a port probe's line does not hide a refused certificate
            unsaid = self._handshake_failures.should_say(f"{address} {kind}")
            if unsaid is not None:
                more = f"; {unsaid} more like it from {address} since the last line about it" \
                    if unsaid else ""
                # a peer that only opened and closed (a port probe) is no warning
                log.log(logging.INFO if kind == CLOSED else logging.WARNING,
                        "TLS handshake from %s failed: %s%s", peer, text, more)
            return False

    async def _read_frames(
        self, reader: asyncio.StreamReader, peer: str, answers: OrderedAnswers,
        certificate: Certificate | None = None,
    ) -> None:
        frames = FrameReader(self._limits.max_frame, keep_head=OVERSIZE_HEAD)
        frame_deadline: float | None = None  # a frame must complete within read_timeout in all
        loop = asyncio.get_running_loop()
        # Only frames are activity: bytes outside a frame (before a start block, or between
        # frames) do not put off the idle deadline, so trickled junk cannot hold a connection.
        idle_deadline = loop.time() + self._limits.idle_timeout
        skipped = 0  # bytes outside a frame since the last frame activity
        # One timer for the connection's reads, not one a read (hub/inbound/read_deadline.py).
        reads = ReadDeadline(loop, asyncio.current_task())
        try:
            while True:
                deadline = idle_deadline if frame_deadline is None else frame_deadline
                try:
                    data = await reads.read(reader, READ_CHUNK, deadline)
                except TimeoutError:
                    reason = "idle_timeout" if frame_deadline is None else "read_timeout"
                    self._metrics.framing_errors.labels(reason=reason).inc()
                    if skipped and frame_deadline is None:
                        log.info("closing connection from %s: %s (%d bytes outside a frame since "
                                 "its last frame)", peer, reason, skipped)
                    else:
                        log.info("closing connection from %s: %s", peer, reason)
                    return
                except (ConnectionError, ssl.SSLError) as exc:
                    log.info("connection from %s lost: %s", peer, type(exc).__name__)
                    return
                if not data:
                    return
                payloads = frames.feed(data)  # a frame past the cap comes out as an Oversize
                now = loop.time()
                if payloads or frames.in_frame:
                    idle_deadline, skipped = now + self._limits.idle_timeout, 0
                else:
                    skipped += len(data)
                if not frames.in_frame:
                    frame_deadline = None
                elif frame_deadline is None or payloads:
                    frame_deadline = now + self._limits.read_timeout
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
                    task = loop.create_task(handling)
                    task.arrived = arrived  # type: ignore[attr-defined]
                    await answers.add(task)
        finally:
            reads.close()


class _HeldUntilTLS(asyncio.StreamReaderProtocol):
    """A stream protocol that reads nothing until `start_tls`: the client's first handshake
    bytes must reach the TLS layer, not the plain-text reader."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.pause_reading()  # type: ignore[attr-defined]  # start_tls resumes it


def _peer_address(writer: asyncio.StreamWriter) -> str:
    """The source address alone: what the per-peer cap counts by."""
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and peer:
        return str(peer[0])
    return str(peer)


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

