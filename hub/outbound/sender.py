"""One MLLP destination: a persistent connection, one message at a time, every ACK correlated.

A late ACK must not hold up the destination's other patients for the whole timeout. So a send
given `on_late` waits only `patience` seconds for its ACK; past that, the connection is set
aside with a thread of its own that waits for the ACK up to `timeout` (then closes it and calls
`on_late(result)`), and the next send opens a fresh connection. Each connection still carries one
exchange at a time, so an ACK is never read as the answer to another message. At most
`MAX_ASIDE` connections wait aside per destination; beyond that a send waits in place.
"""
from __future__ import annotations

import logging
import ssl
import threading

from collections.abc import Callable

from hub.errors import FramingError, MLLPError
from hub.mllp.client import MLLPClient, ResponseOverdue
from hub.outbound.ack_reader import AckResult, no_answer, overdue, read_ack

log = logging.getLogger(__name__)
MAX_ASIDE = 4


class DestinationSender:
    """Send messages to one `host:port` over a connection kept open between sends.

    `timeout` bounds the connect and the whole wait for each ACK. Whenever the stream may be
    out of step (no answer in time, a broken connection, an ACK that is not for the message
    sent), the connection is dropped: a late ACK still on its way can then never be read as the
    answer to the next message. The next `send` connects afresh.
    """

    def __init__(self, host: str, port: int, *, timeout: float,
                 ssl_context: ssl.SSLContext | None = None,
                 patience: float | None = None) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.patience = patience if patience is not None and patience < timeout else None
        self._ssl_context = ssl_context
        self._client: MLLPClient | None = None
        self._aside: dict[threading.Thread, MLLPClient] = {}
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

    def send(self, payload: bytes, control_id: str, *,
             on_late: Callable[[AckResult], None] | None = None) -> AckResult:
        """Send one message whose MSH-10 is `control_id` and return what its ACK means.

        Never raises for network trouble: a refused connection, a timeout, a closed or broken
        stream all come back as a retryable `no-answer` result (`reached` False when no
        connection could be made). With `on_late` and a `patience`, an ACK not there within
        `patience` seconds gives an `overdue` result now and the real one to `on_late` later,
        from another thread (see the module docstring).
        """
        with self._lock:
            try:
                client = self._connection()
            except MLLPError as exc:
                self._drop()
                log.info("delivery to %s: cannot connect for %s: %s", self.key, control_id, exc)
                return no_answer(str(exc), reached=False)
            wait = self.patience if on_late is not None and self._room_aside() else None
            try:
                response = client.send(payload, wait=wait)
            except ResponseOverdue:
                self._client = None
                self._set_aside(client, control_id, on_late)
                return overdue()
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
        """Close the connection, if one is open, once the ACKs awaited aside came or timed out
        (their `on_late` called)."""
        with self._lock:
            self._drop()
            waiting = list(self._aside)
        for thread in waiting:
            thread.join(self.timeout + 1.0)

    def _room_aside(self) -> bool:
        return self.patience is not None and len(self._aside) < MAX_ASIDE

    def _set_aside(self, client: MLLPClient, control_id: str,
                   on_late: Callable[[AckResult], None]) -> None:
        # The ACK may still come within the timeout: this connection waits for it alone.
        remaining = self.timeout - (self.patience or 0.0)
        thread = threading.Thread(target=self._await_late, args=(client, control_id, on_late,
                                                                   remaining),
                                  name=f"late ack {self.key}", daemon=True)
        self._aside[thread] = client
        log.info("delivery to %s: ACK for %s late; awaited aside", self.key, control_id)
        thread.start()

    def _await_late(self, client: MLLPClient, control_id: str,
                    on_late: Callable[[AckResult], None], remaining: float) -> None:
        try:
            result = read_ack(client.receive(wait=remaining), control_id)
        except (ResponseOverdue, MLLPError, FramingError) as exc:
            log.info("delivery to %s got no answer for %s: %s", self.key, control_id, exc)
            result = no_answer(str(exc))
        finally:
            client.close()  # one exchange per connection set aside
        try:
            on_late(result)
        finally:
            with self._lock:
                self._aside.pop(threading.current_thread(), None)

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
