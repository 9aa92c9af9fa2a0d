"""`gpuplan sweep SPEC (--rate LIST | --tpot-ms LIST | --ttft-ms LIST)`: parse the list, re-plan for each
value (planner.sweep), draw the chart if asked. Exits 1 only when no value gives a feasible plan."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from planner.commands.flags import spelled_as_flags
from planner.errors import InputError
from planner.inputs import PlanInputs, load_inputs, spec_errors
from planner.outcome import Outcome
from planner.report.plot import check_plot_target, plot_sweep
from planner.report.progress import point_line, progress_bar
from planner.report.sweep_report import render_sweep_csv, render_sweep_markdown, render_sweep_table
from planner.sweep import FLAGS, SweepPoint, SweepResult, Swept, run_sweep

MAX_POINTS = 200


def parse_values(text: str | None, flag: str) -> tuple[float, ...] | None:
    """`"1, 2,5"` -> (1.0, 2.0, 5.0); every value positive and finite, else an InputError naming `flag`."""
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or any(p == "" for p in parts):
        raise InputError(f"give a comma-separated list of positive numbers, e.g. 1,2,5 (got {text!r})", where=flag)
    values = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise InputError(f"{p!r} is not a number; give positive numbers, e.g. 1,2,5", where=flag) from None
        if not math.isfinite(v) or v <= 0:
            raise InputError(f"every value must be positive and finite, got {p}", where=flag)
        values.append(v)
    if len(values) > MAX_POINTS:
        raise InputError(f"at most {MAX_POINTS} values per sweep, got {len(values)}", where=flag)
    return tuple(values)


def choose_sweep(rate: str | None, tpot_ms: str | None, ttft_ms: str | None) -> tuple[Swept, tuple[float, ...]]:
    """Exactly one of the three lists, parsed."""
    options: tuple[tuple[Swept, str | None], ...] = (
        ("rate_rps", rate),
        ("tpot_ms", tpot_ms),
        ("ttft_ms", ttft_ms),
    )
    given = [(k, v) for k, v in options if v is not None]
    if len(given) != 1:
        got = f" (got {', '.join(FLAGS[k] for k, _ in given)})" if given else ""
        raise InputError(f"give exactly one of --rate, --tpot-ms or --ttft-ms{got}", where="sweep")
    swept, text = given[0]
    values = parse_values(text, FLAGS[swept])
    if values is None:  # unreachable: the value is a string
        raise InputError("missing values", where=FLAGS[swept])
    return swept, values


@spelled_as_flags
def execute(
    spec: Path,
    *,
    rate: str | None = None,
    tpot_ms: str | None = None,
    ttft_ms: str | None = None,
    plot: Path | None = None,
    overlays: tuple[Path, ...] = (),
    progress: bool = False,
    jobs: int | None = None,
) -> Outcome:
    """Re-plan `spec` for each value (in `jobs` processes, default one per core); draw `plot` if asked. On
    an interactive terminal with `progress`, a bar; otherwise a line per point on stderr."""
    swept, values = choose_sweep(rate, tpot_ms, ttft_ms)
    if plot is not None:
        check_plot_target(plot)
    workers = jobs if jobs is not None else (os.cpu_count() or 1)
    with spec_errors(spec):
        inputs = load_inputs(spec, overlays)
        result = _run_with_progress(inputs, swept, values, workers, bar=progress)
    if plot is not None:
        plot_sweep(result, plot)
    feasible = any(p.status != "infeasible" for p in result.points)
    return Outcome(
        command="sweep",
        status="ok" if feasible else "infeasible",
        data=result,
        renderers={
            "table": lambda: render_sweep_table(result),
            "md": lambda: render_sweep_markdown(result),
            "csv": lambda: render_sweep_csv(result),
        },
        exit_code=0 if feasible else 1,
        errors=() if feasible else ("no value of the sweep gives a feasible plan",),
        notices=(f"wrote {plot}",) if plot is not None else (),
    )


def _run_with_progress(
    inputs: PlanInputs, swept: Swept, values: Sequence[float], jobs: int, *, bar: bool
) -> SweepResult:
    flag = FLAGS[swept]
    with progress_bar(f"planning {flag}", len(values)) if bar else contextlib.nullcontext() as on_point:
        if on_point is not None:
            return run_sweep(inputs, swept, values, on_point=on_point, jobs=jobs)

        def line(k: int, point: SweepPoint) -> None:
            text = point_line(flag, point.value, k + 1, len(values), point.total_cost_usd_per_hour, point.status)
            with contextlib.suppress(OSError):  # stderr gone: the document still goes to stdout
                sys.stderr.write(text + "\n")
                sys.stderr.flush()

        return run_sweep(inputs, swept, values, on_result=line, jobs=jobs)
