"""Work over many files on a small pool of threads, in order, with a progress bar past a size.

Threads rather than processes: the work is zlib, Pillow's decoders and file system calls, which
release the GIL, and threads need no pickling or process start-up. `benchmarks/load_data.py`
measures one worker against two.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from digitlab.console import progress_bar

T = TypeVar("T")
R = TypeVar("R")

PROGRESS_FROM = 2000  # items: below this the work ends too fast for a progress bar to help
CHUNK = 500  # items per task given to a worker thread


def default_workers() -> int:
    """Two threads where there are two cores: more only contend for them (benchmarks/load_data.py)."""
    return max(1, min(2, os.cpu_count() or 1))


def map_chunks(fn: Callable[[Sequence[T]], R], items: Sequence[T], workers: int, description: str,
               chunk: int = CHUNK) -> list[R]:
    """`fn` over `items` in chunks of `chunk` on `workers` threads, results in order, with a
    progress bar named `description` from PROGRESS_FROM items."""
    chunks = [items[start : start + chunk] for start in range(0, len(items), chunk)]
    if len(items) < PROGRESS_FROM:
        if workers <= 1:
            return [fn(part) for part in chunks]
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(fn, chunks))
    results = []
    with progress_bar() as bar, ThreadPoolExecutor(max(1, workers)) as pool:
        task = bar.add_task(description, total=len(items))
        for part, result in zip(chunks, pool.map(fn, chunks)):
            results.append(result)
            bar.advance(task, len(part))
    return results
