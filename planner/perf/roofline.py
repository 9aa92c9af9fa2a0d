"""Time of the things an engine does per forward pass: prefill a prompt, run one decode step over a batch,
and move activations between GPUs (tensor-parallel all-reduce, expert-parallel all-to-all).

All figures are per GPU of the replica (the GPUs work in parallel). Each term is a named physical cost
with one engine factor (planner/perf/deployment.py EXTRA_DEFAULTS, fitted per engine x GPU family):

    decode step(N, c) = max(weights read / (BW x bandwidth_efficiency)
                              + N x (c + kv_context_half) x KV bytes / (BW x kv_bandwidth_efficiency),
                            N x dense FLOPs / (peak x compute_efficiency)
                              + N x expert FLOPs x imbalance / (peak x compute_efficiency x moe_gemm_efficiency)
                              + N x c x attention FLOPs / (peak16 x attention_efficiency))
                        + N x (seq_overhead + layers x attn_seq_overhead)       per-sequence work
                        + collectives(N tokens)                                 TP all-reduce / EP all-to-all
                        + step_overhead + layers x layer_overhead               fixed per pass
                        (without CUDA graphs the max also holds the host's time issuing the step's
                         kernels, layers x kernels per layer x eager_kernel: it overlaps the GPU's)
    weights read      = attention + dense FFN + lm_head + the routed experts the N tokens touch
    prefill(I)        = the same roofline over I tokens (lm_head for the last token only), chunked by the
                        engine's token budget, plus its collectives and fixed costs; a pass of its own
                        runs its GEMMs at M / (M + gemm_half_tokens) of their efficiency (M = its tokens,
                        per expert M = tokens x top_k / experts)

Decode attention's efficiency rises with context as c / (c + kv_context_half): the kernel's fixed work
per sequence is worth kv_context_half tokens of KV reads. Both curves are global fitted factors. (A
thin-TP-shard GEMM curve, width / (width + half width) with width = hidden / tp, was tried and left
out: it improved the in-sample p90 but worsened the cross-validated median, 20.6 % with it and 17.2 %
without, mostly on SGLang max-load rows at TP 4-8.)

Linear layers run at the peak of the weights' compute dtype (precision.resolve_precision), attention at
the 16-bit peak. Collectives: a ring all-reduce costs latency + 2 (tp-1)/tp x bytes / link bandwidth,
two per layer (one per layer, as gather + scatter around the MoE, under DP attention); expert
parallelism moves each token's hidden state to its top-k experts and back (all-to-all), over NVLink
inside a node and the scale-out network between nodes: in decode one message per expert, in prefill one
per node and per GPU holding any of the token's experts (DeepEP's low-latency and normal kernels).
Block-scaled FP8 checkpoints (DeepSeek-V3) run their GEMMs at their own share of the FP8 rate.

`decode_step_time_s` and `prefill_chunk_time_s` are the per-iteration latencies a request-level simulator
needs (planner/simulate).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Coeffs and coefficients are re-exported: callers take them from here beside the time functions
from planner.perf.coefficients import Coeffs as Coeffs
from planner.perf.coefficients import coefficients as coefficients
from planner.perf.deployment import Deployment

Array = Any  # float or numpy array of floats

# Points where the concave "experts touched by N tokens" curve is replaced by its tangent (see
# `touched_tangents`): 0 and powers of 2 up to 2^14 tokens per step (worst gap ~3 % of the curve).
_TANGENT_POINTS = np.concatenate([[0.0], 2.0 ** np.arange(0, 15)])


def experts_touched(c: Coeffs, tokens: Array) -> Array:
    """Expected distinct routed experts per MoE layer, among one GPU's, that `tokens` tokens hit
    (uniform routing)."""
    if not c.experts:
        return np.zeros_like(np.asarray(tokens, dtype=float))
    q = 1.0 - c.top_k / c.experts
    return c.experts_local * (1.0 - np.power(q, np.asarray(tokens, dtype=float)))


def touched_tangents(c: Coeffs) -> tuple[np.ndarray, np.ndarray]:
    """(intercepts, slopes) of tangents to `experts_touched` at fixed points, plus the cap.

    The curve is concave, so it equals the minimum of its tangents; the serving model uses this to keep
    its fixed point in closed form. The points do not depend on the request, which keeps every result
    monotone in the request's lengths and the SLOs.
    """
    if not c.experts:
        return np.zeros(1), np.zeros(1)
    q = 1.0 - c.top_k / c.experts
    x = _TANGENT_POINTS
    value = c.experts_local * (1.0 - q**x)
    slope = -c.experts_local * q**x * math.log(q) if q > 0 else np.zeros_like(x)
    intercepts = np.append(value - slope * x, float(c.experts_local))
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


def collectives_s(c: Coeffs, tokens: Array, passes: Array = 1.0) -> Array:
    """Time of the collectives of `passes` forward passes over `tokens` tokens in all (their payload is
    hidden behind compute when overlapped; `payload_s` gives it alone)."""
    if c.collectives_per_pass == 0:
        return np.zeros_like(np.asarray(tokens, dtype=float))
    payload = 0.0 if c.overlapped else payload_s(c, tokens)
    return c.collectives_per_pass * c.collective_latency_s * np.asarray(passes) + payload


def payload_s(c: Coeffs, tokens: Array) -> Array:
    """Transfer time of the collectives' payload for `tokens` prefill tokens."""
    return c.prefill_collective_s_per_token * np.asarray(tokens, dtype=float)


def _with_overlap(c: Coeffs, compute: Array, tokens: Array) -> Array:
    """Compute time, or the collectives' payload when it is overlapped with compute and longer."""
    return np.maximum(compute, payload_s(c, tokens)) if c.overlapped else compute


allreduce_s = collectives_s  # the name the first estimator used


def short_gemm_tokens(c: Coeffs, tokens: Array, passes: Array = 1.0) -> tuple[Array, Array]:
    """(dense, expert) token-equivalents that `passes` prefill passes over `tokens` tokens in all lose to
    short GEMMs: a GEMM over M tokens runs at M / (M + gemm_half_tokens) of its long-GEMM efficiency, so
    each pass costs gemm_half_tokens more tokens per dense GEMM, and as much per expert it touches (an
    expert sees tokens x top_k / experts of them, so MoE prefill loses far more than dense prefill)."""
    tokens = np.asarray(tokens, dtype=float)
    passes = np.asarray(passes, dtype=float)
    dense = passes * c.gemm_half_tokens
    if not c.experts:
        return dense, np.zeros_like(dense)
    # fewer passes than prompts (passes < 1 per prompt): prompts share a pass, which touches more experts
    per_pass = tokens / np.where(passes >= 1.0, passes, np.maximum(passes, 1e-9))
    q = 1.0 - c.top_k / c.experts
    touched_share = 1.0 - np.power(q, per_pass)  # share of the experts a pass touches
    return dense, passes * c.gemm_half_tokens * touched_share * c.experts / c.top_k


def prefill_compute_s(
    c: Coeffs, n: Array, attn_factor: float = 1.0, passes: Array | None = None, context: Array = 0.0
) -> Array:
    """Compute time of prefilling n tokens of one prompt after `context` cached ones: linear layers and
    experts, lm_head (last token), causal attention over context + n (`attn_factor` > 1 when one GPU runs
    the whole prompt's attention scores: DP attention). With `passes` (prefill-only passes), the short-GEMM
    loss of those passes is added (`short_gemm_tokens`)."""
    n = np.asarray(n, dtype=float)
    context = np.asarray(context, dtype=float)
    dense_extra, expert_extra = short_gemm_tokens(c, n, passes) if passes is not None else (0.0, 0.0)
    pairs = causal_pairs(c, context + n) - causal_pairs(c, context)
    return (
        (n + dense_extra) * c.dense_flops_per_token / c.gemm_flops
        + (n + expert_extra) * c.expert_flops_per_token / c.moe_flops
        + c.head_flops_per_token / c.gemm_flops
        + pairs * c.prefill_attn_flops_per_pair * attn_factor / c.attn_flops
    )


def prefill_alone_s(c: Coeffs, n: Array) -> Array:
    """Latency of prefilling one n-token prompt on an idle replica (its TTFT without the request's own
    overhead). Prompts longer than the engine's token budget are split into chunks, each one pass."""
    n = np.asarray(n, dtype=float)
    chunks = np.maximum(np.ceil(n / c.max_batched_tokens), 1.0)
    weights_s = (c.dense_bytes + c.expert_bytes * experts_touched(c, np.minimum(n, c.max_batched_tokens))) / c.bw_bps
    return (
        np.maximum(chunks * weights_s, _with_overlap(c, prefill_compute_s(c, n, c.lone_attn_factor, chunks), n))
        + collectives_s(c, n, chunks)
        + chunks * c.prefill_overhead_s
    )


def prefill_work_s(c: Coeffs, n: Array) -> Array:
    """Compute and collective payload of an n-token prompt in a pass that is paid for anyway: no weight
    read, short-GEMM loss or fixed cost of a pass of its own (what a prompt adds to a decode batch it rides,
    or to a prefill pass that other prompts already pay for)."""
    n = np.asarray(n, dtype=float)
    compute = prefill_compute_s(c, n)
    return _with_overlap(c, compute, n) if c.overlapped else compute + payload_s(c, n)


def prefill_marginal_s(c: Coeffs, n: Array, per_pass: Array = 1.0) -> Array:
    """Extra time an n-token prefill adds to a busy replica: its compute and collective payload; the
    weights are read anyway by the decode steps it is batched with. An engine that prefills in passes of
    its own also pays a pass's weight read, short-GEMM loss and fixed costs, shared by the `per_pass`
    prompts that gather for one pass (those arriving during a decode step: about one at planning rates,
    batch / output length at max load; serving._closed_loop)."""
    n = np.asarray(n, dtype=float)
    if not c.separate_prefill:
        return prefill_work_s(c, n)  # a prompt riding a decode batch lengthens its GEMMs: no short-GEMM loss
    k = np.maximum(np.asarray(per_pass, dtype=float), 1.0)
    compute = prefill_compute_s(c, n, passes=1.0 / k)
    work = _with_overlap(c, compute, n) if c.overlapped else compute + payload_s(c, n)
    weights_s = (c.dense_bytes + c.expert_bytes * experts_touched(c, n * k)) / c.bw_bps / k
    fixed = c.prefill_overhead_s + c.collectives_per_pass * c.collective_latency_s
    return np.maximum(work, weights_s) + fixed / k


def prompts_per_pass(c: Coeffs, n: Array) -> Array:
    """Most n-token prompts one prefill pass holds within the engine's token budget (at least one)."""
    return np.maximum(np.floor(c.max_batched_tokens / np.maximum(np.asarray(n, dtype=float), 1.0)), 1.0)


def batch_prefill_s(c: Coeffs, batch: Array, n: Array) -> Array:
    """Prefill of `batch` n-token prompts in one pass (static batching)."""
    batch = np.asarray(batch, dtype=float)
    n = np.asarray(n, dtype=float)
    weights_s = (c.dense_bytes + c.expert_bytes * experts_touched(c, batch * n)) / c.bw_bps
    dense_extra, expert_extra = short_gemm_tokens(c, batch * n)
    short = dense_extra * c.dense_flops_per_token / c.gemm_flops + expert_extra * c.expert_flops_per_token / c.moe_flops
    compute = _with_overlap(c, batch * prefill_compute_s(c, n) + short, batch * n)
    return np.maximum(weights_s, compute) + collectives_s(c, batch * n) + c.prefill_overhead_s


def decode_parts(c: Coeffs, context: Array) -> tuple[Array, Array, Array, Array]:
    """Per-request slopes of one decode step at mean context `context` (tokens attended):
    (memory s per request, compute s per request, serial s per request — collectives and per-sequence
    work, outside the roofline — and fixed s per step)."""
    ctx = np.minimum(np.asarray(context, dtype=float), c.window)
    mem_per_req = (ctx + c.kv_context_half) * c.kv_read_per_token / c.kv_bw_bps
    comp_per_req = (
        (c.dense_flops_per_token + c.head_flops_per_token) / c.gemm_flops
        + c.expert_flops_per_token / c.moe_flops
        + ctx * c.decode_attn_flops_per_pair / c.attn_flops
    )
    if c.overlapped:
        comp_per_req = np.maximum(comp_per_req, c.collective_s_per_token)
        serial_per_req = c.seq_s
    else:
        serial_per_req = c.collective_s_per_token + c.seq_s
    fixed = c.overhead_s + c.collectives_per_pass * c.collective_latency_s
    return mem_per_req, comp_per_req, np.full_like(ctx, serial_per_req), np.full_like(ctx, fixed)


def decode_step_s(c: Coeffs, batch: Array, context: Array) -> Array:
    """Time of one decode step for `batch` requests attending to `context` tokens each on average."""
    batch = np.asarray(batch, dtype=float)
    mem, comp, serial, fixed = decode_parts(c, context)
    weights_s = (c.dense_bytes + c.expert_bytes * experts_touched(c, batch)) / c.bw_bps
    gpu_s = np.maximum(np.maximum(weights_s + batch * mem, batch * comp), host_floor_s(c, batch))
    return gpu_s + batch * serial + fixed


def host_floor_s(c: Coeffs, batch: Array) -> Array:
    """Host time issuing a decode step's kernels, which the GPU's work overlaps: none inside a CUDA graph,
    the eager launches past the engine's largest captured batch (or always, for an eager deployment)."""
    return np.where(np.asarray(batch, dtype=float) > c.graph_max_batch, c.eager_host_s, c.host_s)


def static_batch_s(c: Coeffs, batch: Array, input_len: Array, output_len: Array) -> tuple[Array, Array]:
    """(prefill s, total s) of a static batch: prefill all prompts, then output_len - 1 decode steps at
    the batch's mean context (input + output/2)."""
    batch = np.asarray(batch, dtype=float)
    i = np.asarray(input_len, dtype=float)
    o = np.asarray(output_len, dtype=float)
    pre = batch_prefill_s(c, batch, i)
    return pre, pre + np.maximum(o - 1.0, 0.0) * decode_step_s(c, batch, i + o / 2.0)


# --- per-iteration latencies for a request-level simulator -----------------------------------------


def decode_step_time_s(dep: Deployment, batch: float, context: float) -> float:
    """Seconds of one decode iteration of `dep` with `batch` sequences attending to `context` tokens each
    on average (per-sequence engine work and collectives included)."""
    return float(decode_step_s(coefficients(dep), batch, context))


def prefill_chunk_time_s(dep: Deployment, tokens: float, context: float = 0.0) -> float:
    """Seconds of one forward pass that prefills `tokens` new prompt tokens of one request whose first
    `context` tokens are already cached (chunked prefill): weights read once, linear FLOPs for the new
    tokens, attention of the new tokens over context + themselves, collectives and fixed costs."""
    c = coefficients(dep)
    n = float(tokens)
    compute = float(prefill_compute_s(c, n, c.lone_attn_factor, passes=1.0, context=context))
    weights = (c.dense_bytes + c.expert_bytes * float(experts_touched(c, n))) / c.bw_bps
    compute = float(_with_overlap(c, compute, n))
    return max(weights, compute) + float(collectives_s(c, n)) + c.prefill_overhead_s
