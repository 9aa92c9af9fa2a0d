"""The command line: parse flags, call one pure command, render its Outcome once. No logic lives here.

Every GpuplanError is caught in `main` and becomes a one-line message on stderr and its exit code
(2 for bad input); `--debug` also prints the traceback, with the same exit code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from collections.abc import Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from common import files, limits
from planner import bounds
from planner.errors import GpuplanError, InputError
from planner.outcome import Outcome, envelope, error_envelope, to_json
from planner.report.escape import console as report_console

app = typer.Typer(
    name="gpuplan",
    help="Plan the cheapest GPU fleet that serves an LLM inference workload within its latency targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(help="Import inputs written for other tools.", no_args_is_help=True)
catalog_app = typer.Typer(
    help="List what the catalog knows (GPUs, offerings, models, commitments); refresh its prices.",
    no_args_is_help=True,
)
app.add_typer(import_app, name="import")
app.add_typer(catalog_app, name="catalog")

_state: dict[str, Any] = {"debug": False, "command": "gpuplan", "json": False}


class Fmt(str, Enum):
    """Output formats of `sweep` and `catalog`. Each command lists only the formats it renders, so a
    refused format is a usage error before any work (and --help shows exactly what is accepted)."""

    table = "table"
    json = "json"
    md = "md"
    csv = "csv"


class ReportFmt(str, Enum):
    """Output formats of `plan`, `place`, `check` and `simulate`."""

    table = "table"
    json = "json"
    md = "md"


class EstimateFmt(str, Enum):
    """Output formats of `estimate`."""

    table = "table"
    json = "json"


def _emit(outcome: Outcome, fmt: str, output: Path | None) -> None:
    """Render `outcome` in `fmt` to stdout or to `output` (see common.files.write_output); exit with its code."""
    for notice in outcome.notices:
        report_console(stderr=True).print(notice)
    if fmt == "json":
        text: str | None = to_json(envelope(outcome))
        renderable: Any = None
    else:
        renderer = outcome.renderers.get(fmt)
        if renderer is None:
            valid = ", ".join(["json", *outcome.renderers])
            raise InputError(
                f"format {fmt!r} is not available for `{outcome.command}`; valid: {valid}", where="--format"
            )
        rendered = renderer()
        text = rendered if isinstance(rendered, str) else None
        renderable = None if isinstance(rendered, str) else rendered
    if output is not None and str(output) != files.STDOUT:
        if text is None:
            console = report_console(record=True, width=100, file=io.StringIO())
            console.print(renderable)
            text = console.export_text()
        files.write_output(output, text)
        report_console(stderr=True, highlight=False).print(f"wrote {output}")
    elif text is not None:
        _write_stdout(text, is_json=fmt in ("json", "json-schema"))
    else:
        try:
            report_console().print(renderable)
        except OSError as exc:
            raise _stdout_error(exc) from None
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


class _StdoutError(GpuplanError):
    """stdout cannot take the document (a full disk, /dev/full, a closed pipe)."""

    def __init__(self, message: str, errno_: int | None) -> None:
        super().__init__(message, where="stdout")
        self.errno = errno_


def _stdout_error(exc: OSError) -> _StdoutError:
    return _StdoutError(f"cannot write the output: {exc.strerror or exc}", exc.errno)


def _encodes_all(stream: Any) -> bool:
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    return encoding.startswith(("utf", "ucs"))


def _ascii_json(text: str) -> str:
    """JSON text with every non-ASCII character as a \\u escape (non-ASCII occurs only inside strings)."""
    return "".join(c if ord(c) < 128 else json.dumps(c)[1:-1] for c in text)


def _write_stdout(text: str, *, is_json: bool) -> None:
    """The document on stdout; JSON stays valid JSON on a stdout that cannot encode every character."""
    if is_json and not _encodes_all(sys.stdout):
        text = _ascii_json(text)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        raise _stdout_error(exc) from None


def _check_output(output: Path | None, *inputs: Path | None) -> None:
    """Refuse an unwritable -o, or one naming an input, before doing any work (planning can take a while)."""
    for p in inputs:
        if p is not None:
            files.note_input(p)
    if output is not None:
        files.check_output_path(output)


def _print_version(value: bool) -> None:
    if value:
        from planner.version import version_lines

        sys.stdout.write("\n".join(version_lines()) + "\n")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print gpuplan's, the catalog's and the solvers' versions.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    _state["debug"] = debug


_FORMAT = typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
FormatOpt = Annotated[Fmt, _FORMAT]
ReportFormatOpt = Annotated[ReportFmt, _FORMAT]
EstimateFormatOpt = Annotated[EstimateFmt, _FORMAT]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write to FILE instead of stdout ('-': stdout). Atomic for regular files; never over a file the "
        "run reads; links are followed and modes kept.",
    ),
]
AllowPathOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-path",
        help="Let paths in the spec point into DIR too (by default only into the spec's folder). Repeatable.",
    ),
]


def _range(
    flag: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    integer: bool = False,
) -> Any:
    """A flag's physically meaningful range (planner.bounds), checked when it is read: a usage error
    (exit 2) names the flag, the range and the value; NaN and infinities are never in range."""

    def check(value: float | None) -> float | None:
        if value is None or bounds.in_range(value, gt=gt, ge=ge, le=le):
            return value
        kind = "an integer" if integer else bounds.describe(gt=gt, ge=ge, le=le)
        if integer:
            kind += " " + bounds.describe(gt=gt, ge=ge, le=le).removeprefix("a finite number ")
        raise typer.BadParameter(f"must be {kind}")  # main() adds the value as typed

    return check


def _allow(folders: list[Path] | None) -> None:
    files.allow_folders(folders or ())


@app.command()
def plan(
    spec: Annotated[Path, typer.Argument(help="The YAML spec.")],
    fmt: ReportFormatOpt = ReportFmt.table,
    output: OutputOpt = None,
    solver: Annotated[str | None, typer.Option("--solver", help="highs (default) or cbc.")] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            callback=_range("--time-limit", gt=0, le=bounds.MAX_SECONDS),
            help="Solver time limit, seconds.",
        ),
    ] = None,
    catalog: Annotated[list[Path] | None, typer.Option("--catalog", help="Catalog overlay file(s).")] = None,
    allow_path: AllowPathOpt = None,
) -> None:
    """Plan the cheapest fleet for SPEC."""
    from planner.commands.plan import execute

    _state.update(command="plan", json=fmt.value == "json")
    _allow(allow_path)
    _check_output(output, spec, *(catalog or ()))
    _emit(execute(spec, solver=solver, time_limit_s=time_limit, overlays=tuple(catalog or ())), fmt.value, output)


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="The YAML spec.")],
    catalog: Annotated[list[Path] | None, typer.Option("--catalog", help="Catalog overlay file(s).")] = None,
    allow_path: AllowPathOpt = None,
) -> None:
    """Check SPEC (syntax, fields, catalog ids, workload files) without planning."""
    from planner.commands.validate import execute

    _state.update(command="validate")
    _allow(allow_path)
    _emit(execute(spec, overlays=tuple(catalog or ())), "table", None)


@app.command()
def estimate(
    model: Annotated[str, typer.Option("--model", help="Catalog model id or a HF config.json path.")],
    gpu: Annotated[str, typer.Option("--gpu", help="Catalog GPU id.")],
    input_len: Annotated[
        int,
        typer.Option(
            "--input-len",
            callback=_range("--input-len", ge=1, le=bounds.MAX_TOKENS, integer=True),
            help="Prompt tokens.",
        ),
    ],
    output_len: Annotated[
        int,
        typer.Option(
            "--output-len",
            callback=_range("--output-len", ge=1, le=bounds.MAX_TOKENS, integer=True),
            help="Generated tokens.",
        ),
    ],
    tp: Annotated[
        int,
        typer.Option(
            "--tp", callback=_range("--tp", ge=1, le=bounds.MAX_TP, integer=True), help="Tensor-parallel degree."
        ),
    ] = 1,
    weights: Annotated[str, typer.Option("--weights", help="bf16|fp16|fp8|int8|int4|fp4")] = "bf16",
    kv: Annotated[str, typer.Option("--kv", help="bf16|fp16|fp8")] = "bf16",
    concurrency: Annotated[str | None, typer.Option("--concurrency", help="Closed loop: N or 'max'.")] = None,
    rate: Annotated[
        float | None,
        typer.Option(
            "--rate", callback=_range("--rate", gt=0, le=bounds.MAX_RATE_RPS), help="Open loop arrival rate, req/s."
        ),
    ] = None,
    engine: Annotated[str, typer.Option("--engine", help="vllm|trtllm|sglang")] = "vllm",
    gpu_memory_utilization: Annotated[
        float,
        typer.Option(
            "--gpu-memory-utilization",
            callback=_range("--gpu-memory-utilization", gt=0, le=1),
            help="The engine's memory knob: vLLM gpu_memory_utilization (share of all memory), SGLang "
            "mem_fraction_static (share for weights + KV), TensorRT-LLM kv_cache_free_gpu_memory_fraction "
            "(share of memory left after weights).",
        ),
    ] = 0.9,
    max_model_len: Annotated[
        int | None,
        typer.Option(
            "--max-model-len",
            callback=_range("--max-model-len", ge=1, le=bounds.MAX_TOKENS, integer=True),
            help="Context window the engine is told (default: the model's).",
        ),
    ] = None,
    ep: Annotated[
        int,
        typer.Option(
            "--ep",
            callback=_range("--ep", ge=1, le=bounds.MAX_TP, integer=True),
            help="Expert-parallel ranks (MoE), dividing --tp.",
        ),
    ] = 1,
    dp_attention: Annotated[
        bool, typer.Option("--dp-attention", help="Data-parallel attention: each request's KV on one GPU.")
    ] = False,
    pp: Annotated[int, typer.Option("--pp", help="Pipeline stages, one instance each (tp GPUs per stage).")] = 1,
    disagg: Annotated[
        str | None,
        typer.Option(
            "--disagg",
            help="PREFILL_GPU:TP,DECODE_GPU:TP: a disaggregated pair (prefill replica, decode replica, KV "
            "transfer between their instances); --rate is per replica.",
        ),
    ] = None,
    offering: Annotated[
        str | None,
        typer.Option(
            "--offering",
            help="Instance type (offering id) whose GPUs per instance and network a replica spanning instances, "
            "or a --disagg prefill replica, uses (default: the catalog's first with a known network).",
        ),
    ] = None,
    decode_offering: Annotated[
        str | None, typer.Option("--decode-offering", help="--disagg: the decode replica's offering.")
    ] = None,
    fmt: EstimateFormatOpt = EstimateFmt.table,
    output: OutputOpt = None,
    catalog: Annotated[list[Path] | None, typer.Option("--catalog", help="Catalog overlay file(s).")] = None,
) -> None:
    """Estimate latency, throughput and memory of one model on one GPU type."""
    from planner.commands.estimate import execute

    _state.update(command="estimate", json=fmt.value == "json")
    _check_output(output, Path(model), *(catalog or ()))
    outcome = execute(
        model=model,
        gpu=gpu,
        tp=tp,
        weights=weights,
        kv=kv,
        input_len=input_len,
        output_len=output_len,
        concurrency=concurrency,
        rate_rps=rate,
        engine=engine,
        gpu_memory_utilization=gpu_memory_utilization,
        max_model_len=max_model_len,
        ep=ep,
        dp_attention=dp_attention,
        pp=pp,
        disagg=disagg,
        offering=offering,
        decode_offering=decode_offering,
        overlays=tuple(catalog or ()),
    )
    _emit(outcome, fmt.value, output)


@app.command()
def place(
    model: Annotated[str, typer.Option("--model", help="Catalog model id or a HF config.json path.")],
    gpu: Annotated[str, typer.Option("--gpu", help="Catalog GPU id.")],
    input_len: Annotated[
        int, typer.Option("--input-len", callback=_range("--input-len", ge=1, le=bounds.MAX_TOKENS, integer=True))
    ],
    output_len: Annotated[
        int, typer.Option("--output-len", callback=_range("--output-len", ge=1, le=bounds.MAX_TOKENS, integer=True))
    ],
    cpu_mem_gb: Annotated[
        float | None,
        typer.Option(
            "--cpu-mem-gb", callback=_range("--cpu-mem-gb", ge=0, le=bounds.MAX_MEMORY_GB), help="Host RAM, GB."
        ),
    ] = None,
    disk_gb: Annotated[
        float | None,
        typer.Option(
            "--disk-gb",
            callback=_range("--disk-gb", ge=0, le=bounds.MAX_MEMORY_GB),
            help="Host disk for offloading, GB.",
        ),
    ] = None,
    host_profile: Annotated[str | None, typer.Option("--host-profile", help="Catalog host profile id.")] = None,
    weights: Annotated[str, typer.Option("--weights", help="bf16|fp16|int4 (group-wise)")] = "fp16",
    kv: Annotated[str, typer.Option("--kv", help="bf16|fp16|int4 (group-wise)")] = "fp16",
    max_latency_s: Annotated[
        float | None, typer.Option("--max-latency-s", callback=_range("--max-latency-s", gt=0, le=bounds.MAX_SECONDS))
    ] = None,
    fmt: ReportFormatOpt = ReportFmt.table,
    output: OutputOpt = None,
    catalog: Annotated[list[Path] | None, typer.Option("--catalog", help="Catalog overlay file(s).")] = None,
) -> None:
    """Find the best offloading placement (GPU/CPU/disk) for a model that does not fit one GPU."""
    from planner.commands.place import execute

    _state.update(command="place", json=fmt.value == "json")
    _check_output(output, Path(model), *(catalog or ()))
    outcome = execute(
        model=model,
        gpu=gpu,
        input_len=input_len,
        output_len=output_len,
        cpu_mem_gb=cpu_mem_gb,
        disk_gb=disk_gb,
        host_profile=host_profile,
        weights=weights,
        kv=kv,
        max_latency_s=max_latency_s,
        overlays=tuple(catalog or ()),
    )
    _emit(outcome, fmt.value, output)


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
    catalog: Annotated[list[Path] | None, typer.Option("--catalog", help="Catalog overlay file(s).")] = None,
    allow_path: AllowPathOpt = None,
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
    catalog: Annotated[list[Path] | None, typer.Option("--catalog", help="Catalog overlay file(s).")] = None,
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
        files.write_output(path, f.text)
    err = report_console(stderr=True, highlight=False, soft_wrap=True)
    for line in summary_lines(result, str(output)):
        err.print(line)
    if fmt == ExportFmt.json:
        sys.stdout.write(to_json(envelope(outcome)))


@import_app.command("melange")
def import_melange(
    input_json: Annotated[Path, typer.Argument(metavar="INPUT.json", help="A Mélange input JSON.")],
    output: OutputOpt = None,
) -> None:
    """Turn a Mélange input into a native gpuplan spec (YAML)."""
    from planner.commands.import_melange import execute

    _state.update(command="import melange")
    _check_output(output, input_json)
    _emit(execute(input_json), "yaml", output)


def _catalog_cmd(kind: str, fmt: Fmt, filters: dict[str, Any], overlays: list[Path] | None) -> None:
    from planner.commands.catalog import execute

    _state.update(command=f"catalog {kind}", json=fmt.value == "json")
    _emit(execute(kind, filters, overlays=tuple(overlays or ())), fmt.value, None)


CatalogOverlay = Annotated[list[Path] | None, typer.Option("--catalog", help="Catalog overlay file(s).")]


@catalog_app.command("gpus")
def catalog_gpus(
    vendor: Annotated[str | None, typer.Option("--vendor")] = None,
    min_memory_gb: Annotated[
        float | None, typer.Option("--min-memory-gb", callback=_range("--min-memory-gb", ge=0, le=bounds.MAX_MEMORY_GB))
    ] = None,
    family: Annotated[str | None, typer.Option("--family", help="e.g. hopper, ampere, cdna3")] = None,
    fmt: FormatOpt = Fmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """List GPUs."""
    _catalog_cmd("gpus", fmt, {"vendor": vendor, "min_memory_gb": min_memory_gb, "family": family}, catalog)


@catalog_app.command("offerings")
def catalog_offerings(
    gpu: Annotated[str | None, typer.Option("--gpu")] = None,
    cloud: Annotated[str | None, typer.Option("--cloud")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
    max_price: Annotated[
        float | None,
        typer.Option(
            "--max-price",
            callback=_range("--max-price", ge=0, le=bounds.MAX_PRICE_USD_PER_HOUR),
            help="$/h per instance",
        ),
    ] = None,
    min_memory_gb: Annotated[
        float | None,
        typer.Option(
            "--min-memory-gb",
            callback=_range("--min-memory-gb", ge=0, le=bounds.MAX_MEMORY_GB),
            help="GPU memory per GPU",
        ),
    ] = None,
    fmt: FormatOpt = Fmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """List offerings (instances and prices)."""
    filters = {"gpu": gpu, "cloud": cloud, "region": region, "max_price": max_price, "min_memory_gb": min_memory_gb}
    _catalog_cmd("offerings", fmt, filters, catalog)


@catalog_app.command("models")
def catalog_models(
    family: Annotated[str | None, typer.Option("--family", help="e.g. llama, qwen, mixtral")] = None,
    fmt: FormatOpt = Fmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """List model architectures with derived parameter counts."""
    _catalog_cmd("models", fmt, {"family": family}, catalog)


@catalog_app.command("commitments")
def catalog_commitments(
    cloud: Annotated[str | None, typer.Option("--cloud")] = None,
    gpu: Annotated[str | None, typer.Option("--gpu")] = None,
    term: Annotated[str | None, typer.Option("--term", help="1y or 3y")] = None,
    min_confidence: Annotated[str | None, typer.Option("--min-confidence", help="high, medium or low")] = None,
    fmt: FormatOpt = Fmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """List committed-capacity prices (1-year/3-year reservations, CUDs, capacity blocks)."""
    filters = {"cloud": cloud, "gpu": gpu, "term": term, "min_confidence": min_confidence}
    _catalog_cmd("commitments", fmt, filters, catalog)


@catalog_app.command("refresh")
def catalog_refresh(
    skypilot: Annotated[
        Path, typer.Option("--skypilot", metavar="DIR", help="A SkyPilot catalog copy (v8: <cloud>/vms.csv).")
    ],
    cloud: Annotated[list[str] | None, typer.Option("--cloud", help="Only this cloud (repeatable).")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Date of the prices (default: each file's modification date).")
    ] = None,
    write: Annotated[
        Path | None, typer.Option("--write", metavar="FILE", help="Save the offerings as a catalog overlay.")
    ] = None,
    fmt: ReportFormatOpt = ReportFmt.table,
    catalog: CatalogOverlay = None,
) -> None:
    """Rebuild offerings from a SkyPilot catalog copy and show what changed."""
    from planner.commands.catalog_refresh import execute

    _state.update(command="catalog refresh", json=fmt.value == "json")
    for path in catalog or ():
        files.note_input(path)
    if write is not None:
        files.check_output_path(write, "--write")
    outcome = execute(skypilot, tuple(cloud or ()), as_of, write, overlays=tuple(catalog or ()))
    _emit(outcome, fmt.value, None)


@app.command("schema")
def schema(
    command: Annotated[
        list[str],
        typer.Argument(
            metavar="COMMAND",
            help="plan, estimate, place, sweep, check, simulate, export, or "
            "catalog gpus|offerings|models|commitments|refresh.",
        ),
    ],
) -> None:
    """Print the JSON Schema of `gpuplan COMMAND --format json`."""
    from planner.commands.schema import execute

    name = " ".join(command)
    _state.update(command=f"schema {name}")
    _emit(execute(name), "json-schema", None)


def _flag_value(opts: Sequence[str], argv: Sequence[str] | None = None) -> str | None:
    """The value given on the command line for a flag with these spellings (`--x V` or `--x=V`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(opt + "="):
                return arg[len(opt) + 1 :]
    return None


def _say_error(text: str) -> None:
    """One message on stderr; user text inside is escaped, never read as markup."""
    with contextlib.suppress(OSError):  # stderr itself is gone: the exit code is all that is left
        Console(stderr=True, highlight=False, soft_wrap=True, emoji=False).print(text, markup=True)


def _quiet_stdout() -> None:
    """After stdout failed, point it at the null device so the interpreter's final flush cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _prepare_streams() -> None:
    """A stdout/stderr that cannot encode every character (PYTHONIOENCODING=ascii) replaces what it cannot
    show instead of failing; JSON on such a stdout is written with \\u escapes (see _write_stdout)."""
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace")):
        if not _encodes_all(stream) and hasattr(stream, "reconfigure"):
            with contextlib.suppress(ValueError, io.UnsupportedOperation):
                stream.reconfigure(errors=errors)


def main() -> None:
    """Console entry point: run the app, turning every GpuplanError into a clean message and exit code.

    Each run gets a fresh record of the files it reads (common.files), one clock for its time limit and
    handlers that turn Ctrl-C and SIGTERM into a prompt stop (common.limits).
    """
    _prepare_streams()
    with files.run_scope(), limits.run_scope(), limits.handle_signals():
        code = _run()
    if limits.abandoned_alive():
        # A solver thread still runs native code that polls no interrupt (HiGHS presolve): the output is
        # already settled (nothing written, temp files removed), so leave now; a normal interpreter exit
        # would wait for it, or abort while destroying it.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _run() -> int:  # noqa: C901 - the one place every way a run can end becomes an exit code
    try:
        code = app(standalone_mode=False)  # click returns (not raises) an Exit's code in this mode
        sys.stdout.flush()
        return code if isinstance(code, int) else 0
    except limits.Interrupted as stop:
        _say_error(f"[bold red]interrupted[/] by {escape(str(stop))}: stopped; no output written")
        return stop.exit_code
    except GpuplanError as err:
        if isinstance(err, _StdoutError):
            _quiet_stdout()
            if err.errno == 32:  # EPIPE: the reader went away (`| head`); say nothing, as a SIGPIPE would
                return 141
        elif _state["json"]:
            try:
                _write_stdout(to_json(error_envelope(_state["command"], err.render())), is_json=True)
            except _StdoutError:
                _quiet_stdout()
        if _state["debug"]:
            traceback.print_exc()
        _say_error(f"[bold red]error:[/] {escape(err.render())}")
        return err.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return 130
    except OSError as exc:
        if exc.errno in (28, 32) and exc.filename is None:  # a flush of stdout at the very end
            _quiet_stdout()
            if exc.errno == 32:
                return 141
            _say_error(f"[bold red]error:[/] stdout: cannot write the output: {escape(exc.strerror or str(exc))}")
            return 2
        return _internal(exc)
    except Exception as exc:  # click usage errors and anything unforeseen
        try:
            from click import exceptions as click_exc
        except ModuleNotFoundError:  # newer typer vendors click as typer._click
            from typer._click import exceptions as click_exc  # type: ignore[no-redef,unused-ignore]

        if isinstance(exc, click_exc.UsageError):
            if isinstance(exc, click_exc.BadParameter):
                value = _flag_value(getattr(exc.param, "opts", ()) or ())
                if value is not None and value not in exc.message:
                    exc.message += f" (got {value!r})"
            exc.show()
            return 2
        if isinstance(exc, click_exc.ClickException):
            exc.show()
            return int(exc.exit_code)
        return _internal(exc)


def _internal(exc: BaseException) -> int:
    if _state["debug"]:
        traceback.print_exc()
    _say_error(f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))} (rerun with --debug)")
    return 3


if __name__ == "__main__":
    main()
