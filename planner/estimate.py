"""One replica of one model on one GPU type at one load: latency, throughput and memory, as a typed result.

Load modes: `concurrency=None, rate_rps=None` = one lone request; an integer concurrency = closed loop with
that many requests in flight; "max" = the fully loaded offline case (as many requests as the KV cache and
the engine admit); a rate = open loop (saturated when it exceeds what the replica serves).

A configuration that does not fit has `fits: false` and a `reason` naming the numbers. The `long_context`
block reports, for a prompt of `input_len` tokens, the quantities Fu (2024, "Challenges in Deploying
Long-Context Transformers") uses: KV cache per request, how many such requests fit, prefill seconds, decode
ms per token and the seconds to move one request's KV cache between GPU memory and host memory over PCIe.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from catalog.types import Gpu
from planner.errors import InfeasibleError
from planner.perf import Deployment, MemoryBreakdown, memory_breakdown, predict
from planner.perf.memory import kv_tokens_per_request
from planner.perf.precision import Precision
from planner.perf.profiles import is_calibrated
from planner.perf.roofline import coefficients, decode_step_s, prefill_alone_s
from planner.perf.uncertainty import LoadLevel, uncertainty

Concurrency = int | Literal["max"] | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EngineProfileInfo(_Frozen):
    family: str
    calibrated: bool
    fit: str


class PrecisionInfo(_Frozen):
    gemm_dtype: str
    weight_only: bool
    substituted: tuple[str, ...]


class Parallelism(_Frozen):
    tp: int
    ep: int
    dp_attention: bool


class UncertaintyInfo(_Frozen):
    """Calibration grade and the cross-validated error band of the estimate's regime."""

    grade: str
    regime: str
    band_regime: str | None
    cv_rows: int
    cv_median_abs_error: float | None
    cv_p90_abs_error: float | None
    throughput_low_factor: float  # measured / estimated throughput at the regime's pessimistic (p90) edge
    why: str


class Load(_Frozen):
    mode: Literal["lone", "max", "concurrency", "rate"]
    concurrency: int | None
    rate_rps: float | None


class MemoryReport(_Frozen):
    gpu_memory_gb: float
    gpu_memory_bytes: int
    device_gb_per_gpu: float
    gpu_memory_utilization: float
    memory_semantics: str
    usable_gb_per_gpu: float
    weights_gb: float
    weights_gb_total: float
    activation_gb: float
    runtime_reserve_gb: float
    free_for_kv_gb: float
    free_for_kv_gb_per_gpu: float
    kv_mb_per_token: float
    kv_gb_per_request: float
    max_tokens_in_kv: int


class LongContext(_Frozen):
    context_tokens: int
    kv_gb_per_request: float
    requests_that_fit: int
    prefill_s: float
    decode_ms_per_token: float
    decode_ms_per_step_at_full_kv: float | None
    kv_swap_s_per_request: float
    pcie_gb_per_s: float


class PoolEstimate(_Frozen):
    """One side of a disaggregated pair."""

    role: Literal["prefill", "decode"]
    gpu: str
    tp: int
    offering: str
    pp: int = 1  # pipeline stages, one instance each
    fits: bool
    reason: str
    max_tokens_in_kv: int
    ttft_ms: float | None = None  # prefill: queueing + prefill + KV transfer
    prefill_ms: float | None = None
    queue_ms: float | None = None
    utilisation: float | None = None  # prefill: share of time busy
    tpot_ms: float | None = None  # decode
    in_flight: float | None = None  # decode
    saturated: bool | None = None


class DisaggEstimate(_Frozen):
    """A prefill replica and a decode replica joined by a KV transfer, at one load."""

    prefill: PoolEstimate
    decode: PoolEstimate
    link: str
    kv_mb_per_request: float
    kv_transfer_ms: float
    ttft_ms: float | None
    tpot_ms: float | None


class EstimateResult(_Frozen):
    """What `gpuplan estimate` reports; the performance fields are None when the replica does not fit."""

    model: str
    gpu: str
    tp: int
    gpus: int
    weights: str
    kv: str
    engine: str
    engine_profile: EngineProfileInfo
    precision: PrecisionInfo
    max_model_len: int
    parallelism: Parallelism
    uncertainty: UncertaintyInfo
    input_len: int
    output_len: int
    load: Load
    fits: bool
    reason: str
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_latency_ms: float | None = None
    output_tokens_per_s: float | None = None
    output_tokens_per_s_per_gpu: float | None = None
    requests_per_s: float | None = None
    concurrency: float | None = None
    max_concurrency: int | None = None
    admission_limit: int | None = None
    kv_limited: bool | None = None
    saturated: bool | None = None
    prefill_share: float | None = None
    decode_step_ms: float | None = None
    prefill_ms: float | None = None
    memory: MemoryReport
    long_context: LongContext | None = None
    pp: int = 1
    nodes: int = 1  # instances one replica spans
    network: str = ""  # the instances and the network between them, for a replica spanning instances
    disaggregated: DisaggEstimate | None = None  # --disagg: the pair (the fields above: its prefill replica)


def _load_level(mode: str, concurrency: Concurrency) -> LoadLevel:
    if mode == "rate":
        return "online"
    if mode == "max":
        return "high"
    if not isinstance(concurrency, int) or concurrency <= 1:
        return "b1"
    return "low" if concurrency <= 16 else "high"


def _uncertainty(dep: Deployment, level: LoadLevel) -> UncertaintyInfo:
    u = uncertainty(dep, level)
    return UncertaintyInfo(
        grade=u.grade,
        regime=u.regime,
        band_regime=u.band_regime or None,
        cv_rows=u.rows,
        cv_median_abs_error=_finite(u.median_abs_error, 4),
        cv_p90_abs_error=_finite(u.p90_abs_error, 4),
        throughput_low_factor=round(u.throughput_low_factor, 4),
        why=u.why,
    )


def _finite(x: float, digits: int = 3) -> float | None:
    return round(x, digits) if math.isfinite(x) else None


def _memory(mem: MemoryBreakdown, gpu: Gpu, util: float) -> MemoryReport:
    return MemoryReport(
        gpu_memory_gb=gpu.memory_gb,
        gpu_memory_bytes=gpu.device_memory_bytes,
        device_gb_per_gpu=round(mem.device_gb_per_gpu, 3),
        gpu_memory_utilization=util,
        memory_semantics=mem.semantics,
        usable_gb_per_gpu=round(mem.usable_gb_per_gpu, 3),
        weights_gb=round(mem.weights_gb, 3),
        weights_gb_total=round(mem.weights_gb_total, 3),
        activation_gb=round(mem.activation_gb, 3),
        runtime_reserve_gb=round(mem.reserve_gb, 3),
        free_for_kv_gb=round(mem.free_for_kv_gb, 3),
        free_for_kv_gb_per_gpu=round(mem.free_for_kv_gb_per_gpu, 3),
        kv_mb_per_token=round(mem.kv_gb_per_token * 1e3, 6),
        kv_gb_per_request=round(mem.kv_gb_per_request, 4),
        max_tokens_in_kv=mem.max_tokens_in_kv,
    )


def _long_context(dep: Deployment, input_len: int) -> LongContext:
    """Fu (2024)'s view of one long prompt: KV size, concurrency, prefill, decode and HBM<->host swap."""
    c = coefficients(dep)
    mem = memory_breakdown(dep, input_len)
    fit = mem.max_requests
    per_gpu_bytes = kv_tokens_per_request(dep.model, input_len) * c.kv_bytes_per_token
    return LongContext(
        context_tokens=input_len,
        kv_gb_per_request=round(mem.kv_gb_per_request, 4),
        requests_that_fit=int(fit),
        prefill_s=round(float(prefill_alone_s(c, input_len)), 4),
        decode_ms_per_token=round(float(decode_step_s(c, 1, input_len)) * 1e3, 3),
        decode_ms_per_step_at_full_kv=round(float(decode_step_s(c, max(fit, 1), input_len)) * 1e3, 3)
        if fit
        else None,
        # each GPU moves its shard over its own host link, in parallel
        kv_swap_s_per_request=round(per_gpu_bytes / (dep.gpu.pcie_gb_per_s * 1e9), 4),
        pcie_gb_per_s=dep.gpu.pcie_gb_per_s,
    )


def estimate(
    dep: Deployment,
    precision: Precision,
    input_len: int,
    output_len: int,
    *,
    concurrency: Concurrency = None,
    rate_rps: float | None = None,
) -> EstimateResult:
    """Estimate one replica (`dep`, run in `precision`) at one load."""
    mem = memory_breakdown(dep, input_len + output_len)
    mode: Literal["lone", "max", "concurrency", "rate"] = "concurrency" if concurrency else "lone"
    if concurrency == "max":
        mode = "max"
    if rate_rps is not None:
        mode = "rate"
    head = EstimateResult(
        model=dep.model.id,
        gpu=dep.gpu.id,
        tp=dep.tp,
        gpus=dep.tp,
        weights=dep.weights,
        kv=dep.kv,
        engine=dep.engine.engine,
        engine_profile=EngineProfileInfo(
            family=dep.engine.family, calibrated=is_calibrated(dep.engine), fit=dep.engine.fit
        ),
        precision=PrecisionInfo(
            gemm_dtype=precision.gemm_dtype, weight_only=precision.weight_only, substituted=precision.notes
        ),
        max_model_len=dep.context_window,
        parallelism=Parallelism(tp=dep.tp, ep=dep.ep, dp_attention=dep.dp_attention),
        uncertainty=_uncertainty(dep, _load_level(mode, concurrency)),
        input_len=input_len,
        output_len=output_len,
        load=Load(mode=mode, concurrency=concurrency if isinstance(concurrency, int) else None, rate_rps=rate_rps),
        fits=mem.fits,
        reason=mem.reason,
        memory=_memory(mem, dep.gpu, dep.gpu_memory_utilization),
    )
    if not mem.fits:
        return head
    try:
        point = predict(dep, input_len, output_len, rate_rps=rate_rps, concurrency=concurrency)
    except InfeasibleError as err:  # e.g. no room for one full-length request
        return EstimateResult.model_validate({**dict(head), "fits": False, "reason": err.message})
    perf: dict[str, object] = dict(
        ttft_ms=_finite(point.ttft_ms),
        tpot_ms=_finite(point.tpot_ms),
        e2e_latency_ms=_finite(point.e2e_ms),
        output_tokens_per_s=round(point.output_tokens_per_s, 3),
        output_tokens_per_s_per_gpu=round(point.output_tokens_per_s / dep.tp, 3),
        requests_per_s=round(point.requests_per_s, 5),
        concurrency=round(point.concurrency, 3),
        max_concurrency=point.max_concurrency,
        admission_limit=int(point.admission_limit),
        kv_limited=point.kv_limited,
        saturated=point.saturated,
        prefill_share=round(point.prefill_share, 4),
        decode_step_ms=round(point.decode_step_ms, 3),
        prefill_ms=round(point.prefill_ms, 3),
        long_context=_long_context(dep, input_len),
    )
    return EstimateResult.model_validate({**dict(head), **perf})
