"""Start-up time of the command line: `digitlab --help` in a fresh process, median of N runs.

    python benchmarks/startup.py [--runs 10]

The command line imports torch only inside the commands that need it, so `--help` should answer
in well under half a second; `import torch` alone is timed beside it for scale.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default: 10)")
    args = parser.parse_args()
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "digitlab --help": [sys.executable, "-m", "digitlab", "--help"],
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
    }
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; median of {args.runs} runs")
    for name, command in commands.items():
        timed(command)  # warm the file cache
        times = sorted(timed(command) for _ in range(args.runs))
        print(f"{name:<28} median {statistics.median(times):.3f} s  (min {times[0]:.3f}, max {times[-1]:.3f})")


if __name__ == "__main__":
    main()
