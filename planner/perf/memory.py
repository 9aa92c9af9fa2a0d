"""Memory per GPU of one replica: weights, activation workspace, runtime reserve and the KV cache.

Everything is derived from the architecture (ModelArch) and the storage dtypes; the only engine inputs
are documented constants (runtime reserve, activation buffer size, scheduler limits).

Conventions (units in names): `*_gb` are 1e9 bytes; a GPU's size is the bytes the device reports
(`Gpu.device_memory_bytes`: an "80 GB" H100 reports 81559 MiB = 85.5 GB). "Per GPU" vs "per replica"
(= tp GPUs) is in each field's docstring. How an engine's memory knob splits that memory between
weights, workspace and the KV cache is the engine's own (deployment.MEMORY_SEMANTICS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from catalog.types import DTYPE_BYTES, ModelArch
from planner.perf.deployment import KV_DTYPES, WEIGHT_DTYPES, Deployment

GB = 1e9
ACT_BYTES = 2.0  # activations and all-reduce payloads are bf16/fp16
LOGIT_BYTES = 4.0  # logits are materialised in fp32
DEFAULT_CONTEXT_TOKENS = 1024  # `fits` without a context length means: holds one request this long

# Extra bytes per weight element for quantisation scales (group-wise formats carry one scale per group):
# int4 (AWQ/GPTQ, group 128, fp16 scale + zero) = 4/128; NVFP4 (fp8 scale per 16 elements) = 1/16;
# fp8/int8 use per-tensor or per-channel scales (negligible).
QUANT_SCALE_BYTES: dict[str, float] = {"int4": 4.0 / 128.0, "fp4": 1.0 / 16.0}


def weight_bytes_per_param(weights: str) -> float:
    """Storage bytes per quantised linear-layer parameter, scales included."""
    return DTYPE_BYTES[weights] + QUANT_SCALE_BYTES.get(weights, 0.0)


def embedding_params(model: ModelArch) -> tuple[int, int]:
    """(input embedding, lm_head) parameter counts; a tied lm_head has no separate parameters."""
    embed = model.vocab * model.hidden
    return embed, 0 if model.tied_embeddings else embed


def layer_params(model: ModelArch, *, active: bool = False) -> int:
    """Parameters of the transformer blocks (what quantisation applies to), all experts or active ones."""
    embed, head = embedding_params(model)
    total = model.active_params if active else model.total_params
    return total - embed - head - model.hidden


def weights_bytes_total(model: ModelArch, weights: str) -> float:
    """Bytes of all weights of a replica. Quantised checkpoints keep embeddings and lm_head in 16-bit
    (ModelOpt, AWQ and GPTQ all leave them unquantised); MoE models hold every expert."""
    embed, head = embedding_params(model)
    return layer_params(model) * weight_bytes_per_param(weights) + (embed + head + model.hidden) * 2.0


@dataclass(frozen=True)
class WeightSplit:
    """Weight bytes on one GPU of a replica, by what reads them.

    Attention blocks are split over the tp GPUs, or held whole by every GPU under DP attention. Dense
    FFNs, shared experts and routers are split over tp. Routed experts are split over tp, or placed
    whole on `ep` ranks (each GPU then holds experts/ep of them, split over tp/ep). The vocabulary is
    split over tp (embedding lookup, lm_head GEMM)."""

    attention: float
    dense_ffn: float
    expert_unit: float  # one routed expert's bytes on a GPU that holds it, summed over the MoE layers
    experts_per_gpu: float  # routed experts per MoE layer held by each GPU
    embedding: float  # input embedding and final norm (a lookup: a few rows are read)
    lm_head: float  # output projection (read in full every forward pass; the embedding if tied)
    tied: bool = False  # lm_head is the embedding table (stored once)

    @property
    def total(self) -> float:
        head = 0.0 if self.tied else self.lm_head
        return self.attention + self.dense_ffn + self.expert_unit * self.experts_per_gpu + self.embedding + head

    @property
    def dense_read(self) -> float:
        """Bytes every forward pass reads regardless of routing: attention, dense FFN, lm_head."""
        return self.attention + self.dense_ffn + self.lm_head


def weight_split(model: ModelArch, weights: str, tp: int, ep: int = 1, dp_attention: bool = False) -> WeightSplit:
    """Per-GPU weight bytes of one replica (WeightSplit); sums to weights_bytes_total / tp without DP
    attention."""
    wb = weight_bytes_per_param(weights)
    dense_layers, moe_layers = (model.moe_dense_layers, model.layers - model.moe_dense_layers) if model.is_moe else (
        model.layers,
        0,
    )
    attn = model.layers * (model.attention_params_per_layer() + 2 * model.hidden) * wb
    ffn = dense_layers * model.mlp_params(model.intermediate) * wb
    if model.is_moe:
        ffn += moe_layers * (model.moe_shared_experts * model.expert_params() + model.hidden * model.moe_experts) * wb
    embed, head = embedding_params(model)
    expert_total = moe_layers * model.expert_params() * wb
    experts_per_gpu = model.moe_experts / ep if model.is_moe else 0.0
    return WeightSplit(
        attention=attn if dp_attention else attn / tp,
        dense_ffn=ffn / tp,
        expert_unit=expert_total / max(tp // ep, 1) if ep > 1 else expert_total / tp,
        experts_per_gpu=experts_per_gpu,
        embedding=(embed + model.hidden) * 2.0 / tp,
        lm_head=(head if head else embed) * 2.0 / tp,
        tied=not head,
    )


def kv_heads_per_gpu(model: ModelArch, tp: int) -> int:
    """KV heads each GPU stores: heads are split over TP ranks and replicated once tp > kv_heads."""
    return max(1, math.ceil(model.kv_heads / tp))


def kv_bytes_per_token_per_gpu(model: ModelArch, kv: str, tp: int, dp_attention: bool = False) -> float:
    """KV bytes one token occupies on each GPU that stores it.

    GQA/MHA: 2 (K and V) x layers x kv heads on this GPU x head_dim x bytes.
    MLA: layers x (kv_lora_rank + rope dim) x bytes; the latent is not split by heads, so every TP rank
    keeps the whole latent (as vLLM and SGLang do). Under DP attention a request's tokens live on one
    GPU only, whole (`kv_tokens_capacity` accounts for that).
    """
    nbytes = DTYPE_BYTES[kv]
    if dp_attention:
        tp = 1
    if model.is_mla:
        return model.layers * (model.kv_lora_rank + model.qk_rope_dim) * nbytes
    return 2.0 * model.layers * kv_heads_per_gpu(model, tp) * model.head_dim * nbytes


def kv_tokens_per_request(model: ModelArch, context_len: int) -> int:
    """Tokens of KV a request of `context_len` tokens holds (a sliding window caps it)."""
    if model.sliding_window:
        return min(context_len, model.sliding_window)
    return context_len


def mlp_width_per_token(model: ModelArch) -> int:
    """Widest FFN activation one token produces (MoE: top-k routed plus shared experts)."""
    if model.is_moe:
        moe = (model.moe_top_k + model.moe_shared_experts) * model.moe_intermediate
        return max(moe, model.intermediate if model.moe_dense_layers else 0)
    return model.intermediate


def activation_bytes_per_gpu(model: ModelArch, tp: int, max_batched_tokens: float, max_seqs: float) -> float:
    """Peak activation workspace of one forward pass over `max_batched_tokens` tokens, per GPU.

    Live tensors at the peak: residual, normed input and attention output (3 x hidden), the QKV
    projection, the gated-MLP input and output (3 x width/tp), plus fp32 logits for the sampled rows.
    This is what engines reserve by profiling a dummy forward pass of that size.
    """
    if model.is_mla:
        qkv = model.heads * (model.qk_nope_dim + model.qk_rope_dim + model.v_head_dim) / tp
    else:
        qkv = (model.heads + 2 * model.kv_heads) * model.head_dim / tp
    per_token = 3 * model.hidden + qkv + 3 * mlp_width_per_token(model) / tp
    logits = min(max_batched_tokens, max_seqs) * model.vocab / tp * LOGIT_BYTES
    return max_batched_tokens * per_token * ACT_BYTES + logits


@dataclass(frozen=True)
class MemoryBreakdown:
    """Where the memory of one replica goes. `*_per_gpu` fields are per GPU, the rest per replica.
    GB are 1e9 bytes; the device's size is what it reports (`Gpu.device_memory_bytes`)."""

    fits: bool
    reason: str
    tp: int
    usable_gb_per_gpu: float  # what the engine may use under its memory knob (MEMORY_SEMANTICS)
    weights_gb: float  # per GPU
    activation_gb: float  # per GPU
    reserve_gb: float  # per GPU (CUDA context, graphs, NCCL/cuBLAS workspaces)
    free_for_kv_gb: float  # per replica
    kv_gb_per_token: float  # per replica
    max_tokens_in_kv: int  # per replica
    context_len: int
    kv_gb_per_request: float  # per replica, at context_len tokens
    max_requests: int  # requests of context_len tokens the KV cache holds at once
    device_gb_per_gpu: float = 0.0  # memory the device reports, GB
    semantics: str = "total"  # how the engine's memory knob is read (deployment.MEMORY_SEMANTICS)

    @property
    def weights_gb_total(self) -> float:
        return self.weights_gb * self.tp

    @property
    def free_for_kv_gb_per_gpu(self) -> float:
        return self.free_for_kv_gb / self.tp


def _invalid(dep: Deployment) -> str:
    """Why a deployment is not a valid configuration at all ('' if it is)."""
    m = dep.model
    if dep.weights not in WEIGHT_DTYPES:
        return f"unknown weights dtype {dep.weights!r}; valid: {', '.join(WEIGHT_DTYPES)}"
    if dep.kv not in KV_DTYPES:
        return f"unknown kv dtype {dep.kv!r}; valid: {', '.join(KV_DTYPES)}"
    if dep.tp < 1:
        return f"tp must be >= 1, got {dep.tp}"
    if dep.ep > 1 and not m.is_moe:
        return f"ep {dep.ep} needs a mixture-of-experts model; {m.id} is dense"
    if dep.ep > 1 and (dep.ep > dep.tp or dep.tp % dep.ep):
        return f"ep {dep.ep} must divide the replica's {dep.tp} GPUs (tp)"
    if dep.dp_attention:
        return ""
    if m.heads % dep.tp:
        valid = [t for t in (1, 2, 4, 8, 16) if m.heads % t == 0]
        return f"tp {dep.tp} does not divide {m.id}'s {m.heads} attention heads; valid tp: {', '.join(map(str, valid))}"
    if not m.is_mla and dep.tp > m.kv_heads and dep.tp % m.kv_heads:
        return f"tp {dep.tp} is not a multiple of {m.id}'s {m.kv_heads} KV heads"
    if not m.is_mla and dep.tp < m.kv_heads and m.kv_heads % dep.tp:
        return f"tp {dep.tp} does not divide {m.id}'s {m.kv_heads} KV heads"
    return ""


def kv_pool_gb_per_gpu(
    semantics: str, device_gb: float, fraction: float, weights_gb: float, act_gb: float, reserve_gb: float
) -> tuple[float, float, bool]:
    """(KV pool GB, GB the engine uses in all, whether weights and workspace fit) on one GPU under an
    engine's memory semantics (deployment.MEMORY_SEMANTICS)."""
    fixed = weights_gb + act_gb + reserve_gb
    if semantics == "free":
        free = device_gb - fixed
        kv = fraction * max(free, 0.0)
        return kv, fixed + kv, free > 0.0
    if semantics == "static":
        static = device_gb * fraction
        outside = device_gb - static  # activations and graphs; any excess comes out of the KV pool
        kv = static - weights_gb - max(act_gb + reserve_gb - outside, 0.0)
        return max(kv, 0.0), fixed + max(kv, 0.0), kv > 0.0
    usable = device_gb * fraction
    return max(usable - fixed, 0.0), usable, usable - fixed > 0.0


def memory_breakdown(dep: Deployment, context_len: int | None = None) -> MemoryBreakdown:
    """Memory of one replica under the engine's memory knob, and whether one request of `context_len`
    tokens (default DEFAULT_CONTEXT_TOKENS) fits next to the weights and workspace."""
    m, g, tp = dep.model, dep.gpu, dep.tp
    ctx = int(context_len) if context_len is not None else min(DEFAULT_CONTEXT_TOKENS, dep.context_window)
    device_gb = g.device_memory_bytes / GB
    util = dep.gpu_memory_utilization
    semantics = dep.memory_semantics
    bad = _invalid(dep)
    if bad:
        return MemoryBreakdown(
            False, bad, max(tp, 1), device_gb * util, 0.0, 0.0, 0.0, 0.0, 0.0, 0, ctx, 0.0, 0, device_gb, semantics
        )
    weights_gb = weight_split(m, dep.weights, tp, dep.ep, dep.dp_attention).total / GB
    act_gb = activation_bytes_per_gpu(m, tp, dep.factor("max_num_batched_tokens"), dep.factor("max_num_seqs")) / GB
    reserve_gb = dep.factor("runtime_reserve_gb")
    kv_tok_gpu = kv_bytes_per_token_per_gpu(m, dep.kv, tp, dep.dp_attention)
    # bytes one token takes in the whole replica: on every GPU, or (DP attention) on one
    kv_tok_replica = kv_tok_gpu * (1 if dep.dp_attention else tp)
    free_gpu_gb, usable, loads = kv_pool_gb_per_gpu(semantics, device_gb, util, weights_gb, act_gb, reserve_gb)
    max_tokens = int(free_gpu_gb * tp * GB // kv_tok_replica)
    kv_req_gb = kv_tokens_per_request(m, ctx) * kv_tok_replica / GB
    max_requests = max_tokens // max(kv_tokens_per_request(m, ctx), 1)
    knob = {
        "total": f"{device_gb:.1f} GB x {util:g} gpu_memory_utilization each",
        "static": f"{device_gb:.1f} GB x {util:g} static fraction each for weights and KV",
        "free": f"{device_gb:.1f} GB each; KV gets {util:g} of what is left",
    }.get(semantics, "")
    reason = ""
    if not loads:
        room = device_gb * util if semantics in ("total", "static") else device_gb
        reason = (
            f"{m.id} {dep.weights} needs {weights_gb * tp:.0f} GB of weights"
            + (f" (+{(act_gb + reserve_gb) * tp:.0f} GB runtime workspace)" if weights_gb <= room else "")
            + f"; {tp} x {g.id} at tp {tp} give {room * tp:.0f} GB usable ({knob})"
        )
    elif max_requests < 1:
        reason = (
            f"weights and workspace fit ({weights_gb + act_gb + reserve_gb:.1f} GB per GPU of {device_gb:.1f} GB) "
            "but one "
            f"{ctx}-token request needs {kv_req_gb:.2f} GB of {dep.kv} KV cache and only "
            f"{free_gpu_gb * tp:.2f} GB are left for it on the {tp} GPU(s) ({knob})"
        )
    return MemoryBreakdown(
        fits=not reason,
        reason=reason,
        tp=tp,
        usable_gb_per_gpu=usable,
        weights_gb=weights_gb,
        activation_gb=act_gb,
        reserve_gb=reserve_gb,
        free_for_kv_gb=free_gpu_gb * tp,
        kv_gb_per_token=kv_tok_replica / GB,
        max_tokens_in_kv=max_tokens,
        context_len=ctx,
        kv_gb_per_request=kv_req_gb,
        max_requests=int(max_requests),
        device_gb_per_gpu=device_gb,
        semantics=semantics,
    )


def kv_admitted(dep: Deployment, input_len: np.ndarray, output_len: np.ndarray) -> np.ndarray:
    """Requests of each (input, output) class the replica's KV cache admits at once. The scheduler admits
    a request when its prompt plus the reserved share of its output fits (`kv_reserve_output_fraction`);
    a sliding window caps what a request holds. A request that cannot fit at full length, or needs more
    positions than the context window, is never admitted (0): the last output token is sampled from the
    previous position and never stored, so I + O tokens occupy I + O - 1 positions."""
    mem = memory_breakdown(dep)
    i = np.asarray(input_len, dtype=float)
    o = np.asarray(output_len, dtype=float)
    window = float(dep.model.sliding_window) if dep.model.sliding_window else math.inf
    per_req = np.minimum(i + dep.factor("kv_reserve_output_fraction") * o, window)
    full = np.minimum(i + o, window)
    held = np.floor(mem.max_tokens_in_kv / np.maximum(per_req, 1.0))
    admitted: np.ndarray = np.where(
        (mem.max_tokens_in_kv >= full) & (i + o - 1 <= dep.context_window) & mem.fits, held, 0.0
    )
    return admitted


def sequence_limit(dep: Deployment) -> float:
    """Most sequences one replica's scheduler runs at once: the deployment's own `max_num_seqs`, else the
    engine's default (the profile's `max_num_seqs`)."""
    return float(dep.max_num_seqs) if dep.max_num_seqs else dep.factor("max_num_seqs")


# SGLang's default largest CUDA-graph decode batch (--cuda-graph-max-bs) by device memory (MiB, as
# nvidia-smi reports it) and TP, from `_handle_gpu_memory_settings` of the current release (sglang 0.5.23,
# sglang/srt/arg_groups/memory_hook.py): (below MiB, tp < 4, tp >= 4). Releases 0.3.0 to 0.4.x captured
# batches up to 160 on any GPU of 25 GB or more (MeasuredRow.cuda_graph_max_batch).
SGLANG_CUDA_GRAPH_MAX_BATCH: tuple[tuple[float, int, int], ...] = (
    (20 * 1024, 8, 8),
    (35 * 1024, 48, 160),
    (60 * 1024, 32, 160),
    (160 * 1024, 256, 512),
    (math.inf, 512, 512),
)


# Engines whose decode batches past a largest captured CUDA graph run eager (graph_batch_limit).
GRAPH_LIMITED_ENGINES = frozenset({"sglang"})
# Engines whose scheduler launches the next step before reading the last one's results by default
# (overlap_schedule).
OVERLAP_SCHEDULE_ENGINES = frozenset({"sglang"})


def graph_batch_limit(dep: Deployment) -> float:
    """Largest decode batch the engine runs as a captured CUDA graph; larger batches run eager, their
    kernels issued one by one from Python (SGLang: `CudaGraphRunner.can_run` is false past its largest
    captured batch, and the model's forward runs as plain PyTorch). The deployment's own
    `cuda_graph_max_batch`, else SGLang's default for the device and TP; vLLM past its capture sizes runs
    its torch.compile'd graph and TensorRT-LLM issues kernels from C++, so neither has this cliff (inf)."""
    if dep.cuda_graph_max_batch:
        return float(dep.cuda_graph_max_batch)
    if dep.engine.engine not in GRAPH_LIMITED_ENGINES:
        return math.inf
    mib = dep.gpu.device_memory_bytes / 2**20
    for below, small_tp, big_tp in SGLANG_CUDA_GRAPH_MAX_BATCH:
        if mib < below:
            return float(small_tp if dep.tp < 4 else big_tp)
    return math.inf


def overlap_schedule(dep: Deployment) -> bool:
    """Whether the engine's scheduler launches the next forward pass before it reads the last one's
    results (SGLang's overlap scheduler, on by default since 0.4; `event_loop_overlap` in the 0.4.0 and
    0.5.23 wheels): a prompt arriving during a decode step is read once that step ends, by when the next
    decode step is already launched, so its prefill waits one step more. The deployment's own setting,
    else SGLang's default (on; SGLang 0.4 turned it off under DP attention, rows of that release say so)."""
    if dep.overlap_schedule is not None:
        return dep.overlap_schedule
    return dep.engine.engine in OVERLAP_SCHEDULE_ENGINES
