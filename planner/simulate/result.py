"""The frozen, typed result of `gpuplan simulate` (rendered by planner/report/simulate_report.py).

Latencies are milliseconds; percentiles are nearest-rank (numpy's `inverted_cdf`): p99 is the smallest
latency that at least 99 % of requests do not exceed, so "p99 <= target" and "at least 99 % of requests
within target" are the same statement. Rejected requests (that can never fit a replica) count as
infinitely slow: they fail every target, and a percentile that lands on them is reported as null.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LatencySummary(_Result):
    """One latency over a set of requests, ms (null: no request, or the statistic falls on a rejected one)."""

    count: int = Field(description="requests with this latency defined (TPOT needs >= 2 output tokens)")
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None


class Latencies(_Result):
    ttft: LatencySummary = Field(description="arrival to the end of the iteration that produced the first token")
    tpot: LatencySummary = Field(description="(end - first token) / (output tokens - 1), per request")
    e2e: LatencySummary = Field(description="arrival to the last token")
    queue: LatencySummary = Field(description="arrival to the start of the iteration that first scheduled it")


class TargetAttainment(_Result):
    """One SLO target: the statistic it bounds, what the simulation achieved, and the share within it."""

    metric: Literal["ttft", "tpot"]
    statistic: str = Field(description="mean, p50, p90, p95, p99 or p99.9")
    target_ms: float
    achieved_ms: float | None = Field(description="the statistic over the simulated requests; null if infinite")
    met: bool
    within_target_share: float = Field(description="share of requests whose latency is <= target_ms")


class ModelSimulation(_Result):
    model: str
    requests: int = Field(description="requests counted (arrived after the warm-up)")
    rejected: int = Field(description="requests no replica could ever hold (KV cache or context window)")
    offered_rps: float
    completed_rps: float = Field(description="requests counted / duration")
    latencies: Latencies
    slo: tuple[TargetAttainment, ...]
    slo_met: bool
    goodput_rps: float = Field(description="requests meeting every target value (TTFT and TPOT) per second")
    goodput_share: float
    output_tokens_per_s: float
    preemptions: int
    unplanned_requests: int = Field(description="requests outside every planned bucket (routed to the nearest)")


class GroupSimulation(_Result):
    """The replicas of one plan candidate (one configuration on one offering)."""

    candidate: str
    model: str
    offering: str
    gpu: str
    engine: str
    replicas: int
    requests: int
    latencies: Latencies
    slo: tuple[TargetAttainment, ...] = Field(description="its model's targets over the requests it served")
    utilisation: float = Field(description="busy share of the replicas' time, 0..1")
    planned_utilisation: float
    kv_occupancy_mean: float = Field(description="time-averaged share of KV blocks allocated, 0..1")
    kv_occupancy_peak: float
    running_peak: int = Field(description="most sequences running at once on one replica")
    preemptions: int
    timing_source: str = Field(description="what priced its iterations")


class BucketSimulation(_Result):
    """One planned length bucket of a model."""

    model: str
    slice: str
    input_len_range: tuple[int, int]
    output_len_range: tuple[int, int]
    requests: int
    ttft_p50_ms: float | None
    ttft_p99_ms: float | None
    tpot_p50_ms: float | None
    tpot_p99_ms: float | None
    within_slo_share: float = Field(description="share of its requests meeting every target value")


class TimelinePoint(_Result):
    start_s: float
    arrivals: int
    completions: int
    utilisation: float = Field(description="busy share over all replicas in this window")
    kv_occupancy: float = Field(description="mean share of KV allocated over all replicas")
    kv_occupancy_peak: float = Field(description="highest share on any replica")


class LittlesLaw(_Result):
    """L = lambda W over the whole run (until the last request finished), measured two ways."""

    mean_in_system: float = Field(description="time-average of requests in the system (integrated by the engine)")
    arrival_rate_rps: float
    mean_sojourn_s: float
    relative_error: float = Field(description="|L - lambda W| / (lambda W)")


class SimulationSettings(_Result):
    arrivals: tuple[str, ...] = Field(description="per model: trace, poisson or gamma")
    burstiness_cv: float | None
    rate_factor: float
    recorded_pace: bool = Field(
        default=False, description="traces with timestamps replayed at their recorded pace (--rate trace)"
    )
    duration_s: float
    warmup_s: float
    seed: int
    routing: Literal["plan", "least-loaded", "round-robin"]
    preemption: Literal["engine", "recompute", "swap"]
    prefix_cache_hit: float
    requests_simulated: int
    scheduler: tuple[str, ...] = Field(description="scheduling semantics simulated, per engine")


class SimulationResult(_Result):
    name: str | None
    plan_cost_usd_per_hour: float | None
    settings: SimulationSettings
    slo_met: bool = Field(description="every model met every target")
    models: tuple[ModelSimulation, ...]
    groups: tuple[GroupSimulation, ...]
    buckets: tuple[BucketSimulation, ...]
    timeline: tuple[TimelinePoint, ...]
    window_s: float
    littles_law: LittlesLaw
    notes: tuple[str, ...] = ()
    elapsed_s: float = Field(description="wall time of the simulation (the only field that varies between runs)")
