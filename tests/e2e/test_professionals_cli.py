"""`hub professionals import` and `list`, run as real `hub` processes on SQLite and PostgreSQL."""
import signal
import subprocess
import sys
import time

from tests.fixtures.hub_process import REPO, HubEnv

HEADER = ("cns_code,family_name,given_name,specialty,status,mllp_host,mllp_port,"
          "receiving_application,receiving_facility")


def _env(tmp_path, database_url) -> HubEnv:
    # The registry commands never touch the broker; memory:// proves they do not need one.
    # They need the database `hub db upgrade` (or `hub serve`) created.
    env = HubEnv(tmp_path, database_url, broker_url="memory://")
    env.create_database()
    return env


def test_import_then_list_as_json(tmp_path, database_url):
    env = _env(tmp_path, database_url)
    registry = tmp_path / "registry.csv"
    registry.write_text("\ufeff" + "\n".join([
        HEADER,
        "123456-78,Weber,Anne,GP,active,10.0.0.7,2575,EMR,CABINET",
        "823456-78,Thill,Léa,PED,suspended,,,,",
        "12345-678,Bad,Code,GP,active,,,,",
    ]) + "\n", encoding="utf-8")

    imported = env.hub("professionals", "import", str(registry), check=False)

    assert imported.returncode == 1
    assert imported.stdout.splitlines() == [
        "added 2, updated 0, unchanged 0, rejected 1",
        "line 4: CNS code '12345-678' is not of the form NNNNNN-NN",
    ]
    assert imported.stderr == "hub: 1 row(s) rejected\n"
    assert env.hub_json("professionals", "list") == [
        {"cns_code": "123456-78", "family_name": "Weber", "given_name": "Anne", "specialty": "GP",
         "status": "active", "can_receive": True,
         "destination": {"host": "10.0.0.7", "port": 2575, "receiving_application": "EMR",
                         "receiving_facility": "CABINET", "tls": False}},
        {"cns_code": "823456-78", "family_name": "Thill", "given_name": "Léa", "specialty": "PED",
         "status": "suspended", "can_receive": False, "destination": None},
    ]
    suspended = env.hub_json("professionals", "list", "--status", "suspended")
    assert [p["cns_code"] for p in suspended] == ["823456-78"]

    registry.write_text(f"{HEADER}\n823456-78,Thill,Léa,PED,active,,,,\n", encoding="utf-8")
    again = env.hub("professionals", "import", str(registry), "--json")
    assert again.returncode == 0 and again.stderr == ""
    assert again.stdout.startswith("{") and '"updated": 1' in again.stdout
    assert env.hub_json("professionals", "list", "--status", "suspended") == []


def test_a_wrong_header_is_one_line_on_stderr_and_a_fresh_hub_lists_nothing(tmp_path, database_url):
    env = _env(tmp_path, database_url)
    assert env.hub_json("professionals", "list") == []
    bad = tmp_path / "bad.csv"
    bad.write_text("code,name\n123456-78,Weber\n", encoding="utf-8")

    result = env.hub("professionals", "import", str(bad), check=False)

    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr == (f"hub: {bad}: line 1 is not the expected header; expected: "
                             f"{HEADER}\n")
    assert env.hub_json("professionals", "list") == []


def test_ctrl_c_during_an_import_stores_nothing_of_the_file(tmp_path, database_url):
    env = _env(tmp_path, database_url)
    registry = tmp_path / "registry.csv"
    registry.write_text("\n".join([HEADER, *(f"{100000 + n:06d}-{n % 100:02d},Weber-{n},Anne,"
                                             "GP,active,,,," for n in range(20000))]) + "\n")
    env.hub("professionals", "list")  # the key file, so the import starts at once
    process = subprocess.Popen([sys.executable, "-m", "hub.cli.main", "professionals", "import",
                                str(registry)], env=env.env, cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    time.sleep(2.0)  # into the rows, most likely (20,000 take several seconds); before them,
    process.send_signal(signal.SIGINT)  # the command ends the same way without its message
    out, err = process.communicate(timeout=120)

    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err and "added" not in out
    assert env.hub_json("professionals", "list") == []
