"""What the process-fault tests share: numbered frames split among senders, a `hub serve --role`
process killed with SIGKILL and started again in its place, and sender threads run to the end.
"""
from __future__ import annotations

import signal
import subprocess
import threading
import time

from tests.faults.ledger import Ledger, send_numbered
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import encoded, oru_r01, patient


def numbered_frames(prefix: str, senders: int, per_sender: int,
                    n_obx: int = 2) -> list[list[tuple[str, bytes]]]:
    """`senders` lists of (MSH-10, frame); message n goes to sender n % senders."""
    total = senders * per_sender
    return [[(f"{prefix}{n}", encoded(oru_r01(patient(n), f"{prefix}{n}", n_obx=n_obx)))
             for n in range(k, total, senders)] for k in range(senders)]


def start_senders(port: int, frames: list[list[tuple[str, bytes]]], ledger: Ledger,
                  **kwargs) -> list[threading.Thread]:
    """One thread per list of frames, each sending with `send_numbered` (kwargs passed on)."""
    threads = [threading.Thread(target=send_numbered, args=(port, batch, ledger), kwargs=kwargs,
                                daemon=True) for batch in frames]
    for thread in threads:
        thread.start()
    return threads


def join_all(threads: list[threading.Thread], timeout: float) -> bool:
    """Join every thread within `timeout` seconds in all; whether all ended."""
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in threads)


def kill9(process: subprocess.Popen) -> None:
    """SIGKILL one hub process (by its own PID) and reap it."""
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def replace(env: HubEnv, process: subprocess.Popen, role: str, **extra: str) -> subprocess.Popen:
    """SIGKILL `process` and start the same role again (a new HTTP port, the same MLLP port)."""
    kill9(process)
    return env.start(role, **extra)
