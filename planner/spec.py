"""Spec v1: what a user writes in YAML. Validated by pydantic (frozen, extra=forbid).

`load_spec(path)` turns any problem with the file into an `InputError` naming the YAML path of the
bad field, the bad value and what would be valid. The workload, rate-curve and SLO models live in
planner/spec_workload.py and the base class and number types in planner/spec_fields.py; every name is
re-exported here, so `from planner.spec import Workload` keeps working.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from common.files import read_yaml
from planner.bounds import MAX_COUNT, MAX_PRICE_USD_PER_HOUR, MAX_RATE_RPS, MAX_SECONDS, MAX_SLICE_FACTOR, MAX_TP
from planner.errors import InputError
from planner.spec_errors import describe_value, format_validation_error
from planner.spec_fields import Float, Int, NonNegFloat, PositiveFloat, SpecModel, Tokens
from planner.spec_schedule import OnPrem
from planner.spec_workload import (
    DAYS_PER_WEEK,
    HOURS_PER_DAY,
    MAX_PERIODS,
    SHARE_TOLERANCE,
    SLO_STATISTICS,
    HistogramBin,
    LengthDistribution,
    ParametricLengths,
    RateCurve,
    Slo,
    SloStatistic,
    TraceColumns,
    TraceSource,
    Workload,
    statistic_quantile,
)

__all__ = [
    "DAYS_PER_WEEK",
    "HOURS_PER_DAY",
    "MAX_PERIODS",
    "SHARE_TOLERANCE",
    "SLO_STATISTICS",
    "CatalogSection",
    "CommitmentTerm",
    "Constraints",
    "HistogramBin",
    "LengthDistribution",
    "MeasuredCapacity",
    "ModelSpec",
    "OnPrem",
    "OfferingFilter",
    "ParametricLengths",
    "ProfileSource",
    "RateCurve",
    "ScheduleOptions",
    "Search",
    "Slo",
    "SloStatistic",
    "SolverOptions",
    "Spec",
    "TraceColumns",
    "TraceSource",
    "Workload",
    "load_spec",
    "parse_spec",
    "statistic_quantile",
]


class ModelSpec(SpecModel):
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


class OfferingFilter(SpecModel):
    clouds: tuple[str, ...] | None = None
    gpus: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    include: tuple[str, ...] | None = Field(default=None, description="offering ids; only these")
    exclude: tuple[str, ...] = ()
    spot: bool = Field(default=False, description="also consider spot prices")
    max_spot_share: Float = Field(
        default=1.0, ge=0, le=1, description="max share of the traffic (req/s) served on spot"
    )
    spot_buffer: Float = Field(
        default=0.0,
        ge=0,
        le=0.9,
        description="count a spot replica's capacity at (1 - spot_buffer): headroom for interrupted spot "
        "instances, beside max_spot_share (plan and schedule, every period)",
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


class Search(SpecModel):
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


class SolverOptions(SpecModel):
    name: Literal["highs", "cbc"] = "highs"
    time_limit_s: PositiveFloat = Field(default=60.0, le=MAX_SECONDS)
    mip_gap: Float = Field(default=0.0, ge=0, le=1)
    mode: Literal["fractional", "whole-slice"] = "fractional"
    slice_factor: Int = Field(default=1, ge=1, le=MAX_SLICE_FACTOR, description="whole-slice mode: pieces per bucket")


class MeasuredCapacity(SpecModel):
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


class ProfileSource(SpecModel):
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


class CatalogSection(SpecModel):
    """Overlay on the shipped catalog: files (relative to the spec) and inline entries, same schema."""

    files: tuple[str, ...] = ()
    gpus: tuple[dict[str, object], ...] = ()
    offerings: tuple[dict[str, object], ...] = ()
    models: tuple[dict[str, object], ...] = ()


CommitmentTerm = Literal["1y", "3y"]


class ScheduleOptions(SpecModel):
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
    load_gb_per_s: PositiveFloat = Field(
        default=1.0,
        le=1e4,
        description="GB/s an instance reads the weights at (the offering's disk_read_gb_per_s where the catalog "
        "knows it)",
    )
    cyclic: bool = Field(default=True, description="the horizon repeats: the first period follows the last")
    on_prem: dict[str, OnPrem] = Field(
        default_factory=dict,
        description="offering id -> an instance you own or would buy: amortised $/h every hour, not rented "
        "by the hour (see OnPrem)",
    )

    @model_validator(mode="before")
    @classmethod
    def _former_name(cls, data: object) -> object:
        """`load_gbps` is the former name of `load_gb_per_s` (GB/s, not Gbit/s); still accepted."""
        if not isinstance(data, dict) or "load_gbps" not in data:
            return data
        if "load_gb_per_s" in data:
            raise ValueError("give load_gb_per_s or its former name load_gbps, not both")
        out = dict(data)
        out["load_gb_per_s"] = out.pop("load_gbps")
        return out


class Constraints(SpecModel):
    budget_usd_per_hour: PositiveFloat | None = Field(default=None, le=MAX_PRICE_USD_PER_HOUR)


class Spec(SpecModel):
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
