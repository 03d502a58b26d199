"""A batch file checked and published without holding it whole: the CNS sends a month of
prestations in one file, which may be far larger than the hub's memory goal.

`read_batch_file` feeds the file to the batch reader line by line, in chunks, and keeps only
where each message is; `messages_of` reads the messages back from the file when they are
published. The checks are those of `batch.read_batch`, line numbers included.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from hub.hl7.constants import BOM, LINE_END
from hub.inbound.batch import UNREADABLE, Batch, BatchProblem, BatchReader

CHUNK = 1 << 20


def read_batch_file(path: Path, chunk: int = CHUNK) -> Batch | BatchProblem:
    """Read and check the batch file at `path`; OSError when it cannot be read, otherwise never
    raises. Memory: one chunk and the longest line, plus two offsets per message."""
    reader = BatchReader()
    with open(path, "rb") as handle:
        try:
            for number, (line, start, after) in enumerate(_lines(handle, chunk), start=1):
                problem = reader.line(line, number, start, after)
                if problem is not None:
                    return problem
            return reader.finish()
        except OSError:
            raise
        except Exception:  # noqa: BLE001 - a file can never crash the intake
            return UNREADABLE


def messages_of(path: Path, batch: Batch) -> Iterator[bytes]:
    """Each message of a batch `read_batch_file` read from `path`, in order, from the file."""
    with open(path, "rb") as handle:
        for sub in batch.batches:
            for start, end in sub.spans:
                handle.seek(start)
                yield handle.read(end - start)


def _lines(handle: BinaryIO, chunk: int) -> Iterator[tuple[bytes, int, int]]:
    """(line without its end, its start, the offset after its end) for each line, whichever of
    CR, LF or CRLF ends it; a leading byte order mark is skipped."""
    buffer = handle.read(chunk)
    offset = len(BOM) if buffer.startswith(BOM) else 0
    buffer = buffer[offset:]
    while True:
        more = handle.read(chunk)
        pos = 0
        for found in LINE_END.finditer(buffer):
            if more and found.end() == len(buffer) and found.group() == b"\r":
                break  # a CR at the chunk's end may be the first half of a CRLF
            yield buffer[pos:found.start()], offset + pos, offset + found.end()
            pos = found.end()
        if not more:
            if pos < len(buffer):
                yield buffer[pos:], offset + pos, offset + len(buffer)
            return
        buffer, offset = buffer[pos:] + more, offset + pos
