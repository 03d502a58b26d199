"""`hub dossier overdue` after `hub serve --role scheduler` flagged, on SQLite and PostgreSQL, with
the clock moved by backdating the référent declarations and résumés: a résumé sent before the
declaration counts within the window, the yearly update is listed like the first résumé, and
the due day shown is Luxembourg's."""
from __future__ import annotations

import signal
from datetime import UTC, datetime, timedelta

from hub.bootstrap import Hub
from hub.domain.resume import next_due_on
from hub.settings import load_settings
from tests.fixtures.hub_process import HubEnv
from tests.fixtures.messages import patient

REFERENT = "123456-78"


def backdate(env: HubEnv, person, declared_days_ago: int, resume_days_ago: int | None) -> None:
    """Declare REFERENT for `person` that many days ago, after (or before) a résumé of theirs."""
    hub = Hub(load_settings(database_url=env.env["HUB_DATABASE_URL"],
                            key_file=env.env["HUB_KEY_FILE"], broker_url="memory://"))
    now = datetime.now(UTC)
    try:
        hub.upgrade_database()
        with hub.unit_of_work() as uow:
            pid = uow.patients.id_for(person.matricule)
            since = now - timedelta(days=declared_days_ago)
            resume = None if resume_days_ago is None else now - timedelta(days=resume_days_ago)
            if resume is not None and resume < since:
                uow.resumes.record_resume(pid, REFERENT, resume)
            uow.consents.declare_referent(pid, REFERENT, since, "test")
            if resume is not None and resume >= since:
                uow.resumes.record_resume(pid, REFERENT, resume)
            uow.commit()
    finally:
        hub.close()


def test_overdue_lists_first_resumes_and_yearly_updates_after_the_scheduler_ran(memory_env):
    people = {name: patient(n) for n, name in enumerate(
        ("sent before, in the window", "none yet", "update late", "update in time",
         "sent before, too old"), start=81)}
    backdate(memory_env, people["sent before, in the window"], 100, 130)
    backdate(memory_env, people["none yet"], 100, None)
    backdate(memory_env, people["update late"], 500, 380)
    backdate(memory_env, people["update in time"], 500, 200)
    backdate(memory_env, people["sent before, too old"], 100, 200)
    assert memory_env.hub_json("dossier", "overdue") == []

    process = memory_env.start(role="scheduler", wait=False)
    listed = memory_env.wait_until(
        lambda: len(memory_env.hub_json("dossier", "overdue")) == 3, timeout=30)
    assert listed, memory_env.logs()
    rows = {row["matricule"]: row for row in memory_env.hub_json("dossier", "overdue")}
    assert set(rows) == {people[name].matricule for name in
                         ("none yet", "update late", "sent before, too old")}
    late = rows[people["update late"].matricule]
    last = datetime.fromisoformat(late["last_resume_at"])
    assert late["due_on"] == next_due_on(datetime.fromisoformat(late["declared_at"]), last, 3,
                                         12).isoformat()
    assert rows[people["none yet"].matricule]["last_resume_at"] is None
    assert memory_env.hub_json("status")["resumes"] == {"overdue": 3, "due": 0}

    table = memory_env.hub("dossier", "overdue").stdout
    assert "last résumé" in table and "due by" in table and late["due_on"] in table
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0, memory_env.logs()
    assert all(p.matricule not in memory_env.logs() for p in people.values())
