"""`hub keys rotate --now|--resume` and `hub keys status` end to end (real processes, SQLite
and PostgreSQL): after a rotation every row decrypts and carries the new key id; Ctrl-C in
the middle leaves whole rows and `--resume` finishes. And an expired grant in `hub journal`."""
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from hub.domain.luxembourg import local_date
from hub.jobs.grant_expiry import note_expired_grants
from hub.store.job_store import JobStore
from hub.store.keyring import Keyring
from hub.store.rotation import ENCRYPTED
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.hub_process import REPO
from tests.fixtures.messages import patient
from tests.fixtures.registered import register
from tests.fixtures.dossier_rows import assert_all_decrypt, write_dossiers


def _key_ids(engine) -> dict[str, int]:
    counts: dict[str, int] = {}
    with engine.connect() as connection:
        for spec in ENCRYPTED:
            for (key_id,) in connection.execute(select(spec.table.c[spec.key_column])):
                counts[key_id] = counts.get(key_id, 0) + 1
    return counts


def test_rotate_now_reencrypts_every_row_under_the_new_key(cli_hub):
    hub, engine, keyring = cli_hub
    written = write_dossiers(lambda: UnitOfWork(engine, keyring), 3)

    result = hub.hub("keys", "rotate", "--now")
    assert "key k2 added and made current" in result.stdout
    assert "12 row(s) re-encrypted under k2" in result.stdout and "0 left" in result.stdout
    assert _key_ids(engine) == {"k2": 12}
    status = hub.hub_json("keys", "status")
    assert status["current"] == "k2" and status["keys"] == ["k1", "k2"]   # k1 kept
    assert status["rows"]["patients"] == {"k2": 3}
    shown = hub.hub_json("dossier", "show", patient(1).matricule)
    assert shown["patient"]["family_name"] == "Weber-0"
    assert_all_decrypt(lambda: UnitOfWork(engine, Keyring.load(keyring.path)), written)
    assert "intact" in hub.hub("audit", "verify").stdout


def test_an_interrupted_rotation_resumes_where_it_stopped(cli_hub):
    hub, engine, keyring = cli_hub
    written = write_dossiers(lambda: UnitOfWork(engine, keyring), 250)
    rows = 4 * 250
    process = subprocess.Popen(
        [sys.executable, "-m", "hub.cli.main", "keys", "rotate", "--now", "--batch-size", "1"],
        env=hub.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while _key_ids(engine).get("k2", 0) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, (out, err)
    assert "interrupted" in err and "--resume" in err and "Traceback" not in err
    counts = _key_ids(engine)
    assert set(counts) == {"k1", "k2"} and sum(counts.values()) == rows
    assert_all_decrypt(lambda: UnitOfWork(engine, Keyring.load(keyring.path)), written)

    result = hub.hub("keys", "rotate", "--resume")
    assert f"{counts['k1']} row(s) re-encrypted under k2" in result.stdout
    assert _key_ids(engine) == {"k2": rows}
    assert_all_decrypt(lambda: UnitOfWork(engine, Keyring.load(keyring.path)), written)


def test_rotate_without_now_leaves_the_rows_to_the_scheduler(cli_hub):
    hub, engine, keyring = cli_hub
    write_dossiers(lambda: UnitOfWork(engine, keyring), 2)
    result = hub.hub("keys", "rotate")
    assert "key k2 added" in result.stdout and "8 row(s) still under older keys" in result.stdout
    assert _key_ids(engine) == {"k1": 8}
    assert hub.hub_json("keys", "status")["current"] == "k2"


def test_an_expired_grant_shows_in_hub_journal(cli_hub):
    hub, engine, keyring = cli_hub
    today = datetime.now(UTC)
    register(hub, "123456-78")
    hub.hub("consent", "grant", patient(1).matricule, "123456-78", "--until",
            local_date(today).isoformat())        # until the end of today in Luxembourg
    store = JobStore(engine, keyring)
    assert note_expired_grants(store, lambda: today) == 0
    assert note_expired_grants(store, lambda: today + timedelta(days=2)) == 1
    journal = hub.hub_json("journal", patient(1).matricule)
    expired = [line for line in journal if line["action"] == "consent.expired"]
    assert len(expired) == 1 and "123456-78" in expired[0]["reason"]
    assert expired[0]["actor"] == "hub"


def test_a_missing_key_file_is_one_line_and_no_new_keyring(cli_hub, tmp_path):
    hub, engine, keyring = cli_hub
    hub.env["HUB_KEY_FILE"] = str(tmp_path / "elsewhere.json")
    for args in (("keys", "rotate", "--now"), ("keys", "status")):
        result = hub.hub(*args, check=False)
        assert result.returncode == 2 and result.stdout == ""
        assert result.stderr.strip().endswith("elsewhere.json does not exist")
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "elsewhere.json").exists()


def test_status_shows_rows_under_a_key_the_file_does_not_hold(cli_hub, tmp_path):
    hub, engine, _ = cli_hub
    other = Keyring.create(tmp_path / "other" / "keys.json")  # e.g. an older copy of the file
    other.add_key()
    write_dossiers(lambda: UnitOfWork(engine, other), 3)   # rows under k2, which env's file lacks

    assert hub.hub_json("keys", "status")["rows"]["patients"] == {"k2": 3}
    lines = hub.hub("keys", "status").stdout.splitlines()
    assert any(line.split()[:2] == ["k2", "3"] for line in lines), lines  # the rows nothing opens
