"""Hot-path parse benchmark: the split-based reader against python-hl7 and hl7apy.

Each parser parses one generated ORU^R01 (about 1.5 KB, ten OBX) and reads the same twenty
values. Prints the median of five runs per parser, in µs per message, and its ratio to hl7apy.

    .venv/bin/python bench/parse.py
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import hl7
from hl7apy.parser import parse_message

from hub.hl7.charset import decode
from hub.hl7.message import Message
from hub.mapping.mapper import map_message
from hub.mapping.loader import load_mappings
from hub.settings import REPO_ROOT

RUNS = 5
HEADER_PATHS = ("MSH-9.1", "MSH-9.2", "MSH-10", "MSH-12", "MSH-3.1",
                "PID-3.1", "PID-5.1", "PID-5.2", "PID-7", "OBR-4.1")


def make_oru(observations: int = 10) -> str:
    """A synthetic ORU^R01 with `observations` OBX segments, CR-separated."""
    lines = [
        "MSH|^~\\&|LABSYS|LABO|HUB|DSP|20240301101500||ORU^R01^ORU_R01|MSG00042|P|2.5|||AL|NE||"
        "UNICODE UTF-8",
        "PID|1||1893120105732^^^CNS^NN~LAB42^^^LABO^PI||Schmit^Anne Marie^^^^^L||19890312|F|||"
        "12 rue de la Gare^^Luxembourg^^1611^LU^H",
        "PV1|1|O|LABO^^^^^^^^Prise de sang|||||123456-78^Weber^Paul",
        "ORC|RE|ORD0042|FIL0042||CM",
        "OBR|1|ORD0042|FIL0042|24331-1^Lipid panel^LN|||20240301080000|||||||"
        "20240301081500||123456-78^Weber^Paul||||||20240301101500|||F",
    ]
    for n in range(1, observations + 1):
        lines.append(
            f"OBX|{n}|NM|{2090 + n}-{n % 10}^Analyte number {n} serum^LN||{n}.{n}|"
            f"mmol/L^mmol/L^UCUM|0.5-{n + 4}.0|N|||F|||20240301090000||tech^Lab^Tech"
        )
    return "\r".join(lines) + "\r"


def read_split(text: str) -> list[str]:
    msg = Message.parse(text)
    values = [msg.value(path) for path in HEADER_PATHS]
    values += [obx.value(5) for obx in msg.segments_named("OBX")]
    return values


def read_python_hl7(text: str) -> list[str]:
    msg = hl7.parse(text)
    values = [str(msg[_python_hl7_key(path)]) for path in HEADER_PATHS]
    values += [str(obx[5]) for obx in msg.segments("OBX")]
    return values


def _python_hl7_key(path: str) -> str:
    """PID-5.2 in python-hl7's notation: PID.F5.R1.C2."""
    segment, _, rest = path.partition("-")
    field, _, component = rest.partition(".")
    return f"{segment}.F{field}.R1.C{component or 1}"


def read_hl7apy(text: str) -> list[str]:
    msg = parse_message(text)
    result = msg.oru_r01_patient_result
    pid = result.oru_r01_patient.pid
    order = result.oru_r01_order_observation
    values = [
        msg.msh.msh_9.msg_1.value, msg.msh.msh_9.msg_2.value, msg.msh.msh_10.value,
        msg.msh.msh_12.to_er7(), msg.msh.msh_3.hd_1.value, pid.pid_3[0].cx_1.value,
        pid.pid_5.xpn_1.to_er7(), pid.pid_5.xpn_2.value, pid.pid_7.to_er7(),
        order.obr.obr_4.ce_1.value,
    ]
    values += [observation.obx.obx_5.to_er7() for observation in order.oru_r01_observation]
    return values


def time_per_call(function: Callable[[str], list[str]], text: str, loops: int) -> float:
    """Median over RUNS runs of the mean µs per call in a run of `loops` calls."""
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for _ in range(loops):
            function(text)
        runs.append((time.perf_counter() - started) / loops * 1e6)
    return statistics.median(runs)


def main() -> None:
    """Check the three readers agree, then time them and print the figures."""
    text = make_oru()
    raw = text.encode("utf-8")
    expected = read_split(text)
    for reader in (read_python_hl7, read_hl7apy):
        got = reader(text)
        if got != expected:
            raise SystemExit(f"{reader.__name__} read different values than read_split")
    print(f"ORU^R01: {len(raw)} bytes, 10 OBX, {len(expected)} values read; median of {RUNS} runs")
    baseline = time_per_call(read_hl7apy, text, 10)
    oru_mapping = load_mappings(REPO_ROOT / "mappings").for_type("ORU^R01")

    def hot_path(_: str) -> list:
        """What a worker does per message before the store: decode, parse, map."""
        message = Message.parse(decode(raw)[0])
        return map_message(message, oru_mapping).entries

    figures = [
        ("hub.hl7.message (split)", time_per_call(read_split, text, 5000)),
        ("  + charset.decode from bytes",
         time_per_call(lambda _: read_split(decode(raw)[0]), text, 5000)),
        ("hot path: decode + parse + map", time_per_call(hot_path, text, 2000)),
        ("python-hl7 0.4.5", time_per_call(read_python_hl7, text, 200)),
        ("hl7apy 1.3.5 parse_message", baseline),
    ]
    for name, micros in figures:
        print(f"{name:32} {micros:12.1f} µs   {baseline / micros:8.1f} x faster than hl7apy")


if __name__ == "__main__":
    main()
