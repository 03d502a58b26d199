"""Quiet reconnects: an outage of N failed attempts is one WARNING and one INFO, not N lines,
and pika's own per-attempt lines (ERROR with a traceback) are silenced by the hub's setup."""
from __future__ import annotations

import logging

from hub.logs import OutageLog, quiet_libraries

LOGGER = "hub.test.outage"


def test_n_failed_attempts_make_one_warning_and_one_info_with_the_count(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    outage = OutageLog(logging.getLogger(LOGGER), "broker", "reconnecting")

    for n in range(37):
        outage.failed(f"ConnectionRefusedError attempt {n}")
    outage.recovered()
    outage.recovered()  # working on: nothing more to say

    records = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]
    assert [level for level, _ in records] == [logging.WARNING, logging.INFO]
    assert records[0][1] == "broker unreachable (ConnectionRefusedError attempt 0); reconnecting"
    assert records[1][1].startswith("broker reachable again after 37 failed attempts in ")
    assert not any(r.exc_info for r in caplog.records)


def test_each_outage_is_reported_on_its_own(caplog):
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    outage = OutageLog(logging.getLogger(LOGGER), "database")

    outage.failed("first")
    outage.recovered()
    for _ in range(3):
        outage.failed("second")
    outage.recovered()

    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 4
    assert "after 1 failed attempt in" in messages[1]
    assert "after 3 failed attempts in" in messages[3]
    assert not outage.down


def test_pika_lines_are_silenced():
    pika_logger = logging.getLogger("pika.adapters.utils.connection_workflow")
    before = logging.getLogger("pika").level
    try:
        quiet_libraries()
        assert not pika_logger.isEnabledFor(logging.ERROR)
    finally:
        logging.getLogger("pika").setLevel(before)
