"""Abuse benchmark: legitimate MLLP senders' ACK rate and latency while attackers hold the hub's
sockets, beside the same senders alone in the same run (issue 14, "one bad client cannot
starve the others").

A real `hub serve --role listener` (RabbitMQ, a throwaway namespace, the dashboard switched on
with a scrypt hash of the shipped cost) receives 1.5 KB ORU^R01s from 8 blocking MLLP senders
(threads of this process, each from its own loopback address 127.0.0.2..9, so the per-peer cap
never counts them together), for a fixed number of seconds per round. Rounds alternate: the
senders alone, then the senders while a process of its own (asyncio, so the attack does not
take this process's GIL from the senders) holds:

- 300 idle MLLP connections (from 127.0.1.1..10, 30 each: under the per-peer cap);
- 50 MLLP connections from one peer (127.0.2.1) each sending one byte outside a frame every
  2 s; bytes outside a frame are not activity, so the hub closes them at its idle timeout;
- 100 concurrent wrong-password dashboard logins (HTTP Basic, keep-alive, each asking again as
  soon as it is answered, ignoring Retry-After, unless --login-pause), from one peer
  (127.0.3.1) unless --login-peers spreads them: past the limiter's burst each is answered 429
  and its address is not read again until Retry-After (hub/http_gate.py), and past the
  per-address cap (50) the rest are closed unread after a second and reconnect;
- 500 stalled HTTP connections (half a request's headers, then silence).

An attacker's connection the hub closes is opened again at once (0.2 s after a refusal), as an
attacker would. The hub runs with `[mllp] idle_timeout` = --idle-timeout (5 s by default,
instead of the shipped 600 s) so that the junk and idle connections are closed and re-opened
within a round; every other setting is the shipped default (per-peer cap 50, HTTP
channel_timeout 30 s, 8 HTTP threads, connection_limit 1000).

It prints, per round and as medians over the rounds: the legitimate senders' ACK rate (AA per
second), p50 and p99 latency; the attacked/alone rate ratio; the hub's peak RSS (VmHWM of
/proc/PID/status at the end, and the peak VmRSS sampled in each kind of round), its peak thread
count and open descriptors (sampled every 50 ms); what the attackers saw (connections opened,
refused at once, closed later; logins answered 401/429; the attack process's CPU seconds, taken
from the same 2 cores); the hub's CPU share in each round; the hub's own refusal and
idle-timeout counters from /metrics. Goal: rate >= 0.8 x alone, p99 < 50 ms, peak RSS < 200 MB.
The machine is shared and noisy: medians of several rounds.

    .venv/bin/python bench/abuse.py [--rounds 3] [--seconds 10] [--idle-timeout 5]
        [--idle 300] [--junk 50] [--logins 100] [--login-peers 1] [--login-pause 0]
        [--stalled 500]
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import multiprocessing
import os
import re
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hub.broker.rabbitmq import RabbitBroker  # noqa: E402
from hub.broker.topology import Topology  # noqa: E402
from hub.dashboard.auth import hash_password  # noqa: E402
from hub.mllp.framing import FrameReader, wrap  # noqa: E402
from tests.fixtures.hub_process import DEFAULT_AMQP_URL, HubEnv  # noqa: E402
from tests.fixtures.messages import encoded, oru_r01, patient  # noqa: E402

HOST = "127.0.0.1"
SENDERS = 8
PASSWORD = "bench-dashboard-password"  # invented for this run; the attackers send another
WARM_UP = 2.0  # seconds of senders alone before the first measured round
REFUSED_WITHIN = 1.0  # an attacker's connection closed this soon after opening was refused
JUNK_EVERY = 2.0
GOAL_RATIO, GOAL_P99_MS, GOAL_RSS_MB = 0.8, 50.0, 200.0


def raise_fd_limit() -> None:
    """Thousands of sockets here and in the hub (which inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# --- the legitimate senders (threads of this process) ---------------------------------------

def legitimate_round(port: int, bodies: list[bytes], seconds: float) -> dict:
    """8 blocking senders, one frame at a time each, for `seconds`: rate of AA, p50/p99 ms."""
    latencies: list[list[float]] = [[] for _ in range(SENDERS)]
    failures: Counter = Counter()
    lock = threading.Lock()
    connected = threading.Barrier(SENDERS + 1)
    go = threading.Event()  # set once the deadline is
    deadline = [0.0]

    def work(k: int) -> None:
        mine = latencies[k]
        try:
            sock = socket.create_connection((HOST, port), timeout=30,
                                            source_address=(f"127.0.0.{2 + k}", 0))
        except OSError as exc:
            with lock:
                failures[f"connect: {type(exc).__name__}"] += 1
            connected.wait()
            return
        connected.wait()
        go.wait()
        reader = FrameReader(1 << 20)
        i = k
        with sock:
            while time.perf_counter() < deadline[0]:
                body = bodies[i % len(bodies)]
                i += SENDERS
                sent = time.perf_counter()
                try:
                    sock.sendall(wrap(body))
                    acks: list[bytes] = []
                    while not acks:
                        data = sock.recv(65536)
                        if not data:
                            raise ConnectionError("closed by the hub")
                        acks = reader.feed(data)
                except OSError as exc:
                    with lock:
                        failures[type(exc).__name__] += 1
                    return
                if b"MSA|AA|" in acks[0]:
                    mine.append(time.perf_counter() - sent)
                else:
                    with lock:
                        failures["not AA"] += 1

    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(SENDERS)]
    for thread in threads:
        thread.start()
    connected.wait()
    start = time.perf_counter()
    deadline[0] = start + seconds
    go.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    ordered = sorted(x for part in latencies for x in part)
    if not ordered:
        raise RuntimeError(f"no message accepted: {dict(failures)}")
    idle = sum(1 for part in latencies if not part)
    if idle:
        failures["senders with no AA"] = idle
    return {"rate": len(ordered) / elapsed, "p50": statistics.median(ordered) * 1000,
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
            "acks": len(ordered), "failures": dict(failures)}


# --- the attackers (a process of their own) -------------------------------------------------

def attack_process(mllp_port: int, http_port: int, plan: dict, ready, stop, results) -> None:
    """Child process: run the attack until `stop` is set, then put what it saw in `results`."""
    raise_fd_limit()
    results.put(asyncio.run(_attack(mllp_port, http_port, plan, ready, stop)))


async def _attack(mllp_port: int, http_port: int, plan: dict, ready, stop) -> dict:
    stats: Counter = Counter()
    loop = asyncio.get_running_loop()
    tasks = []
    for n in range(plan["idle"]):
        tasks.append(_hold_mllp(mllp_port, f"127.0.1.{1 + n % 10}", "idle", stats))
    for _ in range(plan["junk"]):
        tasks.append(_hold_mllp(mllp_port, "127.0.2.1", "junk", stats))
    for n in range(plan["stalled"]):
        tasks.append(_stall_http(http_port, f"127.0.4.{1 + n % 50}", stats))
    for n in range(plan["logins"]):
        tasks.append(_bad_logins(http_port, f"127.0.3.{1 + n % plan['login_peers']}",
                                 plan["login_pause"], stats))
    running = [asyncio.create_task(t) for t in tasks]
    mllp_wanted = plan["idle"] + plan["junk"]
    http_wanted = plan["stalled"] + plan["logins"]
    began = loop.time()
    while loop.time() - began < 15 and (stats["idle opened"] + stats["junk opened"] < mllp_wanted
                                        or stats["http opened"] < http_wanted):
        await asyncio.sleep(0.05)
    stats["seconds to open all"] = round(loop.time() - began, 2)
    await asyncio.sleep(0.5)  # the first logins answered
    ready.set()
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    stats["attacker cpu s"] = round(time.process_time(), 1)
    return dict(stats)


async def _hold_mllp(port: int, source: str, kind: str, stats: Counter) -> None:
    """Keep one MLLP connection open from `source`, idle or trickling junk; re-open it when
    the hub closes it, counting whether it was refused at once or closed later."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
        except OSError:
            stats[f"{kind} connect errors"] += 1
            await asyncio.sleep(0.5)
            continue
        opened = loop.time()
        stats[f"{kind} opened"] += 1
        try:
            while True:
                if kind == "junk":
                    writer.write(b"x")  # no start block: outside any frame
                    try:
                        data = await asyncio.wait_for(reader.read(4096), JUNK_EVERY)
                    except asyncio.TimeoutError:
                        continue
                else:
                    data = await reader.read(4096)
                if not data:
                    break
        except OSError:
            pass
        finally:
            writer.close()
        refused = loop.time() - opened < REFUSED_WITHIN
        stats[f"{kind} {'refused' if refused else 'closed by hub'}"] += 1
        if refused:
            await asyncio.sleep(0.2)


async def _stall_http(port: int, source: str, stats: Counter) -> None:
    """Half a request, then silence; again when the hub closes it."""
    while True:
        try:
            reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
        except OSError:
            stats["stalled connect errors"] += 1
            await asyncio.sleep(0.5)
            continue
        stats["http opened"] += 1
        stats["stalled opened"] += 1
        try:
            writer.write(b"GET /dashboard/ HTTP/1.1\r\nHost: hub\r\nAuthoriz")
            while await reader.read(4096):
                pass
        except OSError:
            pass
        finally:
            writer.close()
        stats["stalled closed by hub"] += 1


async def _bad_logins(port: int, source: str, pause: float, stats: Counter) -> None:
    """Ask for the dashboard with a wrong password, again `pause` seconds after the answer
    (keep-alive)."""
    credential = base64.b64encode(b"ops:not-the-password-at-all").decode()
    request = (f"GET /dashboard/ HTTP/1.1\r\nHost: hub\r\nAuthorization: Basic {credential}"
               "\r\n\r\n").encode()
    while True:
        try:
            reader, writer = await asyncio.open_connection(HOST, port, local_addr=(source, 0))
        except OSError:
            stats["login connect errors"] += 1
            await asyncio.sleep(0.5)
            continue
        stats["http opened"] += 1
        try:
            while True:
                writer.write(request)
                status = await reader.readline()
                if not status:
                    break
                length, close = 0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and "close" in value.lower():
                        close = True
                await reader.readexactly(length)
                code = status.split()[1].decode() if len(status.split()) > 1 else "?"
                stats[f"login answered {code}"] += 1
                if close:
                    break
                if pause:
                    await asyncio.sleep(pause)
        except (OSError, asyncio.IncompleteReadError):
            stats["login dropped"] += 1
        finally:
            writer.close()


class Attack:
    """The attack process for one round: started, ready, stopped, its counts."""

    def __init__(self, mllp_port: int, http_port: int, plan: dict) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._ready, self._stop, self._results = ctx.Event(), ctx.Event(), ctx.Queue()
        self._process = ctx.Process(target=attack_process, daemon=True,
                                    args=(mllp_port, http_port, plan, self._ready, self._stop,
                                          self._results))
        self._process.start()
        if not self._ready.wait(60):
            self._process.kill()
            raise RuntimeError("the attackers did not get their connections within 60 s")

    def stop(self) -> dict:
        self._stop.set()
        stats = self._results.get(timeout=60)
        self._process.join(timeout=10)
        return stats


# --- the hub's process, watched ---------------------------------------------------------------

class Watch:
    """Every 50 ms, the hub's VmRSS, thread count and open descriptors; the peaks per phase."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.phase = "start"
        self.peaks: dict[str, dict[str, int]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def status(self) -> dict[str, int]:
        text = Path(f"/proc/{self.pid}/status").read_text()
        fields = dict(re.findall(r"^(\w+):\s+(\d+)", text, re.M))
        return {"rss_kb": int(fields["VmRSS"]), "hwm_kb": int(fields["VmHWM"]),
                "threads": int(fields["Threads"])}

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                now = self.status()
                now["fds"] = len(os.listdir(f"/proc/{self.pid}/fd"))
            except (OSError, KeyError):
                continue
            peak = self.peaks.setdefault(self.phase, {})
            for key, value in now.items():
                peak[key] = max(peak.get(key, 0), value)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, port: int, bodies: list[bytes], seconds: float) -> dict:
    """A round of the legitimate senders, with the hub's CPU share during it."""
    before, start = cpu_seconds(pid), time.perf_counter()
    result = legitimate_round(port, bodies, seconds)
    result["hub cpu"] = (cpu_seconds(pid) - before) / (time.perf_counter() - start)
    return result


def scrape(http_port: int) -> dict[str, float]:
    """The hub's counters this bench reads, from /metrics."""
    with urllib.request.urlopen(f"http://{HOST}:{http_port}/metrics", timeout=30) as response:
        text = response.read().decode()
    wanted = ("hub_mllp_connections_refused_total", "hub_mllp_framing_errors_total")
    found = {}
    for line in text.splitlines():
        if line.startswith(wanted):
            name, value = line.rsplit(" ", 1)
            found[name] = float(value)
    return found


def dashboard_answers(http_port: int, password: str) -> int:
    credential = base64.b64encode(f"ops:{password}".encode()).decode()
    request = urllib.request.Request(f"http://{HOST}:{http_port}/dashboard/",
                                     headers={"Authorization": f"Basic {credential}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# --- the run --------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="alone/attacked pairs")
    parser.add_argument("--seconds", type=float, default=10.0, help="sending time per round")
    parser.add_argument("--idle-timeout", type=float, default=5.0,
                        help="the hub's [mllp] idle_timeout for this run (shipped: 600)")
    parser.add_argument("--idle", type=int, default=300, help="idle MLLP connections")
    parser.add_argument("--junk", type=int, default=50, help="junk-trickling MLLP connections, one peer")
    parser.add_argument("--logins", type=int, default=100, help="concurrent wrong-password logins")
    parser.add_argument("--login-peers", type=int, default=1, help="addresses the logins come from")
    parser.add_argument("--login-pause", type=float, default=0.0,
                        help="seconds each login attacker waits after an answer (0: none)")
    parser.add_argument("--stalled", type=int, default=500, help="stalled HTTP connections")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    args = parser.parse_args()
    raise_fd_limit()
    plan = {"idle": args.idle, "junk": args.junk, "logins": args.logins,
            "login_peers": max(1, min(250, args.login_peers)),
            "login_pause": args.login_pause, "stalled": args.stalled}

    bodies = [encoded(oru_r01(patient(i), f"ABUSE-{i}", n_obx=11)) for i in range(800)]
    print(f"message: ORU^R01, {len(bodies[0])} bytes; {SENDERS} senders from 127.0.0.2-9, "
          f"{args.seconds:g} s per round, {args.rounds} alone/attacked pairs, medians")
    print(f"attack: {args.idle} idle MLLP (127.0.1.1-10), {args.junk} junk-trickling MLLP "
          f"(127.0.2.1, 1 byte / {JUNK_EVERY:g} s), {args.logins} bad logins "
          f"({plan['login_peers']} peer(s) 127.0.3.x), {args.stalled} stalled HTTP")
    print(f"hub: --role listener, [mllp] idle_timeout {args.idle_timeout:g} s; otherwise "
          "shipped defaults (per-peer cap 50, http threads 8, channel_timeout 30 s)")
    with tempfile.TemporaryDirectory() as tmp:
        env = HubEnv(Path(tmp), f"sqlite:///{tmp}/hub.db", broker_url=args.amqp_url)
        process = env.start("listener", HUB_MLLP__IDLE_TIMEOUT=str(args.idle_timeout),
                            HUB_DASHBOARD__PASSWORD_HASH=hash_password(PASSWORD))
        broker = RabbitBroker(args.amqp_url, Topology(env.namespace))
        watch = Watch(process.pid)
        try:
            good, bad = dashboard_answers(env.http_port, PASSWORD), dashboard_answers(env.http_port, "wrong")
            print(f"dashboard: right password {good}, wrong password {bad}")
            if good != 200 or bad != 401:
                raise RuntimeError("the dashboard is not switched on as expected")
            watch.phase = "warm-up"
            legitimate_round(env.mllp_port, bodies, WARM_UP)
            alone, attacked, seen = [], [], []
            for n in range(1, args.rounds + 1):
                watch.phase = "alone"
                alone.append(measured(process.pid, env.mllp_port, bodies, args.seconds))
                reset(broker)
                print(f"round {n} alone:    " + line(alone[-1]))
                watch.phase = "opening attack"
                attack = Attack(env.mllp_port, env.http_port, plan)
                watch.phase = "attacked"
                try:
                    attacked.append(measured(process.pid, env.mllp_port, bodies, args.seconds))
                finally:
                    watch.phase = "closing attack"
                    seen.append(attack.stop())
                reset(broker)
                print(f"round {n} attacked: " + line(attacked[-1]))
                print("  attackers saw: " + ", ".join(f"{k} {v}" for k, v in sorted(seen[-1].items())))
                time.sleep(1.0)  # the hub notices the attackers' sockets closed
            end = watch.status()
            counters = scrape(env.http_port)
        finally:
            watch.close()
            env.stop_all()
            broker.purge_topology()
            broker.close()
        report(alone, attacked, watch.peaks, end, counters)


def reset(broker: RabbitBroker) -> None:
    """Nothing consumes the listener's queue here: empty it between rounds."""
    broker.purge_topology()
    broker.declare_topology()


def line(r: dict) -> str:
    failures = f"  failures {r['failures']}" if r["failures"] else ""
    return (f"{r['rate']:7.0f} AA/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
            f"hub CPU {r['hub cpu']:.0%}{failures}")


def report(alone: list[dict], attacked: list[dict], peaks: dict, end: dict, counters: dict) -> None:
    def med(rounds: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rounds)

    print("\nmedians      AA/s   p50 ms   p99 ms")
    for name, rounds in (("alone", alone), ("attacked", attacked)):
        print(f"{name:<9} {med(rounds, 'rate'):7.0f}  {med(rounds, 'p50'):7.2f}  {med(rounds, 'p99'):7.2f}")
    ratio = med(attacked, "rate") / med(alone, "rate")
    print(f"rate attacked / alone: {ratio:.2f}")
    print("\nhub process peaks by phase (sampled every 50 ms):")
    for phase, peak in peaks.items():
        print(f"  {phase:<15} RSS {peak.get('rss_kb', 0) / 1024:6.1f} MB  threads "
              f"{peak.get('threads', 0):4d}  open fds {peak.get('fds', 0):5d}")
    hwm_mb = end["hwm_kb"] / 1024
    threads = max(p.get("threads", 0) for p in peaks.values())
    print(f"hub VmHWM (peak RSS over the whole run): {hwm_mb:.1f} MB; peak threads {threads}")
    print("hub counters: " + (", ".join(f"{k} {v:g}" for k, v in sorted(counters.items()))
                              or "no refusal or framing error counted"))
    p99 = med(attacked, "p99")
    verdicts = [(f"rate >= {GOAL_RATIO} x alone", ratio >= GOAL_RATIO, f"{ratio:.2f}"),
                (f"attacked p99 < {GOAL_P99_MS:g} ms", p99 < GOAL_P99_MS, f"{p99:.2f} ms"),
                (f"peak RSS < {GOAL_RSS_MB:g} MB", hwm_mb < GOAL_RSS_MB, f"{hwm_mb:.1f} MB")]
    print("goal: " + "; ".join(f"{name} {'MET' if ok else 'MISSED'} ({value})"
                               for name, ok, value in verdicts))


if __name__ == "__main__":
    main()
