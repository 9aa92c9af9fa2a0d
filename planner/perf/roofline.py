"""Roofline times of the three things an engine does: prefill a prompt, run one decode step over a batch,
and all-reduce activations across tensor-parallel ranks.

All figures are per GPU of the replica (each rank does 1/tp of the work in parallel). The functions
take numpy arrays (or floats) so that the serving model can evaluate many request classes at once.

    decode step(N, c) = max(weights(N) / (BW x bandwidth_efficiency) + N x c x KV bytes/token / (BW x kv_eff),
                            N x flops_per_token(c) / (peak x compute_efficiency))
                        + all-reduce(N tokens) + step_overhead
    weights(N)        = dense weights + routed experts the N tokens touch
    prefill(I)        = max(weights / BW_eff, flops(I) / peak_eff) + all-reduce(I tokens) + overhead
    flops(I)          = 2 x layer params x I + 2 x vocab x hidden + causal attention pairs x flops/pair

Attention runs at the 16-bit peak x attention_efficiency (FlashAttention-style kernels), linear layers at
the peak of the weights' compute dtype (precision.resolve_precision: fp8/int8/fp4 on chips and engines
that have those GEMMs, else dequantised to 16-bit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from catalog.types import DTYPE_BYTES
from planner.perf.deployment import Deployment
from planner.perf.memory import (
    ACT_BYTES,
    embedding_params,
    kv_bytes_per_token_per_gpu,
    layer_params,
    memory_breakdown,
    weight_bytes_per_param,
    weights_bytes_total,
)
from planner.perf.precision import resolve_precision

Array = Any  # float or numpy array of floats

# Points where the concave "experts touched by N tokens" curve is replaced by its tangent (see
# `touched_tangents`): 0 and powers of 2 up to 2^14 tokens per step (worst gap ~3 % of the curve).
_TANGENT_POINTS = np.concatenate([[0.0], 2.0 ** np.arange(0, 15)])


@dataclass(frozen=True)
class Coeffs:
    """Per-GPU constants of one deployment, precomputed once (seconds, bytes, FLOPs)."""

    tp: int
    bw_bps: float  # effective HBM bandwidth for weights, bytes/s
    kv_bw_bps: float  # effective HBM bandwidth of decode attention reading the (paged) KV cache, bytes/s
    gemm_flops: float  # effective linear-layer FLOP/s
    attn_flops: float  # effective attention FLOP/s
    dense_bytes: float  # weights read every forward pass except routed experts
    expert_bytes: float  # bytes of one routed expert summed over MoE layers (0 for dense models)
    experts: int
    top_k: int
    kv_bytes_per_token: float  # per GPU, stored
    kv_read_factor: float  # KV bytes decode attention reads per stored byte (GQA reloads, >= 1)
    window: float  # sliding window in tokens (inf if none)
    linear_flops_per_token: float  # per GPU, transformer blocks (active params)
    head_flops_per_token: float  # per GPU, lm_head
    decode_attn_flops_per_pair: float  # per GPU, one query token x one cached token
    prefill_attn_flops_per_pair: float  # per GPU, causal pair in prefill
    allreduces_per_pass: int
    allreduce_latency_s: float
    allreduce_s_per_token: float  # ring bytes per token / link bandwidth
    overhead_s: float
    max_batched_tokens: float
    max_seqs: float
    kv_reserve_output_fraction: float
    max_tokens_in_kv: float  # per replica
    fits: bool


def _link_bandwidth_bps(dep: Deployment) -> float:
    """Per-direction GPU-to-GPU bandwidth the ring all-reduce uses, bytes/s (the catalog stores
    NVLink/xGMI and PCIe figures per direction; without a GPU-to-GPU link traffic crosses PCIe)."""
    g = dep.gpu
    if g.interconnect in ("nvlink", "xgmi") and g.interconnect_gbps:
        return g.interconnect_gbps * 1e9
    return g.pcie_gbps * 1e9


@lru_cache(maxsize=4096)
def coefficients(dep: Deployment) -> Coeffs:
    """Precompute everything the time formulas need for `dep` (cached: planners reuse deployments)."""
    m, g, tp = dep.model, dep.gpu, dep.tp
    mem = memory_breakdown(dep)
    wbytes = weight_bytes_per_param(dep.weights)
    embed, head = embedding_params(m)
    total_bytes = weights_bytes_total(m, dep.weights)
    if m.is_moe:
        moe_layers = m.layers - m.moe_dense_layers
        expert_bytes = moe_layers * m.expert_params() * wbytes
        dense_bytes = total_bytes - m.moe_experts * expert_bytes
    else:
        expert_bytes = 0.0
        dense_bytes = total_bytes
    # the input embedding is a lookup (a few rows), not a full read
    dense_bytes -= embed * 2.0
    if m.tied_embeddings:
        dense_bytes += embed * 2.0  # the tied table is read in full as lm_head
    lin_params = layer_params(m, active=True)
    head_params = embed if (m.tied_embeddings or head) else 0
    if m.is_mla:
        # absorbed MLA decode: scores over (latent + rope) dims, values over the latent
        decode_pair = 2.0 * m.layers * m.heads * (2 * m.kv_lora_rank + m.qk_rope_dim)
        prefill_pair = 2.0 * m.layers * m.heads * (m.qk_nope_dim + m.qk_rope_dim + m.v_head_dim)
    else:
        decode_pair = prefill_pair = 4.0 * m.layers * m.heads * m.head_dim
    ce, be = dep.engine.compute_efficiency, dep.engine.bandwidth_efficiency
    link = _link_bandwidth_bps(dep) * dep.factor("allreduce_bw_efficiency")
    ring = 2.0 * (tp - 1) / tp
    return Coeffs(
        tp=tp,
        bw_bps=g.mem_bandwidth_gbps * 1e9 * be,
        kv_bw_bps=g.mem_bandwidth_gbps * 1e9 * float(dep.engine.extra.get("kv_bandwidth_efficiency", be)),
        gemm_flops=g.peak_tflops(resolve_precision(g, dep.engine.engine, dep.weights, dep.kv).gemm_dtype) * 1e12 * ce,
        attn_flops=g.peak_tflops("bf16") * 1e12 * dep.factor("attention_efficiency"),
        dense_bytes=dense_bytes / tp,
        expert_bytes=expert_bytes / tp,
        experts=m.moe_experts,
        top_k=m.moe_top_k,
        kv_bytes_per_token=kv_bytes_per_token_per_gpu(m, dep.kv, tp) if dep.kv in DTYPE_BYTES else 0.0,
        kv_read_factor=1.0 if m.is_mla else 1.0 + (m.heads / m.kv_heads - 1.0) * dep.factor("gqa_kv_reload_share"),
        window=float(m.sliding_window) if m.sliding_window else math.inf,
        linear_flops_per_token=2.0 * lin_params / tp,
        head_flops_per_token=2.0 * head_params / tp,
        decode_attn_flops_per_pair=decode_pair / tp,
        prefill_attn_flops_per_pair=prefill_pair / tp,
        allreduces_per_pass=2 * m.layers if tp > 1 else 0,
        allreduce_latency_s=dep.factor("allreduce_latency_us") * 1e-6,
        allreduce_s_per_token=ring * m.hidden * ACT_BYTES / link if tp > 1 else 0.0,
        overhead_s=dep.engine.step_overhead_ms * 1e-3,
        max_batched_tokens=dep.factor("max_num_batched_tokens"),
        max_seqs=dep.factor("max_num_seqs"),
        kv_reserve_output_fraction=dep.factor("kv_reserve_output_fraction"),
        max_tokens_in_kv=float(mem.max_tokens_in_kv),
        fits=mem.fits,
    )


def experts_touched(c: Coeffs, tokens: Array) -> Array:
    """Expected distinct routed experts per MoE layer that `tokens` tokens hit (uniform routing)."""
    if not c.experts:
        return np.zeros_like(np.asarray(tokens, dtype=float))
    q = 1.0 - c.top_k / c.experts
    return c.experts * (1.0 - np.power(q, np.asarray(tokens, dtype=float)))


def touched_tangents(c: Coeffs) -> tuple[np.ndarray, np.ndarray]:
    """(intercepts, slopes) of tangents to `experts_touched` at fixed points, plus the cap `experts`.

    The curve is concave, so it equals the minimum of its tangents; the serving model uses this to keep
    its fixed point in closed form. The points do not depend on the request, which keeps every result
    monotone in the request's lengths and the SLOs.
    """
    if not c.experts:
        return np.zeros(1), np.zeros(1)
    q = 1.0 - c.top_k / c.experts
    x = _TANGENT_POINTS
    value = c.experts * (1.0 - q**x)
    slope = -c.experts * q**x * math.log(q) if q > 0 else np.zeros_like(x)
    intercepts = np.append(value - slope * x, float(c.experts))
    slopes = np.append(slope, 0.0)
    return intercepts, slopes


def causal_pairs(c: Coeffs, n: Array) -> Array:
    """(query, key) pairs causal attention computes for an n-token prompt (a sliding window caps them)."""
    n = np.asarray(n, dtype=float)
    full = n * (n + 1.0) / 2.0
    if math.isinf(c.window):
        return full
    w = c.window
    return np.where(n <= w, full, w * (w + 1.0) / 2.0 + (n - w) * w)


def allreduce_s(c: Coeffs, tokens: Array, passes: Array = 1.0) -> Array:
    """Time of the 2-per-layer TP all-reduces of a forward pass over `tokens` tokens (ring algorithm)."""
    if c.allreduces_per_pass == 0:
        return np.zeros_like(np.asarray(tokens, dtype=float))
    return c.allreduces_per_pass * (c.allreduce_latency_s * np.asarray(passes) + c.allreduce_s_per_token * tokens)


def prefill_compute_s(c: Coeffs, n: Array) -> Array:
    """Compute time of prefilling one n-token prompt: linear layers, lm_head (last token), attention."""
    n = np.asarray(n, dtype=float)
    return (n * c.linear_flops_per_token + c.head_flops_per_token) / c.gemm_flops + causal_pairs(
        c, n
    ) * c.prefill_attn_flops_per_pair / c.attn_flops


def prefill_alone_s(c: Coeffs, n: Array) -> Array:
    """Latency of prefilling one n-token prompt on an idle replica (TTFT of a lone request).

    Prompts longer than the engine's token budget are split into chunks, each one forward pass.
    """
    n = np.asarray(n, dtype=float)
    chunks = np.maximum(np.ceil(n / c.max_batched_tokens), 1.0)
    weights_s = (c.dense_bytes + c.expert_bytes * experts_touched(c, np.minimum(n, c.max_batched_tokens))) / c.bw_bps
    return np.maximum(chunks * weights_s, prefill_compute_s(c, n)) + allreduce_s(c, n, chunks) + chunks * c.overhead_s


def prefill_marginal_s(c: Coeffs, n: Array) -> Array:
    """Extra time an n-token prefill adds to a busy replica: its compute and all-reduce payload; the
    weights are read anyway by the decode steps it is batched with."""
    n = np.asarray(n, dtype=float)
    return prefill_compute_s(c, n) + c.allreduces_per_pass * c.allreduce_s_per_token * n


def batch_prefill_s(c: Coeffs, batch: Array, n: Array) -> Array:
    """Prefill of `batch` n-token prompts in one pass (static batching)."""
    batch = np.asarray(batch, dtype=float)
    n = np.asarray(n, dtype=float)
    weights_s = (c.dense_bytes + c.expert_bytes * experts_touched(c, batch * n)) / c.bw_bps
    return np.maximum(weights_s, batch * prefill_compute_s(c, n)) + allreduce_s(c, batch * n) + c.overhead_s


def decode_parts(c: Coeffs, context: Array) -> tuple[Array, Array, Array, Array]:
    """Per-request slopes of one decode step at mean context `context` (tokens attended):
    (memory s per request, compute s per request, all-reduce s per request, fixed s per step)."""
    ctx = np.minimum(np.asarray(context, dtype=float), c.window)
    mem_per_req = ctx * c.kv_bytes_per_token * c.kv_read_factor / c.kv_bw_bps
    comp_per_req = (
        c.linear_flops_per_token + c.head_flops_per_token
    ) / c.gemm_flops + ctx * c.decode_attn_flops_per_pair / c.attn_flops
    comm_per_req = c.allreduces_per_pass * c.allreduce_s_per_token
    fixed = c.overhead_s + c.allreduces_per_pass * c.allreduce_latency_s
    return mem_per_req, comp_per_req, np.full_like(ctx, comm_per_req), np.full_like(ctx, fixed)


def decode_step_s(c: Coeffs, batch: Array, context: Array) -> Array:
    """Time of one decode step for `batch` requests attending to `context` tokens each on average."""
    batch = np.asarray(batch, dtype=float)
    mem, comp, comm, fixed = decode_parts(c, context)
    weights_s = (c.dense_bytes + c.expert_bytes * experts_touched(c, batch)) / c.bw_bps
    return np.maximum(weights_s + batch * mem, batch * comp) + batch * comm + fixed


def static_batch_s(c: Coeffs, batch: Array, input_len: Array, output_len: Array) -> tuple[Array, Array]:
    """(prefill s, total s) of a static batch: prefill all prompts, then output_len - 1 decode steps at
    the batch's mean context (input + output/2)."""
    batch = np.asarray(batch, dtype=float)
    i = np.asarray(input_len, dtype=float)
    o = np.asarray(output_len, dtype=float)
    pre = batch_prefill_s(c, batch, i)
    return pre, pre + np.maximum(o - 1.0, 0.0) * decode_step_s(c, batch, i + o / 2.0)
