"""`gpuplan estimate`: check the flags, resolve catalog ids, and estimate (planner.estimate).

Load flags: none = one lone request; `--concurrency N` = closed loop with N requests in flight;
`--concurrency max` = the fully loaded offline case; `--rate R` = open loop at R requests/s.
A configuration that does not fit is status "infeasible" (exit 1, like `plan`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

from catalog.loader import get_gpu, load_catalog, resolve_model
from catalog.types import Catalog, Gpu, ModelArch
from planner.commands.flags import spelled_as_flags
from planner.errors import InputError
from planner.estimate import Concurrency, EstimateResult, estimate
from planner.estimate_shapes import estimate_disagg, estimate_pipeline, estimate_spanning, parse_disagg
from planner.outcome import Outcome
from planner.perf import KV_DTYPES, WEIGHT_DTYPES, Deployment, engine_profile
from planner.perf.precision import Precision, resolve_precision


def _parse_concurrency(value: str | None) -> Concurrency:
    if value is None:
        return None
    text = value.strip().lower()
    if text == "max":
        return "max"
    try:
        n = int(text)
    except ValueError:
        raise InputError(f"must be a positive integer or 'max', got {value!r}", where="--concurrency") from None
    if n < 1:
        raise InputError(f"must be a positive integer or 'max', got {value!r}", where="--concurrency")
    return n


def _check_inputs(
    model: ModelArch,
    tp: int,
    weights: str,
    kv: str,
    input_len: int,
    output_len: int,
    rate_rps: float | None,
    concurrency: str | None,
    gpu_memory_utilization: float,
    max_model_len: int | None,
) -> None:
    if input_len < 1:
        raise InputError(f"must be >= 1 token, got {input_len}", where="--input-len")
    if output_len < 1:
        raise InputError(f"must be >= 1 token, got {output_len}", where="--output-len")
    if tp < 1:
        raise InputError(f"must be >= 1, got {tp}", where="--tp")
    if weights not in WEIGHT_DTYPES:
        raise InputError(f"unknown weights dtype {weights!r}; valid: {', '.join(WEIGHT_DTYPES)}", where="--weights")
    if kv not in KV_DTYPES:
        raise InputError(f"unknown kv dtype {kv!r}; valid: {', '.join(KV_DTYPES)}", where="--kv")
    if rate_rps is not None and concurrency is not None:
        raise InputError("give --rate (open loop) or --concurrency (closed loop), not both", where="--rate")
    if rate_rps is not None and not (rate_rps > 0 and math.isfinite(rate_rps)):
        raise InputError(f"must be a positive number of requests/s, got {rate_rps}", where="--rate")
    if not (0 < gpu_memory_utilization <= 1):
        raise InputError(f"must be in (0, 1], got {gpu_memory_utilization}", where="--gpu-memory-utilization")
    if max_model_len is not None and max_model_len < 1:
        raise InputError(f"must be >= 1 token, got {max_model_len}", where="--max-model-len")
    window = max_model_len if max_model_len is not None else model.max_position
    # the last output token is sampled, never stored: I + O tokens occupy I + O - 1 positions
    if input_len + output_len - 1 > window:
        raise InputError(
            f"{input_len} input + {output_len} output tokens need {input_len + output_len - 1} positions; "
            f"{model.id}'s context window is {window} tokens"
            + ("" if max_model_len is not None else " (an engine told a longer one: --max-model-len)"),
            where="--input-len",
        )


@spelled_as_flags
def execute(
    *,
    model: str,
    gpu: str,
    tp: int,
    weights: str,
    kv: str,
    input_len: int,
    output_len: int,
    concurrency: str | None,
    rate_rps: float | None,
    engine: str,
    gpu_memory_utilization: float,
    max_model_len: int | None = None,
    ep: int = 1,
    dp_attention: bool = False,
    pp: int = 1,
    disagg: str | None = None,
    offering: str | None = None,
    decode_offering: str | None = None,
    overlays: tuple[Path, ...] = (),
) -> Outcome:
    """Estimate one (model, GPU, tp, precision, engine) replica at one load."""
    catalog = load_catalog(overlays=overlays)
    arch = resolve_model(catalog, model, "--model")
    g = get_gpu(catalog, gpu, "--gpu")
    weights, kv = weights.lower(), kv.lower()
    _check_inputs(
        arch, tp, weights, kv, input_len, output_len, rate_rps, concurrency, gpu_memory_utilization, max_model_len
    )
    conc = _parse_concurrency(concurrency)
    if ep < 1:
        raise InputError(f"must be >= 1, got {ep}", where="--ep")
    if ep > 1 and not arch.is_moe:
        raise InputError(f"expert parallelism needs a mixture-of-experts model; {arch.id} is dense", where="--ep")
    if ep > 1 and (ep > tp or tp % ep):
        raise InputError(f"must divide the replica's GPUs (--tp {tp}); valid: 1..{tp} dividing {tp}", where="--ep")
    profile = engine_profile(catalog, engine.lower(), g, "--engine")
    prec = resolve_precision(g, profile.engine, weights, kv)
    if not prec.supported:
        where = "--engine" if "does not run" in prec.reason else ("--kv" if "KV" in prec.reason else "--weights")
        raise InputError(prec.reason, where=where)
    weights, kv = prec.weights, prec.kv
    dep = Deployment(
        arch, g, tp, weights, kv, profile, gpu_memory_utilization, max_model_len, ep=ep, dp_attention=dp_attention
    )
    if pp < 1:
        raise InputError(f"must be >= 1, got {pp}", where="--pp")
    if disagg is not None:
        result = _disagg(catalog, arch, dep, prec, disagg, offering, decode_offering, input_len, output_len, rate_rps)
        if concurrency is not None:
            raise InputError("--disagg takes --rate (per replica) or no load (one request)", where="--concurrency")
    elif pp > 1:
        if concurrency is not None:
            raise InputError("--pp takes --rate (open loop) or no load (one request)", where="--concurrency")
        result = estimate_pipeline(catalog, dep, prec, pp, input_len, output_len, offering, rate_rps=rate_rps)
    elif offering is not None or (tp > max_gpus_per_instance(catalog, g) and networked(catalog, g)):
        result = estimate_spanning(
            catalog, dep, prec, input_len, output_len, offering, concurrency=conc, rate_rps=rate_rps
        )
    else:
        result = estimate(dep, prec, input_len, output_len, concurrency=conc, rate_rps=rate_rps)
    if not result.fits and result.reason.startswith(("tp ", "ep ")):
        # a shape the model cannot be split into (planner.perf.memory): a bad flag (exit 2), not "does not fit"
        raise InputError(result.reason, where="--ep" if result.reason.startswith("ep ") else "--tp")
    return Outcome(
        command="estimate",
        status="ok" if result.fits else "infeasible",
        data=result,
        renderers={"table": lambda: _table(result)},
        exit_code=0 if result.fits else 1,
        errors=() if result.fits else (result.reason,),
    )


def networked(catalog: Catalog, gpu: Gpu) -> bool:
    """Some offering of this GPU has a known network between instances (else a tp beyond one instance is
    estimated as one hypothetical instance of that many GPUs)."""
    return any(o.gpu == gpu.id and catalog.network(o) is not None for o in catalog.offerings.values())


def max_gpus_per_instance(catalog: Catalog, gpu: Gpu) -> int:
    """The most GPUs of this type one catalog instance has (a larger tp spans instances)."""
    return max((o.gpus_per_instance for o in catalog.offerings.values() if o.gpu == gpu.id), default=8)


def _disagg(
    catalog: Catalog,
    arch: ModelArch,
    dep: Deployment,
    prec: Precision,
    value: str,
    offering: str | None,
    decode_offering: str | None,
    input_len: int,
    output_len: int,
    rate_rps: float | None,
) -> EstimateResult:
    """--disagg: the prefill replica is the one --gpu/--tp would give, with the GPU and tp of the flag."""
    (p_gpu, p_tp, p_pp), (d_gpu, d_tp, d_pp) = parse_disagg(value)
    replicas = []
    for gpu_id, tp_ in ((p_gpu, p_tp), (d_gpu, d_tp)):
        g = get_gpu(catalog, gpu_id, "--disagg")
        profile = engine_profile(catalog, dep.engine.engine, g, "--engine")
        p = resolve_precision(g, profile.engine, dep.weights, dep.kv)
        if not p.supported:
            raise InputError(p.reason, where="--disagg")
        replicas.append(replace(dep, gpu=g, tp=tp_, engine=profile, weights=p.weights, kv=p.kv))
    pre, dec = replicas
    pair = estimate_disagg(
        catalog, pre, dec, offering, decode_offering, input_len, output_len, rate_rps, prefill_pp=p_pp, decode_pp=d_pp
    )
    head = estimate(pre, prec, input_len, output_len, rate_rps=rate_rps)
    fits = pair.prefill.fits and pair.decode.fits
    reason = "; ".join(f"{p.role}: {p.reason}" for p in (pair.prefill, pair.decode) if p.reason)
    o1 = max(output_len - 1, 0)
    return head.model_copy(
        update={
            "gpus": pre.tp * p_pp + dec.tp * d_pp,
            "fits": fits,
            "reason": reason,
            "disaggregated": pair,
            "ttft_ms": pair.ttft_ms,
            "tpot_ms": pair.tpot_ms,
            "e2e_latency_ms": round(pair.ttft_ms + o1 * pair.tpot_ms, 3)
            if pair.ttft_ms is not None and pair.tpot_ms is not None
            else None,
            "long_context": None,
        }
    )


def _table(result: EstimateResult) -> object:
    """The terminal table; rich is loaded only for it (`-f json` answers without it)."""
    from planner.report.estimate_report import render_estimate_table  # noqa: PLC0415 - start-up speed

    return render_estimate_table(result)
