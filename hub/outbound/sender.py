"""One MLLP destination: a persistent connection, one message at a time, every ACK correlated."""
from __future__ import annotations

import logging
import ssl
import threading

from hub.errors import FramingError, MLLPError
from hub.mllp.client import MLLPClient
from hub.outbound.ack_reader import AckResult, no_answer, read_ack

log = logging.getLogger(__name__)


class DestinationSender:
    """Send messages to one `host:port` over a connection kept open between sends.

    `timeout` bounds the connect and the whole wait for each ACK. Whenever the stream may be
    out of step (no answer in time, a broken connection, an ACK that is not for the message
    sent), the connection is dropped: a late ACK still on its way can then never be read as the
    answer to the next message. The next `send` connects afresh.
    """

    def __init__(self, host: str, port: int, *, timeout: float,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._client: MLLPClient | None = None
        # One exchange at a time: two interleaved on one connection could swap their ACKs.
        self._lock = threading.Lock()

    @property
    def key(self) -> str:
        """The destination key, `host:port`."""
        return f"{self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        """Whether a connection is currently held open."""
        return self._client is not None

    def send(self, payload: bytes, control_id: str) -> AckResult:
        """Send one message whose MSH-10 is `control_id` and return what its ACK means.

        Never raises for network trouble: a refused connection, a timeout, a closed or broken
        stream all come back as a retryable `no-answer` result.
        """
        with self._lock:
            try:
                response = self._connection().send(payload)
            except (MLLPError, FramingError) as exc:
                self._drop()
                log.info("delivery to %s got no answer for %s: %s", self.key, control_id, exc)
                return no_answer(str(exc))
            result = read_ack(response, control_id)
            if result.drop_connection:
                self._drop()
                log.warning("delivery to %s: %s for %s; connection dropped",
                            self.key, result.code, control_id)
            return result

    def close(self) -> None:
        """Close the connection, if one is open."""
        with self._lock:
            self._drop()

    def _connection(self) -> MLLPClient:
        if self._client is None:
            client = MLLPClient(self.host, self.port, timeout=self.timeout,
                                ssl_context=self._ssl_context)
            client.connect()
            self._client = client
        return self._client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
