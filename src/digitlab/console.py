"""One console for tables and progress bars, on stderr so that stdout stays machine-readable."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from operator import length_hint
from typing import TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")

console = Console(stderr=True)

# Where stderr is no terminal, a transient bar draws nothing: the stress set's first draw ran 40 s
# in silence. There a task that runs longer than this says where it is, this often, and when it ends.
LOG_EVERY_S = 5.0


def progress_bar(transient: bool = True) -> Progress:
    """A rich Progress with the columns digitlab uses everywhere.

    Where stderr is not a terminal (a log file, a pipe), a transient bar would show nothing but
    still leave an empty line behind, so there it is `Logged` lines instead; a lasting bar prints its
    final state."""
    quiet = transient and not console.is_terminal
    return (Logged if quiet else Progress)(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=quiet,
    )


class Logged(Progress):
    """A Progress that draws nothing and writes plain lines instead, for a log or a pipe: a task quiet
    for its first LOG_EVERY_S seconds (most are done by then) stays quiet; a longer one says how far it
    is, with an estimate of the time left, every LOG_EVERY_S seconds, and says when it ends."""

    def __init__(self, *columns, **options):
        super().__init__(*columns, **options)
        self.said: dict = {}  # task id -> time.monotonic() of its last line (only tasks that have said one)

    def track(self, sequence, total=None, description: str = "working", **_):
        """Each item advances the task here: rich's own track counts on a thread that runs only while
        its display does, and this one draws none."""
        task_id = self.add_task(description, total=total if total is not None else length_hint(sequence) or None)
        for item in sequence:
            yield item
            self.advance(task_id)

    def update(self, task_id, **changes) -> None:
        super().update(task_id, **changes)
        self._tell(task_id)

    def advance(self, task_id, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._tell(task_id)

    def stop(self) -> None:
        for task in self.tasks:
            if task.id in self.said:
                done = task.total is not None and task.completed >= task.total
                how_far = f"done, {task.completed:,.0f}" if done else f"stopped at {self._count(task)}"
                self._say(f"{task.description}: {how_far} in {task.elapsed or 0:.0f} s")
                del self.said[task.id]
        super().stop()

    def _tell(self, task_id) -> None:
        task = self._tasks[task_id]
        last = self.said.get(task_id)
        if time.monotonic() - (last if last is not None else time.monotonic() - (task.elapsed or 0)) < LOG_EVERY_S:
            return
        self.said[task_id] = time.monotonic()
        elapsed, left = task.elapsed or 0, ""
        if task.total is not None and task.completed:  # at the pace so far
            left = f", about {elapsed * (task.total - task.completed) / task.completed:.0f} s left"
        self._say(f"{task.description}: {self._count(task)}, {elapsed:.0f} s so far{left}")

    @staticmethod
    def _count(task) -> str:
        if task.total is None:
            return f"{task.completed:,.0f}"
        return f"{task.completed:,.0f} of {task.total:,.0f} ({task.percentage:.0f} %)"

    def _say(self, line: str) -> None:
        self.console.print(f"digitlab: {line}", markup=False, highlight=False, soft_wrap=True)


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar that disappears when done."""
    with progress_bar() as bar:
        yield from bar.track(items, total=total, description=description)
