"""The per-GPU constants of one deployment that the time formulas of planner/perf/roofline.py read
(`Coeffs`, built once per deployment by `coefficients`): effective bandwidths and FLOP rates after the
engine factors, bytes and FLOPs per token, the collectives of the replica's layout, fixed costs per pass,
and the engine's batching limits. Kept apart from the formulas so that each file reads as one thing: what
a deployment is made of here, how long a pass takes there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from catalog.types import DTYPE_BYTES
from planner.perf.deployment import SEPARATE_PREFILL_ENGINES, Deployment
from planner.perf.memory import (
    ACT_BYTES,
    graph_batch_limit,
    kv_bytes_per_token_per_gpu,
    memory_breakdown,
    overlap_schedule,
    sequence_limit,
    weight_split,
)
from planner.perf.precision import resolve_precision

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
    dp_ranks: int  # schedulers of their own prompts: tp under DP attention, else 1
    collectives_per_pass: int
    collective_latency_s: float
    collective_s_per_token: float  # bytes each replica token moves between GPUs / link bandwidth, decode
    prefill_collective_s_per_token: float  # the same in prefill passes (wide EP dispatches per node there)
    overlapped: bool  # collectives run beside compute (expert parallelism with two-batch overlap)
    separate_prefill: bool  # prefills run in their own passes (deployment.SEPARATE_PREFILL_ENGINES)
    overhead_s: float  # fixed per decode pass: engine step, per-layer kernel overheads
    host_s: float  # eager decode: host time issuing the step's kernels, overlapped with the GPU's work
    eager_host_s: float  # that host time for a decode step run eager (past graph_max_batch)
    graph_max_batch: float  # largest replica decode batch run as a CUDA graph (inf: no limit)
    prefill_overhead_s: float  # fixed per prefill pass: as a decode pass, and its kernels launched one by one
    seq_s: float  # per sequence per decode step
    request_s: float  # per request, before its first forward pass
    # decode steps a prompt arriving during decode waits before its prefill, on average: half the round in
    # progress (a round is scheduler_steps steps) and, with an overlap scheduler, the step launched ahead
    arrival_wait_steps: float
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


def _touched_share(experts: int, top_k: int, held: float) -> float:
    """Probability that a token's top_k distinct experts (uniform routing) include at least one of `held`
    of the `experts`: one minus the chance that all top_k fall outside them (drawn without replacement)."""
    miss = 1.0
    for j in range(top_k):
        miss *= max(experts - held - j, 0.0) / (experts - j)
    return 1.0 - miss


def _collectives(dep: Deployment, moe_layers: int) -> tuple[int, float, float, float]:
    """(collectives per forward pass, seconds per replica token in decode and in prefill, latency each) of
    the replica's layout."""
    m, tp = dep.model, dep.tp
    if tp == 1:
        return 0, 0.0, 0.0, 0.0
    latency = dep.factor("allreduce_latency_us") * 1e-6 + (dep.scale_out_latency_s if dep.nodes > 1 else 0.0)
    eff = dep.factor("allreduce_bw_efficiency")
    if dep.ep > 1 and dep.dp_attention:
        # all-to-all: a token's hidden state goes out to its top-k experts (8-bit when the weights are 8-bit,
        # as DeepEP does) and 16-bit results come back along the same path
        dispatch = DTYPE_BYTES["fp8"] if DTYPE_BYTES.get(dep.weights, 2.0) <= 1.0 else ACT_BYTES
        per_copy = moe_layers * m.hidden * (dispatch + ACT_BYTES)
        ep, experts, k = dep.ep, m.moe_experts, m.moe_top_k
        g = dep.gpu
        nvl = (g.interconnect_gb_per_s or g.pcie_gb_per_s) * 1e9
        out_bps = dep.scale_out_bps
        # decode (DeepEP's low-latency kernels): one message per routed expert, straight to its GPU; the
        # share (ep-1)/ep leaves the GPU, and what leaves the node crosses the scale-out network
        off_node = max(ep - dep.node_gpus, 0) / ep
        on_node = (min(ep, dep.node_gpus) - 1) / ep
        decode = per_copy * k * (off_node / out_bps + on_node / nvl) / eff / tp
        # prefill (DeepEP's normal kernels): one copy per other node holding any of the token's experts over
        # the scale-out network, then one per other GPU holding any of them over NVLink (forwarded inside
        # the node), so a token whose experts share a node or a GPU crosses that link once
        nodes = max(math.ceil(ep / dep.node_gpus), 1)
        remote = (nodes - 1) * _touched_share(experts, k, experts / nodes)
        local = (ep - 1) * _touched_share(experts, k, experts / ep)
        prefill = per_copy * (remote / out_bps + local / nvl) / eff / tp
        return 2 * moe_layers, decode, prefill, latency
    # one ring all-reduce moves 2 (tp-1)/tp of each token's hidden state over the link; a pass runs
    # `count` of them, and the payload returned is all of theirs
    ring = 2.0 * (tp - 1) / tp * m.hidden * ACT_BYTES / (_link_bandwidth_bps(dep) * eff)
    # attention is data-parallel: tokens are gathered before each FFN/MoE and scattered after it
    count = m.layers if dep.dp_attention else 2 * m.layers
    return count, count * ring, count * ring, latency


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
    if prec.gemm_dtype == "fp8" and m.fp8_weight_block:
        # a block-scaled checkpoint's GEMMs apply a scale per weight block in their main loop
        gemm *= dep.factor("block_fp8_gemm_efficiency")
    kv_gpu = kv_bytes_per_token_per_gpu(m, dep.kv, tp, dep.dp_attention) if dep.kv in DTYPE_BYTES else 0.0
    reload = 1.0 if m.is_mla else 1.0 + (m.heads / m.kv_heads - 1.0) * dep.factor("gqa_kv_reload_share")
    n_coll, coll_s, prefill_coll_s, coll_lat = _collectives(dep, moe_layers)
    imbalance = dep.factor("moe_imbalance") if dep.ep > 1 else 1.0
    overhead = dep.engine.step_overhead_ms * 1e-3 + m.layers * dep.factor("layer_overhead_us") * 1e-6
    # engines capture decode steps in CUDA graphs; prefill passes (variable shapes) launch every kernel
    # at the CUDA launch latency; without CUDA graphs (eager) the host issues every kernel of a decode
    # step (Python, dispatch: eager_kernel_us each, fitted on eager rows) while the GPU runs the ones
    # already queued, so a decode step takes the longer of the two (`host_s`), not their sum
    kernels = m.layers * kernels_per_layer(dep)
    prefill_overhead = overhead + kernels * KERNEL_LAUNCH_US * 1e-6
    eager_host = kernels * dep.factor("eager_kernel_us") * 1e-6
    host = eager_host if dep.eager else 0.0
    if dep.eager:
        prefill_overhead = max(prefill_overhead, overhead + host)
    # per-sequence decode-attention cost: every GPU runs every sequence (its heads), or under DP
    # attention one GPU runs each sequence
    attn_seq = m.layers * dep.factor("attn_seq_overhead_us") * 1e-6 / (tp if dep.dp_attention else 1)
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
        dp_ranks=tp if dep.dp_attention else 1,
        collectives_per_pass=n_coll,
        collective_latency_s=coll_lat,
        collective_s_per_token=coll_s,
        prefill_collective_s_per_token=prefill_coll_s,
        # wide expert parallelism is run with its all-to-all overlapped with compute (SGLang two-batch
        # overlap, vLLM dual-batch overlap, DeepEP): the slower of the two sets the pace
        overlapped=dep.ep > 1 and dep.dp_attention,
        separate_prefill=dep.engine.engine in SEPARATE_PREFILL_ENGINES,
        overhead_s=overhead,
        host_s=host,
        eager_host_s=eager_host,
        # under DP attention each of the tp ranks runs its own share of the batch through the graph
        graph_max_batch=graph_batch_limit(dep) * (tp if dep.dp_attention else 1),
        prefill_overhead_s=prefill_overhead,
        seq_s=dep.factor("seq_overhead_us") * 1e-6 + attn_seq,
        request_s=dep.factor("request_overhead_ms") * 1e-3,
        arrival_wait_steps=0.5 * dep.scheduler_steps + (1.0 if overlap_schedule(dep) else 0.0),
        max_batched_tokens=dep.factor("max_num_batched_tokens"),
        max_seqs=sequence_limit(dep),
        kv_reserve_output_fraction=dep.factor("kv_reserve_output_fraction"),
        max_tokens_in_kv=float(mem.max_tokens_in_kv),
        fits=mem.fits,
    )
