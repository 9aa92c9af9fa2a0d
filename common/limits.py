"""The limits of one run: one time limit for the whole run, and a prompt, clean stop on Ctrl-C or SIGTERM.

Time: the time limit (`--time-limit` or the spec's `solver.time_limit_s`) is a deadline for the whole
run, counted from its start: every solve, every single-offering baseline and every diagnosis re-solve
gets only what is left (`remaining_s`), and long pure-Python stages call `check` between pieces of work.
A run is a CLI command (`run_scope` in `planner.cli.main`) or, for library callers, one `make_plan`.

Signals: `handle_signals` turns SIGINT and SIGTERM into an `Interrupted` exception in the main thread
and sets a flag (`stop_requested`) that the solver back-ends poll: HiGHS through its interrupt callback,
CBC by killing its process. `Interrupted` derives from BaseException so that no `except Exception`
on the way (a back-end's fallback, a progress bar) swallows it; the CLI reports it with exit code 128 +
the signal's number (130 for Ctrl-C, 143 for SIGTERM), as shells do.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType

from common.errors import GpuplanError


class Interrupted(BaseException):  # noqa: N818 - reads like KeyboardInterrupt, which it generalises
    """The run was stopped by a signal (Ctrl-C, SIGTERM)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(signal.Signals(signum).name)


class TimeLimitError(GpuplanError):
    """The run's time limit passed before a plan could be made (exit code 1: not the input's fault)."""

    exit_code = 1


@dataclass
class _Run:
    started: float = field(default_factory=time.monotonic)
    limit_s: float | None = None
    deadline: float = math.inf


_STOP = threading.Event()
_RUNS: list[_Run] = []


@contextmanager
def run_scope() -> Iterator[None]:
    """One run: its clock starts now. Nested scopes (a command calling `make_plan`) join the outer run."""
    if _RUNS:
        yield
        return
    _RUNS.append(_Run())
    _STOP.clear()
    try:
        yield
    finally:
        _RUNS.clear()


def arm(limit_s: float) -> None:
    """Set the run's time limit (seconds from the run's start); a later, longer one does not extend it."""
    if not _RUNS:
        return
    run = _RUNS[-1]
    deadline = run.started + limit_s
    if deadline < run.deadline:
        run.deadline = deadline
        run.limit_s = limit_s


def remaining_s() -> float:
    """Seconds left before the run's deadline (inf without one)."""
    if not _RUNS:
        return math.inf
    return _RUNS[-1].deadline - time.monotonic()


def clamp(limit_s: float) -> float:
    """A solver's time limit cut to what is left of the run (at least a millisecond)."""
    return max(min(limit_s, remaining_s()), 1e-3)


def check(doing: str) -> None:
    """Raise TimeLimitError when the run's deadline has passed (or Interrupted after a signal)."""
    if _STOP.is_set():
        raise Interrupted(_signum[0] or signal.SIGINT)
    if remaining_s() <= 0:
        limit = _RUNS[-1].limit_s if _RUNS else None
        raise TimeLimitError(
            f"the time limit of {limit:g} s ran out while {doing}; raise --time-limit (or solver.time_limit_s)"
        )


def request_stop() -> None:
    """Ask every solver polling `should_stop` to stop (the run is being abandoned)."""
    _STOP.set()


_ABANDONED: list[threading.Thread] = []


def abandon(worker: threading.Thread) -> None:
    """A solver thread that did not stop within a second of being asked (HiGHS polls its interrupt
    callback only between iterations, not in presolve): the process exits without waiting for it."""
    _ABANDONED.append(worker)


def abandoned_alive() -> bool:
    return any(t.is_alive() for t in _ABANDONED)


def clear_stop() -> None:
    _STOP.clear()


def stop_requested() -> bool:
    """True once a signal asked the run to stop: solver callbacks poll this."""
    return _STOP.is_set()


def should_stop() -> bool:
    """A signal arrived or the run's deadline passed: what a solver's interrupt callback asks."""
    return _STOP.is_set() or remaining_s() <= 0


_signum: list[int] = [0]


def _handler(signum: int, frame: FrameType | None) -> None:
    if _STOP.is_set():  # already stopping: let the clean-up (killing a solver, removing files) finish
        return
    _STOP.set()
    _signum[0] = signum
    raise Interrupted(signum)


@contextmanager
def handle_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise Interrupted in the main thread while inside (no-op off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    _signum[0] = 0
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
