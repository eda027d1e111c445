"""How fast a folder of PNGs loads, the first time and from the cache, and how it grows.

  mnist_png   the 70,000 PNGs `digitlab export mnist_png` writes: a plain single-thread Pillow loop
              over the 60,000 training files, then `folders.load_folder` of the same files with the
              cache off (1 and 2 threads) and from the cache, in one process, several runs; then the
              whole `digitlab data info --dataset .../mnist_png` command, cache empty and cache full
  growth      folders of 10k and 100k (and with --million, 1M) generated images (MNIST's training
              digits as PNGs, repeated), each loaded in a fresh process: first load and cached load,
              seconds and peak memory, beside what the images themselves take (784 bytes each)
  stream      `digitlab evaluate` of a cnn over the 100k folder (from the cache), and `digitlab
              predict --json --from -` over its files' paths (MNIST-style files read as they are),
              with --as-is, and with the shipped cnn: seconds, images/s and peak memory of each
              whole command

Run: python benchmarks/load_folders.py [--repeats 3] [--million] [--sizes 10000,100000] [--baseline SRC]
     [--dir DIR] [--parts mnist_png,growth,stream]
The folders are written under --dir (default: the temp folder) and removed at the end. Timings on
a shared machine are noisy; compare figures taken in the same run.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image

from digitlab.data import datasets, shipped_mnist
from digitlab.data.export import export_layout
from digitlab.data.folders import load_folder

# A child process reports one load's seconds, its CPU seconds (user + system: on a shared machine the
# wall time says more about the neighbours), its resident memory before the load (after the
# imports) and its peak during the load, in KB, so each size's memory is its own. Linux: writing 5
# to /proc/self/clear_refs resets the peak (VmHWM), which torch's import had set higher.
CHILD = """
import os, sys, time
from digitlab.data.folders import load_folder
def status(field):
    return int(next(l for l in open("/proc/self/status") if l.startswith(field)).split()[1])
before = status("VmRSS:")
open("/proc/self/clear_refs", "w").write("5")
start, cpu = time.perf_counter(), os.times()
digits = load_folder(sys.argv[1])
seconds, cpu_after = time.perf_counter() - start, os.times()
cpu = cpu_after.user + cpu_after.system - cpu.user - cpu.system
print(seconds, cpu, before, status("VmHWM:"), len(digits.labels))
"""


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def plain_pillow(files: list[str]) -> np.ndarray:
    out = np.empty((len(files), 28, 28), np.uint8)
    for i, path in enumerate(files):
        with Image.open(path) as image:
            out[i] = np.asarray(image)
    return out


def spread(runs: list[float]) -> str:
    return f"best {min(runs):6.2f} s  (spread {min(runs):.2f}-{max(runs):.2f}, {len(runs)} runs)"


def bench_mnist_png(parent: Path, repeats: int) -> None:
    export_layout("mnist_png", parent / "export")
    root = parent / "export" / "mnist_png"
    age(root)
    training = root / "training"
    files = sorted(str(p) for p in training.glob("*/*.png"))
    print(f"mnist_png: {len(files):,} training PNGs in one process")
    runs = {"plain Pillow loop, 1 thread": [], "load_folder, cache off, 1 thread": [],
            "load_folder, cache off, 2 threads": [], "load_folder from the cache": []}
    load_folder(root, "train")  # fills the cache
    for _ in range(repeats):
        runs["plain Pillow loop, 1 thread"].append(timed(lambda: plain_pillow(files)))
        runs["load_folder, cache off, 1 thread"].append(timed(lambda: load_folder(root, "train", 1, cache=False)))
        runs["load_folder, cache off, 2 threads"].append(timed(lambda: load_folder(root, "train", 2, cache=False)))
        runs["load_folder from the cache"].append(timed(lambda: load_folder(root, "train")))
    for name, seconds in runs.items():
        print(f"  {name:36s} {spread(seconds)}")
    command = [sys.executable, "-m", "digitlab", "data", "info", "--dataset", str(root)]
    cold, warm = [], []
    for _ in range(repeats):
        subprocess.run([sys.executable, "-m", "digitlab", "data", "cache", "--clear"], check=True, capture_output=True)
        cold.append(timed(lambda: subprocess.run(command, check=True, capture_output=True)))
        warm.append(timed(lambda: subprocess.run(command, check=True, capture_output=True)))
    print(f"  `digitlab data info` on 70,000 PNGs, cache empty: {spread(cold)}")
    print(f"  `digitlab data info` on 70,000 PNGs, cache full:  {spread(warm)}")


def age(root: Path) -> None:
    """Date the files an hour back: the loader does not cache a folder written moments ago."""
    when = time.time() - 3600
    for folder, _, names in os.walk(root):
        for name in names:
            os.utime(os.path.join(folder, name), (when, when))


def generate(root: Path, count: int) -> None:
    """`count` PNGs, MNIST's training digits in turn, under root/<digit>/<i>.png."""
    images, labels = shipped_mnist.mnist_arrays("train")
    blobs = []
    for image in images:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        blobs.append(buffer.getvalue())
    for digit in range(10):
        (root / str(digit)).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        j = i % len(blobs)
        with open(root / str(int(labels[j])) / f"{i}.png", "wb") as f:
            f.write(blobs[j])
    age(root)


class Load(NamedTuple):
    seconds: float
    cpu: float  # user + system seconds
    peak_mb: int  # above the process's memory after its imports
    images: int


def child_load(root: Path, source: str | None = None) -> Load:
    """load_folder(root) in a fresh process; `source`: another digitlab's src folder to load it with."""
    env = {**os.environ, **({"PYTHONPATH": source} if source else {})}
    out = subprocess.run([sys.executable, "-c", CHILD, str(root)], check=True, capture_output=True, text=True, env=env)
    seconds, cpu, before, after, count = out.stdout.split()
    return Load(float(seconds), float(cpu), (int(after) - int(before)) >> 10, int(count))


def load_average() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def bench_growth(parent: Path, sizes: list[int], repeats: int, baseline: str | None) -> Path | None:
    print("growth: each load in a fresh process; memory is its peak RSS during the load above its RSS before")
    kept = None
    for count in sizes:
        root = parent / f"gen-{count}"
        seconds = timed(lambda: generate(root, count))
        first = child_load(root)
        cached = [child_load(root) for _ in range(repeats)]
        best = min(cached, key=lambda load: load.seconds)
        images_mb = count * 784 / 2**20
        print(f"  {count:>9,} images ({images_mb:6.0f} MB of pixels; written in {seconds:5.1f} s; load average "
              f"{load_average()}): first {first.seconds:6.2f} s (CPU {first.cpu:5.2f} s), +{first.peak_mb:5,} MB;  "
              f"cached {spread([c.seconds for c in cached])} (CPU {best.cpu:.2f} s), +{best.peak_mb:5,} MB")
        if baseline:
            child_load(root, baseline)  # its own cache entry first
            pairs = [(child_load(root, baseline), child_load(root)) for _ in range(repeats)]
            print(f"    same run, alternately (load average {load_average()}): baseline cached "
                  f"{spread([b.seconds for b, _ in pairs])}, CPU {min(b.cpu for b, _ in pairs):.2f} s, "
                  f"+{min(b.peak_mb for b, _ in pairs):,} MB;  this tree {spread([t.seconds for _, t in pairs])}, "
                  f"CPU {min(t.cpu for _, t in pairs):.2f} s")
        if count == 100_000:
            kept = root
        else:
            shutil.rmtree(root)
    return kept


def whole_command(command: list[str], stdin: Path | None = None, source: str | None = None
                  ) -> tuple[float, float, int]:
    """(seconds, CPU seconds, peak MB) of one digitlab command in a child process, its output thrown
    away; `source`: another digitlab's src folder to run it with."""
    script = ("import resource, subprocess, sys, time; start = time.perf_counter(); "
              "subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, "
              "stdin=open(sys.argv[1]) if sys.argv[1] else None); "
              "use = resource.getrusage(resource.RUSAGE_CHILDREN); "
              "print(time.perf_counter() - start, use.ru_utime + use.ru_stime, use.ru_maxrss)")
    env = {**os.environ, **({"PYTHONPATH": source} if source else {})}
    out = subprocess.run([sys.executable, "-c", script, str(stdin or ""), *command], check=True,
                         capture_output=True, text=True, env=env)
    seconds, cpu, peak_kb = out.stdout.split()
    return float(seconds), float(cpu), int(peak_kb) >> 10


def bench_stream(parent: Path, root: Path, baseline: str | None) -> None:
    """`digitlab evaluate` and `digitlab predict` of a cnn (trained briefly on 2,000 digits) over
    `root`'s 100k images, whole commands, start-up included; then `predict` with the shipped cnn;
    with a `baseline`, its `predict --as-is` between them."""
    from digitlab import classifiers

    train = datasets.load("mnist", "train")
    model = parent / "cnn"
    classifiers.make("cnn", epochs=1, seed=0).fit(train.images[:2000], train.labels[:2000]).save(model)
    listing = parent / "paths.txt"
    listing.write_text("".join(f"{p}\n" for p in sorted(root.glob("*/*.png"))))
    count = sum(1 for _ in listing.open())
    runs = {
        "evaluate (the folder from the cache)": (["evaluate", str(model), "--dataset", str(root)], None),
        "predict --json --from - (stdin)": (["predict", str(model), "--json", "--from", "-"], listing),
        "predict --as-is --json --from - (stdin)": (["predict", str(model), "--as-is", "--json", "--from", "-"], listing),
        "predict --json --from -, the shipped cnn": (["predict", "--json", "--from", "-"], listing),
    }
    if baseline:
        runs = dict(list(runs.items())[:1] + [("baseline: predict --as-is --json --from -",
                                               (runs["predict --as-is --json --from - (stdin)"][0], listing, baseline))]
                    + list(runs.items())[1:])
    print(f"stream: a cnn over {count:,} images, whole commands")
    for name, (argv, stdin, *source) in runs.items():
        seconds, cpu, peak_mb = whole_command([sys.executable, "-m", "digitlab", *argv], stdin, *source)
        print(f"  {name:42s} {seconds:6.1f} s, {count / seconds:7,.0f} images/s; CPU {cpu:6.1f} s, "
              f"{count / cpu:7,.0f} images per CPU second; peak memory {peak_mb:,} MB (load average {load_average()})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--million", action="store_true", help="also 1M images (about 4 GB of disk, minutes)")
    parser.add_argument("--sizes", help="the growth folders' sizes, a comma list (default 10000,100000)")
    parser.add_argument("--baseline", metavar="SRC",
                        help="another digitlab's src folder (a checkout of an earlier commit): its cached loads "
                        "are timed alternately with this tree's, in the same run")
    parser.add_argument("--dir", help="where to write the folders (default: the temp folder)")
    parser.add_argument("--parts", default="mnist_png,growth,stream",
                        help="which to run, a comma list of mnist_png, growth, stream (stream needs growth)")
    args = parser.parse_args()
    parent = Path(tempfile.mkdtemp(prefix="digitlab-bench-folders-", dir=args.dir))
    saved_home = os.environ.get("DIGITLAB_HOME")
    os.environ["DIGITLAB_HOME"] = str(parent / "home")  # an empty cache of its own, children included
    try:
        parts = set(args.parts.split(","))
        if "mnist_png" in parts:
            bench_mnist_png(parent, args.repeats)
        if "growth" in parts:
            sizes = [int(n) for n in args.sizes.split(",")] if args.sizes else [10_000, 100_000]
            kept = bench_growth(parent, sizes + ([1_000_000] if args.million else []), args.repeats, args.baseline)
            if kept and "stream" in parts:
                bench_stream(parent, kept, args.baseline)
    finally:
        shutil.rmtree(parent, ignore_errors=True)
        if saved_home is None:
            os.environ.pop("DIGITLAB_HOME", None)
        else:
            os.environ["DIGITLAB_HOME"] = saved_home


if __name__ == "__main__":
    main()
