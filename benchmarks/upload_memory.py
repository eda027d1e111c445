"""The web server's memory under large uploads: many 4096 x 4096 PNGs at once, on 127.0.0.1 only.

Starts `digitlab serve` on a free port, sends --uploads uploads of one 4096 x 4096 PNG of a digit
(under the 2 MB limit: a drawing compresses well) all at once, for --rounds rounds, and prints the
server's resident memory (VmRSS) after each round and its peak (VmHWM), with the statuses seen.
Target (issue 20): under 1 GB through 40 at once, and given back rather than kept.

    python benchmarks/upload_memory.py                        # the models that ship with digitlab
    python benchmarks/upload_memory.py --uploads 40 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from PIL import Image, ImageDraw

from digitlab import pretrained

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_server import memory_mb, start_server  # noqa: E402  (the same server start and /proc reading)

SIDE = 4096  # px: the largest RGB square within the decoder's budget (vision/decoding.MAX_DECODE_BYTES, 64 MB)


def big_png() -> bytes:
    """A 4096 x 4096 RGB PNG: a thick dark 7 on light paper with a gentle gradient."""
    image = Image.linear_gradient("L").resize((SIDE, SIDE)).point(lambda v: 200 + v // 8).convert("RGB")
    pen = ImageDraw.Draw(image)
    pen.line([(900, 900), (3200, 900), (1700, 3400)], fill=(20, 20, 20), width=320, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def burst(url: str, body: bytes, uploads: int) -> tuple[Counter, float]:
    statuses: Counter = Counter()
    async with httpx.AsyncClient(timeout=300, limits=httpx.Limits(max_connections=uploads)) as http:
        async def one():
            try:
                response = await http.post(f"{url}/api/predict", content=body, headers={"Content-Type": "image/png"})
                statuses[response.status_code] += 1
            except httpx.HTTPError as err:
                statuses[type(err).__name__] += 1

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(uploads)))
        return statuses, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=40, help="uploads sent at once (default: 40)")
    parser.add_argument("--rounds", type=int, default=3, help="bursts, one after another (default: 3)")
    parser.add_argument("--models", type=Path, help="a folder of saved models (default: the shipped ones)")
    args = parser.parse_args()

    body = big_png()
    print(f"one upload: a {SIDE} x {SIDE} PNG of {len(body):,} bytes")
    with tempfile.TemporaryDirectory(prefix="digitlab-memory-") as tmp:
        models = args.models or pretrained.folder()
        process, url = start_server(models, Path(tmp) / "serve.log")
        try:
            httpx.get(f"{url}/healthz", timeout=30).raise_for_status()
            before = memory_mb(process.pid)
            print(f"server RSS before: {before['VmRSS']:.0f} MB")
            for round_ in range(1, args.rounds + 1):
                statuses, seconds = asyncio.run(burst(url, body, args.uploads))
                memory = memory_mb(process.pid)
                print(f"round {round_}: {args.uploads} uploads at once in {seconds:.1f} s, statuses {dict(statuses)}; "
                      f"RSS after {memory['VmRSS']:.0f} MB, peak so far {memory['VmHWM']:.0f} MB")
            log = (Path(tmp) / "serve.log").read_text()
            print(f"tracebacks in the server's log: {log.count('Traceback')}")
        finally:
            process.terminate()
            process.wait(timeout=30)
    return 0 if memory["VmHWM"] < 1024 else 1


if __name__ == "__main__":
    raise SystemExit(main())
