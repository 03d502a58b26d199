"""`hub serve` without --role (hub/supervisor.py) as real processes on RabbitMQ and SQLite or
PostgreSQL: the parent starts a process per role, which store and deliver a message sent over
MLLP; a killed worker is replaced; SIGTERM drains them listener first; a configuration error
stops everything once, without a restart loop; a SIGKILLed parent takes its children with it."""
from __future__ import annotations

import json
import os
import signal
import socket
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import encoded, oru_r01, patient
from tests.fixtures.registry import (  # noqa: F401 - scene is a fixture
    FAST_OUTBOUND, oru, scene, write_professionals)


def children(parent: int) -> dict[int, str]:
    """The live processes whose parent is `parent` (as ps shows them), each with its --role."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # it ended while we looked
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z" and b"--role" in command:
            found[int(entry.name)] = command[command.index(b"--role") + 1].decode()
    return found


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def roles(parent: int) -> Counter:
    return Counter(children(parent).values())


def ready(env: HubEnv) -> dict | None:
    """The configured port's /health/ready document when it answers 200."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{env.http_port}/health/ready",
                                    timeout=5) as answer:
            return json.loads(answer.read())
    except (OSError, urllib.error.HTTPError):
        return None


def stored(env: HubEnv) -> int:
    return env.hub_json("status")["messages"]["stored"]


def test_the_parent_runs_every_role_which_store_and_deliver_then_drain_on_sigterm(scene):
    env = scene.env
    doctor = scene.doctor("330001-11")
    env.env.update(FAST_OUTBOUND)
    env.create_database()
    env.hub("professionals", "import", str(write_professionals(
        env.tmp_path / "professionals.csv", scene.doctors)))
    parent = env.start_supervised(workers=2)
    everyone = Counter(listener=1, worker=2, sender=1, scheduler=1)
    assert env.wait_until(lambda: roles(parent.pid) == everyone, timeout=60), \
        (roles(parent.pid), env.logs())
    pids = set(children(parent.pid))
    # The configured HTTP port answers for the whole hub: ready once every child runs.
    document = env.wait_until(lambda: ready(env), timeout=60)
    assert document and document["checks"]["processes"] == "ok", (document, env.logs())

    person = patient(331)
    env.hub("consent", "grant", person.matricule, doctor.cns_code)
    [ack] = send_with_python_hl7(env.mllp_port, [oru(person, "SUP-1", doctor)])
    assert ack.code == "AA"
    assert env.wait_until(lambda: stored(env) == 1, timeout=60), env.logs()
    assert doctor.recipient.wait_for(1, timeout=60), env.logs()
    # /metrics on the configured port is the listener's: it counted the frame it answered.
    with urllib.request.urlopen(f"http://127.0.0.1:{env.http_port}/metrics", timeout=5) as r:
        assert 'hub_frames_received_total{ack_code="AA"} 1.0' in r.read().decode()

    parent.send_signal(signal.SIGTERM)
    assert parent.wait(timeout=90) == 0, env.logs()
    assert not [pid for pid in pids if alive(pid)]
    stops = [line.split(" process ")[0].rsplit(" ", 1)[-1] for line in env.logs().splitlines()
             if "hub.supervisor" in line and " stopped (" in line]
    assert [role.split("-")[0] for role in stops] == \
        ["listener", "worker", "worker", "sender", "scheduler"], env.logs()
    assert "every process stopped" in env.logs()


def test_a_killed_worker_is_replaced_and_messages_still_flow(hub_env):
    parent = hub_env.start_supervised(workers=1)
    assert hub_env.wait_until(lambda: roles(parent.pid)["worker"] == 1, timeout=60), hub_env.logs()
    [worker] = [pid for pid, role in children(parent.pid).items() if role == "worker"]

    os.kill(worker, signal.SIGKILL)

    def replaced() -> bool:
        workers = [pid for pid, role in children(parent.pid).items() if role == "worker"]
        return len(workers) == 1 and workers[0] != worker
    assert hub_env.wait_until(replaced, timeout=60), hub_env.logs()
    assert f"worker-0 process {worker} exited unexpectedly (signal SIGKILL)" in hub_env.logs()
    # With the only worker replaced, a stored message proves the new one routes.
    acks = send_with_python_hl7(hub_env.mllp_port, [
        encoded(oru_r01(patient(n), f"RESTART-{n}")) for n in range(3)])
    assert [a.code for a in acks] == ["AA"] * 3
    assert hub_env.wait_until(lambda: stored(hub_env) == 3, timeout=60), hub_env.logs()
    assert parent.poll() is None


def test_a_configuration_error_in_a_child_stops_everything_once(hub_env):
    # The MLLP port is taken: the listener child exits 2 (ConfigError) after the others started.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", hub_env.mllp_port))
        taken.listen()
        parent = hub_env.start_supervised(workers=1, wait=False)
        assert parent.wait(timeout=90) == 2, hub_env.logs()
    logs = hub_env.logs()
    assert "hub: configuration error: the listener process stopped on a configuration error" in logs
    assert f"cannot listen for MLLP on 127.0.0.1:{hub_env.mllp_port}" in logs
    assert "restarts in" not in logs, logs
    assert len([line for line in logs.splitlines() if "listener process" in line
                and " started" in line]) == 1, logs
    assert "Traceback" not in logs
    assert children(parent.pid) == {}


def test_children_exit_when_the_parent_is_killed(hub_env):
    parent = hub_env.start_supervised(workers=1)
    assert hub_env.wait_until(lambda: len(children(parent.pid)) == 4, timeout=60), hub_env.logs()
    pids = list(children(parent.pid))
    command = Path(f"/proc/{pids[0]}/cmdline").read_bytes().split(b"\0")
    state_file = Path(command[command.index(b"--supervised") + 1].decode())

    parent.kill()
    parent.wait(timeout=10)

    try:
        assert hub_env.wait_until(lambda: not any(alive(pid) for pid in pids), timeout=60), \
            ([pid for pid in pids if alive(pid)], hub_env.logs())
    finally:  # orphans this test made, if the proof failed
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        state_file.unlink(missing_ok=True)  # a SIGKILLed parent cannot remove its own


def test_workers_is_refused_with_a_role(memory_env):
    result = memory_env.hub("serve", "--role", "worker", "--workers", "2", check=False)
    assert result.returncode == 2
    assert "--workers counts the worker processes" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_memory_broker_keeps_the_one_process_mode(memory_env):
    parent = memory_env.start_supervised(workers=2)
    assert "every role runs in this one" in memory_env.logs()
    assert children(parent.pid) == {}
    [ack] = send_with_python_hl7(memory_env.mllp_port, [encoded(oru_r01(patient(7), "MEM-1"))])
    assert ack.code == "AA"
