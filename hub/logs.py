"""Logging setup: plain lines for people, or one JSON object per line for collectors.

Log records carry ids and codes only; patient data never reaches a log call. Ids travel as
logging's `extra=` fields (never concatenated into the text), so the JSON formatter writes each
as its own key and the plain formatter appends them as `key=value`.

Message lifecycle lines (received with its ACK code, stored / parked / rejected / discarded,
routed, delivery outcomes) go to one logger, `hub.lifecycle`, through `lifecycle()`: one line
per step with the step's ids (message_id, control_id, sender, type, state, ack_code,
delivery_id, destination, recipient, reason). Its level is `log.lifecycle`: INFO by default,
DEBUG adds the listener's `received` line, WARNING silences them all. The listener's line is
DEBUG because it costs the ingest path far more than its share (bench/ingest.py, 8 senders:
about 2,000 msg/s with it against 2,800-4,000 without, on this shared machine), and the
worker's line for the same message repeats its ids (control_id, sender, type, ack_code).
"""
from __future__ import annotations

import json
import logging
import sys
import threading
import time
from datetime import datetime, timezone

from hub.text import inert

LIFECYCLE = "hub.lifecycle"
_LIFECYCLE_LOGGER = logging.getLogger(LIFECYCLE)  # looked up once: getLogger takes a lock
# Every attribute a bare LogRecord has: whatever else a record carries came in through `extra=`.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def extras(record: logging.LogRecord) -> dict[str, object]:
    """The fields a log call passed with `extra=` (None values left out)."""
    return {key: value for key, value in record.__dict__.items()
            if key not in _STANDARD and value is not None}


class JSONFormatter(logging.Formatter):
    """One JSON object per record: at, level, logger, message, then the `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "at": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extras(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    """The plain format, with the `extra=` fields appended as key=value."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = extras(record)
        if not fields:
            return text
        pairs = " ".join(f"{key}={_plain(value)}" for key, value in fields.items())
        head, sep, tail = text.partition("\n")  # a traceback stays below the fields
        return f"{head} {pairs}{sep}{tail}"


def _plain(value: object) -> str:
    # A sender's MSH-3 or MSH-10 may hold control characters: a tailed log must not run them.
    text = inert(str(value))
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


def configure_logging(level: str = "INFO", json_lines: bool = False,
                      lifecycle_level: str | None = None) -> None:
    """Send the hub's logs to stderr at `level`; `lifecycle_level` sets the lifecycle logger's."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter() if json_lines else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_level(level))
    quiet_libraries()
    # Neither format shows the caller, thread or process: not looking them up saves about a
    # quarter of a record's cost, which a line per message step pays (the logging docs' own advice).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    if lifecycle_level is not None:
        set_lifecycle_level(lifecycle_level)


def quiet_libraries() -> None:
    """The levels of the libraries' loggers that would bury the hub's own lines."""
    # apscheduler logs every run of the periodic jobs at INFO.
    for noisy in ("alembic", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # pika logs every failed connection attempt at ERROR with a traceback (150-190 lines per
    # process in a broker outage). Every pika failure reaches the hub as an exception that the
    # hub reports in its own words, once per outage (OutageLog), so pika's own lines add nothing.
    logging.getLogger("pika").setLevel(logging.CRITICAL)


def set_lifecycle_level(level: str) -> None:
    """The level of the message lifecycle lines' logger (`log.lifecycle`)."""
    logging.getLogger(LIFECYCLE).setLevel(_level(level))


def lifecycle_logger() -> logging.Logger:
    """The logger of message lifecycle lines."""
    return logging.getLogger(LIFECYCLE)


def lifecycle(subject: str, step: str, /, level: int = logging.INFO, **ids: object) -> None:
    """Log one lifecycle step of a message or delivery (`subject`), "message stored", with
    its ids as fields; costs one level check when the lifecycle logger is above `level`.
    `ids` must never hold patient data."""
    logger = _LIFECYCLE_LOGGER
    if logger.isEnabledFor(level):
        ids["step"] = step
        logger.log(level, "%s %s", subject, step, extra=ids)


class OutageLog:
    """Reports one connection's outages in two lines: a WARNING at the first failure, an INFO
    when it works again with the count of failed attempts and the time it took; the attempts
    in between say nothing. One per connection (a worker thread's broker, its database...)::

        outage = OutageLog(log, "database", "the worker holds its batch and retries")
        try: ...; outage.recovered()
        except DatabaseUnavailable as exc: outage.failed(str(exc))

    `reason` must be an error's own words (they name no patient data) and is logged once."""

    def __init__(self, logger: logging.Logger, what: str, meanwhile: str = "retrying") -> None:
        self._logger = logger
        self._what = what
        self._meanwhile = meanwhile
        self.attempts = 0
        self.since: float | None = None  # time.monotonic() of the first failure
        self._lock = threading.Lock()  # a dispatcher's lanes share one

    @property
    def down(self) -> bool:
        return self.attempts > 0

    def failed(self, reason: str) -> None:
        """One more failed attempt; the first of an outage is logged."""
        with self._lock:
            self.attempts += 1
            first = self.attempts == 1
            if first:
                self.since = time.monotonic()
        if first:
            self._logger.warning("%s unreachable (%s); %s", self._what, reason, self._meanwhile)

    def recovered(self) -> None:
        """It worked: logs the end of the outage, if there was one."""
        if not self.attempts:
            return
        with self._lock:
            attempts, since = self.attempts, self.since
            self.attempts, self.since = 0, None
        if not attempts:
            return
        took = time.monotonic() - (since or time.monotonic())
        self._logger.info("%s reachable again after %d failed attempt%s in %.1f s", self._what,
                          attempts, "" if attempts == 1 else "s", took)


def _level(name: str) -> int:
    return getattr(logging, str(name).upper(), logging.INFO)
