"""`digitlab serve` under issue 33's hostile clients, on 127.0.0.1 only: how long a real upload waits
while --slow clients trickle their bodies, what a 64 MB header and a 32 MB URL cost the server's
memory, what a foreign Host gets, and how long SIGTERM takes to stop it with the slow clients still
sending.

Starts the server in its own process on a free port (the shipped models), opens --slow connections
that each declare a 5,000-byte upload and send it at --rate bytes a second, then sends --uploads
real uploads one after another and prints each one's seconds to its answer (the issue's contract:
within 1 s). Then the heads, the Host, and SIGTERM, each with its figure.

    python benchmarks/hostile_server.py                      # 100 slow clients at 10 bytes a second
    python benchmarks/hostile_server.py --slow 100 --rate 10 --uploads 10
"""

from __future__ import annotations

import argparse
import asyncio
import io
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from digitlab import pretrained

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_server import memory_mb, start_server  # noqa: E402  (the same server start and /proc reading)

DECLARED = 5000  # bytes each slow client promises
UPLOAD_TIMEOUT = 90.0  # seconds: longer than the guard's 60 s body deadline, so a starved upload shows its wait


def digit_png() -> bytes:
    from digitlab.data import datasets

    pixels = datasets.load("mnist", "test").images[0].numpy()  # (28, 28) uint8, white ink on black
    body = io.BytesIO()
    Image.fromarray(pixels).resize((128, 128)).save(body, format="PNG")  # as the page sends a drawing
    return body.getvalue()


def head(port: int, length: int) -> bytes:
    return (f"POST /api/predict HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: image/png\r\n"
            f"content-length: {length}\r\n\r\n").encode()


async def trickle(port: int, rate: float, stop: asyncio.Event) -> None:
    """One slow client: its head, then its body at `rate` bytes a second until `stop` (or closed)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head(port, DECLARED))
    try:
        for _ in range(DECLARED):
            writer.write(b"\0")
            await writer.drain()
            try:
                await asyncio.wait_for(stop.wait(), 1 / rate)
                break
            except TimeoutError:
                pass
    except ConnectionError:
        pass  # closed by the server (its body deadline)
    finally:
        writer.close()


async def upload(port: int, body: bytes) -> tuple[float, str]:
    """(seconds to the answer's first line, that line) of one real upload on a fresh connection."""
    start = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head(port, len(body)) + body)
    try:
        line = await asyncio.wait_for(reader.readline(), UPLOAD_TIMEOUT)
    except TimeoutError:
        line = b"(no answer)"
    writer.close()
    return time.perf_counter() - start, line.decode().strip()


async def slow_bodies(port: int, args: argparse.Namespace) -> list[float]:
    body = digit_png()
    print(f"before the slow clients: {(await upload(port, body))[0]:.3f} s")
    stop = asyncio.Event()
    slow = [asyncio.ensure_future(trickle(port, args.rate, stop)) for _ in range(args.slow)]
    await asyncio.sleep(2)  # every slow head read, a few bytes of every body
    seconds = []
    for k in range(args.uploads):
        took, line = await upload(port, body)
        seconds.append(took)
        print(f"upload {k + 1} with {args.slow} slow bodies trickling: {took:.3f} s  {line}")
        await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*slow)
    return seconds


def big_head(port: int, start: bytes, size: int, pid: int) -> str:
    """Send `start`, `size` bytes of `a` and the head's end: the answer's first line, and the server's
    resident memory and its peak, each as it changed."""
    import socket

    before = memory_mb(pid)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(start)
        sent = 0
        try:
            while sent < size:
                sock.sendall(b"a" * 65536)
                sent += 65536
            sock.sendall(b"\r\n\r\n")
        except OSError:
            pass
        try:
            answer = sock.recv(200).split(b"\r\n")[0].decode() or "(closed)"
        except OSError as err:
            answer = f"({err.strerror})"
    after = memory_mb(pid)
    return (f"{answer}; {sent / 2**20:.1f} MB sent; server RSS {after['VmRSS'] - before['VmRSS']:+.1f} MB, "
            f"its peak {after['VmHWM'] - before['VmHWM']:+.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=100, help="slow clients (default: 100)")
    parser.add_argument("--rate", type=float, default=10, help="bytes a second each slow client sends (default: 10)")
    parser.add_argument("--uploads", type=int, default=10, help="real uploads timed (default: 10)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        process, url = start_server(pretrained.folder(), 1, Path(folder) / "serve.log")
        port = int(url.rsplit(":", 1)[1])
        try:
            seconds = asyncio.run(slow_bodies(port, args))
            print(f"real uploads: median {statistics.median(seconds):.3f} s, max {max(seconds):.3f} s")
            header = f"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nx-big: ".encode()
            print("64 MB header:", big_head(port, header, 64 * 2**20, process.pid))
            print("32 MB URL:", big_head(port, b"GET /healthz?", 32 * 2**20, process.pid))
            foreign = b"GET /static HTTP/1.1\r\nhost: evil.example"
            print("Host evil.example:", big_head(port, foreign, 0, process.pid))
            stop_seconds = asyncio.run(sigterm_with_slow_clients(port, process, args.rate))
            print(f"SIGTERM with a slow upload and a slow head in flight: stopped in {stop_seconds:.2f} s")
        finally:
            if process.poll() is None:
                process.kill()


async def sigterm_with_slow_clients(port: int, process: subprocess.Popen, rate: float) -> float:
    stop = asyncio.Event()
    slow = asyncio.ensure_future(trickle(port, rate, stop))
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n")  # a head that never ends
    await asyncio.sleep(1)
    start = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    while process.poll() is None:
        await asyncio.sleep(0.02)
    took = time.perf_counter() - start
    stop.set()
    writer.close()
    await slow
    return took


if __name__ == "__main__":
    main()
