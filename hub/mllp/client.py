"""A blocking MLLP client: one frame out, the next frame back. Used by ``hub send``, the tests
and outbound delivery."""

import socket
import ssl
import time
from collections import deque
from types import TracebackType

from hub.errors import FramingError, MLLPError
from hub.mllp.framing import FrameReader, wrap
from hub.mllp.tls import handshake_failure

_RECV_SIZE = 65536
_DEFAULT_MAX_FRAME = 16 * 1024 * 1024


class ResponseOverdue(Exception):
    """No response within the shorter `wait` a caller asked for; the connection stays open and
    the response can still be read (``receive``)."""


class MLLPClient:
    """Connect to an MLLP peer, send framed payloads and read framed responses.

    Use as a context manager. ``timeout`` bounds the connect and the whole wait for each
    response, not each ``recv``, so a peer dripping bytes cannot hold the caller forever.
    Socket, TLS and timeout failures surface as ``MLLPError``.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        max_frame: int = _DEFAULT_MAX_FRAME,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._reader = FrameReader(max_frame)
        self._pending: deque[bytes] = deque()
        self._sock: socket.socket | None = None
        self._answered = False  # anything received on this connection yet

    def __enter__(self) -> "MLLPClient":
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> None:
        """Open the connection (and the TLS session when an ``ssl_context`` was given)."""
        if self._sock is not None:
            return
        self._answered = False
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:  # TimeoutError is an OSError
            raise MLLPError(f"cannot connect to {self.host}:{self.port}: {_why(exc)}") from exc
        if self._ssl_context is not None:
            try:
                sock = self._ssl_context.wrap_socket(sock, server_hostname=self.host)
            except OSError as exc:  # ssl.SSLError is an OSError
                sock.close()
                raise MLLPError(f"cannot connect to {self.host}:{self.port}: TLS handshake "
                                f"failed: {handshake_failure(exc)[1]}") from exc
        self._sock = sock

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def send(self, payload: bytes, *, wait: float | None = None) -> bytes:
        """Send ``payload`` as one MLLP frame and return the next complete response payload
        (``wait``: as for ``receive``)."""
        sock = self._require_socket()
        try:
            sock.settimeout(self.timeout)
            sock.sendall(wrap(payload))
        except OSError as exc:
            self.close()
            raise MLLPError(f"sending to {self.host}:{self.port} failed: {_why(exc)}") from exc
        return self.receive(wait=wait)

    def receive(self, *, wait: float | None = None) -> bytes:
        """Return the next complete response payload, waiting at most ``timeout`` seconds.

        With ``wait`` (shorter than ``timeout``), give up after ``wait`` seconds by raising
        ``ResponseOverdue`` instead, the connection left open for a later ``receive``."""
        if self._pending:
            return self._pending.popleft()
        sock = self._require_socket()
        overdue = wait is not None and wait < self.timeout
        deadline = time.monotonic() + (wait if overdue else self.timeout)
        while not self._pending:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError("timed out")
                sock.settimeout(remaining)
                chunk = sock.recv(_RECV_SIZE)
            except OSError as exc:
                if overdue and isinstance(exc, TimeoutError):
                    raise ResponseOverdue(
                        f"no response from {self.host}:{self.port} in {wait:g} s") from exc
                self.close()
                raise MLLPError(
                    f"no response from {self.host}:{self.port}: {_why(exc)}"
                ) from exc
            if not chunk:
                self.close()
                hint = (" (a TLS peer does so when it refuses the client certificate)"
                        if self._ssl_context is not None and not self._answered else "")
                raise MLLPError(
                    f"{self.host}:{self.port} closed the connection before responding{hint}")
            try:
                self._pending.extend(self._reader.feed(chunk))
                self._answered = True
            except FramingError:
                self.close()
                raise
        return self._pending.popleft()

    def _require_socket(self) -> socket.socket:
        if self._sock is None:
            raise MLLPError("not connected: use MLLPClient as a context manager or call connect()")
        return self._sock


def _why(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLError):  # OpenSSL's reason, without its file-and-line noise
        return f"TLS: {handshake_failure(exc)[1]}"
    return exc.strerror or str(exc) or type(exc).__name__
