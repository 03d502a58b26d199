"""The supervising parent's decisions without processes (hub/supervisor.py): restart delays
double to 30 s and start again at 1 s after a long run, a configuration error is not restarted,
and the listener's `processes` check passes only when every child runs."""
import json
import time

import pytest

from hub import supervisor
from hub.supervisor import EXIT_CONFIG, Supervisor, processes_ready


class Exited:
    """A child process that has exited with `code`."""

    def __init__(self, code: int, pid: int = 4242) -> None:
        self.returncode, self.pid = code, pid

    def poll(self) -> int:
        return self.returncode


@pytest.fixture
def parent():
    s = Supervisor(workers=1, env={})
    yield s
    s.state_file.unlink(missing_ok=True)


def crash(s: Supervisor, role: str, code: int = 1, ran: float = 0.0):
    [child] = [c for c in s.children if c.role == role]
    child.process = Exited(code)  # type: ignore[assignment]
    child.started_at = time.monotonic() - ran
    return child, s._watch()


def test_restart_delays_double_up_to_thirty_seconds(parent):
    delays = []
    for _ in range(7):
        child, fatal = crash(parent, "worker")
        assert fatal is None and child.process is None
        delays.append(round(child.due - time.monotonic()))
    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_a_child_that_ran_a_minute_restarts_after_one_second(parent):
    for _ in range(4):
        crash(parent, "sender")
    child, _ = crash(parent, "sender", ran=supervisor.HEALTHY_RUN)
    assert round(child.due - time.monotonic()) == 1


def test_a_configuration_error_is_fatal_not_restarted(parent):
    child, fatal = crash(parent, "listener", code=EXIT_CONFIG)
    assert fatal is child and child.due is None


def test_the_processes_check_passes_only_when_every_child_runs(parent):
    parent._write_state()  # nothing started yet
    with pytest.raises(RuntimeError, match="listener"):
        processes_ready(parent.state_file)
    for pid, child in enumerate(parent.children, start=100):
        child.process = Exited(0, pid)  # type: ignore[assignment] - only its pid is read
    parent._write_state()
    state = processes_ready(parent.state_file)
    assert state["ready"] is True and state["children"]["worker-0"] == 101
    assert json.loads(parent.state_file.read_text())["parent"] > 0
