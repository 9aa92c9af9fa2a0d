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
inside a node and the scale-out network between nodes.

`decode_step_time_s` and `prefill_chunk_time_s` are the per-iteration latencies a request-level simulator
needs (planner/simulate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from catalog.types import DTYPE_BYTES
from planner.perf.deployment import SEPARATE_PREFILL_ENGINES, Deployment
from planner.perf.memory import ACT_BYTES, kv_bytes_per_token_per_gpu, memory_breakdown, weight_split
from planner.perf.precision import resolve_precision

Array = Any  # float or numpy array of floats

# Points where the concave "experts touched by N tokens" curve is replaced by its tangent (see
# `touched_tangents`): 0 and powers of 2 up to 2^14 tokens per step (worst gap ~3 % of the curve).
_TANGENT_POINTS = np.concatenate([[0.0], 2.0 ** np.arange(0, 15)])


# CUDA kernel launch latency on the host (cudaLaunchKernel, ~4-7 us on current drivers): the floor of a
# kernel's cost outside a CUDA graph.
KERNEL_LAUNCH_US = 5.0


def kernels_per_layer(dep: Deployment) -> float:
    """Kernels one transformer layer launches: norm, QKV, rotary, attention, output projection, residual
    norm, gate/up, activation, down, two all-reduces (12); a routed MoE adds router, top-k, permute,
    a second grouped GEMM and the combine (+5), shared experts their own MLP (+3); multi-head latent
    attention adds its low-rank projections and norms (+6); 8-bit activations add a quantisation
    kernel before each GEMM. Counts of the kernels engines launch, not fitted."""
    m = dep.model
    gemms = 4.0 + (4.0 if m.is_mla else 0.0) + (3.0 if m.is_moe else 0.0) + (2.0 if m.moe_shared_experts else 0.0)
    other = 8.0 + (2.0 if m.is_mla else 0.0) + (3.0 if m.is_moe else 0.0) + (1.0 if m.moe_shared_experts else 0.0)
    quant = gemms if dep.weights in ("fp8", "int8") else 0.0
    return gemms + other + quant


@dataclass(frozen=True)
class Coeffs:
    """Per-GPU constants of one deployment, precomputed once (seconds, bytes, FLOPs)."""

    tp: int
    bw_bps: float  # effective HBM bandwidth for weights, bytes/s
    kv_bw_bps: float  # effective HBM bandwidth of decode attention reading the (paged) KV cache, bytes/s
    gemm_flops: float  # effective dense linear-layer FLOP/s
    moe_flops: float  # effective routed-expert (grouped GEMM) FLOP/s
    attn_flops: float  # effective attention FLOP/s
    dense_bytes: float  # weights read every forward pass except routed experts (the input embedding is a lookup)
    expert_bytes: float  # one routed expert's bytes on a GPU that holds it, summed over MoE layers
    experts: int  # routed experts per MoE layer (0: dense model)
    experts_local: float  # routed experts per MoE layer on each GPU
    top_k: int
    kv_bytes_per_token: float  # stored per token on a GPU that holds it
    kv_read_per_token: float  # KV bytes one decode step reads per context token per GPU (average)
    kv_context_half: float  # context at which decode attention reaches half its bandwidth efficiency
    gemm_half_tokens: float  # tokens per GEMM at which a prefill GEMM reaches half its efficiency
    window: float  # sliding window in tokens (inf if none)
    dense_flops_per_token: float  # per GPU: attention projections, dense FFN, shared experts, router
    expert_flops_per_token: float  # per GPU: routed experts, load imbalance included
    head_flops_per_token: float  # per GPU, lm_head
    decode_attn_flops_per_pair: float  # per GPU, one query token x one cached token
    prefill_attn_flops_per_pair: float  # per GPU, causal pair in prefill
    lone_attn_factor: float  # a lone prompt's attention runs on 1 GPU under DP attention (= tp), else 1
    collectives_per_pass: int
    collective_latency_s: float
    collective_s_per_token: float  # bytes each replica token moves between GPUs / link bandwidth
    overlapped: bool  # collectives run beside compute (expert parallelism with two-batch overlap)
    separate_prefill: bool  # prefills run in their own passes (deployment.SEPARATE_PREFILL_ENGINES)
    overhead_s: float  # fixed per decode pass: engine step, per-layer kernel overheads
    host_s: float  # eager decode: host time issuing the step's kernels, overlapped with the GPU's work
    prefill_overhead_s: float  # fixed per prefill pass: as a decode pass, and its kernels launched one by one
    seq_s: float  # per sequence per decode step
    request_s: float  # per request, before its first forward pass
    scheduler_steps: float  # decode steps per scheduling round (multi-step scheduling)
    max_batched_tokens: float
    max_seqs: float
    kv_reserve_output_fraction: float
    max_tokens_in_kv: float  # per replica
    fits: bool


def _link_bandwidth_bps(dep: Deployment) -> float:
    """Per-direction GPU-to-GPU bandwidth the collectives use, bytes/s: NVLink/xGMI, else PCIe; the
    scale-out network when the replica spans nodes."""
    g = dep.gpu
    if dep.nodes > 1:
        return dep.scale_out_bps
    if g.interconnect in ("nvlink", "xgmi") and g.interconnect_gb_per_s:
        return g.interconnect_gb_per_s * 1e9
    return g.pcie_gb_per_s * 1e9


def _collectives(dep: Deployment, moe_layers: int) -> tuple[int, float, float]:
    """(collectives per forward pass, seconds per replica token, latency each) of the replica's layout."""
    m, tp = dep.model, dep.tp
    if tp == 1:
        return 0, 0.0, 0.0
    latency = dep.factor("allreduce_latency_us") * 1e-6 + (dep.scale_out_latency_s if dep.nodes > 1 else 0.0)
    eff = dep.factor("allreduce_bw_efficiency")
    if dep.ep > 1 and dep.dp_attention:
        # all-to-all: each GPU sends its tokens' hidden states to their top-k experts (8-bit when the
        # weights are 8-bit, as DeepEP does) and receives 16-bit results back; a share (ep-1)/ep leaves the
        # GPU, of which what leaves the node crosses the scale-out network
        dispatch = DTYPE_BYTES["fp8"] if DTYPE_BYTES.get(dep.weights, 2.0) <= 1.0 else ACT_BYTES
        per_token = moe_layers * m.hidden * m.moe_top_k * (dispatch + ACT_BYTES)
        ep = dep.ep
        off_node = max(ep - dep.node_gpus, 0) / ep
        on_node = (min(ep, dep.node_gpus) - 1) / ep
        g = dep.gpu
        nvl = (g.interconnect_gb_per_s or g.pcie_gb_per_s) * 1e9
        seconds = per_token * (off_node / dep.scale_out_bps + on_node / nvl) / eff / tp
        return 2 * moe_layers, seconds, latency
    ring = 2.0 * (tp - 1) / tp * m.hidden * ACT_BYTES / (_link_bandwidth_bps(dep) * eff)
    if dep.dp_attention:
        # attention is data-parallel: tokens are gathered before each FFN/MoE and scattered after it
        return m.layers, ring, latency
    return 2 * m.layers, ring, latency


@lru_cache(maxsize=4096)
def coefficients(dep: Deployment) -> Coeffs:
    """Precompute everything the time formulas need for `dep` (cached: planners reuse deployments)."""
    m, g, tp = dep.model, dep.gpu, dep.tp
    mem = memory_breakdown(dep)
    split = weight_split(m, dep.weights, tp, dep.ep, dep.dp_attention)
    moe_layers = m.layers - m.moe_dense_layers if m.is_moe else 0
    # FLOPs per token: 2 per parameter touched (attention projections, FFNs, experts, lm_head)
    attn_params = m.layers * m.attention_params_per_layer()
    dense_ffn = (m.layers - moe_layers) * m.mlp_params(m.intermediate)
    if m.is_moe:
        dense_ffn += moe_layers * (m.moe_shared_experts * m.expert_params() + m.hidden * m.moe_experts)
    routed = moe_layers * m.moe_top_k * m.expert_params()
    head = m.vocab * m.hidden
    if m.is_mla:
        # absorbed MLA decode: scores over (latent + rope) dims, values over the latent
        decode_pair = 2.0 * m.layers * m.heads * (2 * m.kv_lora_rank + m.qk_rope_dim)
        prefill_pair = 2.0 * m.layers * m.heads * (m.qk_nope_dim + m.qk_rope_dim + m.v_head_dim)
    else:
        decode_pair = prefill_pair = 4.0 * m.layers * m.heads * m.head_dim
    ce, be = dep.engine.compute_efficiency, dep.engine.bandwidth_efficiency
    prec = resolve_precision(g, dep.engine.engine, dep.weights, dep.kv)
    gemm = g.peak_tflops(prec.gemm_dtype) * 1e12 * ce
    kv_gpu = kv_bytes_per_token_per_gpu(m, dep.kv, tp, dep.dp_attention) if dep.kv in DTYPE_BYTES else 0.0
    reload = 1.0 if m.is_mla else 1.0 + (m.heads / m.kv_heads - 1.0) * dep.factor("gqa_kv_reload_share")
    n_coll, coll_s, coll_lat = _collectives(dep, moe_layers)
    imbalance = dep.factor("moe_imbalance") if dep.ep > 1 else 1.0
    overhead = dep.engine.step_overhead_ms * 1e-3 + m.layers * dep.factor("layer_overhead_us") * 1e-6
    # engines capture decode steps in CUDA graphs; prefill passes (variable shapes) launch every kernel
    # at the CUDA launch latency; without CUDA graphs (eager) the host issues every kernel of a decode
    # step (Python, dispatch: eager_kernel_us each, fitted on eager rows) while the GPU runs the ones
    # already queued, so a decode step takes the longer of the two (`host_s`), not their sum
    kernels = m.layers * kernels_per_layer(dep)
    prefill_overhead = overhead + kernels * KERNEL_LAUNCH_US * 1e-6
    host = kernels * dep.factor("eager_kernel_us") * 1e-6 if dep.eager else 0.0
    if dep.eager:
        prefill_overhead = max(prefill_overhead, overhead + host)
    # per-sequence decode-attention cost: every GPU runs every sequence (its heads), or under DP
    # attention one GPU runs each sequence
    attn_seq = m.layers * dep.factor("attn_seq_overhead_us") * 1e-6 / (tp if dep.dp_attention else 1)
    max_seqs = float(dep.max_num_seqs) if dep.max_num_seqs else dep.factor("max_num_seqs")
    return Coeffs(
        tp=tp,
        bw_bps=g.mem_bandwidth_gb_per_s * 1e9 * be,
        kv_bw_bps=g.mem_bandwidth_gb_per_s * 1e9 * dep.factor("kv_bandwidth_efficiency"),
        gemm_flops=gemm,
        moe_flops=gemm * dep.factor("moe_gemm_efficiency"),
        attn_flops=g.peak_tflops("bf16") * 1e12 * dep.factor("attention_efficiency"),
        dense_bytes=split.dense_read,
        # grouped expert kernels reach a lower share of the bandwidth too (many small ragged GEMMs)
        expert_bytes=split.expert_unit / dep.factor("moe_gemm_efficiency"),
        experts=m.moe_experts,
        experts_local=split.experts_per_gpu,
        top_k=m.moe_top_k,
        kv_bytes_per_token=kv_gpu,
        # per GPU per context token: its heads of every sequence, or whole KV of 1/tp of the sequences
        kv_read_per_token=kv_gpu * reload / (tp if dep.dp_attention else 1),
        kv_context_half=dep.factor("kv_context_half_tokens"),
        gemm_half_tokens=dep.factor("gemm_half_tokens"),
        window=float(m.sliding_window) if m.sliding_window else math.inf,
        dense_flops_per_token=2.0 * (attn_params + dense_ffn) / tp,
        expert_flops_per_token=2.0 * routed * imbalance / tp,
        head_flops_per_token=2.0 * head / tp,
        decode_attn_flops_per_pair=decode_pair / tp,
        prefill_attn_flops_per_pair=prefill_pair / tp,
        lone_attn_factor=float(tp) if dep.dp_attention else 1.0,
        collectives_per_pass=n_coll,
        collective_latency_s=coll_lat,
        collective_s_per_token=coll_s,
        # wide expert parallelism is run with its all-to-all overlapped with compute (SGLang two-batch
        # overlap, vLLM dual-batch overlap, DeepEP): the slower of the two sets the pace
        overlapped=dep.ep > 1 and dep.dp_attention,
        separate_prefill=dep.engine.engine in SEPARATE_PREFILL_ENGINES,
        overhead_s=overhead,
        host_s=host,
        prefill_overhead_s=prefill_overhead,
        seq_s=dep.factor("seq_overhead_us") * 1e-6 + attn_seq,
        request_s=dep.factor("request_overhead_ms") * 1e-3,
        scheduler_steps=float(dep.scheduler_steps),
        max_batched_tokens=dep.factor("max_num_batched_tokens"),
        max_seqs=max_seqs,
        kv_reserve_output_fraction=dep.factor("kv_reserve_output_fraction"),
        max_tokens_in_kv=float(mem.max_tokens_in_kv),
        fits=mem.fits,
    )


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
    """Transfer time of the collectives' payload for `tokens` tokens."""
    return c.collective_s_per_token * np.asarray(tokens, dtype=float)


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
    per_pass = tokens / np.maximum(passes, 1.0)
    q = 1.0 - c.top_k / c.experts
    touched_share = 1.0 - np.power(q, per_pass)  # share of the experts a pass touches
    return dense, passes * c.gemm_half_tokens * touched_share * c.experts / c.top_k


def prefill_compute_s(c: Coeffs, n: Array, attn_factor: float = 1.0, passes: Array | None = None) -> Array:
    """Compute time of prefilling one n-token prompt: linear layers and experts, lm_head (last token),
    causal attention (`attn_factor` > 1 when one GPU runs the whole prompt's attention). With `passes`
    (prefill-only passes), the short-GEMM loss of those passes is added (`short_gemm_tokens`)."""
    n = np.asarray(n, dtype=float)
    dense_extra, expert_extra = short_gemm_tokens(c, n, passes) if passes is not None else (0.0, 0.0)
    return (
        (n + dense_extra) * c.dense_flops_per_token / c.gemm_flops
        + (n + expert_extra) * c.expert_flops_per_token / c.moe_flops
        + c.head_flops_per_token / c.gemm_flops
        + causal_pairs(c, n) * c.prefill_attn_flops_per_pair * attn_factor / c.attn_flops
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


def prefill_marginal_s(c: Coeffs, n: Array) -> Array:
    """Extra time an n-token prefill adds to a busy replica: its compute and collective payload; the
    weights are read anyway by the decode steps it is batched with. An engine that prefills in passes of
    its own also pays one pass's weight read and fixed costs per prompt (prompts arriving within one
    decode step share a pass; at planning rates that is rarely more than one)."""
    n = np.asarray(n, dtype=float)
    # a prompt riding a decode batch lengthens its GEMMs (no short-GEMM loss); a pass of its own has one
    compute = prefill_compute_s(c, n, passes=1.0 if c.separate_prefill else None)
    work = _with_overlap(c, compute, n) if c.overlapped else compute + payload_s(c, n)
    if c.separate_prefill:
        weights_s = (c.dense_bytes + c.expert_bytes * experts_touched(c, n)) / c.bw_bps
        work = np.maximum(work, weights_s) + c.prefill_overhead_s + c.collectives_per_pass * c.collective_latency_s
    return work


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
    return np.maximum(np.maximum(weights_s + batch * mem, batch * comp), c.host_s) + batch * serial + fixed


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
    pairs = float(causal_pairs(c, context + n)) - float(causal_pairs(c, context))
    dense_extra, expert_extra = (float(x) for x in short_gemm_tokens(c, n))
    compute = (
        (n + dense_extra) * c.dense_flops_per_token / c.gemm_flops
        + (n + expert_extra) * c.expert_flops_per_token / c.moe_flops
        + c.head_flops_per_token / c.gemm_flops
        + pairs * c.prefill_attn_flops_per_pair * c.lone_attn_factor / c.attn_flops
    )
    weights = (c.dense_bytes + c.expert_bytes * float(experts_touched(c, n))) / c.bw_bps
    compute = float(_with_overlap(c, compute, n))
    return max(weights, compute) + float(collectives_s(c, n)) + c.prefill_overhead_s
