"""A progress bar on stderr for long commands, shown only on an interactive terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from planner.report.escape import console as report_console


@contextmanager
def progress_bar(label: str, total: int) -> Iterator[Callable[[int], None] | None]:
    """Yields a callback taking the number of steps done, or None when stderr is not a terminal."""
    console = report_console(stderr=True)
    if not console.is_terminal:
        yield None
        return
    columns = (TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


def point_line(flag: str, value: float, done: int, total: int, cost_usd_per_hour: float | None, status: str) -> str:
    """One finished point of a sweep, for stderr where no bar is drawn (a log, a pipe, a CI job)."""
    result = f"${cost_usd_per_hour:,.2f}/h ({status})" if cost_usd_per_hour is not None else status
    return f"sweep {flag} {value:g}: {result} [{done}/{total}]"
