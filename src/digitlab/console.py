"""One console for tables and progress bars, on stderr so that stdout stays machine-readable."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
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


def progress_bar(transient: bool = True) -> Progress:
    """A rich Progress with the columns digitlab uses everywhere.

    Where stderr is not a terminal (a log file, a pipe), a transient bar would show nothing but
    still leave an empty line behind, so there it is off; a lasting bar prints its final state."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
        disable=transient and not console.is_terminal,
    )


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a progress bar that disappears when done."""
    with progress_bar() as bar:
        yield from bar.track(items, total=total, description=description)
