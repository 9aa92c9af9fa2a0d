"""`gpuplan plan`, `schedule`, `validate`, `estimate` and `place`: a fleet for a spec (for one rate, or
over its periods), or one model on one GPU.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from planner import bounds
from planner.cli.app import (
    AllowPathOpt,
    CatalogOverlay,
    EstimateFmt,
    EstimateFormatOpt,
    OutputOpt,
    ReportFmt,
    ReportFormatOpt,
    _allow,
    _check_output,
    _emit,
    _range,
    _state,
    app,
)
from planner.errors import InputError


@app.command()
def plan(
    spec: Annotated[Path | None, typer.Argument(help="The YAML spec.", show_default=False)] = None,
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
    catalog: CatalogOverlay = None,
    allow_path: AllowPathOpt = None,
    melange: Annotated[
        Path | None,
        typer.Option(
            "--melange",
            metavar="<path>",
            help="Plan a Mélange input JSON directly (instead of SPEC; the spec `import melange` would write).",
        ),
    ] = None,
) -> None:
    """Plan the cheapest fleet for SPEC (or for a Mélange input, --melange)."""
    from planner.commands.plan import execute, execute_melange

    _state.update(command="plan", json=fmt.value == "json")
    if (spec is None) == (melange is None):
        problem = "give a SPEC or --melange INPUT.json, not both" if spec else "missing SPEC (or --melange INPUT.json)"
        raise InputError(problem, where="plan")
    if melange is not None and (catalog or allow_path):
        raise InputError("--catalog and --allow-path apply to a SPEC, not to --melange", where="--melange")
    _allow(allow_path)
    _check_output(output, spec or melange, *(catalog or ()))
    if melange is not None:
        _emit(execute_melange(melange, solver=solver, time_limit_s=time_limit), fmt.value, output)
        return
    assert spec is not None  # noqa: S101 - narrowed by the check above
    _emit(execute(spec, solver=solver, time_limit_s=time_limit, overlays=tuple(catalog or ())), fmt.value, output)


@app.command()
def schedule(
    spec: Annotated[Path, typer.Argument(help="The YAML spec (workload.rate_curve gives the periods).")],
    fmt: ReportFormatOpt = ReportFmt.table,
    output: OutputOpt = None,
    solver: Annotated[str | None, typer.Option("--solver", help="highs (default) or cbc.")] = None,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            callback=_range("--time-limit", gt=0, le=bounds.MAX_SECONDS),
            help="Time limit for the whole run (the plan and both baselines), seconds.",
        ),
    ] = None,
    catalog: Annotated[list[Path] | None, typer.Option("--catalog", help="Catalog overlay file(s).")] = None,
    allow_path: AllowPathOpt = None,
) -> None:
    """Plan SPEC over its periods: what to commit, the fleet per period, against two baselines."""
    from planner.commands.schedule import execute

    _state.update(command="schedule", json=fmt.value == "json")
    _allow(allow_path)
    _check_output(output, spec, *(catalog or ()))
    _emit(execute(spec, solver=solver, time_limit_s=time_limit, overlays=tuple(catalog or ())), fmt.value, output)


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="The YAML spec.")],
    catalog: CatalogOverlay = None,
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
            "transfer between their instances); TPxPP makes a side PP pipeline stages of TP GPUs, one instance "
            "each (e.g. h100-sxm:8x2,h100-sxm:8x2); --rate is per replica.",
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
    catalog: CatalogOverlay = None,
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
    catalog: CatalogOverlay = None,
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
