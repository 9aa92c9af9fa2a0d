"""Spec v1: what a user writes in YAML. Validated by pydantic (frozen, extra=forbid).

`load_spec(path)` turns any problem with the file into an `InputError` naming the YAML path of the
bad field, the bad value and what would be valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator

from common.files import read_yaml
from planner.bounds import (
    MAX_COUNT,
    MAX_LATENCY_MS,
    MAX_PRICE_USD_PER_HOUR,
    MAX_RATE_RPS,
    MAX_SECONDS,
    MAX_SIGMA,
    MAX_SLICE_FACTOR,
    MAX_TOKENS,
    MAX_TP,
)
from planner.errors import InputError, did_you_mean
from planner.spec_errors import describe_value, format_validation_error

SHARE_TOLERANCE = 1e-6


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _not_bool(value: object) -> object:
    """YAML's true/false/yes/no are not numbers (pydantic would read them as 1 and 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {str(value).lower()}")
    return value


NotBool = BeforeValidator(_not_bool)
Int = Annotated[int, NotBool]
Tokens = Annotated[int, NotBool, Field(ge=1, le=MAX_TOKENS)]
Float = Annotated[float, NotBool, Field(allow_inf_nan=False)]
PositiveFloat = Annotated[float, NotBool, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, NotBool, Field(ge=0, allow_inf_nan=False)]


class HistogramBin(_Spec):
    input_len: Tokens
    output_len: Tokens
    share: Float = Field(gt=0, le=1, allow_inf_nan=False)


class LengthDistribution(_Spec):
    """A parametric length distribution (tokens); sampled deterministically by quantiles."""

    kind: Literal["lognormal", "normal", "uniform", "constant", "exponential"]
    mean: PositiveFloat | None = Field(default=None, le=MAX_TOKENS)
    median: PositiveFloat | None = Field(default=None, le=MAX_TOKENS)
    stddev: NonNegFloat | None = Field(default=None, le=MAX_TOKENS)
    sigma: NonNegFloat | None = Field(default=None, le=MAX_SIGMA, description="lognormal shape (std of log)")
    min: Tokens | None = None
    max: Tokens | None = None
    value: Tokens | None = Field(default=None, description="for kind: constant")


class ParametricLengths(_Spec):
    input: LengthDistribution
    output: LengthDistribution


class TraceColumns(_Spec):
    """Column names of a generic CSV/JSONL trace."""

    input_len: str
    output_len: str
    timestamp: str | None = None


class TraceSource(_Spec):
    path: str
    format: Literal["azure-2023", "mooncake", "burstgpt", "csv", "jsonl"]
    columns: TraceColumns | None = None
    skip_bad_rows: bool = Field(default=False, description="skip malformed rows instead of failing (counted)")
    use_trace_rate: bool = Field(default=False, description="take the request rate from the trace timestamps")


MAX_PERIODS = 1344
"""Most periods of a rate curve (eight weeks of hours)."""
HOURS_PER_DAY = 24
DAYS_PER_WEEK = 7


class RateCurve(_Spec):
    """Demand that changes over time: one mean rate per period, from exactly one of `rates_rps`,
    `daily_profile` / `weekly_profile` (relative values scaled so the busiest hour is `peak_rps`) or
    `from_trace` (requests per period of the trace's timestamps, with each period's own length mix).

    Scaling is explicit, never an edit of the data: `rate_scale` multiplies the rates given or counted,
    `peak_rps` rescales them so that the busiest period has that rate (give at most one). `gpuplan plan`
    plans the busiest period; `gpuplan schedule` plans every period (commitments, autoscaling, spot)."""

    rates_rps: tuple[NonNegFloat, ...] | None = Field(
        default=None, max_length=MAX_PERIODS, description="mean rate of each period, requests/s"
    )
    daily_profile: tuple[NonNegFloat, ...] | None = Field(
        default=None, description="24 relative rates, hour 0 to 23 (periods of one hour); needs peak_rps"
    )
    weekly_profile: tuple[tuple[NonNegFloat, ...], ...] | None = Field(
        default=None, description="7 rows (days) of 24 relative rates (168 periods of one hour); needs peak_rps"
    )
    from_trace: bool = Field(default=False, description="count the trace's requests per period (its timestamps)")
    period_s: PositiveFloat = Field(
        default=3600.0, ge=60, le=MAX_SECONDS, description="length of one period, seconds (profiles: 3600)"
    )
    rate_scale: PositiveFloat | None = Field(default=None, le=MAX_RATE_RPS, description="multiplies every rate")
    peak_rps: PositiveFloat | None = Field(
        default=None, le=MAX_RATE_RPS, description="rescale so the busiest period has this rate, requests/s"
    )

    @model_validator(mode="after")
    def _one_curve(self) -> RateCurve:
        given = [n for n in ("rates_rps", "daily_profile", "weekly_profile") if getattr(self, n) is not None]
        given += ["from_trace"] if self.from_trace else []
        if len(given) != 1:
            raise ValueError(
                "give exactly one of rates_rps, daily_profile, weekly_profile or from_trace: true"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.rate_scale is not None and self.peak_rps is not None:
            raise ValueError("give rate_scale or peak_rps, not both")
        if self.daily_profile is not None and len(self.daily_profile) != HOURS_PER_DAY:
            raise ValueError(f"daily_profile needs {HOURS_PER_DAY} values (hours 0-23), got {len(self.daily_profile)}")
        if self.weekly_profile is not None and (
            len(self.weekly_profile) != DAYS_PER_WEEK or any(len(d) != HOURS_PER_DAY for d in self.weekly_profile)
        ):
            raise ValueError(f"weekly_profile needs {DAYS_PER_WEEK} rows of {HOURS_PER_DAY} values")
        profile = self.daily_profile is not None or self.weekly_profile is not None
        if profile and self.peak_rps is None:
            raise ValueError("a profile is relative: give peak_rps (the rate of its busiest hour)")
        if profile and self.period_s != 3600.0:
            raise ValueError("profiles have periods of one hour; leave period_s out")
        values = self.rates_rps or self.daily_profile or tuple(v for d in self.weekly_profile or () for v in d)
        if not self.from_trace and not any(v > 0 for v in values):
            raise ValueError("every rate is 0: nothing to serve")
        return self


class Workload(_Spec):
    rate_rps: PositiveFloat | None = Field(default=None, description="mean arrival rate, requests/s")
    histogram: tuple[HistogramBin, ...] | None = None
    distribution: ParametricLengths | None = None
    trace: TraceSource | None = None
    buckets_per_decade: Int = Field(default=4, ge=1, le=20, description="log-spaced length buckets")
    rate_curve: RateCurve | None = Field(
        default=None, description="rates per period (instead of rate_rps); see RateCurve"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Workload:
        given = [n for n in ("histogram", "distribution", "trace") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of histogram, distribution or trace" + (f" (got {', '.join(given)})" if given else "")
            )
        if self.histogram is not None:
            total = sum(b.share for b in self.histogram)
            if abs(total - 1.0) > SHARE_TOLERANCE:
                raise ValueError(f"histogram shares sum to {total:.6g}; they must sum to 1")
        uses_trace_rate = self.trace is not None and self.trace.use_trace_rate
        if self.rate_curve is not None:
            if self.rate_rps is not None or uses_trace_rate:
                raise ValueError("give rate_curve or rate_rps / trace.use_trace_rate, not both")
            if self.rate_curve.from_trace and self.trace is None:
                raise ValueError("rate_curve.from_trace needs a trace (workload.trace)")
            return self
        if self.rate_rps is None and not uses_trace_rate:
            raise ValueError("rate_rps is required (or set trace.use_trace_rate: true, or give rate_curve)")
        return self


SLO_STATISTICS = ("mean", "p50", "p90", "p95", "p99", "p99.9")
SloStatistic = Literal["mean", "p50", "p90", "p95", "p99", "p99.9"]


def statistic_quantile(statistic: str) -> float | None:
    """0.99 for "p99"; None for "mean"."""
    return None if statistic == "mean" else float(statistic[1:]) / 100.0


class Slo(_Spec):
    """Latency targets. A plain number bounds the mean (`ttft_ms: 1000`); a one-key mapping names the
    statistic it bounds (`ttft_ms: {p99: 2000}`, `tpot_ms: {p90: 50}`). `*_statistic` holds that name."""

    ttft_ms: PositiveFloat = Field(le=MAX_LATENCY_MS)
    tpot_ms: PositiveFloat = Field(le=MAX_LATENCY_MS)
    ttft_statistic: SloStatistic = "mean"
    tpot_statistic: SloStatistic = "mean"

    @model_validator(mode="before")
    @classmethod
    def _statistic_mappings(cls, data: object) -> object:
        """`{ttft_ms: {p99: 2000}}` -> ttft_ms 2000, ttft_statistic p99."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for metric in ("ttft", "tpot"):
            value = out.get(f"{metric}_ms")
            if not isinstance(value, dict):
                continue
            if f"{metric}_statistic" in out:
                raise ValueError(
                    f"{metric}_ms: give the statistic as the mapping's key or as {metric}_statistic, not both"
                )
            keys = [str(k) for k in value]
            bad = [k for k in keys if k not in SLO_STATISTICS]
            if bad:
                raise ValueError(
                    f"{metric}_ms: unknown statistic {bad[0]!r}; {did_you_mean(bad[0], SLO_STATISTICS)} "
                    f"(e.g. {metric}_ms: {{p99: 2000}})"
                )
            if len(keys) != 1:
                raise ValueError(
                    f"{metric}_ms: give one statistic per target, e.g. {{p99: 2000}} (got "
                    + (", ".join(keys) if keys else "an empty mapping")
                    + ")"
                )
            out[f"{metric}_ms"] = value[keys[0]]
            out[f"{metric}_statistic"] = keys[0]
        return out

    def label(self, metric: Literal["ttft", "tpot"]) -> str:
        """`p99 TTFT` / `mean TPOT`: the statistic a target bounds, for reports."""
        stat = self.ttft_statistic if metric == "ttft" else self.tpot_statistic
        return f"{stat} {metric.upper()}"

    @property
    def has_percentiles(self) -> bool:
        return self.ttft_statistic != "mean" or self.tpot_statistic != "mean"


class ModelSpec(_Spec):
    name: str | None = Field(default=None, description="label in reports; defaults to the model id")
    model: str = Field(description="catalog model id or a path to a HF config.json")
    workload: Workload
    slo: Slo
    min_replicas: Int = Field(
        default=1, ge=0, le=MAX_COUNT, description="a floor on the replica count (replicas may share one instance)"
    )
    redundancy: Literal["none", "n+1"] = Field(
        default="none",
        description="n+1: the load is still served after losing any one instance (replicas on instances "
        "of their own, two or more)",
    )
    failover_utilisation: Float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="n+1: utilisation the surviving replicas may run at while an instance is down "
        "(1.0 = up to their capacity within the SLOs)",
    )
    offline: bool = Field(default=False, description="batch work: offloaded candidates may serve it")

    @property
    def label(self) -> str:
        return self.name or self.model


class OfferingFilter(_Spec):
    clouds: tuple[str, ...] | None = None
    gpus: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    include: tuple[str, ...] | None = Field(default=None, description="offering ids; only these")
    exclude: tuple[str, ...] = ()
    spot: bool = Field(default=False, description="also consider spot prices")
    max_spot_share: Float = Field(
        default=1.0, ge=0, le=1, description="max share of the traffic (req/s) served on spot"
    )
    include_uncertain: bool = Field(
        default=False,
        description="also rent offerings whose price or shape their source flags as uncertain (off by "
        "default: a plan should not rest on a price its own catalog doubts; flagged in the plan when on)",
    )
    price_overrides: dict[str, Annotated[NonNegFloat, Field(le=MAX_PRICE_USD_PER_HOUR)]] = Field(
        default_factory=dict, description="offering id -> $/h"
    )
    available: dict[str, Annotated[Int, Field(ge=0, le=MAX_COUNT)]] = Field(
        default_factory=dict, description="offering id -> max instances"
    )


class Search(_Spec):
    tp: tuple[Annotated[Int, Field(ge=1, le=MAX_TP)], ...] = (1, 2, 4, 8)
    weights: tuple[Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4"], ...] = ("bf16",)
    kv: tuple[Literal["bf16", "fp16", "fp8"], ...] = ("bf16",)
    engine: Literal["vllm", "trtllm", "sglang"] = "vllm"
    target_utilisation: Float = Field(default=0.8, gt=0, le=1)
    gpu_memory_utilization: Float = Field(default=0.9, gt=0, le=1)
    capacity_margin: Literal["auto"] | Float | None = Field(
        default=None,
        description="share of each estimated capacity to hold back: a fraction in [0, 0.9], or 'auto' for the "
        "pessimistic (p90) edge of the cross-validated error of the candidate's regime; unset: none",
    )

    @field_validator("capacity_margin")
    @classmethod
    def _margin(cls, v: object) -> object:
        if isinstance(v, float) and not 0.0 <= v <= 0.9:
            raise ValueError(f"capacity_margin must be 'auto' or a fraction in [0, 0.9], got {v}")
        return v
    pp: Literal["auto"] | tuple[Int, ...] = Field(
        default="auto",
        description="pipeline-parallel degrees; a degree > 1 runs one stage per instance (tp = the instance's "
        "GPUs) on offerings where no single instance holds the model. auto: 2, 4 or 8 stages, only when no "
        "offering of the spec holds the model in one instance",
    )
    ep: Literal["auto"] | tuple[Int, ...] = Field(
        default="auto",
        description="expert-parallel degrees for MoE models (experts over ep GPUs, attention data-parallel): a "
        "degree up to an instance's GPUs uses that many GPUs of one instance, a larger one spans degree / GPUs "
        "whole instances (only where no single instance holds the model). auto: 2 or 4 instances' worth, only "
        "when no offering of the spec holds the model in one instance",
    )
    disaggregated: bool | Literal["compare"] = Field(
        default="compare",
        description="prefill and decode on separate pools joined by a KV transfer: true = the plan may use "
        "them; compare = reports show the cheapest disaggregated plan beside the aggregated one, the plan "
        "itself stays aggregated; false = not searched",
    )

    @field_validator("tp", "pp", "ep")
    @classmethod
    def _tp_powers(cls, v: tuple[int, ...] | str) -> tuple[int, ...] | str:
        if isinstance(v, str):
            return v
        bad = [t for t in v if t < 1 or t & (t - 1)]
        if bad or not v:
            raise ValueError(f"degrees must be powers of two >= 1, got {list(v)}")
        return tuple(sorted(set(v)))

    @property
    def pp_degrees(self) -> tuple[int, ...]:
        """Pipeline degrees > 1 to try (auto: 2, 4, 8)."""
        return (2, 4, 8) if self.pp == "auto" else tuple(p for p in self.pp if p > 1)


class SolverOptions(_Spec):
    name: Literal["highs", "cbc"] = "highs"
    time_limit_s: PositiveFloat = Field(default=60.0, le=MAX_SECONDS)
    mip_gap: Float = Field(default=0.0, ge=0, le=1)
    mode: Literal["fractional", "whole-slice"] = "fractional"
    slice_factor: Int = Field(default=1, ge=1, le=MAX_SLICE_FACTOR, description="whole-slice mode: pieces per bucket")


class MeasuredCapacity(_Spec):
    """One measured point: a replica of `tp` GPUs of `gpu` (or of `offering`) sustains `capacity_rps`
    of requests with these lengths within the model's SLOs."""

    offering: str | None = None
    gpu: str | None = None
    tp: Int = Field(default=1, ge=1, le=MAX_TP)
    input_len: Tokens
    output_len: Tokens
    capacity_rps: Float = Field(ge=0, le=MAX_RATE_RPS, allow_inf_nan=False)

    @model_validator(mode="after")
    def _target(self) -> MeasuredCapacity:
        if (self.offering is None) == (self.gpu is None):
            raise ValueError("give exactly one of offering or gpu")
        return self


class ProfileSource(_Spec):
    """Measured capacities for one model: inline points, a CSV, or `vllm bench serve` result JSON files.

    Measured capacities override estimates for the (gpu or offering, tp, bucket) they cover.
    With `exclusive: true` only measured candidates serve the model (no estimates; the model id
    need not be in the catalog).
    """

    model: str = Field(description="label of a model in `models`")
    capacities: tuple[MeasuredCapacity, ...] = ()
    csv: str | None = Field(default=None, description="columns: offering|gpu, tp, input_len, output_len, capacity_rps")
    vllm_bench: tuple[str, ...] = Field(default=(), description="`vllm bench serve --save-result` JSON files")
    gpu: str | None = Field(default=None, description="for vllm_bench files: the GPU they ran on")
    offering: str | None = Field(default=None, description="for vllm_bench files: or the offering")
    tp: Int = Field(default=1, ge=1, le=MAX_TP, description="for vllm_bench files: the TP degree")
    exclusive: bool = False


class CatalogSection(_Spec):
    """Overlay on the shipped catalog: files (relative to the spec) and inline entries, same schema."""

    files: tuple[str, ...] = ()
    gpus: tuple[dict[str, object], ...] = ()
    offerings: tuple[dict[str, object], ...] = ()
    models: tuple[dict[str, object], ...] = ()


CommitmentTerm = Literal["1y", "3y"]


class ScheduleOptions(_Spec):
    """Settings of multi-period plans (`gpuplan schedule`): what may be committed, and what starting an
    instance costs. Committed prices come from the catalog (catalog/data/commitment-prices.csv)."""

    commitment_terms: tuple[CommitmentTerm, ...] = Field(
        default=("1y", "3y"), description="terms that may be bought; () = no commitments"
    )
    min_confidence: Literal["high", "medium", "low"] = Field(
        default="medium", description="least confidence of a catalog commitment price to use"
    )
    commitment_prices: dict[str, dict[CommitmentTerm, Annotated[NonNegFloat, Field(le=MAX_PRICE_USD_PER_HOUR)]]] = (
        Field(default_factory=dict, description="offering id -> term -> committed $/h per instance (overrides)")
    )
    instance_start_s: NonNegFloat = Field(
        default=300.0, le=MAX_SECONDS, description="from the request for an instance to its engine starting, s"
    )
    load_gbps: PositiveFloat = Field(
        default=1.0,
        le=1e4,
        description="GB/s an instance reads the weights at (the offering's disk_read_gbps where the catalog "
        "knows it)",
    )
    cyclic: bool = Field(default=True, description="the horizon repeats: the first period follows the last")


class Constraints(_Spec):
    budget_usd_per_hour: PositiveFloat | None = Field(default=None, le=MAX_PRICE_USD_PER_HOUR)


class Spec(_Spec):
    """The whole planning problem."""

    schema_version: Literal[1] = 1
    name: str | None = None
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    offerings: OfferingFilter = OfferingFilter()
    search: Search = Search()
    solver: SolverOptions = SolverOptions()
    constraints: Constraints = Constraints()
    schedule: ScheduleOptions = ScheduleOptions()
    profiles: tuple[ProfileSource, ...] = ()
    catalog: CatalogSection = CatalogSection()
    allow_paths: tuple[str, ...] = Field(
        default=(),
        description="folders outside the spec's folder that its paths (traces, profiles, catalog files, "
        "model configs) may point into; relative to the spec's folder",
    )

    @model_validator(mode="after")
    def _unique_labels(self) -> Spec:
        labels = [m.label for m in self.models]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"model labels must be unique; give each a distinct `name` (duplicated: {dup})")
        return self


def parse_spec(data: object, source: str = "spec") -> Spec:
    if not isinstance(data, dict):
        kind = "a string" if isinstance(data, str) else describe_value(data)  # text may be a secret's: not shown
        raise InputError(f"the spec must be a YAML mapping (key: value) at the top level, got {kind}", where=source)
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        raise format_validation_error(err, source, Spec) from None


def load_spec(path: Path) -> Spec:
    return parse_spec(read_yaml(path, "spec"), str(path))
