"""Guarantee 5: the database's bytes hold no patient name, matricule, result or raw message."""
import glob
import os
import shutil
import subprocess
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import make_url

from hub.domain.models import Confidentiality, Entry, MessageRecord, MessageState, Patient
from hub.store.tables import new_id

NAME = "Weydert-Ëmeline"
MATRICULE = "1893120105732"
SEGMENT = "OBX|1|NM|2345-7^Glucose^LN||5.4|mmol/l|||||F"
RAW_TEXT = (
    "MSH|^~\\&|LAB|ACME|DSP|HUB|20240301083000||ORU^R01|CTRL-991|P|2.5|||||||{charset}\r"
    f"PID|||{MATRICULE}^^^^NN||{NAME}^Anne||19891231|F\r"
    f"{SEGMENT}\r"
)
NEEDLES = {
    "name (UTF-8)": NAME.encode("utf-8"),
    "name (latin-1)": NAME.encode("latin-1"),
    "family name stem": b"Weydert",
    "matricule": MATRICULE.encode(),
    "raw segment": SEGMENT.encode(),
    "result": b"Glucose",
    "raw header": b"ORU^R01|CTRL-991",
}


def _write_a_dossier(uow_factory):
    messages = [
        (RAW_TEXT.format(charset="UNICODE UTF-8").encode("utf-8"), "CTRL-991"),
        (RAW_TEXT.format(charset="8859/1").encode("latin-1"), "CTRL-992"),
    ]
    with uow_factory() as uow:
        patient_id = uow.patients.id_for(MATRICULE)
        uow.patients.save_demographics(patient_id, Patient(MATRICULE, NAME, "Anne",
                                                           "1989-12-31", "F"))
        for raw, control_id in messages:
            message = MessageRecord(new_id(), "LAB^ACME", control_id, "ORU^R01", "2.5",
                                    MessageState.STORED, datetime.now(UTC),
                                    patient_id=patient_id)
            uow.messages.add(message, raw)
            uow.entries.add(patient_id, message.id, 0, Entry(
                "lab_result", {"test": "2345-7^Glucose", "value": "5.4", "patient": NAME},
                Confidentiality.NORMAL, "2024-03-01T08:30:00+01:00"))
        uow.commit()
    with uow_factory() as uow:  # the data really is there, just not in clear
        assert uow.patients.get(patient_id).family_name == NAME
        assert uow.entries.count() == 2


def _assert_clean(content: bytes, where: str, also_hex: bool = False):
    for what, needle in NEEDLES.items():
        assert needle not in content, f"{what} found in clear in {where}"
        if also_hex:  # pg_dump prints bytea as hex: clear bytes in a bytea column would be hex
            assert needle.hex().encode() not in content.lower(), f"{what} found as hex in {where}"


def _sqlite_files(database_url):
    path = make_url(database_url).database
    files = sorted(glob.glob(path + "*"))
    assert path in files
    return {name: open(name, "rb").read() for name in files}


def _pg_dump(database_url) -> bytes:
    executable = shutil.which("pg_dump")
    assert executable, "pg_dump is not installed"
    url = make_url(database_url)
    environment = dict(os.environ)
    if url.password:
        environment["PGPASSWORD"] = url.password
    completed = subprocess.run(
        [executable, "--no-owner", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
         "-U", url.username or "postgres", "-d", url.database],
        capture_output=True, env=environment, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")
    assert b"COPY public.patients" in completed.stdout
    return completed.stdout


def test_database_bytes_hold_no_patient_data_in_clear(database_url, uow_factory, engine):
    _write_a_dossier(uow_factory)
    if database_url.startswith("sqlite"):
        for name, content in _sqlite_files(database_url).items():  # the WAL too
            _assert_clean(content, name)
        engine.dispose()  # checkpoint the WAL into the main file, then look again
        for name, content in _sqlite_files(database_url).items():
            _assert_clean(content, name)
    else:
        _assert_clean(_pg_dump(database_url), "pg_dump", also_hex=True)


def test_the_checks_would_see_clear_text(tmp_path):
    """The needles are found when they are there: the test above cannot pass by accident."""
    raw = RAW_TEXT.format(charset="8859/1").encode("latin-1")
    with pytest.raises(AssertionError, match="name \\(latin-1\\)"):
        _assert_clean(raw, "a latin-1 message")
    with pytest.raises(AssertionError, match="matricule found as hex"):
        _assert_clean(b"\\x" + MATRICULE.encode().hex().encode(), "a dump", also_hex=True)
