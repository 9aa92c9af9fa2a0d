"""Typed, frozen catalog entries. Units are in field names; every entry carries `source` and `as_of`.

Parameter counts of a model are derived from its architecture, never typed in, so that a model read
from a HF config.json and one from the shipped catalog are treated identically.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "fp4": 0.5,
}
"""Bytes per element of each storage dtype (quantisation metadata is accounted for by the estimator)."""

WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
KV_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4")

MAX_CATALOG_NUMBER = 1e15

Interconnect = Literal["nvlink", "xgmi", "pcie", "none"]


class CatalogEntry(BaseModel):
    """Immutable, no unknown fields, and no NaN/inf in any float (a YAML `.inf` memory or price would
    otherwise reach the estimator and the solver)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    LEGACY_NAMES: ClassVar[Mapping[str, str]] = {}
    """Former field name -> today's, still accepted in data files and overlays (`*_gbps` meant GB/s)."""

    @classmethod
    def current_names(cls, data: Mapping[str, Any]) -> dict[str, Any]:
        """`data` with each former field name replaced by today's (kept as is when both are given)."""
        out = dict(data)
        for old, new in cls.LEGACY_NAMES.items():
            if old in out and new not in out:
                out[new] = out.pop(old)
        return out

    @model_validator(mode="before")
    @classmethod
    def _former_names(cls, data: object) -> object:
        if not isinstance(data, Mapping) or not cls.LEGACY_NAMES:
            return data
        both = [old for old, new in cls.LEGACY_NAMES.items() if old in data and new in data]
        if both:
            raise ValueError(f"give {cls.LEGACY_NAMES[both[0]]} or its former name {both[0]}, not both")
        return cls.current_names(data)

    @model_validator(mode="after")
    def _no_absurd_numbers(self) -> CatalogEntry:
        """No catalog number is beyond 1e15 (bytes of a GPU, parameters of a model, prices, bandwidths are
        all far below it): a larger one is a typo or a hostile overlay, refused by field name."""
        for name, value in self.__dict__.items():
            values = value.values() if isinstance(value, dict) else value if isinstance(value, tuple) else (value,)
            for v in values:
                if isinstance(v, int | float) and not isinstance(v, bool) and abs(v) > MAX_CATALOG_NUMBER:
                    raise ValueError(f"{name}: {v:.3g} is beyond any real value (at most {MAX_CATALOG_NUMBER:.0e})")
        return self


class Gpu(CatalogEntry):
    """One accelerator model. TFLOPS are dense (no sparsity) per compute dtype."""

    id: str
    name: str
    vendor: Literal["nvidia", "amd", "google", "intel", "other"]
    family: str = Field(description="architecture family used to pick calibration factors, e.g. hopper")
    memory_gb: float = Field(gt=0, description='the vendor\'s memory label per GPU ("80 GB"), for display and filters')
    memory_bytes: int | None = Field(
        default=None,
        gt=0,
        description="per-GPU memory as the device reports it (nvidia-smi memory.total); default memory_gb GiB",
    )
    mem_bandwidth_gb_per_s: float = Field(gt=0, description="HBM/GDDR bandwidth in GB/s")
    tflops: dict[str, float] = Field(description="dense peak TFLOPS per dtype: bf16, fp16, fp8, int8, fp4")
    interconnect: Interconnect = "none"
    interconnect_gb_per_s: float | None = Field(default=None, description="per-GPU GPU-to-GPU bandwidth, GB/s")
    pcie_gb_per_s: float = Field(gt=0, description="host link bandwidth per direction, GB/s")
    tdp_w: float | None = None
    source: str
    as_of: str
    confidence: Literal["high", "medium", "low"] = "medium"
    notes: str = ""

    LEGACY_NAMES: ClassVar[Mapping[str, str]] = {
        "mem_bandwidth_gbps": "mem_bandwidth_gb_per_s",
        "interconnect_gbps": "interconnect_gb_per_s",
        "pcie_gbps": "pcie_gb_per_s",
    }

    @property
    def device_memory_bytes(self) -> int:
        """Bytes the device reports, what engines size their memory pools from. Without an explicit
        `memory_bytes`, the vendor's "GB" label is read as GiB: HBM/GDDR capacities are binary (an
        "80 GB" H100 has 80 GiB of HBM, of which the driver reports 81559 MiB)."""
        if self.memory_bytes is not None:
            return self.memory_bytes
        return round(self.memory_gb * 2**30)

    def peak_tflops(self, dtype: str) -> float:
        """Dense peak for a compute dtype, falling back to the widest format the chip supports.

        A chip without fp8/fp4 units (e.g. Ampere) runs fp8/int4 weights by dequantising to 16-bit,
        so its compute rate is the bf16 (or fp16) rate.
        """
        for d in (dtype, "bf16", "fp16"):
            if d in self.tflops and self.tflops[d] > 0:
                return self.tflops[d]
        raise ValueError(f"gpu {self.id} has no usable TFLOPS figure")

    def link_gb_per_s(self) -> float:
        """GPU-to-GPU bandwidth per direction used by tensor-parallel all-reduce."""
        if self.interconnect in ("nvlink", "xgmi") and self.interconnect_gb_per_s:
            return self.interconnect_gb_per_s
        return self.pcie_gb_per_s


class Offering(CatalogEntry):
    """What a user rents: a whole instance with `gpus_per_instance` GPUs, priced as a whole."""

    id: str = Field(description="cloud:region:instance_type, unique in the catalog")
    cloud: str
    region: str
    instance_type: str
    gpu: str = Field(description="Gpu.id")
    gpus_per_instance: int = Field(ge=1)
    price_usd_per_hour: float = Field(ge=0, description="on-demand price of the whole instance")
    spot_price_usd_per_hour: float | None = Field(default=None, ge=0)
    reserved_1y_usd_per_hour: float | None = Field(default=None, ge=0)
    vcpus: int | None = None
    cpu_mem_gb: float | None = Field(default=None, description="host RAM")
    disk_gb: float | None = None
    disk_read_gb_per_s: float | None = Field(default=None, description="local disk read bandwidth, GB/s")
    available_instances: int | None = Field(default=None, ge=0, description="capacity limit, None = unlimited")
    uncertain: bool = Field(default=False, description="price or shape flagged as doubtful by its source")
    price_suspect: str = Field(
        default="", description="why the on-demand price looks wrong (empty: nothing noticed); used but flagged"
    )
    spot_suspect: str = Field(default="", description="why the spot price looks wrong (empty: nothing noticed)")
    preemptible: bool = Field(
        default=False,
        description="the instance type itself is a spot/preemptible product: price_usd_per_hour is a spot price "
        "and the offering is used only where spot is allowed",
    )
    upstream: str = Field(default="", description="provider that runs the hardware when `cloud` resells it")
    source: str
    as_of: str
    notes: str = ""

    LEGACY_NAMES: ClassVar[Mapping[str, str]] = {"disk_read_gbps": "disk_read_gb_per_s"}


class ModelArch(CatalogEntry):
    """A decoder-only transformer, described by the fields of its HF config.json."""

    id: str
    hf_repo: str = ""
    architecture: str = Field(description="HF architectures[0], e.g. LlamaForCausalLM")
    layers: int = Field(ge=1)
    hidden: int = Field(ge=1)
    heads: int = Field(ge=1)
    kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    intermediate: int = Field(ge=1, description="dense FFN width (per expert: moe_intermediate)")
    vocab: int = Field(ge=1)
    max_position: int = Field(ge=1)
    gated_mlp: bool = Field(default=True, description="SwiGLU-style 3-matrix MLP (False: 2-matrix, e.g. OPT)")
    tied_embeddings: bool = False
    attn_bias: bool = False
    # Mixture of experts
    moe_experts: int = 0
    moe_top_k: int = 0
    moe_shared_experts: int = 0
    moe_intermediate: int = 0
    moe_dense_layers: int = Field(
        default=0,
        description="layers with a dense FFN instead of experts (DeepSeek: the leading ones; Llama 4 "
        "Maverick: every other one); parameter counts do not depend on where they are",
    )
    # Multi-head latent attention (DeepSeek-V2/V3)
    q_lora_rank: int = 0
    kv_lora_rank: int = 0
    qk_rope_dim: int = 0
    qk_nope_dim: int = 0
    v_head_dim: int = 0
    sliding_window: int | None = None
    fp8_weight_block: int = Field(
        default=0,
        ge=0,
        description="block size of the FP8 checkpoint's weight scales (HF quantization_config.weight_block_size; "
        "DeepSeek-V3: 128): its FP8 GEMMs rescale every block; 0: per-tensor or per-channel scales",
    )
    extra_params: int = Field(
        default=0,
        ge=0,
        description="parameters outside the decoder (vision encoder and projector of a multimodal "
        "checkpoint): loaded into GPU memory, not touched per generated token",
    )
    source: str
    as_of: str
    notes: str = ""

    @model_validator(mode="after")
    def _check(self) -> ModelArch:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if self.moe_experts and not (0 < self.moe_top_k <= self.moe_experts and self.moe_intermediate > 0):
            raise ValueError("a MoE model needs 0 < moe_top_k <= moe_experts and moe_intermediate > 0")
        if self.moe_dense_layers > self.layers:
            raise ValueError(f"moe_dense_layers ({self.moe_dense_layers}) exceeds layers ({self.layers})")
        return self

    @property
    def is_moe(self) -> bool:
        return self.moe_experts > 0

    @property
    def is_mla(self) -> bool:
        return self.kv_lora_rank > 0

    # --- parameter counts (derived) -------------------------------------------------------------
    def attention_params_per_layer(self) -> int:
        h = self.hidden
        if self.is_mla:
            qk_dim = self.qk_nope_dim + self.qk_rope_dim
            q = (
                h * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * self.heads * qk_dim
                if self.q_lora_rank
                else h * self.heads * qk_dim
            )
            kv = h * (self.kv_lora_rank + self.qk_rope_dim) + self.kv_lora_rank
            kv += self.kv_lora_rank * self.heads * (self.qk_nope_dim + self.v_head_dim)
            o = self.heads * self.v_head_dim * h
            return q + kv + o
        q = h * self.heads * self.head_dim
        kv = 2 * h * self.kv_heads * self.head_dim
        o = self.heads * self.head_dim * h
        bias = (self.heads + 2 * self.kv_heads) * self.head_dim if self.attn_bias else 0
        return q + kv + o + bias

    def mlp_params(self, width: int) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden * width

    def _layer_counts(self) -> tuple[int, int]:
        """(dense-FFN layers, MoE layers)."""
        if not self.is_moe:
            return self.layers, 0
        return self.moe_dense_layers, self.layers - self.moe_dense_layers

    def expert_params(self) -> int:
        """Parameters of one routed expert."""
        return self.mlp_params(self.moe_intermediate)

    def _params(self, experts_counted: int) -> int:
        dense_layers, moe_layers = self._layer_counts()
        norms = 2 * self.hidden
        per_dense = self.attention_params_per_layer() + self.mlp_params(self.intermediate) + norms
        per_moe = (
            self.attention_params_per_layer()
            + (experts_counted + self.moe_shared_experts) * self.expert_params()
            + self.hidden * self.moe_experts  # router
            + norms
        )
        embed = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return dense_layers * per_dense + moe_layers * per_moe + embed + self.hidden

    @cached_property
    def total_params(self) -> int:
        return self._params(self.moe_experts) + self.extra_params

    @cached_property
    def active_params(self) -> int:
        """Parameters touched per token (MoE: top-k routed plus shared experts)."""
        return self._params(self.moe_top_k) if self.is_moe else self._params(0)

    def kv_elements_per_token(self) -> int:
        """KV-cache elements stored per token over all layers (MLA stores the compressed latent)."""
        if self.is_mla:
            return self.layers * (self.kv_lora_rank + self.qk_rope_dim)
        return 2 * self.layers * self.kv_heads * self.head_dim


def _factor(meaning: str) -> Any:
    """An optional engine factor: None (not given) means perf's default (planner/perf/deployment.py
    EXTRA_DEFAULTS) applies."""
    return Field(default=None, ge=0, description=meaning)


class EngineFactors(CatalogEntry):
    """The named factors of an EngineProfile beyond its three main ones (engines.yaml `extra`). Each is
    optional: a factor not given takes perf's documented default (planner/perf/deployment.py EXTRA_DEFAULTS,
    one entry per field here; tests/test_catalog_types.py checks they match). A misspelt name is an error,
    never a silently ignored factor."""

    kv_bandwidth_efficiency: float | None = _factor("achieved/peak HBM bandwidth of decode attention over the KV cache")
    attention_efficiency: float | None = _factor("achieved/16-bit peak TFLOPS of prefill attention kernels")
    moe_gemm_efficiency: float | None = _factor("grouped-GEMM efficiency of routed experts relative to a dense GEMM")
    moe_imbalance: float | None = _factor("busiest expert-parallel rank's routed tokens / the mean (1 = even)")
    block_fp8_gemm_efficiency: float | None = _factor("block-scaled FP8 GEMMs' share of the per-tensor FP8 GEMM rate")
    layer_overhead_us: float | None = _factor("fixed time per layer per forward pass, microseconds")
    eager_kernel_us: float | None = _factor("launch cost per kernel without CUDA graphs (eager mode), microseconds")
    seq_overhead_us: float | None = _factor("per sequence per decode step (scheduling, sampling), microseconds")
    attn_seq_overhead_us: float | None = _factor("per sequence per layer in decode attention, microseconds")
    request_overhead_ms: float | None = _factor("per request before its first forward pass (added to TTFT), ms")
    allreduce_latency_us: float | None = _factor("latency of one small tensor-parallel all-reduce, microseconds")
    gqa_kv_reload_share: float | None = _factor("share of a GQA group's query heads that re-read their KV head")
    allreduce_bw_efficiency: float | None = _factor("achieved/peak link bandwidth of the ring all-reduce")
    runtime_reserve_gb: float | None = _factor("CUDA context, workspaces and CUDA graphs per GPU, GB")
    max_num_batched_tokens: float | None = _factor("tokens per forward pass the engine sizes activations for")
    max_num_seqs: float | None = _factor("most sequences the scheduler runs at once")
    kv_reserve_output_fraction: float | None = _factor("share of a request's output KV reserved at admission")
    gemm_half_tokens: float | None = _factor("tokens per GEMM at half prefill GEMM efficiency")
    kv_context_half_tokens: float | None = _factor("context (tokens) at half decode-attention bandwidth")
    # Runtime factors of the 2023 TensorRT-LLM rows: nuisance parameters of the fit, kept so the accuracy
    # table is reproducible (planner/perf/calibration.py LEGACY_FACTORS), never used for estimates.
    legacy_step_overhead_ms: float | None = _factor("2023 TensorRT-LLM rows only: step overhead, ms")
    legacy_allreduce_latency_us: float | None = _factor("2023 TensorRT-LLM rows only: all-reduce latency, us")
    legacy_gqa_kv_reload_share: float | None = _factor("2023 TensorRT-LLM rows only: GQA KV re-read share")
    legacy_allreduce_bw_efficiency: float | None = _factor("2023 TensorRT-LLM rows only: all-reduce efficiency")
    legacy_moe_gemm_efficiency: float | None = _factor("early-MoE-release rows only: grouped expert GEMM efficiency")

    def given(self) -> dict[str, float]:
        """The factors this profile sets, by name in sorted order (as engines.yaml holds them)."""
        return {k: v for k, v in sorted(self.__dict__.items()) if v is not None}


class EngineProfile(CatalogEntry):
    """Global efficiency factors of a serving engine on a GPU family, fitted to published measurements.

    These are the only free parameters of the estimator; `fit` says how they were obtained.
    """

    engine: str
    family: str
    compute_efficiency: float = Field(gt=0, le=1, description="achieved/peak TFLOPS in prefill GEMMs")
    bandwidth_efficiency: float = Field(gt=0, le=1, description="achieved/peak HBM bandwidth in decode")
    step_overhead_ms: float = Field(ge=0, description="fixed per-decode-step cost (scheduling, launches)")
    extra: EngineFactors = Field(default_factory=EngineFactors, description="further named factors")
    fit: str = Field(description="how the values were obtained (data, rows, command)")
    source: str
    as_of: str

    @field_serializer("extra")
    def _given_factors(self, extra: EngineFactors) -> dict[str, float]:
        """Dumped as engines.yaml writes it: only the factors given."""
        return extra.given()


class HostProfile(CatalogEntry):
    """The host around a GPU, for offloading: RAM, disk and measured link bandwidths."""

    id: str
    cpu_mem_gb: float = Field(gt=0)
    disk_gb: float = Field(ge=0)
    cpu_to_gpu_gb_per_s: float = Field(gt=0, description="host-to-device copies, GB/s")
    gpu_to_cpu_gb_per_s: float = Field(gt=0, description="device-to-host copies, GB/s")
    disk_to_cpu_gb_per_s: float = Field(ge=0, description="disk reads, GB/s")
    cpu_to_disk_gb_per_s: float = Field(ge=0, description="disk writes, GB/s")
    cpu_tflops: float = Field(gt=0)
    cpu_mem_bandwidth_gb_per_s: float = Field(gt=0, description="host RAM bandwidth, GB/s")
    source: str
    as_of: str
    notes: str = ""

    LEGACY_NAMES: ClassVar[Mapping[str, str]] = {
        f"{name}_gbps": f"{name}_gb_per_s"
        for name in ("cpu_to_gpu", "gpu_to_cpu", "disk_to_cpu", "cpu_to_disk", "cpu_mem_bandwidth")
    }


Fabric = Literal["efa", "infiniband", "roce", "ethernet"]


class InstanceNetwork(CatalogEntry):
    """The network between instances of one instance type (all regions of a cloud share it): what a replica
    spanning instances (pipeline or expert parallel) and a KV-cache transfer between a prefill and a decode
    instance run over. `bandwidth_gbit_s` is the instance's total for GPU traffic (all its NICs), in Gbit/s
    as providers publish it; each GPU's share is bandwidth / gpus_per_instance."""

    id: str = Field(description="<cloud>:<instance_type>")
    cloud: str
    instance_type: str
    fabric: Fabric
    bandwidth_gbit_s: float = Field(gt=0, description="per instance, Gbit/s (provider's figure)")
    latency_us: float = Field(gt=0, description="one small message between two instances (NCCL level), microseconds")
    gpudirect_rdma: bool = Field(description="NICs read and write GPU memory directly (no host copy)")
    source: str
    as_of: str
    confidence: Literal["high", "medium", "low"] = "medium"
    notes: str = ""

    def gpu_bytes_per_s(self, gpus_per_instance: int) -> float:
        """Bytes/s one GPU of the instance can send to another instance (its share of the NICs)."""
        return self.bandwidth_gbit_s * 1e9 / 8.0 / gpus_per_instance


class Commitment(CatalogEntry):
    """A published price or discount for committed capacity (reservation, CUD, capacity block).

    Prices are effective $/h of the committed instance (or per GPU where the source prices per GPU);
    a source that publishes only a discount ("up to 60%") has no price and a `discount_rate_max`.
    A commitment is paid whether used or not: it beats on-demand above a utilisation of
    price / on-demand = 1 - discount_rate.
    """

    id: str = Field(description="<cloud>:<region>:<instance>:<term>, unique")
    cloud: str
    product: str = Field(description="the commitment instrument, as the source names it")
    instance_type: str = Field(description="as the source names it (may be a family or a statement's scope)")
    offering: str | None = Field(default=None, description="catalog offering id with this cloud, region, type")
    gpu: str | None = Field(default=None, description="catalog GPU id, where the source's GPU maps to one")
    gpu_label: str = Field(description="the GPU as the source names it")
    gpus_per_instance: int | None = Field(default=None, ge=1)
    region: str = Field(description="as the source states it ('not stated', 'all' where it does not name one)")
    term: str = Field(description="1y, 3y, or the source's wording (e.g. '1-28 days (block)')")
    term_months: int | None = Field(default=None, ge=1, description="12 or 36 for 1y/3y terms, else None")
    payment: str = ""
    price_usd_per_hour: float | None = Field(default=None, ge=0, description="committed $/h of the instance")
    price_usd_per_gpu_hour: float | None = Field(default=None, ge=0)
    price_range_usd_per_gpu_hour: tuple[float, float] | None = None
    ondemand_usd_per_hour: float | None = Field(default=None, ge=0, description="the source's on-demand reference")
    ondemand_usd_per_gpu_hour: float | None = Field(default=None, ge=0)
    discount_rate: float | None = Field(default=None, ge=0, lt=1, description="1 - committed/on-demand")
    discount_rate_max: float | None = Field(default=None, ge=0, lt=1, description="a published 'up to' bound")
    discount_basis: str = Field(description="computed_from_source_prices, published_upper_bound, ... (source)")
    price_scope: str = ""
    confidence: Literal["high", "medium", "low"]
    source: str
    as_of: str
    as_of_note: str = Field(default="", description="the source's own wording of the date")
    notes: str = ""

    def breakeven_utilisation(self) -> float | None:
        """Utilisation above which this commitment is cheaper than on-demand (None if unknown)."""
        return None if self.discount_rate is None else 1 - self.discount_rate


class Catalog(CatalogEntry):
    """Everything gpuplan knows about the market, loaded once and passed explicitly."""

    version: str = Field(description="catalog data version, reported in every plan")
    gpus: dict[str, Gpu]
    offerings: dict[str, Offering]
    models: dict[str, ModelArch]
    engines: tuple[EngineProfile, ...] = ()
    hosts: dict[str, HostProfile] = Field(default_factory=dict)
    networks: dict[str, InstanceNetwork] = Field(default_factory=dict, description="by <cloud>:<instance_type>")

    def network(self, offering: Offering) -> InstanceNetwork | None:
        """The inter-instance network of an offering's instance type; None when the catalog does not know it
        (such an offering cannot host a replica spanning instances, nor a KV transfer between pools)."""
        return self.networks.get(f"{offering.cloud}:{offering.instance_type}")
    commitments: tuple[Commitment, ...] = ()
