"""The frozen, typed results gpuplan computes. Reports render these; nothing here formats or prints.

They are pydantic models so that the JSON envelope and its published JSON Schema come from one
definition. Field order is the JSON key order; units are in the names.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PlanStatus = Literal["optimal", "gap", "infeasible"]


CapacitySourceName = Literal["estimate", "measured", "offload"]
"""Where a replica group's capacities came from (planner.capacity: each source's `name`)."""


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EngineSettings(_Result):
    """The engine configuration the estimator priced a replica group with, so `gpuplan export` can launch
    exactly that (memory figures per GPU, GB of 1e9 bytes of what the device reports)."""

    profile: str = Field(description="engine/GPU-family calibration profile, e.g. vllm/hopper")
    hf_repo: str = Field(description="the model's Hugging Face repository ('' when the catalog names none)")
    checkpoint_gb: float = Field(description="bytes of the 16-bit checkpoint the engine downloads, 1e9")
    max_model_len: int = Field(description="longest request (input + output tokens) routed to the group")
    max_num_seqs: int = Field(description="most sequences one replica runs at once (scheduler limit)")
    cuda_graph_max_batch: int | None = Field(
        default=None,
        description="largest decode batch run as a CUDA graph; larger ones run eager, kernel by kernel "
        "(SGLang; null where the engine has no such limit)",
    )
    max_num_batched_tokens: int = Field(description="tokens per forward pass; prefills are chunked to it")
    chunked_prefill: bool
    gpu_memory_utilization: float = Field(
        description="the engine's memory knob in its own semantics (vLLM: share of all memory; SGLang: static "
        "share for weights + KV; TensorRT-LLM: KV share of what is free after weights and workspace)"
    )
    gpu_memory_gb: float = Field(description="memory one GPU reports (device bytes / 1e9)")
    weights_gb_per_gpu: float
    activation_gb_per_gpu: float = Field(description="forward-pass workspace at max_num_batched_tokens")
    runtime_reserve_gb_per_gpu: float = Field(description="CUDA context, graphs, NCCL/cuBLAS workspaces")
    kv_cache_gb_per_gpu: float = Field(description="what is left for the KV cache within the utilisation")
    kv_cache_tokens: int = Field(description="tokens of KV cache one replica holds")
    pp: int = Field(default=1, description="pipeline-parallel stages")
    ep: int = Field(default=1, description="expert-parallel degree (1: experts sharded by TP)")


class DedicatedInstances(_Result):
    """N+1 layout: `instances` instances of the allocation's offering each run `replicas_per_instance`
    replicas of the group's candidate and nothing else."""

    replicas_per_instance: int
    instances: int


ReplicaRole = Literal["aggregated", "prefill", "decode"]


class ReplicaGroup(_Result):
    """Replicas of one candidate configuration placed on one offering."""

    candidate: str
    model: str
    tp: int
    pp: int = Field(default=1, description="pipeline stages per replica (one instance each when > 1)")
    ep: int = Field(default=1, description="expert-parallel degree (1: experts sharded by tensor parallelism)")
    nodes: int = Field(default=1, description="instances one replica spans (taken whole when > 1)")
    role: ReplicaRole = Field(
        default="aggregated", description="prefill / decode: a pool of disaggregated serving (see routing)"
    )
    weights: str
    kv: str
    engine: str
    replicas: int
    gpus: int
    utilisation: float = Field(description="offered load / capacity over the replicas, 0..1")
    capacity_source: CapacitySourceName = "estimate"
    capacity_grade: str | None = Field(
        default=None, description="calibrated / borrowed / extrapolated (estimates), measured, lp (offloaded)"
    )
    capacity_margin: float = Field(default=0.0, description="share of the capacity held back (search.capacity_margin)")
    engine_settings: EngineSettings | None = Field(
        default=None, description="what the estimator assumed of the engine; None for offloaded groups"
    )
    dedicated: tuple[DedicatedInstances, ...] = Field(
        default=(), description="N+1 models: how the replicas sit on instances of their own"
    )


class Allocation(_Result):
    offering: str
    cloud: str
    region: str
    instance_type: str
    gpu: str
    gpus_per_instance: int
    spot: bool
    instances: int
    price_usd_per_hour: float = Field(description="per instance")
    cost_usd_per_hour: float
    replicas: tuple[ReplicaGroup, ...]
    idle_gpus: int = 0
    price_flags: tuple[Literal["uncertain", "suspect", "overridden"], ...] = Field(
        default=(),
        description="why this price may be wrong: uncertain in its source, suspect (looks wrong), overridden",
    )
    price_notes: tuple[str, ...] = Field(default=(), description="the reason for each flag, in order")
    price_as_of: str = Field(default="", description="date of the price: YYYY, YYYY-MM or YYYY-MM-DD")
    price_age_days: int | None = Field(
        default=None, description="days from the start of price_as_of to the plan's date (an upper bound)"
    )
    equivalent_offerings: tuple[str, ...] = Field(
        default=(), description="offerings left out because this one has the same shape at the same price"
    )


class RouteShare(_Result):
    candidate: str = Field(description="a replica group's candidate, or a disaggregated pair (prefill>decode)")
    offering: str = Field(description="where the request is served (a pair: its prefill pool's offering)")
    share: float
    rate_rps: float
    ttft_ms: float | None = Field(description="predicted at this candidate's planned load")
    tpot_ms: float | None
    decode_candidate: str | None = Field(default=None, description="a pair's decode pool")
    decode_offering: str | None = Field(default=None, description="a pair's decode pool's offering")
    kv_transfer_ms: float | None = Field(default=None, description="a pair: sending the prompt's KV cache")


class SliceRoute(_Result):
    slice: str
    model: str
    input_len: int = Field(description="representative (upper-edge) input length of the bucket")
    output_len: int
    input_len_range: tuple[int, int]
    output_len_range: tuple[int, int]
    rate_rps: float
    slo_ttft_ms: float
    slo_tpot_ms: float
    routes: tuple[RouteShare, ...]
    slo_ttft_statistic: str = Field(default="mean", description="what slo_ttft_ms bounds: mean, p50 .. p99.9")
    slo_tpot_statistic: str = Field(default="mean", description="what slo_tpot_ms bounds")


class Failover(_Result):
    """N+1: one replica group while an instance holding the most of its replicas is down. The group keeps
    its planned traffic (routing unchanged) on the replicas left, at `utilisation` <= `max_utilisation`."""

    model: str
    candidate: str
    offering: str
    replicas_lost: int
    replicas_left: int
    utilisation: float = Field(description="offered load / capacity over the replicas left")
    max_utilisation: float


class Baseline(_Result):
    """The cheapest plan that uses one offering only (per the same constraints)."""

    offering: str
    gpu: str
    instances: int
    cost_usd_per_hour: float
    disaggregated: bool = Field(
        default=False,
        description="its plan prefills and decodes some traffic on separate pools of this offering "
        "(search.disaggregated: true), so it may cost less than the model's cheapest aggregated plan",
    )


class SolverStats(_Result):
    name: str
    status: str
    seconds: float
    gap: float | None
    variables: int
    constraints: int


class ShapeComparison(_Result):
    """For one model planned alone: its cheapest plan with aggregated replicas only beside its cheapest plan
    with disaggregated prefill/decode pairs only (same targets, offerings and constraints)."""

    aggregated_usd_per_hour: float | None = Field(description="None: no aggregated plan (or not solved)")
    disaggregated_usd_per_hour: float | None = Field(description="None: no disaggregated plan (or not searched)")
    saving_pct: float | None = Field(description="disaggregated below aggregated, % (negative: it costs more)")
    disaggregated_shape: str = Field(default="", description="the pools of the cheapest disaggregated plan")
    verdict: str = Field(description="the saving, or why aggregated wins, or why nothing was compared")


class ModelSummary(_Result):
    model: str
    model_id: str
    rate_rps: float
    slo_ttft_ms: float
    slo_tpot_ms: float
    slices: int
    replicas: int
    gpus: int
    cost_usd_per_hour: float
    redundancy: Literal["none", "n+1"] = Field(
        default="none", description="n+1: the load is still served after losing any one instance"
    )
    slo_ttft_statistic: str = Field(default="mean", description="what slo_ttft_ms bounds: mean, p50 .. p99.9")
    slo_tpot_statistic: str = Field(default="mean", description="what slo_tpot_ms bounds")
    shape: str = Field(default="", description="how the plan serves the model: replica shapes and pools")
    comparison: ShapeComparison | None = Field(
        default=None, description="cheapest aggregated vs cheapest disaggregated plan of the model alone"
    )


class SimulatedTarget(_Result):
    """One percentile target of a model as the plan's fleet met it in simulation."""

    model: str
    metric: Literal["ttft", "tpot"]
    statistic: str
    target_ms: float
    simulated_ms: float | None = Field(description="the statistic over the simulated requests; null if infinite")
    met: bool
    within_target_share: float = Field(description="share of the model's requests within target_ms")


class SloCheck(_Result):
    """How the plan met percentile targets: planned with the target values as bounds on the mean, then the
    chosen fleet simulated; candidates whose requests missed were tightened and the fleet re-solved
    (planner/simulate/slo_check.py)."""

    met: bool
    rounds: int = Field(description="fleet solves, the last one included")
    requests: int = Field(description="requests simulated in the last round")
    arrivals: str
    seed: int
    tightened: dict[str, float] = Field(
        default_factory=dict, description="candidate -> factor its capacities were multiplied by"
    )
    targets: tuple[SimulatedTarget, ...]


class Verification(_Result):
    passed: bool
    checks: tuple[str, ...]
    violations: tuple[str, ...] = ()


class Plan(_Result):
    name: str | None
    status: PlanStatus
    total_cost_usd_per_hour: float | None
    total_gpus: int
    total_instances: int
    allocations: tuple[Allocation, ...]
    routing: tuple[SliceRoute, ...]
    failover: tuple[Failover, ...] = Field(
        default=(), description="N+1 models: each replica group while one of its instances is down"
    )
    models: tuple[ModelSummary, ...]
    baselines: tuple[Baseline, ...] = Field(description="cheapest single-offering plans, cheapest first")
    best_single_offering_cost_usd_per_hour: float | None
    saving_vs_best_single_pct: float | None
    infeasible_reasons: tuple[str, ...] = ()
    assumptions: dict[str, str | float | int | bool] = Field(default_factory=dict)
    measured_profiles_used: tuple[str, ...] = ()
    solver: SolverStats
    verification: Verification
    catalog_version: str
    spec_sha256: str
    slo_check: SloCheck | None = Field(
        default=None, description="simulated attainment of percentile targets; null when every target is a mean"
    )
