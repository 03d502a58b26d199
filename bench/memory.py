"""Memory benchmark: resident memory of a real `hub serve --role all` under load and bad input.

Starts one hub (RabbitMQ, SQLite in a temp dir, a throwaway namespace) and prints its VmRSS:
right after start; in steady state after N ORU^R01 from 8 concurrent MLLP senders were stored;
with 500 idle connections open; while 20 clients each send a frame that passes the 1 MiB cap
with no end block (the hub must close them: how many it closed, peak RSS sampled every 50 ms);
after 20 complete 900 KiB frames were answered, and once they were filed (two rounds, to tell
memory kept for reuse from growth). A bare Python importing the hub package is the baseline. The design's goal: under 150 MB in steady state,
bounded under 1 MiB frames and 500 idle connections. Everything talks to 127.0.0.1 only.

    .venv/bin/python bench/memory.py [--messages 5000] [--idle 500] [--big 20]
"""
from __future__ import annotations

import argparse
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from hub.mllp.framing import START_BLOCK, FrameReader, wrap  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, REPO, HubEnv  # noqa: E402
from tests.fixtures.messages import encoded, oru_r01, patient  # noqa: E402

MB = 1024 * 1024
SENDERS = 8
READ_TIMEOUT = 5.0  # mllp.read_timeout of the hub measured (30 s by default): row 4 waits it out


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """VmRSS (or VmHWM, the kernel's peak) of `pid` in MB; 0 once the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) / 1024 if match else 0.0


class Sampler(threading.Thread):
    """Samples a process's RSS every `every` seconds; `peak` is the highest since `reset()`."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.peak, self.samples = pid, every, 0.0, 0
        self.stopped = threading.Event()

    def reset(self) -> None:
        self.peak, self.samples = rss_mb(self.pid), 0

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            self.peak = max(self.peak, rss_mb(self.pid))
            self.samples += 1


def metric(port: int, name: str) -> float:
    """One sample of the hub's Prometheus /metrics (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def bare_python_rss() -> float:
    """RSS of a bare interpreter that imported the hub package (what any hub process pays)."""
    code = ("import re, hub.serve, hub.cli.main; "
            "print(re.search(r'VmRSS:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60, check=True)
    return int(out.stdout.strip()) / 1024


def send_frames(port: int, bodies: list[bytes], timeout: float = 60.0) -> list[bytes]:
    """Send `bodies` one at a time on one connection; the ACK of each."""
    acks: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        reader = FrameReader(1 << 20)
        for body in bodies:
            sock.sendall(wrap(body))
            got: list[bytes] = []
            while not got:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("hub closed the connection before answering")
                got = reader.feed(chunk)
            acks.append(got[0])
    return acks


def in_threads(count: int, work) -> list:
    results: list = [None] * count

    def run(k: int) -> None:
        try:
            results[k] = work(k)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            results[k] = exc

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def stored(env: HubEnv) -> dict:
    return env.hub_json("status")["messages"]


def wait_filed(env: HubEnv, total: int, timeout: float) -> dict:
    """Poll `hub status --json` until `total` messages are filed (stored, rejected or parked)."""
    deadline = time.monotonic() + timeout
    while True:
        counts = stored(env)
        filed = sum(v for k, v in counts.items() if k not in ("received", "waiting"))
        if filed >= total or time.monotonic() > deadline:
            return counts
        time.sleep(0.5)


def never_ending_frame(port: int, size: int, wait: float) -> bool:
    """Send START_BLOCK + `size` bytes of 'A' and no end block; True when the hub closed it."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    try:
        try:
            sock.sendall(START_BLOCK + b"A" * size)
        except (BrokenPipeError, ConnectionResetError):
            return True
        try:
            while sock.recv(65536):
                pass  # an ACK would be a bug; keep reading until the hub closes
            return True
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False
    finally:
        sock.close()


def big_oru(n: int, size: int) -> bytes:
    """A well-formed ORU^R01 of `size` bytes: one OBX-5 TX carries a long report text."""
    head = oru_r01(patient(900_000 + n), f"MEMBIG-{n}", n_obx=1)
    obx = "OBX|2|TX|11526-1^Pathology study^LN||{}||||||F|||20261125093000\r"
    words = "Befund ohne Besonderheiten, Kontrolle in sechs Monaten empfohlen. "
    room = size - len(encoded(head)) - len(obx.format(""))
    text = (words * (room // len(words) + 1))[:room]
    return encoded(head + obx.format(text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=5000, help="steady-state messages")
    parser.add_argument("--idle", type=int, default=500, help="idle connections held at once")
    parser.add_argument("--big", type=int, default=20, help="oversize and large-frame clients")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for storage")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle + 200
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))  # the hub inherits it

    baseline = bare_python_rss()
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = HubEnv(Path(tmp), f"sqlite:///{tmp}/hub.db", broker_url=args.amqp_url)
        started = time.monotonic()
        # all from 127.0.0.1: the per-peer cap must not stop the idle connections measured
        process = env.start("all", HUB_MLLP__READ_TIMEOUT=str(READ_TIMEOUT),
                            HUB_MLLP__MAX_CONNECTIONS_PER_PEER=str(args.idle + 100))
        port, http = env.mllp_port, int(env.env["HUB_HTTP__PORT"])
        sampler = Sampler(process.pid)
        sampler.start()
        try:
            time.sleep(1.0)
            rows.append(("1 right after start", rss_mb(process.pid), ""))

            # 2. steady state: N ORU^R01 from 8 senders, all stored.
            bodies = [encoded(oru_r01(patient(i), f"MEM-{i}", n_obx=11)) for i in range(args.messages)]
            t0 = time.perf_counter()
            acks = in_threads(SENDERS, lambda k: send_frames(port, bodies[k::SENDERS]))
            sent = time.perf_counter() - t0
            failed = [a for a in acks if isinstance(a, Exception)]
            accepted = sum(b"MSA|AA|" in ack for part in acks if isinstance(part, list) for ack in part)
            counts = wait_filed(env, args.messages, args.timeout)
            time.sleep(1.0)
            rows.append((f"2 steady, {counts['stored']} stored", rss_mb(process.pid),
                         f"{accepted} AA in {sent:.1f} s ({accepted / sent:.0f}/s)"
                         + (f", {len(failed)} senders failed: {failed[0]}" if failed else "")))

            # 3. idle connections held open at once, then closed.
            sockets = []
            try:
                for _ in range(args.idle):
                    sockets.append(socket.create_connection(("127.0.0.1", port), timeout=10))
            except OSError as exc:
                print(f"opening idle connections stopped at {len(sockets)}: {exc}")
            deadline = time.monotonic() + 10
            while metric(http, "hub_mllp_connections") < len(sockets) and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.0)
            seen = metric(http, "hub_mllp_connections")
            rows.append((f"3 {len(sockets)} idle connections", rss_mb(process.pid),
                         f"hub counts {seen:.0f} open"))
            for sock in sockets:
                sock.close()
            time.sleep(1.0)
            rows.append(("3b idle connections closed", rss_mb(process.pid),
                         f"hub counts {metric(http, 'hub_mllp_connections'):.0f} open"))

            # 4. frames that pass the cap with no end block: read past the cap without being
            # kept, and closed at the read timeout (READ_TIMEOUT here).
            before = metric(http, 'hub_mllp_framing_errors_total{reason="read_timeout"}')
            sampler.reset()
            oversize = (1 << 20) + 64 * 1024
            closed = in_threads(args.big, lambda k: never_ending_frame(port, oversize, 40.0))
            time.sleep(0.5)
            timed_out = metric(http, 'hub_mllp_framing_errors_total{reason="read_timeout"}') - before
            rows.append((f"4 {args.big} never-ending 1 MiB frames (peak)", sampler.peak,
                         f"{sum(c is True for c in closed)}/{args.big} closed by the hub, "
                         f"{timed_out:.0f} read_timeout, {sampler.samples} samples"))
            # 4b. complete frames past the cap: answered AR 207, the connection goes on.
            sampler.reset()
            past = [big_oru(500 + k, oversize) for k in range(args.big)]
            answers = in_threads(args.big, lambda k: send_frames(port, [past[k]]))
            refused = sum(isinstance(a, list) and b"MSA|AR|" in a[0] for a in answers)
            rows.append((f"4b {args.big} complete 1.06 MiB frames (peak)", sampler.peak,
                         f"{refused}/{args.big} AR"))
            del past
            rows.append(("4c after them", rss_mb(process.pid), ""))

            # 5. complete 900 KiB frames, one per client, all at once; answered, then filed.
            # A second round tells memory kept for reuse (flat) from memory that grows.
            for round_ in (1, 2):
                big = [big_oru(round_ * 1000 + k, 900 * 1024) for k in range(args.big)]
                sampler.reset()
                answers = in_threads(args.big, lambda k: send_frames(port, [big[k]]))
                ok = sum(isinstance(a, list) and b"MSA|AA|" in a[0] for a in answers)
                rows.append((f"5 {args.big} x 900 KiB answered, round {round_}", rss_mb(process.pid),
                             f"{ok}/{args.big} AA, peak {sampler.peak:.1f} MB"))
                counts = wait_filed(env, args.messages + (1 + round_) * args.big, args.timeout)
                time.sleep(1.0)
                rows.append((f"5b and filed, round {round_}", rss_mb(process.pid),
                             f"peak {sampler.peak:.1f} MB; stored {counts['stored']}, "
                             f"parked {counts['parked']}, rejected {counts['rejected']}"))
            peak = rss_mb(process.pid, "VmHWM")
            alive = process.poll() is None
        finally:
            sampler.stopped.set()
            env.stop_all()
            broker = RabbitBroker(args.amqp_url, Topology(env.namespace))
            try:
                broker.purge_topology()
            finally:
                broker.close()

    print(f"hub serve --role all, RabbitMQ + SQLite; {args.messages} ORU^R01 of {len(bodies[0])} bytes, "
          f"{SENDERS} senders; run took {time.monotonic() - started:.0f} s")
    width = max(len(r[0]) for r in rows)
    print(f"{'phase':<{width}}  {'RSS MB':>7}  {'/ base':>6}  notes")
    for phase, value, note in rows:
        print(f"{phase:<{width}}  {value:>7.1f}  {value / baseline:>6.2f}  {note}")
    print(f"{'baseline: bare python, hub imported':<{width}}  {baseline:>7.1f}")
    print(f"{'peak over the whole run (VmHWM)':<{width}}  {peak:>7.1f}  {peak / baseline:>6.2f}"
          f"  goal: steady state under 150 MB; hub {'alive' if alive else 'DIED'} at the end")


if __name__ == "__main__":
    main()
