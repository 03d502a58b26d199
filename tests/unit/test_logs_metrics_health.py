"""Unit tests for the pieces behind /metrics, /health/ready and the lifecycle log lines: the
JSON and key=value formatters, the lifecycle helper's level switch, bounded labels, the parked
reason classes, and Health's timeout, cache and failure details."""
from __future__ import annotations

import io
import json
import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from hub.health import Health
from hub.logs import LIFECYCLE, JSONFormatter, KeyValueFormatter, lifecycle, set_lifecycle_level
from hub.metrics import BoundedLabel, Metrics, park_class


@pytest.fixture
def captured():
    """The lifecycle logger's lines, JSON-formatted, at INFO; restored afterwards."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger(LIFECYCLE)
    logger.addHandler(handler)
    old = logger.level
    set_lifecycle_level("INFO")
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(old)


def test_a_lifecycle_line_is_one_json_object_with_its_ids_as_keys(captured):
    lifecycle("message", "stored", message_id="m1", control_id="C-1", sender="LAB^CHL",
              type="ORU^R01", ack_code="AA", reason=None)
    [line] = captured.getvalue().splitlines()
    document = json.loads(line)
    assert document["message"] == "message stored" and document["level"] == "info"
    assert document["logger"] == LIFECYCLE and document["step"] == "stored"
    assert {k: document[k] for k in ("message_id", "control_id", "sender", "type", "ack_code")} \
        == {"message_id": "m1", "control_id": "C-1", "sender": "LAB^CHL", "type": "ORU^R01",
            "ack_code": "AA"}
    assert "reason" not in document  # None fields are left out


def test_lifecycle_lines_are_silenced_by_their_own_level(captured):
    set_lifecycle_level("WARNING")
    lifecycle("message", "received", message_id="m1")
    assert captured.getvalue() == ""


def test_the_plain_format_appends_the_ids_as_key_value_pairs():
    record = logging.LogRecord("hub.lifecycle", logging.INFO, __file__, 1, "%s %s",
                               ("delivery", "parked"), None)
    record.__dict__.update(delivery_id="d1", reason="refused: AR", step="parked")
    line = KeyValueFormatter().format(record)
    assert line.endswith('hub.lifecycle: delivery parked delivery_id=d1 reason="refused: AR" '
                         "step=parked")


def test_the_plain_format_shows_control_characters_inert():
    record = logging.LogRecord("hub.lifecycle", logging.INFO, __file__, 1, "message stored", (),
                               None)
    record.__dict__.update(sender="LAB\x1b]0;owned\x07^HOSP", control_id="C\x9b2J")
    line = KeyValueFormatter().format(record)
    assert line.endswith("sender=LAB\\x1b]0;owned\\x07^HOSP control_id=C\\x9b2J")


def test_a_bounded_label_counts_values_past_its_limit_as_other():
    label = BoundedLabel(2)
    assert [label(v) for v in ("A^B", "C^D", "E^F", "A^B", None)] == [
        "A^B", "C^D", "other", "A^B", "other"]
    assert BoundedLabel(5)("") == "unknown"


def test_junk_message_types_are_other_and_do_not_use_up_the_label():
    metrics = Metrics(max_label_values=50)
    for n in range(20_000):
        metrics.message_answered("LAB^HOSP", f"\x0b{n}junk^{n}", "AR")
    metrics.message_answered("LAB^HOSP", "ORU^R01^ORU_R01", "AA")
    metrics.message_answered("LAB^HOSP", None, "AR")
    series = {s.labels["type"] for family in metrics.registry.collect()
              if family.name == "hub_messages_received" for s in family.samples}
    assert series == {"other", "ORU^R01", "unknown"}
    for n in range(1000):  # well-formed but invented: the first 50, then other
        metrics.message_answered("LAB^HOSP", f"Z{n:02d}"[:3] + "^Z01", "AR")
    series = {s.labels["type"] for family in metrics.registry.collect()
              if family.name == "hub_messages_received" for s in family.samples}
    assert len(series) <= 50 + 1


@pytest.mark.parametrize("reason, kind", [
    ("unmapped: no mapping for ZZZ^Z01", "unmapped"),
    ("conflict: MSH-10 reused with other content (first: message x)", "conflict"),
    ("dead-lettered: delivery_limit", "dead_letter"),
    ("MappingError: OBX-5 is not a number", "mapping"),
    ("PID-3: no matricule (identifier type NN)", "identity"),
    ("HL7Error: no MSH segment", "parse"),
    ("closed: the dossier of MRG-1 is closed; a merge involving a closed dossier waits",
     "closed"),
    ("KeyError at mapper.py:12", "other"),
    (None, "other"),
])
def test_parking_reasons_fall_into_a_few_classes(reason, kind):
    assert park_class(reason) == kind


def test_filed_messages_are_counted_with_their_latency_and_park_class():
    metrics = Metrics()
    now = datetime(2026, 11, 26, tzinfo=timezone.utc)
    metrics.message_filed("parked", "unmapped: no mapping for X", now - timedelta(seconds=2), now)
    metrics.delivery_outcome("h:1", "denied", reason="grant revoked")
    metrics.delivery_outcome("h:1", "delivered", queued_at=now - timedelta(seconds=3), now=now)
    value = metrics.registry.get_sample_value
    assert value("hub_messages_parked_total", {"reason": "unmapped"}) == 1
    assert value("hub_message_processing_seconds_sum", {"state": "parked"}) == 2
    assert value("hub_consent_denials_total", {"stage": "send", "reason": "grant revoked"}) == 1
    assert value("hub_delivery_seconds_sum") == 3
    assert value("hub_deliveries_total", {"destination": "h:1", "outcome": "delivered"}) == 1


def test_health_names_a_failing_check_by_its_exception_type_only():
    def broken():
        raise ConnectionError("amqp://guest:secret@host")
    ok, results = Health({"database": lambda: True, "broker": broken}, ttl=0).ready()
    assert not ok
    assert results["database"].ok and results["broker"].detail == "failed: ConnectionError"


def test_a_check_that_hangs_fails_within_the_timeout_and_is_not_started_twice():
    release, calls = threading.Event(), []

    def hangs():
        calls.append(1)
        release.wait(5)
        return {}
    health = Health({"broker": hangs}, timeout=0.2, ttl=0)
    try:
        started = time.monotonic()
        ok, results = health.ready()
        assert not ok and results["broker"].detail == "no answer within 0.2 s"
        assert time.monotonic() - started < 1.0
        health.ready()
        assert len(calls) == 1 and health.value("broker") is None
    finally:
        release.set()
        health.close()


def test_results_are_reused_for_the_ttl():
    calls = []
    health = Health({"database": lambda: calls.append(1) or True}, ttl=60)
    health.run()
    health.run()
    assert len(calls) == 1


def test_a_debug_step_shows_only_when_the_lifecycle_level_is_debug(captured):
    lifecycle("message", "received", logging.DEBUG, message_id="m1")
    assert captured.getvalue() == ""
    set_lifecycle_level("DEBUG")
    lifecycle("message", "received", logging.DEBUG, message_id="m1")
    assert json.loads(captured.getvalue())["level"] == "debug"
