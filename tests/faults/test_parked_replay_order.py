"""Order through parking and replay against a real `hub serve` (issue 12, defect 3).

A recipient that answers AE to everything makes each patient's first delivery park after
`[outbound] max_attempts`, and that parked delivery holds the rest of its patient's queue: the
recipient sees no later message of that patient. Once it answers AA and `hub deliveries replay
--all-parked` is run, every delivery gets through in each patient's order, none twice. A
recipient that refuses connections for longer than max_attempts × backoff parks nothing (a
refused connection is the destination's fault, not a message's) and gets everything in order
once it listens.
"""
from __future__ import annotations

import collections
import socket
import threading
import time
import uuid

from sqlalchemy import create_engine, text

from hub.hl7.message import Message
from hub.mllp.framing import FrameReader, wrap
from tests.fixtures.ledger import Ledger, poll, send_numbered
from tests.fixtures.doctor import DOCTOR, register_doctor
from tests.fixtures.hub_process import free_port
from tests.fixtures.messages import patient
from tests.fixtures.registry import FAST_OUTBOUND, oru, placer

PATIENTS = 20
PER_PATIENT = 4
MAX_ATTEMPTS = 3
SETTLE_TIMEOUT_S = 45.0
SETTINGS = {**FAST_OUTBOUND, "HUB_OUTBOUND__MAX_ATTEMPTS": str(MAX_ATTEMPTS),
            "HUB_OUTBOUND__UNREACHABLE_BACKOFF_CAP": "0.5", "HUB_OUTBOUND__TIMEOUT": "2"}


class SwitchRecipient:
    """Answers every message with `code` (AE, then AA once switched) on `port`; `received`
    lists (number of the original message, code answered) in arrival order."""

    def __init__(self, port: int, prefix: str) -> None:
        self.port, self.code, self._prefix = port, "AE", prefix
        self.received: list[tuple[int, str]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.1)
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _accept(self) -> None:
        while (listener := self._listener) is not None:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = FrameReader(1 << 20)
        try:
            while self._listener is not None and (chunk := conn.recv(65536)):
                for payload in reader.feed(chunk):
                    control_id = Message.parse(payload.decode("latin-1")).control_id
                    with self._lock:
                        code = self.code
                        self.received.append((int(placer(payload).removeprefix("PL" + self._prefix)),
                                              code))
                    conn.sendall(wrap((f"MSH|^~\\&|REC|FAC|DSP|DSP|20261125101501||ACK^R01^ACK|"
                                       f"A{control_id}|P|2.5\rMSA|{code}|{control_id}\r").encode()))
        except OSError:
            pass
        finally:
            conn.close()

    def tally(self) -> dict[str, int]:
        """Accepted (AA'd once or more), accepted twice, and per-patient inversions among the
        first acceptance of each message (message n is patient n % PATIENTS's)."""
        with self._lock:
            accepted = [n for n, code in self.received if code == "AA"]
        twice = sum(1 for c in collections.Counter(accepted).values() if c > 1)
        firsts = list(dict.fromkeys(accepted))
        by_patient = collections.defaultdict(list)
        for n in firsts:
            by_patient[n % PATIENTS].append(n)
        inversions = sum(1 for ns in by_patient.values()
                         for i, a in enumerate(ns) for b in ns[i + 1:] if a > b)
        return {"accepted": len(firsts), "delivered_twice": twice, "inversions": inversions}


def _states(engine) -> collections.Counter:
    with engine.connect() as connection:
        return collections.Counter(s for (s,) in connection.execute(
            text("SELECT state FROM deliveries")))


def _hub_and_messages(fault_hub, port: int):
    env, _postgres = fault_hub
    url = env.env["HUB_DATABASE_URL"]
    env.env.update(SETTINGS)
    register_doctor(env, url, port, PATIENTS)
    prefix = f"PRO-{uuid.uuid4().hex[:6]}-"
    frames = [(f"{prefix}{n}", oru(patient(n % PATIENTS), f"{prefix}{n}", DOCTOR))
              for n in range(PATIENTS * PER_PATIENT)]
    for role in ("listener", "worker", "sender"):
        env.start(role)
    return env, create_engine(url), prefix, frames


def test_parked_past_max_attempts_then_replayed_keeps_each_patients_order(fault_hub, fault_report):
    total = PATIENTS * PER_PATIENT
    port = free_port()
    env, engine, prefix, frames = _hub_and_messages(fault_hub, port)
    recipient = SwitchRecipient(port, prefix)
    recipient.start()
    ledger = Ledger()
    try:
        send_numbered(env.mllp_port, frames, ledger)
        parked = poll(lambda: _states(engine)["parked"] >= PATIENTS, timeout=SETTLE_TIMEOUT_S)
        time.sleep(2.0)  # several more rounds of retries: nothing behind a parked head may go
        while_ae = _states(engine)
        seen_while_ae = {n for n, _code in recipient.received}
        recipient.code = "AA"
        started = time.monotonic()
        replayed = env.hub("deliveries", "replay", "--all-parked").stdout.strip()
        done = poll(lambda: _states(engine) == {"delivered": total}, timeout=SETTLE_TIMEOUT_S)
        settled_s = time.monotonic() - started
        after = _states(engine)
    finally:
        recipient.stop()
        engine.dispose()
    counts = {**ledger.counts(), "parked_while_ae": while_ae["parked"],
              "pending_while_ae": while_ae["pending"],
              "sent_while_ae_beyond_heads": len(seen_while_ae - set(range(PATIENTS))),
              "delivered": after["delivered"], "parked_at_end": after["parked"],
              **recipient.tally(), "seconds_to_deliver_after_replay": round(settled_s, 1)}
    fault_report("AE past max_attempts, then AA and replay", counts)

    assert counts["aa"] == total, counts
    assert parked, counts
    # Only each patient's first message parked; the rest waited behind it, never sent.
    assert counts["parked_while_ae"] == PATIENTS and counts["pending_while_ae"] == total - PATIENTS, counts
    assert counts["sent_while_ae_beyond_heads"] == 0, counts
    assert replayed == f"{PATIENTS} deliveries queued again", replayed
    assert done, counts
    assert counts["accepted"] == total and counts["parked_at_end"] == 0, counts
    assert counts["inversions"] == 0 and counts["delivered_twice"] == 0, counts


def test_a_refused_connection_past_max_attempts_parks_nothing(fault_hub, fault_report):
    total = PATIENTS * PER_PATIENT
    port = free_port()  # nothing listens yet: every connection is refused, for real
    env, engine, prefix, frames = _hub_and_messages(fault_hub, port)
    recipient = SwitchRecipient(port, prefix)
    recipient.code = "AA"
    ledger = Ledger()
    try:
        send_numbered(env.mllp_port, frames, ledger)
        tried = poll(lambda: _failures(engine) >= 3 * MAX_ATTEMPTS, timeout=SETTLE_TIMEOUT_S)
        while_down = _states(engine)
        failures = _failures(engine)
        recipient.start()
        started = time.monotonic()
        done = poll(lambda: _states(engine) == {"delivered": total}, timeout=SETTLE_TIMEOUT_S)
        settled_s = time.monotonic() - started
        after = _states(engine)
    finally:
        recipient.stop()
        engine.dispose()
    counts = {**ledger.counts(), "refused_connects": failures,
              "parked_while_down": while_down["parked"], "delivered": after["delivered"],
              "parked_at_end": after["parked"], **recipient.tally(),
              "seconds_to_deliver_once_up": round(settled_s, 1)}
    fault_report("connections refused past max_attempts, then up", counts)

    assert counts["aa"] == total, counts
    assert tried, counts
    assert counts["parked_while_down"] == 0 and while_down["pending"] == total, counts
    assert done, counts
    assert counts["accepted"] == total and counts["parked_at_end"] == 0, counts
    assert counts["inversions"] == 0 and counts["delivered_twice"] == 0, counts


def _failures(engine) -> int:
    """Refused connection attempts in a row the hub recorded against the destination."""
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT COALESCE(MAX(failures), 0) FROM unreachable_destinations")).scalar()
