"""MLLP framing: ``<VT> payload <FS><CR>``, defined once for the whole hub.

The reader is a pure state machine fed with whatever chunks a socket returns, so it is tested
without sockets and shared by the listener and the client.
"""

from dataclasses import dataclass

from hub.errors import FramingError

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
CARRIAGE_RETURN = b"\x0d"


def wrap(payload: bytes) -> bytes:
    """Return ``payload`` framed as one MLLP block, ready for a single write."""
    return START_BLOCK + payload + END_BLOCK + CARRIAGE_RETURN


@dataclass(frozen=True)
class Oversize:
    """A frame that ended past the cap: its first bytes (enough for its MSH) and its size."""

    head: bytes
    size: int


class FrameReader:
    """Cut a byte stream into MLLP payloads.

    ``feed`` returns the payloads completed by a chunk, in order. Bytes outside a frame (stray
    CR/LF between frames) are skipped. An end block closes a frame whether or not a CR follows.
    A start block inside an open frame abandons the partial frame (counted in ``dropped``) and
    opens a new one. A frame longer than ``max_frame`` bytes raises ``FramingError``; with
    ``keep_head`` it is read to its end block instead, keeping only its first ``keep_head``
    bytes, and comes out as an ``Oversize`` (a listener answers it, the connection goes on).
    """

    def __init__(self, max_frame: int, keep_head: int | None = None) -> None:
        if max_frame < 1:
            raise ValueError("max_frame must be positive")
        self._max_frame = max_frame
        self._keep_head = None if keep_head is None else min(keep_head, max_frame)
        self._buffer = bytearray()
        self._in_frame = False
        self._broken = False
        self._skipped: int | None = None  # bytes of an oversize frame read so far, past its head
        self.dropped = 0

    @property
    def in_frame(self) -> bool:
        """True while a frame has started and not ended (the read timeout applies)."""
        return self._in_frame

    @property
    def buffered(self) -> int:
        """Bytes of the open frame held in memory (never more than ``max_frame``)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | Oversize]:
        """Consume ``data`` and return the payloads it completed, oldest first.

        When a chunk completes some frames and then overflows, those frames are returned and
        the ``FramingError`` is raised by the next call, so that no acknowledged-able frame is
        lost to a later one's breakage.
        """
        if self._broken:
            raise self._overflow_error()
        frames: list[bytes] = []
        pos, size = 0, len(data)
        while pos < size:
            if not self._in_frame:
                start = data.find(START_BLOCK, pos)
                if start < 0:
                    break
                self._in_frame = True
                pos = start + 1
                continue
            end = data.find(END_BLOCK, pos)
            stop = end if end >= 0 else size
            restart = data.find(START_BLOCK, pos, stop)
            if restart >= 0:
                self.dropped += 1
                self._buffer.clear()
                self._skipped = None
                pos = restart + 1
                continue
            if self._skipped is not None:  # an oversize frame: count its bytes, keep none
                self._skipped += stop - pos
                if end < 0:
                    break
                frames.append(Oversize(bytes(self._buffer), len(self._buffer) + self._skipped))
                self._buffer.clear()
                self._skipped, self._in_frame = None, False
                pos = end + 1
                continue
            if len(self._buffer) + (stop - pos) > self._max_frame and self._keep_head is not None:
                self._buffer += data[pos:stop]
                self._skipped = len(self._buffer) - self._keep_head
                del self._buffer[self._keep_head:]
                pos = stop
                continue
            if len(self._buffer) + (stop - pos) > self._max_frame:
                # Keep nothing of the oversize frame: memory stays bounded by max_frame.
                self._buffer = bytearray()
                self._broken = True
                if frames:
                    return frames
                raise self._overflow_error()
            if end >= 0 and not self._buffer:
                # The whole frame is in this chunk (the usual case): one copy, not three.
                frames.append(bytes(data[pos:stop]))
                self._in_frame = False
                pos = end + 1
                continue
            self._buffer += data[pos:stop]
            if end < 0:
                break
            frames.append(bytes(self._buffer))
            self._buffer.clear()
            self._in_frame = False
            pos = end + 1
        return frames

    def _overflow_error(self) -> FramingError:
        return FramingError(f"no end block within {self._max_frame} bytes")
