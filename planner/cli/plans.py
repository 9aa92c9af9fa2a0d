"""`gpuplan sweep`, `check`, `simulate`, `export` and `schema`: re-plan a spec over a list; compare, replay
or export a plan; the JSON Schema of every JSON output.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from common import files
from planner import bounds
from planner.cli.app import (
    AllowPathOpt,
    CatalogOverlay,
    Fmt,
    FormatOpt,
    OutputOpt,
    ReportFmt,
    ReportFormatOpt,
    _allow,
    _check_output,
    _emit,
    _range,
    _state,
    app,
    report_console,
)
from planner.errors import InputError


@app.command()
def sweep(
    spec: Annotated[Path, typer.Argument(help="The YAML spec.")],
    rate: Annotated[
        str | None, typer.Option("--rate", help="Comma-separated request rates (scales every model).")
    ] = None,
    tpot_ms: Annotated[str | None, typer.Option("--tpot-ms", help="Comma-separated TPOT SLOs.")] = None,
    ttft_ms: Annotated[str | None, typer.Option("--ttft-ms", help="Comma-separated TTFT SLOs.")] = None,
    fmt: FormatOpt = Fmt.table,
    output: OutputOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw cost vs value to FILE.png|svg.")] = None,
    catalog: CatalogOverlay = None,
    allow_path: AllowPathOpt = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            callback=_range("--jobs", ge=1, le=bounds.MAX_JOBS, integer=True),
            help="Points planned in parallel processes (default: one per core); the result is the same.",
        ),
    ] = None,
) -> None:
    """Re-plan SPEC over a list of rates or SLOs."""
    from planner.commands.sweep import execute

    _state.update(command="sweep", json=fmt.value == "json")
    _allow(allow_path)
    _check_output(output, spec, *(catalog or ()))
    if plot is not None:
        files.check_output_path(plot, "--plot")
    outcome = execute(
        spec,
        rate=rate,
        tpot_ms=tpot_ms,
        ttft_ms=ttft_ms,
        plot=plot,
        overlays=tuple(catalog or ()),
        progress=fmt.value == "table" and output is None,
        jobs=jobs,
    )
    _emit(outcome, fmt.value, output)


@app.command()
def check(
    plan_json: Annotated[Path, typer.Argument(metavar="PLAN.json", help="A plan from `gpuplan plan -f json`.")],
    baseline: Annotated[Path, typer.Option("--baseline", help="The baseline plan JSON.")],
    cost_tolerance: Annotated[
        float,
        typer.Option(
            "--cost-tolerance", callback=_range("--cost-tolerance", ge=0, le=10), help="Allowed relative cost increase."
        ),
    ] = 0.02,
    fmt: ReportFormatOpt = ReportFmt.table,
) -> None:
    """Compare a plan with a baseline; exit 1 on a regression beyond tolerance."""
    from planner.commands.check import execute

    _state.update(command="check", json=fmt.value == "json")
    _emit(execute(plan_json, baseline, cost_tolerance=cost_tolerance), fmt.value, None)


class ArrivalsOpt(str, Enum):
    auto = "auto"
    trace = "trace"
    poisson = "poisson"
    gamma = "gamma"


class RoutingOpt(str, Enum):
    plan = "plan"
    least_loaded = "least-loaded"
    round_robin = "round-robin"


class PreemptionOpt(str, Enum):
    engine = "engine"
    recompute = "recompute"
    swap = "swap"


@app.command()
def simulate(
    plan_json: Annotated[Path, typer.Argument(metavar="PLAN.json", help="A plan from `gpuplan plan -f json`.")],
    spec: Annotated[Path, typer.Option("--spec", help="The spec the plan was made from.")],
    arrivals: Annotated[
        ArrivalsOpt, typer.Option("--arrivals", help="trace timestamps, poisson or gamma; auto: trace if it has them.")
    ] = ArrivalsOpt.auto,
    burstiness: Annotated[
        float | None,
        typer.Option(
            "--burstiness",
            callback=_range("--burstiness", gt=0, le=100),
            help="Gamma arrivals with this CV of the gaps (1 = Poisson).",
        ),
    ] = None,
    rate_factor: Annotated[
        float,
        typer.Option(
            "--rate-factor", callback=_range("--rate-factor", gt=0, le=1e6), help="Multiply every planned rate."
        ),
    ] = 1.0,
    rate: Annotated[
        str | None, typer.Option("--rate", help="Total req/s (models keep their proportions), or 'trace'.")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration", callback=_range("--duration", gt=0, le=bounds.MAX_SECONDS), help="Seconds of arrivals."
        ),
    ] = None,
    warmup: Annotated[
        float,
        typer.Option(
            "--warmup",
            callback=_range("--warmup", ge=0, le=bounds.MAX_SECONDS),
            help="Seconds at the start left out of the statistics.",
        ),
    ] = 0.0,
    seed: Annotated[
        int,
        typer.Option(
            "--seed",
            callback=_range("--seed", ge=0, le=2**32 - 1, integer=True),
            help="Random seed (same seed, same result).",
        ),
    ] = 0,
    routing: Annotated[RoutingOpt, typer.Option("--routing", help="Router.")] = RoutingOpt.plan,
    preemption: Annotated[
        PreemptionOpt, typer.Option("--preemption", help="When KV runs out: the engine's way, recompute or swap.")
    ] = PreemptionOpt.engine,
    prefix_cache_hit: Annotated[
        float,
        typer.Option(
            "--prefix-cache-hit",
            callback=_range("--prefix-cache-hit", ge=0, le=1),
            help="Share of prompt tokens found in the prefix cache.",
        ),
    ] = 0.0,
    fmt: ReportFormatOpt = ReportFmt.table,
    output: OutputOpt = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Draw timeline and percentiles to FILE.png|svg.")] = None,
    catalog: CatalogOverlay = None,
    allow_path: AllowPathOpt = None,
) -> None:
    """Replay a plan request by request: tail latency, SLO attainment, goodput; exit 1 if a target is missed."""
    from planner.commands.simulate import execute
    from planner.simulate.run import SimulationOptions

    _state.update(command="simulate", json=fmt.value == "json")
    _allow(allow_path)
    _check_output(output, plan_json, spec, *(catalog or ()))
    if plot is not None:
        files.check_output_path(plot, "--plot")
    options = SimulationOptions(
        arrivals=arrivals.value,
        burstiness_cv=burstiness,
        rate_factor=rate_factor,
        rate=rate,
        duration_s=duration,
        warmup_s=warmup,
        seed=seed,
        routing=routing.value,
        preemption=preemption.value,
        prefix_cache_hit=prefix_cache_hit,
    )
    _emit(execute(plan_json, spec, options, overlays=tuple(catalog or ()), plot=plot), fmt.value, output)


class Target(str, Enum):
    vllm = "vllm"
    sglang = "sglang"
    trtllm = "trtllm"
    skypilot = "skypilot"
    k8s = "k8s"
    router = "router"


class ExportFmt(str, Enum):
    text = "text"
    json = "json"


@app.command()
def export(
    plan_json: Annotated[Path, typer.Argument(metavar="PLAN.json", help="A plan from `gpuplan plan -f json`.")],
    to: Annotated[Target, typer.Option("--to", help="What to write.", case_sensitive=False)],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the files into folder DIR (atomically, each).")
    ] = None,
    checkpoint: Annotated[
        list[str] | None,
        typer.Option(
            "--checkpoint",
            metavar="<str>",
            help="MODEL=ORG/REPO or MODEL@DTYPE=ORG/REPO: a checkpoint stored in the planned (quantised) weight dtype.",
        ),
    ] = None,
    fmt: Annotated[
        ExportFmt, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = ExportFmt.text,
) -> None:
    """Write what launches PLAN: engine commands, SkyPilot YAML, Kubernetes manifests or a router config."""
    from planner.commands.export import execute
    from planner.report.export_report import summary_lines

    _state.update(command="export", json=fmt == ExportFmt.json)
    files.note_input(plan_json)
    if output is not None and output.exists() and not output.is_dir():
        raise InputError("is a file; give a folder (created when missing)", where=f"--output {output}")
    if output is not None and not output.parent.is_dir():
        raise InputError(f"folder {str(output.parent)!r} does not exist", where=f"--output {output}")
    outcome = execute(plan_json, to.value, tuple(checkpoint or ()))
    if output is None:
        _emit(outcome, fmt.value, None)
        return
    from planner.export import ExportResult

    result = outcome.data
    if not isinstance(result, ExportResult):  # execute always returns one; keeps mypy's narrowing honest
        raise TypeError(f"export returned {type(result).__name__}")
    output.mkdir(exist_ok=True)
    for f in result.files:
        path = output / f.path
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_output(path, f.text, "--output")
    from planner.outcome import envelope, to_json

    err = report_console(stderr=True, highlight=False, soft_wrap=True)
    for line in summary_lines(result, str(output)):
        err.print(line)
    if fmt == ExportFmt.json:
        sys.stdout.write(to_json(envelope(outcome)))


@app.command("schema")
def schema(
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="COMMAND",
            help="plan, schedule, estimate, place, sweep, check, simulate, export, or "
            "catalog gpus|offerings|models|commitments|refresh.",
        ),
    ],
) -> None:
    """Print the JSON Schema of `gpuplan COMMAND --format json`."""
    from planner.commands.schema import execute

    name = " ".join(command)
    _state.update(command=f"schema {name}")
    _emit(execute(name), "json-schema", None)
