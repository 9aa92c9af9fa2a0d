"""`gpuplan estimate`: latency, throughput and memory of one model on one GPU type.

Load modes: no flag = one lone request; `--concurrency N` = closed loop with N requests in flight;
`--concurrency max` = the fully loaded offline case (as many requests as the KV cache and the engine
admit); `--rate R` = open loop at R requests/s (saturated when R exceeds what the replica serves).

A configuration that does not fit is status "infeasible" (exit 1, like `plan`) with `fits: false` and a
`reason` naming the numbers. The `long_context` block reports, for a prompt of `--input-len` tokens, the
quantities Fu (2024, "Challenges in Deploying Long-Context Transformers") uses: KV cache per request,
how many such requests fit, prefill seconds, decode ms per token and the seconds to move one request's
KV cache between GPU memory and host memory over PCIe.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from catalog.loader import get_gpu, load_catalog, resolve_model
from catalog.types import Gpu, ModelArch
from planner.errors import InfeasibleError, InputError
from planner.outcome import Outcome
from planner.perf import (
    KV_DTYPES,
    WEIGHT_DTYPES,
    Deployment,
    MemoryBreakdown,
    engine_profile,
    memory_breakdown,
    predict,
)
from planner.perf.memory import kv_tokens_per_request
from planner.perf.precision import resolve_precision
from planner.perf.profiles import is_calibrated
from planner.perf.roofline import coefficients, decode_step_s, prefill_alone_s


def _parse_concurrency(value: str | None) -> int | Literal["max"] | None:
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


def _finite(x: float, digits: int = 3) -> float | None:
    return round(x, digits) if math.isfinite(x) else None


def _memory_data(mem: MemoryBreakdown, gpu: Gpu, util: float) -> dict[str, Any]:
    return {
        "gpu_memory_gb": gpu.memory_gb,
        "gpu_memory_bytes": gpu.device_memory_bytes,
        "device_gb_per_gpu": round(mem.device_gb_per_gpu, 3),
        "gpu_memory_utilization": util,
        "memory_semantics": mem.semantics,
        "usable_gb_per_gpu": round(mem.usable_gb_per_gpu, 3),
        "weights_gb": round(mem.weights_gb, 3),
        "weights_gb_total": round(mem.weights_gb_total, 3),
        "activation_gb": round(mem.activation_gb, 3),
        "runtime_reserve_gb": round(mem.reserve_gb, 3),
        "free_for_kv_gb": round(mem.free_for_kv_gb, 3),
        "free_for_kv_gb_per_gpu": round(mem.free_for_kv_gb_per_gpu, 3),
        "kv_mb_per_token": round(mem.kv_gb_per_token * 1e3, 6),
        "kv_gb_per_request": round(mem.kv_gb_per_request, 4),
        "max_tokens_in_kv": mem.max_tokens_in_kv,
    }


def _long_context(dep: Deployment, input_len: int) -> dict[str, Any]:
    """Fu (2024)'s view of one long prompt: KV size, concurrency, prefill, decode and HBM<->host swap."""
    c = coefficients(dep)
    mem = memory_breakdown(dep, input_len)
    kv_gb = mem.kv_gb_per_request
    fit = mem.max_requests
    per_gpu_bytes = kv_tokens_per_request(dep.model, input_len) * c.kv_bytes_per_token
    return {
        "context_tokens": input_len,
        "kv_gb_per_request": round(kv_gb, 4),
        "requests_that_fit": int(fit),
        "prefill_s": round(float(prefill_alone_s(c, input_len)), 4),
        "decode_ms_per_token": round(float(decode_step_s(c, 1, input_len)) * 1e3, 3),
        "decode_ms_per_step_at_full_kv": round(float(decode_step_s(c, max(fit, 1), input_len)) * 1e3, 3)
        if fit
        else None,
        # each GPU moves its shard over its own host link, in parallel
        "kv_swap_s_per_request": round(per_gpu_bytes / (dep.gpu.pcie_gbps * 1e9), 4),
        "pcie_gbps": dep.gpu.pcie_gbps,
    }


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
    profile = engine_profile(catalog, engine.lower(), g, "--engine")
    prec = resolve_precision(g, profile.engine, weights, kv)
    if not prec.supported:
        where = "--engine" if "does not run" in prec.reason else ("--kv" if "KV" in prec.reason else "--weights")
        raise InputError(prec.reason, where=where)
    weights, kv = prec.weights, prec.kv
    dep = Deployment(arch, g, tp, weights, kv, profile, gpu_memory_utilization, max_model_len)
    mem = memory_breakdown(dep, input_len + output_len)
    load: dict[str, Any] = {
        "mode": "rate" if rate_rps is not None else ("max" if conc == "max" else ("concurrency" if conc else "lone")),
        "concurrency": conc if isinstance(conc, int) else None,
        "rate_rps": rate_rps,
    }
    data: dict[str, Any] = {
        "model": arch.id,
        "gpu": g.id,
        "tp": tp,
        "gpus": tp,
        "weights": weights,
        "kv": kv,
        "engine": profile.engine,
        "engine_profile": {"family": profile.family, "calibrated": is_calibrated(profile), "fit": profile.fit},
        "precision": {"gemm_dtype": prec.gemm_dtype, "weight_only": prec.weight_only, "substituted": list(prec.notes)},
        "max_model_len": dep.context_window,
        "input_len": input_len,
        "output_len": output_len,
        "load": load,
        "fits": mem.fits,
        "reason": mem.reason,
    }
    perf: dict[str, Any] = dict.fromkeys(
        (
            "ttft_ms",
            "tpot_ms",
            "e2e_latency_ms",
            "output_tokens_per_s",
            "output_tokens_per_s_per_gpu",
            "requests_per_s",
            "concurrency",
            "max_concurrency",
            "admission_limit",
            "kv_limited",
            "saturated",
            "prefill_share",
            "decode_step_ms",
            "prefill_ms",
        )
    )
    long_ctx: dict[str, Any] | None = None
    if mem.fits:
        try:
            point = predict(dep, input_len, output_len, rate_rps=rate_rps, concurrency=conc)
        except InfeasibleError as err:  # e.g. no room for one full-length request
            data.update(fits=False, reason=err.message)
        else:
            perf = {
                "ttft_ms": _finite(point.ttft_ms),
                "tpot_ms": _finite(point.tpot_ms),
                "e2e_latency_ms": _finite(point.e2e_ms),
                "output_tokens_per_s": round(point.output_tokens_per_s, 3),
                "output_tokens_per_s_per_gpu": round(point.output_tokens_per_s / tp, 3),
                "requests_per_s": round(point.requests_per_s, 5),
                "concurrency": round(point.concurrency, 3),
                "max_concurrency": point.max_concurrency,
                "admission_limit": int(point.admission_limit),
                "kv_limited": point.kv_limited,
                "saturated": point.saturated,
                "prefill_share": round(point.prefill_share, 4),
                "decode_step_ms": round(point.decode_step_ms, 3),
                "prefill_ms": round(point.prefill_ms, 3),
            }
            long_ctx = _long_context(dep, input_len)
    data.update(perf)
    data["memory"] = _memory_data(mem, g, gpu_memory_utilization)
    data["long_context"] = long_ctx
    fits = bool(data["fits"])
    return Outcome(
        command="estimate",
        status="ok" if fits else "infeasible",
        data=data,
        renderers={"table": lambda: _render(data)},
        exit_code=0 if fits else 1,
        errors=() if fits else (str(data["reason"]),),
    )


def _fmt(value: Any, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.{digits}f}{unit}"
    return f"{value}{unit}"


def _render(data: Mapping[str, Any]) -> Group:
    title = (
        f"{data['model']} on {data['tp']} x {data['gpu']} (tp {data['tp']}, {data['weights']} weights, "
        f"{data['kv']} KV, {data['engine']}), {data['input_len']} in / {data['output_len']} out"
    )
    load = data["load"]
    load_txt = {
        "lone": "one request",
        "max": "max concurrency (offline)",
        "concurrency": f"closed loop, {load['concurrency']} in flight",
        "rate": f"open loop, {load['rate_rps']} req/s",
    }[load["mode"]]
    parts: list[Any] = [Text(title, style="bold"), Text(f"load: {load_txt}")]
    parts.extend(Text(f"substituted: {note}", style="yellow") for note in data["precision"]["substituted"])
    if not data["fits"]:
        parts.append(Text(f"does not fit: {data['reason']}", style="bold red"))
    else:
        t = Table(box=box.SIMPLE, show_header=True)
        t.add_column("latency / throughput")
        t.add_column("value", justify="right")
        ttft = _fmt(data["ttft_ms"], " ms") if not data["saturated"] else "unbounded (saturated)"
        for label, value in (
            ("TTFT", ttft),
            ("TPOT", _fmt(data["tpot_ms"], " ms", 2)),
            ("end-to-end latency", _fmt(data["e2e_latency_ms"], " ms") if not data["saturated"] else "unbounded"),
            ("output tokens/s (replica)", _fmt(data["output_tokens_per_s"])),
            ("output tokens/s per GPU", _fmt(data["output_tokens_per_s_per_gpu"])),
            ("requests/s", _fmt(data["requests_per_s"], "", 3)),
            ("requests in flight", _fmt(data["concurrency"])),
            ("max concurrency (KV-limited, full length)", _fmt(data["max_concurrency"])),
            ("KV cache limits the load", _fmt(data["kv_limited"])),
            ("prefill share of time", _fmt(data["prefill_share"] * 100, " %")),
        ):
            t.add_row(label, value)
        parts.append(t)
    m = data["memory"]
    mt = Table(box=box.SIMPLE, show_header=True)
    mt.add_column("memory")
    mt.add_column("GB", justify="right")
    for label, key in (
        ("usable per GPU (memory x utilisation)", "usable_gb_per_gpu"),
        ("weights per GPU", "weights_gb"),
        ("activations per GPU", "activation_gb"),
        ("runtime reserve per GPU", "runtime_reserve_gb"),
        ("free for KV cache (replica)", "free_for_kv_gb"),
        ("KV cache per request (input + output)", "kv_gb_per_request"),
    ):
        mt.add_row(label, _fmt(m[key], "", 2))
    mt.add_row("KV tokens that fit (replica)", f"{m['max_tokens_in_kv']:,}")
    parts.append(mt)
    lc = data.get("long_context")
    if lc:
        lt = Table(box=box.SIMPLE, show_header=True)
        lt.add_column(f"long context ({lc['context_tokens']:,}-token prompt)")
        lt.add_column("value", justify="right")
        lt.add_row("KV cache per request", _fmt(lc["kv_gb_per_request"], " GB", 2))
        lt.add_row("such requests that fit", _fmt(lc["requests_that_fit"]))
        lt.add_row("prefill", _fmt(lc["prefill_s"], " s", 3))
        lt.add_row("decode per token (alone)", _fmt(lc["decode_ms_per_token"], " ms", 2))
        lt.add_row("KV swap HBM <-> host (PCIe)", _fmt(lc["kv_swap_s_per_request"], " s", 3))
        parts.append(lt)
    cal = data["engine_profile"]
    parts.append(
        Text(
            f"engine factors: {data['engine']}/{cal['family']} "
            f"({'calibrated' if cal['calibrated'] else 'fallback, not calibrated'})",
            style="dim",
        )
    )
    return Group(*parts)
