"""The professionals registry on real SQLite and PostgreSQL: repository, CSV import, MFN."""
import threading

import pytest

from hub.domain.professional import Destination, Professional, ProfessionalStatus
from hub.errors import HubError
from hub.hl7.message import Message
from hub.registry.csv_import import HEADER, ImportInterrupted, import_csv
from hub.registry.mfn import apply_mfn_changes, professionals_from_mfn

HEADER_LINE = ",".join(HEADER)
WEBER = Professional("123456-78", "Weber", "Anne", "GP", "active",
                     Destination("10.0.0.7", 2575, "EMR", "CABINET"))
THILL = Professional("823456-78", "Thill", "Léa", "PED", "suspended")


def write(tmp_path, text: str, encoding: str = "utf-8", name: str = "registry.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def listed(uow_factory, status=None):
    with uow_factory() as uow:
        return uow.professionals.list(status=status)


def test_upsert_says_added_then_unchanged_then_updated(uow_factory):
    with uow_factory() as uow:
        assert uow.professionals.upsert(WEBER) == "added"
        assert uow.professionals.upsert(WEBER) == "unchanged"
        uow.commit()
    moved = Professional("123456-78", "Weber", "Anne", "GP", "active",
                         Destination("10.0.0.8", 2576, "EMR2", "CAB2", tls=True))
    with uow_factory() as uow:
        assert uow.professionals.upsert(moved) == "updated"
        assert uow.professionals.upsert(moved) == "unchanged"
        uow.commit()
    with uow_factory() as uow:
        assert uow.professionals.get("123456-78") == moved


def test_get_list_and_status_filter(uow_factory):
    with uow_factory() as uow:
        for professional in (THILL, WEBER, Professional("023456-78", "Roth", "Eva", "", "active")):
            uow.professionals.upsert(professional)
        uow.commit()
    with uow_factory() as uow:
        assert uow.professionals.get("999999-99") is None
        assert uow.professionals.get("823456-78") == THILL  # name with é, no destination
    assert [p.cns_code for p in listed(uow_factory)] == ["023456-78", "123456-78", "823456-78"]
    assert [p.cns_code for p in listed(uow_factory, "active")] == ["023456-78", "123456-78"]
    assert listed(uow_factory, ProfessionalStatus.SUSPENDED) == [THILL]


def test_an_upsert_without_destination_clears_it_and_nothing_stays_without_commit(uow_factory):
    with uow_factory() as uow:
        uow.professionals.upsert(WEBER)
        uow.commit()
        undirected = Professional("123456-78", "Weber", "Anne", "GP")
        assert uow.professionals.upsert(undirected) == "updated"
        assert uow.professionals.get("123456-78").destination is None
        uow.professionals.upsert(THILL)
    assert listed(uow_factory) == [WEBER]  # left without commit: rolled back


BAD_ROWS = "\n".join([
    HEADER_LINE,                                                            # 1
    "123456-78,Weber,Anne,GP,active,10.0.0.7,2575,EMR,CABINET",             # 2 good
    "12345-678,Bad,Code,GP,active,,,,",                                     # 3
    "",                                                                     # 4 blank: skipped
    "223456-78,Roth,Eva,CAR,retired,,,,",                                   # 5
    '423456-78,"Schmit',                                                    # 6 (a quoted field
    'Thill",Luc,GP,active,h.lu,abc,EMR,CAB',                                # 7  over two lines)
    "523456-78,Hoffmann,Marc,GP,active,h.lu,2575,,",                        # 8
    "123456-78,Weber,Anne,GP,suspended,,,,",                                # 9
    "623456-78,Wagner,Luc,GP,active,,,,,extra",                             # 10
    "723456-78,,Sophie,GP,active,,,,",                                      # 11
    " 823456-78 , Thill , Léa ,PED, Suspended ,,,,",                        # 12 good
    "923456-78,Reuter,Max,GP,active,h.lu,70000,EMR,CAB",                    # 13
    "023456-78,Kieffer,Jos",                                                # 14
]) + "\n"


def test_bad_rows_are_reported_with_their_line_numbers_and_good_ones_stored(tmp_path, uow_factory):
    path = write(tmp_path, BAD_ROWS)
    with uow_factory() as uow:
        report = import_csv(path, uow)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (3, "CNS code '12345-678' is not of the form NNNNNN-NN"),
        (5, "unknown status 'retired' (expected active or suspended)"),
        (6, "mllp_port 'abc' is not a number"),
        (8, "destination half filled: receiving_application, receiving_facility empty (give all "
            "of mllp_host, mllp_port, receiving_application, receiving_facility or none)"),
        (9, "duplicate CNS code 123456-78 (first on line 2)"),
        (10, "expected 9 fields, found 10"),
        (11, "family_name is empty"),
        (13, "mllp_port: port 70000 is outside 1-65535"),
        (14, "expected 9 fields, found 3"),
    ]
    assert (report.added, report.updated, report.unchanged, report.ok) == (2, 0, 0, False)
    assert listed(uow_factory) == [WEBER, THILL]

    with uow_factory() as uow:  # the same file again changes nothing
        again = import_csv(path, uow)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert again.rejected == report.rejected


def test_a_changed_row_is_an_update(tmp_path, uow_factory):
    first = write(tmp_path,
                  f"{HEADER_LINE}\n123456-78,Weber,Anne,GP,active,10.0.0.7,2575,EMR,CABINET\n")
    second = write(tmp_path, f"{HEADER_LINE}\n123456-78,Weber,Anne,GP,suspended,,,,\n"
                             "823456-78,Thill,Léa,PED,suspended,,,,\n", name="second.csv")
    with uow_factory() as uow:
        assert import_csv(first, uow).added == 1
    with uow_factory() as uow:
        report = import_csv(second, uow)
    assert (report.added, report.updated, report.unchanged, report.ok) == (1, 1, 0, True)
    assert listed(uow_factory, "suspended") == [
        Professional("123456-78", "Weber", "Anne", "GP", "suspended"), THILL]


def test_semicolons_a_bom_crlf_and_a_tls_column(tmp_path, uow_factory):
    text = ("\ufeff" + ";".join(HEADER) + ";mllp_tls\r\n"
            "123456-78;Weber;Anne;GP;active;10.0.0.7;2575;EMR;CABINET;true\r\n"
            "\r\n"
            "823456-78;Thill;Léa;PED;suspended;;;;;\r\n"
            "923456-78;Reuter;Max;GP;active;;;;;yes\r\n"
            "023456-78;Roth;Eva;GP;active;h;1;A;F;maybe\r\n")
    with uow_factory() as uow:
        report = import_csv(write(tmp_path, text), uow)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (5, "mllp_tls is set but there is no destination"),
        (6, "mllp_tls 'maybe' is not true or false"),
    ]
    tls_weber = Professional("123456-78", "Weber", "Anne", "GP", "active",
                             Destination("10.0.0.7", 2575, "EMR", "CABINET", tls=True))
    assert listed(uow_factory) == [tls_weber, THILL]


@pytest.mark.parametrize("first_line", [
    "cns_code,family_name,given_name,specialty,status",
    "cns_code,family_name,given_name,specialty,status,mllp_port,mllp_host,"
    "receiving_application,receiving_facility",
    "cns_code|family_name|given_name|specialty|status|mllp_host|mllp_port|"
    "receiving_application|receiving_facility",
    "123456-78,Weber,Anne,GP,active,,,,",
], ids=["short", "swapped", "pipes", "no-header"])
def test_a_file_with_a_wrong_header_is_refused_whole(tmp_path, uow_factory, first_line):
    path = write(tmp_path, f"{first_line}\n823456-78,Thill,Léa,PED,suspended,,,,\n")
    with uow_factory() as uow, pytest.raises(HubError) as caught:
        import_csv(path, uow)
    assert str(caught.value) == (f"{path}: line 1 is not the expected header; expected: "
                                 f"{HEADER_LINE}")
    assert listed(uow_factory) == []


def test_a_file_not_in_utf8_or_empty_or_missing_is_refused(tmp_path, uow_factory):
    latin1 = write(tmp_path, f"{HEADER_LINE}\n823456-78,Thill,Léa,PED,suspended,,,,\n",
                   encoding="latin-1")
    empty = write(tmp_path, "\ufeff\n", name="empty.csv")
    for path, message in [(latin1, "line 2 is not UTF-8"), (empty, "empty file"),
                          (tmp_path / "none.csv", "no such file")]:
        with uow_factory() as uow, pytest.raises(HubError, match=message):
            import_csv(path, uow)
    assert listed(uow_factory) == []


def test_mfn_changes_keep_the_destination_and_what_a_record_leaves_empty(uow_factory):
    with uow_factory() as uow:
        uow.professionals.upsert(WEBER)
        uow.commit()
    msg = Message.parse("\r".join([
        "MSH|^~\\&|HR|CHL|DSP|HUB|20250102120000||MFN^M02|MF1|P|2.5",
        "MFI|STF||UPD",
        "MFE|MUP|||123456-78", "STF||123456-78^^^CNS|Weber|||||A", "PRA|||CAR",
        "MFE|MAD|||823456-78", "STF||823456-78|Thill^Léa||||I", "PRA|||PED",
        "MFE|MDL|||999999-99",
    ]))
    with uow_factory() as uow:
        results = apply_mfn_changes(uow, professionals_from_mfn(msg))
        assert results == ["updated", "added", "unknown"]
        uow.commit()
    cardiologist = Professional("123456-78", "Weber", "Anne", "CAR", "active", WEBER.destination)
    assert listed(uow_factory) == [cardiologist, THILL]

    suspend = Message.parse("MSH|^~\\&|HR|CHL|DSP|HUB|1||MFN^M02|MF2|P|2.5\rMFE|MDC|||123456-78")
    reactivate = Message.parse("MSH|^~\\&|HR|CHL|DSP|HUB|1||MFN^M02|MF3|P|2.5\rMFE|MAC|||823456-78")
    with uow_factory() as uow:
        assert apply_mfn_changes(uow, professionals_from_mfn(suspend)) == ["updated"]
        assert apply_mfn_changes(uow, professionals_from_mfn(reactivate)) == ["updated"]
        uow.commit()
    weber, thill = listed(uow_factory)
    assert weber.status == "suspended" and weber.destination == WEBER.destination
    assert not weber.can_receive and thill.can_read and thill.family_name == "Thill"


def registry_of(count: int) -> str:
    """A registry file of `count` active GPs without a destination (valid CNS codes)."""
    rows = [f"{100000 + n:06d}-{n % 100:02d},Weber-{n},Anne,GP,active,,,," for n in range(count)]
    return "\n".join([HEADER_LINE, *rows]) + "\n"


def test_an_import_reports_progress_and_stopped_before_its_commit_stores_nothing(
        tmp_path, uow_factory):
    path = write(tmp_path, registry_of(5))
    stop, seen = threading.Event(), []

    def after_each(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 3:
            stop.set()  # Ctrl-C while the third row is imported

    with uow_factory() as uow, pytest.raises(ImportInterrupted, match="at line 5: nothing"):
        import_csv(path, uow, stop=stop, progress=after_each)
    assert seen == [(1, 5), (2, 5), (3, 5)]
    assert listed(uow_factory) == []

    seen.clear()
    with uow_factory() as uow:
        assert import_csv(path, uow, progress=after_each).added == 5
    assert seen[-1] == (5, 5) and len(listed(uow_factory)) == 5
