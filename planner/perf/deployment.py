"""One replica of a model on `tp` GPUs, and the engine factors that apply to it.

The engine factors that are not fitted (runtime reserve, scheduler limits) and the defaults of the fitted
ones live here as named constants, so a profile with a missing key still gives a physical answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.types import EngineProfile, Gpu, ModelArch

WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
KV_DTYPES = ("bf16", "fp16", "fp8")

# Defaults of the `extra` factors of an EngineProfile (engines.yaml overrides them per engine x family);
# each key is a field of catalog.types.EngineFactors (tests/test_engine_factors.py checks both lists match).
# The fitted ones are the estimator's named physical terms (planner/perf/roofline.py uses each once).
EXTRA_DEFAULTS: dict[str, float] = {
    # Achieved/peak HBM bandwidth of decode attention over the paged KV cache (fitted).
    "kv_bandwidth_efficiency": 0.6,
    # Fraction of the 16-bit peak reached by prefill attention kernels (FlashAttention/FMHA) (fitted).
    "attention_efficiency": 0.5,
    # Grouped-GEMM efficiency of routed experts relative to a dense GEMM of the same FLOPs (fitted):
    # many small GEMMs with ragged token counts reach a lower share of the peak.
    "moe_gemm_efficiency": 0.6,
    # Ratio of the busiest expert-parallel rank's routed tokens to the mean (fitted; 1 = perfectly even).
    "moe_imbalance": 1.3,
    # Block-scaled FP8 GEMMs (a checkpoint with per-block weight scales, DeepSeek-V3's 128 x 128) relative to
    # per-tensor FP8 GEMMs: the scales are applied per block in the main loop (fitted, global).
    "block_fp8_gemm_efficiency": 0.8,
    # Fixed time per transformer layer per forward pass: kernel launches and tails that no batch size
    # amortises (inside CUDA graphs), and what makes thin TP shards lose efficiency (fitted).
    "layer_overhead_us": 20.0,
    # Launch cost per kernel when the engine runs without CUDA graphs (eager mode) (fitted).
    "eager_kernel_us": 20.0,
    # Per sequence per decode step: scheduling, sampling, detokenisation and block-table work (fitted).
    "seq_overhead_us": 10.0,
    # Per sequence per layer in decode attention: the kernel's fixed cost per sequence, which short
    # contexts do not amortise (fitted).
    "attn_seq_overhead_us": 0.3,
    # Tokens per GEMM (per expert for routed experts) at which a prefill pass's GEMMs reach half their
    # long-GEMM efficiency: short GEMMs fill few tiles and are closer to memory-bound (fitted, global).
    "gemm_half_tokens": 64.0,
    # Context length (tokens) at which decode attention reaches half its streaming bandwidth: short
    # contexts give each sequence's kernel blocks too little KV to amortise their fixed cost (fitted,
    # global). Time per sequence per step = (context + this) x KV bytes / (bandwidth x efficiency).
    "kv_context_half_tokens": 64.0,
    # Per request: tokenisation, HTTP and admission before the first forward pass, added to TTFT (fitted).
    "request_overhead_ms": 5.0,
    # Latency of one small tensor-parallel all-reduce (custom one-shot kernels on NVLink ~5-10 us, NCCL
    # over PCIe ~20-50 us) (fitted).
    "allreduce_latency_us": 10.0,
    # Share of the query heads of a GQA group that re-read their KV head from HBM in decode attention:
    # 0 for kernels that load a KV head once for its whole group (XQA, FlashInfer, FlashAttention);
    # up to 1 for older generation kernels that loaded it per query head (legacy rows only).
    "gqa_kv_reload_share": 0.0,
    # Achieved fraction of the link bandwidth for the ring all-reduce and the all-to-all (nccl-tests bus
    # bandwidth / peak) (fitted, global).
    "allreduce_bw_efficiency": 0.75,
    # CUDA context, cuBLAS/NCCL workspaces and CUDA graphs per GPU, GB (engine-documented constant).
    "runtime_reserve_gb": 1.5,
    # Tokens per forward pass the engine sizes its activation buffers for (and chunks prefills into).
    "max_num_batched_tokens": 8192.0,
    # Most sequences the scheduler runs at once.
    "max_num_seqs": 1024.0,
    # Share of a request's output tokens whose KV the scheduler reserves at admission: 1.0 reserves the
    # whole request (TensorRT-LLM GUARANTEED_NO_EVICT), 0.5 admits on current use (paged, preempting).
    "kv_reserve_output_fraction": 0.5,
}

# Per-GPU bandwidth and latency of the network between nodes (a replica spanning nodes): one 400 Gb/s
# NIC per GPU (ConnectX-7 / InfiniBand NDR, the H100/H200 cluster norm) and NCCL's inter-node latency.
SCALE_OUT_GB_PER_S = 50.0
SCALE_OUT_LATENCY_US = 25.0
GPUS_PER_NODE = 8


# How each engine turns its memory knob (`gpu_memory_utilization` here) into a KV-cache pool:
# - "total": vLLM's gpu_memory_utilization is a share of the device's total memory that weights, the
#   profiled activation peak, the runtime's own allocations and the KV cache must all fit in;
# - "static": SGLang's mem_fraction_static is a share of total memory for weights and the KV pool;
#   activations and CUDA graphs live in the remaining share;
# - "free": TensorRT-LLM's kv_cache_free_gpu_memory_fraction is a share of the memory still free after
#   the engine has loaded its weights and allocated activations and workspaces.
MEMORY_SEMANTICS: dict[str, str] = {"vllm": "total", "sglang": "static", "trtllm": "free"}

# Engines that run prefills in their own forward passes instead of riding them in the decode batch
# (SGLang's default scheduler): each such pass reads the weights and pays a pass's fixed costs again.
SEPARATE_PREFILL_ENGINES = frozenset({"sglang"})


@dataclass(frozen=True)
class Deployment:
    """One replica: `model` sharded over `tp` GPUs of type `gpu`, served by `engine`.

    `gpu_memory_utilization` is the engine's memory knob under its own semantics (MEMORY_SEMANTICS);
    `max_model_len` overrides the model's context window (engines accept a longer one when told to).
    MoE models may split their routed experts over `ep` of the `tp` GPUs (expert parallelism) and run
    attention data-parallel (`dp_attention`: each request's KV on one GPU, attention weights on every
    GPU). `eager` runs without CUDA graphs; `nodes` > 1 puts the replica's GPUs on several nodes (of
    `gpus_per_node`, joined by `scale_out_gb_per_s` per GPU and `scale_out_latency_us`: the instance type's
    network from the catalog, SCALE_OUT_* when not given);
    `max_num_seqs` overrides the engine's sequence limit, `cuda_graph_max_batch` the largest decode batch the
    engine captures in CUDA graphs (memory.graph_batch_limit), `overlap_schedule` whether the scheduler
    launches the next step before it reads the last one's results (memory.overlap_schedule);
    `scheduler_steps` > 1 is multi-step scheduling (vLLM --num-scheduler-steps): decode runs that many steps
    per scheduling round, so a new request waits for the round in progress.
    """

    model: ModelArch
    gpu: Gpu
    tp: int
    weights: str
    kv: str
    engine: EngineProfile
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    ep: int = 1
    dp_attention: bool = False
    eager: bool = False
    nodes: int = 1
    max_num_seqs: int | None = None
    cuda_graph_max_batch: int | None = None
    overlap_schedule: bool | None = None
    scheduler_steps: int = 1
    # the network between the replica's nodes (catalog networks, per GPU): None = the SCALE_OUT_* defaults
    scale_out_gb_per_s: float | None = None
    scale_out_latency_us: float | None = None
    gpus_per_node: int | None = None

    def __hash__(
        self,
    ) -> int:  # ModelArch/Gpu hold dicts; hash on the identifying fields (consistent with ==)
        return hash(
            (
                self.model.id,
                self.gpu.id,
                self.tp,
                self.weights,
                self.kv,
                self.engine.engine,
                self.engine.family,
                self.gpu_memory_utilization,
                self.max_model_len,
                self.ep,
                self.dp_attention,
                self.eager,
                self.nodes,
                self.max_num_seqs,
                self.cuda_graph_max_batch,
                self.overlap_schedule,
                self.scheduler_steps,
                self.scale_out_gb_per_s,
                self.scale_out_latency_us,
                self.gpus_per_node,
            )
        )

    @property
    def scale_out_bps(self) -> float:
        """Per-GPU bytes/s between the replica's nodes: the instance network's, else SCALE_OUT_GB_PER_S."""
        return (self.scale_out_gb_per_s if self.scale_out_gb_per_s is not None else SCALE_OUT_GB_PER_S) * 1e9

    @property
    def scale_out_latency_s(self) -> float:
        return (self.scale_out_latency_us if self.scale_out_latency_us is not None else SCALE_OUT_LATENCY_US) * 1e-6

    @property
    def node_gpus(self) -> int:
        return self.gpus_per_node if self.gpus_per_node is not None else GPUS_PER_NODE

    @property
    def context_window(self) -> int:
        """Most positions one sequence may occupy: the override, else the model's window."""
        return self.max_model_len if self.max_model_len is not None else self.model.max_position

    @property
    def memory_semantics(self) -> str:
        return MEMORY_SEMANTICS.get(self.engine.engine, "total")

    def factor(self, name: str) -> float:
        """An engine `extra` factor, or its documented default."""
        value = getattr(self.engine.extra, name)
        return float(EXTRA_DEFAULTS[name] if value is None else value)
