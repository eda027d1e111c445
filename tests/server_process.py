"""`digitlab serve` in a process of its own, as a user starts it: this checkout's digitlab, a free port,
the shipped models (no ./digitlab-out in its folder)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

START_SECONDS = 120  # importing torch and loading four models on a busy 2-core machine
# The server runs the digitlab this test imported, whatever the cwd: a relative PYTHONPATH=src would
# otherwise resolve in the server's own folder and serve another copy.
SOURCES = os.pathsep.join([str(Path(__import__("digitlab").__file__).resolve().parents[1]),
                           *filter(None, [os.environ.get("PYTHONPATH")])])


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    def rss_bytes(self) -> int:
        """The server process's resident memory now, from Linux's /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS line")


@contextmanager
def serving(folder: Path, *options: str):
    """`digitlab serve --port 0 OPTIONS` started in `folder`, yielded once it says where it listens
    (its workers, if any, ready); stopped (SIGTERM, then SIGKILL) when the block ends if still running."""
    log_path = folder / "serve.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen([sys.executable, "-m", "digitlab", "serve", "--port", "0", *options], cwd=folder,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": SOURCES, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (found := re.search(r"open http://127\.0\.0\.1:(\d+)/", log_path.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        yield Server(process, int(found.group(1)), log_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
