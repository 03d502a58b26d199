"""Where the data lives: relative paths in the settings are read against the config file's
directory (or HUB_HOME), never the working directory, and only `hub serve` and `hub db upgrade`
create a database. Once, a worker started from another directory filed half the acknowledged
messages into a `var/hub.db` of its own, and `hub status` run elsewhere answered `healthy` from
an empty database it had just made."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures.acks import send_with_python_hl7
from tests.fixtures.hub_process import REPO, HubEnv
from tests.fixtures.messages import encoded, oru_r01, patient

# The shipped config file, copied with the mappings and routing it names: relative paths only.
PATH_VARIABLES = ("HUB_HOME", "HUB_DATABASE_URL", "HUB_KEY_FILE", "HUB_CNS_SPOOL",
                  "HUB_MAPPINGS_DIR", "HUB_ROUTING_FILE")
PERSON = patient(7)
READ_COMMANDS = [
    ("status",), ("messages",), ("dossier", "show", PERSON.matricule), ("journal", PERSON.matricule),
    ("consent", "list", PERSON.matricule), ("audit", "verify"), ("trace",), ("dlq", "list"),
    ("deliveries", "list"), ("rejected", "list"), ("keys", "status"), ("professionals", "list"),
    ("remap", "--dry-run"), ("dossier", "overdue"),
]


def installed_elsewhere(env: HubEnv, tmp_path: Path) -> Path:
    """Put a copy of the shipped config (relative paths: `sqlite:///../var/hub.db`,
    `../var/keys.json`, `../mappings`, `routing.toml`, `senders.toml`) under
    tmp_path/install/config and point
    `env` at it through HUB_CONFIG_DIR alone; HUB_HOME unset. Returns the install directory."""
    install = tmp_path / "install"
    (install / "config").mkdir(parents=True)
    for name in ("default.toml", "routing.toml", "senders.toml", "sensitive_codes.toml"):
        shutil.copy(REPO / "config" / name, install / "config" / name)
    shutil.copytree(REPO / "mappings", install / "mappings")
    for name in PATH_VARIABLES:
        env.env.pop(name, None)
    env.env["HUB_CONFIG_DIR"] = str(install / "config")
    return install


def directories(tmp_path: Path, *names: str) -> list[Path]:
    made = [tmp_path / name for name in names]
    for directory in made:
        directory.mkdir()
    return made


def everything_under(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*"))


@pytest.fixture
def memory_hub(tmp_path):
    env = HubEnv(tmp_path, "unused", broker_url="memory://")
    yield env
    env.stop_all()


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_read_command_elsewhere_on_a_missing_database_exits_1_naming_it_and_creates_nothing(
        memory_hub, tmp_path, command):
    install = installed_elsewhere(memory_hub, tmp_path)
    [elsewhere] = directories(tmp_path, "elsewhere")
    before = everything_under(install)

    result = memory_hub.hub(*command, check=False, cwd=elsewhere)

    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert f"no database at {install / 'var' / 'hub.db'}" in result.stderr
    assert everything_under(install) == before and everything_under(elsewhere) == []


def test_an_empty_database_is_named_and_left_as_it_was(memory_hub, tmp_path):
    install = installed_elsewhere(memory_hub, tmp_path)
    [elsewhere] = directories(tmp_path, "elsewhere")
    (install / "var").mkdir()
    sqlite3.connect(install / "var" / "hub.db").close()  # a file with no schema
    before = everything_under(install)

    result = memory_hub.hub("status", check=False, cwd=elsewhere)

    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"database {install / 'var' / 'hub.db'} holds no hub schema" in result.stderr
    assert everything_under(install) == before  # no key file either
    assert (install / "var" / "hub.db").stat().st_size == 0


def test_db_upgrade_run_anywhere_makes_the_database_that_read_commands_elsewhere_find(
        memory_hub, tmp_path):
    install = installed_elsewhere(memory_hub, tmp_path)
    here, elsewhere = directories(tmp_path, "here", "elsewhere")

    memory_hub.hub("db", "upgrade", cwd=here)
    listed = memory_hub.hub("messages", "--json", cwd=elsewhere)

    assert listed.stdout.strip() == "[]"
    assert (install / "var" / "hub.db").is_file()
    assert everything_under(here, elsewhere) == []


def test_serve_says_where_the_data_lives(memory_hub, tmp_path):
    install = installed_elsewhere(memory_hub, tmp_path)
    [elsewhere] = directories(tmp_path, "elsewhere")

    memory_hub.start(cwd=elsewhere)
    memory_hub.stop_all()

    logs = memory_hub.logs()
    assert (f"database: sqlite:///{install / 'var' / 'hub.db'}; "
            f"key file: {install / 'var' / 'keys.json'}") in logs
    assert "broker: in-memory" in logs
    assert everything_under(elsewhere) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_listener_and_workers_started_in_other_directories_file_into_the_one_database(
        hub_env, tmp_path):
    install = installed_elsewhere(hub_env, tmp_path)
    listener_dir, worker_dir, other_worker_dir, reader_dir = directories(
        tmp_path, "listener", "worker", "other-worker", "reader")
    hub_env.start("listener", cwd=listener_dir)
    hub_env.start("worker", cwd=worker_dir)
    hub_env.start("worker", cwd=other_worker_dir)

    acks = send_with_python_hl7(hub_env.mllp_port, [
        encoded(oru_r01(patient(n), f"HOME-{n}", n_obx=1)) for n in range(10)])

    assert [a.code for a in acks] == ["AA"] * 10
    assert hub_env.wait_until(lambda: len(hub_env.hub_json(
        "messages", "--state", "stored", cwd=reader_dir)) == 10), hub_env.logs()
    status = hub_env.hub_json("status", cwd=reader_dir)["messages"]
    assert status["received"] == status["stored"] == 10
    broker = urlsplit(hub_env.env["HUB_BROKER_URL"])
    assert f"broker: RabbitMQ at amqp://{broker.username}@{broker.hostname}" in hub_env.logs()
    assert f":{broker.password}@" not in hub_env.logs()
    assert everything_under(listener_dir, worker_dir, other_worker_dir, reader_dir) == []
    assert (install / "var" / "hub.db").is_file() and (install / "var" / "keys.json").is_file()
