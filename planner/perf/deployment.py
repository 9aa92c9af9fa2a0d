"""One replica of a model on `tp` GPUs, and the engine factors that apply to it.

The engine factors that are not fitted (runtime reserve, scheduler limits) and the defaults of the fitted
ones live here as named constants, so a profile with a missing key still gives a physical answer.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.types import EngineProfile, Gpu, ModelArch

WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
KV_DTYPES = ("bf16", "fp16", "fp8")

# Defaults of the `extra` factors of an EngineProfile (engines.yaml overrides them per engine x family).
EXTRA_DEFAULTS: dict[str, float] = {
    # (kv_bandwidth_efficiency: achieved/peak bandwidth of decode attention over the paged KV cache;
    # defaults to the engine's bandwidth_efficiency when absent.)
    # Fraction of bf16 peak reached by attention kernels (FlashAttention/FMHA); fitted where data exist.
    "attention_efficiency": 0.5,
    # Share of the query heads of a GQA group that re-read their KV head from HBM in decode attention:
    # 0 for kernels that load a KV head once for its whole group (XQA, FlashInfer, FlashAttention);
    # up to 1 for older generation kernels that loaded it per query head. KV reads per step are
    # multiplied by 1 + (heads/kv_heads - 1) x this share.
    "gqa_kv_reload_share": 0.0,
    # Latency of one small tensor-parallel all-reduce (custom one-shot kernels on NVLink are ~5-10 us,
    # NCCL over PCIe ~20-30 us); fitted per engine x family where TP rows exist.
    "allreduce_latency_us": 10.0,
    # Achieved fraction of the link bandwidth for the ring all-reduce (nccl-tests bus bandwidth/peak).
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


# How each engine turns its memory knob (`gpu_memory_utilization` here) into a KV-cache pool:
# - "total": vLLM's gpu_memory_utilization is a share of the device's total memory that weights, the
#   profiled activation peak, the runtime's own allocations and the KV cache must all fit in;
# - "static": SGLang's mem_fraction_static is a share of total memory for weights and the KV pool;
#   activations and CUDA graphs live in the remaining share;
# - "free": TensorRT-LLM's kv_cache_free_gpu_memory_fraction is a share of the memory still free after
#   the engine has loaded its weights and allocated activations and workspaces.
MEMORY_SEMANTICS: dict[str, str] = {"vllm": "total", "sglang": "static", "trtllm": "free"}


@dataclass(frozen=True)
class Deployment:
    """One replica: `model` sharded over `tp` GPUs of type `gpu`, served by `engine`.

    `gpu_memory_utilization` is the engine's memory knob under its own semantics (MEMORY_SEMANTICS);
    `max_model_len` overrides the model's context window (engines accept a longer one when told to).
    """

    model: ModelArch
    gpu: Gpu
    tp: int
    weights: str
    kv: str
    engine: EngineProfile
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None

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
            )
        )

    @property
    def context_window(self) -> int:
        """Most positions one sequence may occupy: the override, else the model's window."""
        return self.max_model_len if self.max_model_len is not None else self.model.max_position

    @property
    def memory_semantics(self) -> str:
        return MEMORY_SEMANTICS.get(self.engine.engine, "total")

    def factor(self, name: str) -> float:
        """An engine `extra` factor, or its documented default."""
        return float(self.engine.extra.get(name, EXTRA_DEFAULTS[name]))
