"""Load test of `digitlab serve`: many clients at once, good and malformed images mixed, on 127.0.0.1 only.

Starts the server in its own process on a free port, sends --requests requests from --clients
concurrent clients (stopping early at --seconds), and prints requests/s, p50/p99 latency, every
status seen, the count of 5xx answers and failed connections (both must be 0: exit 1 otherwise), and
the server's resident memory before and after each round, and at its peak. Meanwhile one more
client asks GET /healthz every HEALTH_EVERY seconds: its p99 says whether the cheap routes still
answer at once under load.

    python benchmarks/load_server.py                      # the models that ship with digitlab
    python benchmarks/load_server.py --models digitlab-out  # the models of the last compare
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image

from digitlab import pretrained

HOST = "127.0.0.1"  # never anywhere else
START_SECONDS = 120  # the server imports torch and loads (or trains) its models first
HEALTH_EVERY = 0.05  # seconds between /healthz probes during a round


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"good": [], "bad": []})  # seconds
    health: list[float] = field(default_factory=list)  # seconds per /healthz probe
    statuses: Counter = field(default_factory=Counter)
    failures: Counter = field(default_factory=Counter)  # no HTTP answer at all, by exception type


def payloads(seed: int) -> tuple[list, list]:
    """Good and malformed (kind, body, headers): real MNIST digits as photos and drawings, and junk."""
    from digitlab.data import datasets

    test = datasets.load("mnist", "test")
    rng = random.Random(seed)
    good = []
    for index in rng.sample(range(len(test.labels)), 20):
        pixels = test.images[index].numpy()  # (28, 28) uint8, white ink on black
        photo, drawing = io.BytesIO(), io.BytesIO()
        Image.fromarray(255 - pixels).resize((300, 300)).convert("RGB").save(photo, format="JPEG", quality=90)
        Image.fromarray(pixels).resize((128, 128)).save(drawing, format="PNG")  # as the page sends a drawing
        good += [("good", photo.getvalue(), {"Content-Type": "image/jpeg"}),
                 ("good", drawing.getvalue(), {"Content-Type": "image/png"})]
    blank, bomb = io.BytesIO(), io.BytesIO()
    Image.new("L", (280, 280)).save(blank, format="PNG")
    Image.new("1", (6000, 6000)).save(bomb, format="PNG")  # 36 million pixels in a few kB
    drawing = good[1][1]
    bad = [
        ("bad", b"", {}),
        ("bad", b"this is not an image", {"Content-Type": "image/png"}),
        ("bad", drawing[: len(drawing) // 2], {"Content-Type": "image/png"}),  # truncated
        ("bad", blank.getvalue(), {"Content-Type": "image/png"}),
        ("bad", bomb.getvalue(), {"Content-Type": "image/png"}),
        ("bad", b"\x89PNG" + os.urandom(2_200_000), {"Content-Type": "image/png"}),  # over 2 MB
        ("bad", b"GIF89a" + bytes(200), {"Content-Type": "image/gif"}),
    ]
    return good, bad


def start_server(models: Path, workers: int | None, log_path: Path) -> tuple[subprocess.Popen, str]:
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "digitlab", "serve", "--host", HOST, "--port", "0", "--models", str(models),
             *(["--workers", str(workers)] if workers else [])],  # none: serve's own default, as a user starts it
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"},
        )
    deadline = time.monotonic() + START_SECONDS
    while not (found := re.search(r"open (http://127\.0\.0\.1:\d+)/", log_path.read_text())):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the server did not start:\n{log_path.read_text()}")
        time.sleep(0.2)
    return process, found.group(1)


def server_pids(pid: int) -> list[int]:
    """The server's process and its worker processes (`--workers`), from Linux's /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (name)": state, ppid, ...
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return [pid, *sorted(children)]


def memory_mb(pid: int) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), in MB, of the server's processes together."""
    total = {"VmRSS": 0.0, "VmHWM": 0.0}
    for each in server_pids(pid):
        try:
            text = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        for key in total:
            total[key] += int(fields[key].split()[0]) / 1024 if key in fields else 0
    return total


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the server's processes have used so far."""
    ticks = 0
    for each in server_pids(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class Connection:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams.

    httpx spent about as much CPU per request as the server did, on the same two cores; this
    client spends a few per cent of that, so the figures are the server's.
    """

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.streams = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> int:
        """Send one request, read its whole answer; the status code. Reconnects when told to close."""
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        lines = [f"{method} {path} HTTP/1.1", f"host: {self.host}:{self.port}", f"content-length: {len(body)}",
                 *(f"{k}: {v}" for k, v in (headers or {}).items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        fields = dict(line.split(":", 1) for line in head.split("\r\n")[1:] if ":" in line)
        await reader.readexactly(int(fields.get("content-length", "0")))
        if fields.get("connection", "").strip() == "close":
            self.close()
        return int(head.split()[1])

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def load(url: str, good: list, bad: list, args: argparse.Namespace) -> tuple[Tally, float]:
    tally = Tally()
    rng = random.Random(args.seed)  # every round sends the same mix
    plan = [rng.choice(bad) if rng.random() < args.bad_fraction else rng.choice(good) for _ in range(args.requests)]
    queue = iter(plan)  # shared by the clients: each request is sent once
    deadline = time.monotonic() + args.seconds
    host, port = url.removeprefix("http://").split(":")

    async def client() -> None:
        connection = Connection(host, int(port))
        for kind, body, headers in queue:
            if time.monotonic() > deadline:
                break
            start = time.perf_counter()
            try:
                status = await asyncio.wait_for(connection.request("POST", "/api/predict", body, headers), args.seconds)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as err:
                tally.failures[type(err).__name__] += 1
                connection.close()
                continue
            tally.latencies[kind].append(time.perf_counter() - start)
            tally.statuses[status] += 1
        connection.close()

    async def probe(done: asyncio.Event) -> None:
        connection = Connection(host, int(port))
        while not done.is_set():
            start = time.perf_counter()
            try:
                status = await asyncio.wait_for(connection.request("GET", "/healthz"), args.seconds)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as err:
                tally.failures[f"healthz {type(err).__name__}"] += 1
                connection.close()
            else:
                tally.health.append(time.perf_counter() - start)
                if status != 200:
                    tally.failures[f"healthz {status}"] += 1
            await asyncio.sleep(HEALTH_EVERY)
        connection.close()

    done = asyncio.Event()
    prober = asyncio.create_task(probe(done))
    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(args.clients)))
    seconds = time.perf_counter() - start
    done.set()
    await prober
    return tally, seconds


def quantile_ms(values: list[float], q: float) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.1f} ms"


def report(tally: Tally, seconds: float) -> int:
    every = tally.latencies["good"] + tally.latencies["bad"]
    fives = sum(n for status, n in tally.statuses.items() if status >= 500)
    failed = sum(tally.failures.values())
    print(f"requests answered: {len(every):,} in {seconds:.1f} s = {len(every) / seconds:.1f} requests/s")
    for name, values in (("all", every), ("good images", tally.latencies["good"]), ("malformed", tally.latencies["bad"])):
        mean = f"{1000 * statistics.fmean(values):.0f} ms" if values else "-"
        print(f"  latency {name:<12} p50 {quantile_ms(values, 0.5):>8}  p99 {quantile_ms(values, 0.99):>8}  mean {mean:>8}  (n={len(values)})")
    print(f"  /healthz under load      p50 {quantile_ms(tally.health, 0.5):>8}  p99 {quantile_ms(tally.health, 0.99):>8}"
          f"  (n={len(tally.health)})")
    print("statuses: " + ", ".join(f"{status}: {n}" for status, n in sorted(tally.statuses.items())))
    print(f"5xx answers: {fives}   failed connections: {failed} {dict(tally.failures) or ''}")
    return 1 if fives or failed else 0


def print_memory(when: str, memory: dict) -> None:
    print(f"server RSS {when}: {memory.get('VmRSS', 0):.0f} MB (peak so far {memory.get('VmHWM', 0):.0f} MB; "
          "with --workers, the sum over its processes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests to send in all (default: 2000)")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (default: 50)")
    parser.add_argument("--seconds", type=float, default=300, help="stop sending after this long (default: 300)")
    parser.add_argument("--bad-fraction", type=float, default=0.3, help="share of malformed requests (default: 0.3)")
    parser.add_argument("--models", type=Path, help="a folder of saved models (default: the shipped ones)")
    parser.add_argument("--workers", type=int, default=None,
                        help="`digitlab serve --workers`: server processes (default: serve's own, one a core)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the whole load this many times: RSS that keeps growing round after round is a leak (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the mix of requests (default: 0)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="digitlab-load-") as tmp:
        models = args.models or pretrained.folder()
        good, bad = payloads(args.seed)
        process, url = start_server(models, args.workers, Path(tmp) / "serve.log")
        failed = 0
        try:
            httpx.get(f"{url}/healthz", timeout=30).raise_for_status()
            print_memory("before", memory_mb(process.pid))
            for round_ in range(1, args.rounds + 1):
                print(f"\nround {round_}: {args.requests:,} requests from {args.clients} clients to {url} "
                      f"({args.bad_fraction:.0%} malformed), at most {args.seconds:.0f} s")
                print(f"load average before: {load_average()}")
                server_cpu, client_cpu = cpu_seconds(process.pid), time.process_time()
                tally, seconds = asyncio.run(load(url, good, bad, args))
                failed |= report(tally, seconds)
                answered = len(tally.latencies["good"]) + len(tally.latencies["bad"])
                server_cpu, client_cpu = cpu_seconds(process.pid) - server_cpu, time.process_time() - client_cpu
                print(f"CPU a request: server {1000 * server_cpu / max(answered, 1):.2f} ms, this load generator "
                      f"{1000 * client_cpu / max(answered, 1):.2f} ms ({os.cpu_count()} cores)")
                print(f"load average after: {load_average()}")
                print_memory(f"after round {round_}", memory_mb(process.pid))
            alive = process.poll() is None and httpx.get(f"{url}/healthz", timeout=30).status_code == 200
            print(f"server still answering /healthz: {alive}")
        finally:
            process.terminate()
            process.wait(timeout=30)
        return failed or (0 if alive else 1)


if __name__ == "__main__":
    raise SystemExit(main())
