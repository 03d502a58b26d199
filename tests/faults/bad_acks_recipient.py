"""A recipient that answers badly on purpose: by the arrival number of each message it sends a
matching AA or CA, an AA naming another message (MSA-2 mismatch), a malformed ACK, a matching
AA after the hub's ACK timeout, or nothing. It remembers which outbound MSH-10s it ever gave a
matching acceptance, so a test can tell a delivery credited on a bad ACK."""
from __future__ import annotations

import socket
import threading
import time

from hub.hl7.message import Message
from hub.mllp.framing import FrameReader, wrap
from tests.fixtures.registry import placer

GOOD, GOOD_CA, MISMATCH, MALFORMED, BAD_CODE, LATE, SILENT = (
    "good", "good_ca", "mismatch", "malformed", "bad_code", "late", "silent")
# One round of answers, by arrival number modulo its length; 3 of 10 accept.
PLAN = (GOOD, MISMATCH, MALFORMED, GOOD_CA, LATE, BAD_CODE, GOOD, SILENT, MISMATCH, MALFORMED)


def _ack(code: str, control_id: str) -> bytes:
    return wrap((f"MSH|^~\\&|REC|FAC|DSP|DSP|20261125101501||ACK^R01^ACK|A{control_id}|P|2.5\r"
                 f"MSA|{code}|{control_id}\r").encode("ascii"))


class BadAckRecipient:
    """`start()` listens on 127.0.0.1; `answers` lists (outbound MSH-10, placer, what it got)."""

    def __init__(self, late_s: float) -> None:
        self.late_s = late_s
        self.port = 0
        self.answers: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def accepted(self) -> set[str]:
        """Outbound MSH-10s that were ever sent a matching AA or CA (late ones included)."""
        with self._lock:
            return {c for c, _p, what in self.answers if what in (GOOD, GOOD_CA, LATE)}

    def _accept(self) -> None:
        while (listener := self._listener) is not None:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._sockets.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = FrameReader(1 << 20)
        previous = "NONE"
        try:
            while chunk := conn.recv(65536):
                for payload in reader.feed(chunk):
                    control_id = Message.parse(payload.decode("latin-1")).control_id
                    with self._lock:
                        what = PLAN[len(self.answers) % len(PLAN)]
                        self.answers.append((control_id, placer(payload), what))
                    if what == LATE:
                        time.sleep(self.late_s)
                    conn.sendall(self._answer(what, control_id, previous))
                    previous = control_id
        except OSError:
            pass
        finally:
            conn.close()

    @staticmethod
    def _answer(what: str, control_id: str, previous: str) -> bytes:
        if what in (GOOD, LATE):
            return _ack("AA", control_id)
        if what == GOOD_CA:
            return _ack("CA", control_id)
        if what == MISMATCH:  # an AA for the message before it on this connection (or none)
            return _ack("AA", previous if previous != control_id else "OTHER")
        if what == BAD_CODE:
            return _ack("ZZ", control_id)
        if what == MALFORMED:
            return wrap(b"this is not an ACK|" + control_id.encode("ascii") + b"\r")
        return b""  # SILENT
