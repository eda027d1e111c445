"""The speed targets (issue "fast again"), each a whole command as a user runs it, timed alternately
with the plain CNN (benchmarks/plain_cnn.py, a process of its own) in the same run, so that a busy
machine slows both: each row prints digitlab's figure, the plain CNN's beside it, and their ratio.

    python benchmarks/targets.py                  # train (fast), evaluate, predict on photos, compare
    python benchmarks/targets.py --only train,evaluate --repeats 3
    python benchmarks/targets.py --only medium    # --recipe medium (about 35 s a run)

Wall seconds include start-up (importing torch: about 2 s on the 2 cores this was written on).
Peak memory is the command's own (RUSAGE_CHILDREN of a wrapper that runs only it). `compare`'s
first run gets a fresh DIGITLAB_HOME (its caches and the stress set drawn anew, as in a fresh
clone); the second reuses it. The serve target is benchmarks/load_server.py's (run it apart).
The plain CNN's row is the like-for-like work: its training run beside train and compare, its scoring
of the 10,000 test digits (no training) beside evaluate, its reading of the same photos (decoded,
resized, scored: no cleaning, no finding digits) beside predict.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = {  # figure, target, direction (+1: at least, -1: at most)
    "train": ("seconds", 6.0, -1),
    "medium": ("seconds", 25.0, -1),
    "evaluate": ("seconds", 1.5, -1),
    "predict": ("images/s", 500.0, +1),
    "compare-first": ("seconds", 45.0, -1),
    "compare-after": ("seconds", 35.0, -1),
}
PHOTOS = 300  # photo-like digits (the stress set's photo maker, another seed) given to predict


def measured(command: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak resident MB, stdout + stderr) of `command` in a wrapper process that runs only it."""
    wrapper = ("import resource, subprocess, sys, time; start = time.perf_counter(); "
               "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
               "wall = time.perf_counter() - start; "
               "print(done.stdout + done.stderr); "
               "print('@@', wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, done.returncode)")
    done = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    text, tail = done.stdout.rsplit("@@", 1)
    wall, peak, code = tail.split()
    if int(code) != 0:
        raise SystemExit(f"{' '.join(command)} failed ({code}):\n{text[-2000:]}")
    return float(wall), float(peak), text


def plain(seed: int, what: str, tmp: Path) -> dict:
    """The plain CNN's whole process beside `what`: its training run beside train and compare; its
    scoring of the test digits (no training) beside evaluate; its reading of the same photos beside predict."""
    extra = {"evaluate": ["--score"], "predict": ["--files", str(tmp / "photos.txt")]}.get(what, [])
    wall, peak, text = measured([sys.executable, str(HERE / "plain_cnn.py"), "--seed", str(seed), *extra])
    found = re.search(r"test accuracy ([\d.]+)%", text)
    return {"seconds": wall, "accuracy": float(found.group(1)) if found else None, "peak": peak}


def digitlab(*args: str, env: dict | None = None) -> tuple[float, float, str]:
    return measured([sys.executable, "-m", "digitlab", *args], env)


def run_train(seed: int, tmp: Path, recipe: str = "fast") -> dict:
    out = tmp / f"cnn-{recipe}-{seed}"
    wall, peak, _ = digitlab("train", "cnn", "--dataset", "mnist", "--recipe", recipe, "--seed", str(seed),
                             "--out", str(out))
    saved = json.loads((out / "config.json").read_text())
    _, _, text = digitlab("evaluate", str(out), "--dataset", "stress")  # not timed
    stress = float(re.search(r"accuracy ([\d.]+)%", text).group(1))
    return {"seconds": wall, "accuracy": 100 * saved["accuracy"], "stress": stress, "peak": peak}


def run_evaluate(seed: int, tmp: Path) -> dict:
    from digitlab import pretrained

    wall, peak, text = digitlab("evaluate", str(pretrained.path("cnn")))
    return {"seconds": wall, "accuracy": float(re.search(r"accuracy ([\d.]+)%", text).group(1)), "peak": peak}


def photos(tmp: Path) -> Path:
    """PHOTOS photo-like digits as PNG files (not MNIST-style: on paper, lit unevenly), and a list of them."""
    from digitlab.data import stress

    folder = tmp / "photos"
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(PHOTOS):
        image, digit = stress.raw_image("photo", i, seed=7)
        paths.append(folder / f"{i:04d}-{digit}.png")
        image.save(paths[-1])
    listing = tmp / "photos.txt"
    listing.write_text("".join(f"{p}\n" for p in paths))
    return listing


def run_predict(seed: int, tmp: Path) -> dict:
    listing = tmp / "photos.txt" if (tmp / "photos.txt").exists() else photos(tmp)
    wall, peak, text = digitlab("predict", "--json", "--from", str(listing))
    answers = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    right = sum(a["label"] is not None and str(a["label"]) == Path(a["image"]).stem.split("-")[1] for a in answers)
    return {"images/s": PHOTOS / wall, "seconds": wall, "accuracy": 100 * right / PHOTOS, "peak": peak}


def run_compare(seed: int, tmp: Path) -> list[tuple[str, dict]]:
    home = tmp / f"home-{seed}"
    rows = []
    for name in ("compare-first", "compare-after"):
        wall, peak, _ = digitlab("compare", "--out", str(tmp / f"compare-{seed}"), env={"DIGITLAB_HOME": str(home)})
        rows.append((name, {"seconds": wall, "peak": peak}))
    return rows


def describe(name: str, runs: list[dict], plains: list[dict]) -> str:
    figure, target, direction = TARGETS[name]
    ours = statistics.median(r[figure] for r in runs)
    theirs = statistics.median(p["seconds"] for p in plains)
    met = ours * direction >= target * direction
    seconds = statistics.median(r["seconds"] for r in runs)
    extra = ""
    if "accuracy" in runs[0]:
        extra += "; accuracy " + ", ".join(f"{r['accuracy']:.2f}" for r in runs) + " %"
    if "stress" in runs[0]:
        extra += "; stress " + ", ".join(f"{r['stress']:.2f}" for r in runs) + " %"
    each = ", ".join(f"{r[figure]:.1f}" for r in runs)
    return (f"| {name} | {ours:.1f} {figure} ({each}) | "
            f"{'>=' if direction > 0 else '<='} {target:g} | {'met' if met else 'not met'} | "
            f"plain cnn {theirs:.1f} s; ours / plain (seconds) {seconds / theirs:.2f} | "
            f"peak {max(r['peak'] for r in runs):.0f} MB{extra} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="train,evaluate,predict,compare",
                        help="comma-separated: train, medium, evaluate, predict, compare")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (seeds 0..n-1 where a seed applies)")
    args = parser.parse_args()
    chosen = args.only.split(",")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} cores")
    results: dict[str, list[dict]] = {}
    plains: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for seed in range(args.repeats):
            for what in chosen:  # each of ours, then the plain CNN: alternately
                if what == "compare":
                    for name, row in run_compare(seed, tmp):
                        results.setdefault(name, []).append(row)
                else:
                    run = {"train": run_train, "evaluate": run_evaluate, "predict": run_predict,
                           "medium": lambda s, t: run_train(s, t, "medium")}[what]
                    results.setdefault(what, []).append(run(seed, tmp))
                p = plain(seed, what, tmp)
                for name in (("compare-first", "compare-after") if what == "compare" else (what,)):
                    plains.setdefault(name, []).append(p)
                print(f"  run {seed}: {what} done; plain cnn {p['seconds']:.1f} s; "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
    print("| target | digitlab (median; runs) | target | status | beside the plain CNN | memory, accuracy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, runs in results.items():
        print(describe(name, runs, plains[name]))


if __name__ == "__main__":
    main()
