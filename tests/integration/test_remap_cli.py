"""`hub remap` end to end (real processes, SQLite and PostgreSQL): a dry run changes nothing,
a run corrects what yesterday's mapping missed and says so, an unknown id is a clear error,
and Ctrl-C stops between two messages with exit 130, the rest done by the next run."""
import json
import signal
import subprocess
import sys
import time
from functools import partial

from sqlalchemy import func, select

from hub.domain.audit import AuditAction
from hub.store.tables import audit_events
from hub.store.unit_of_work import UnitOfWork
from tests.fixtures.hub_process import REPO
from tests.fixtures.messages import oru_r01, patient
from tests.fixtures.remap_rows import WITHOUT_UNIT, file_many, mappings_where


def file_yesterday(tmp_path, uow_factory, count: int) -> list[str]:
    yesterday = mappings_where(tmp_path, *WITHOUT_UNIT)
    return file_many(uow_factory, yesterday,
                     [oru_r01(patient(60 + n % 7), f"Y{n}", n_obx=2) for n in range(count)])


def units(uow_factory, ids: list[str]) -> list[bool]:
    with uow_factory() as uow:
        return [all(e.payload.get("unit") for e in uow.entries.for_message(id)) for id in ids]


def test_a_dry_run_then_a_run_correct_what_yesterdays_mapping_missed(cli_hub, tmp_path):
    hub, engine, keyring = cli_hub
    uow_factory = partial(UnitOfWork, engine, keyring)
    ids = file_yesterday(tmp_path, uow_factory, 3)

    dry = hub.hub_json("remap", "--dry-run")
    assert (dry["dry_run"], dry["requested"], [c["id"] for c in dry["changed"]]) == \
        (True, 3, ids)
    assert units(uow_factory, ids) == [False] * 3

    result = hub.hub("remap", "--type", "ORU^R01")
    assert result.stdout.splitlines()[0] == \
        "3 message(s): 3 changed, 0 unchanged, 0 failed, 0 skipped"
    assert units(uow_factory, ids) == [True] * 3
    assert hub.hub_json("remap", ids[1])["unchanged"] == 1
    assert hub.hub_json("remap", "--type", "ADT^A01")["requested"] == 0


def test_an_unknown_id_is_a_clear_error(cli_hub):
    hub, _, _ = cli_hub
    result = hub.hub("remap", "0123456789abcdef", check=False)
    assert result.returncode == 1
    assert "0123456789abcdef: no stored message with this id" in result.stderr
    assert "hub: 1 message(s) not re-mapped" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_stops_between_two_messages_and_the_next_run_finishes(cli_hub, tmp_path):
    hub, engine, keyring = cli_hub
    uow_factory = partial(UnitOfWork, engine, keyring)
    ids = file_yesterday(tmp_path, uow_factory, 300)
    process = subprocess.Popen([sys.executable, "-m", "hub.cli.main", "remap", "--json"],
                               env=hub.env, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    remapped = select(func.count()).select_from(audit_events).where(
        audit_events.c.action == AuditAction.ENTRIES_REMAPPED)
    deadline = time.monotonic() + 60
    with engine.connect() as connection:
        while connection.execute(remapped).scalar_one() < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 130, (out, err)
    summary = json.loads(out)
    done = len(summary["changed"])
    assert summary["interrupted"] and summary["not_done"] == 300 - done and done >= 10
    assert units(uow_factory, ids) == [True] * done + [False] * (300 - done)
    rest = hub.hub_json("remap")
    assert (rest["unchanged"], len(rest["changed"])) == (done, 300 - done)
