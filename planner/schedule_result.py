"""The frozen result of `gpuplan schedule`: a multi-period plan (commitments, fleet per period, baselines).

Field order is the JSON key order; units are in the names. Costs are over the whole horizon unless the
name says per hour.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from planner.result import SolverStats, Verification


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CommitmentOption(_Result):
    """One commitment the plan could buy: its price against the offering's hourly price, and how many
    instances the plan commits (0: not worth it here)."""

    commitment: str = Field(description="catalog commitment id, or override:<offering>:<term> from the spec")
    offering: str
    term: str = Field(description="1y or 3y; on_prem for a machine owned over the horizon (schedule.on_prem)")
    price_usd_per_hour: float = Field(description="committed $/h per instance, every hour of the term")
    on_demand_usd_per_hour: float = Field(
        description="the offering's hourly price in this plan (on-prem: its amortised price; it is not rented)"
    )
    break_even_utilisation: float | None = Field(
        description="committed / on-demand price: committing pays where an instance would run more of the time "
        "(null for a free on-demand price, and on-prem: nothing is rented by the hour)"
    )
    instances: int = Field(description="instances the plan commits")
    utilisation: float | None = Field(
        description="mean share of the committed instances' GPUs the plan's load keeps busy (at the target "
        "utilisation), over the periods: to hold against the break-even; null when none is committed"
    )
    price_from: Literal["price", "discount_rate", "spec", "on_prem"] = Field(
        default="price",
        description="price: the source's committed $/h; discount_rate: the source publishes only a discount, "
        "applied to the on-demand price (price = on-demand x (1 - rate)); spec: schedule.commitment_prices; "
        "on_prem: schedule.on_prem, purchase / (lifetime_years x 8760) + power_kw x usd_per_kwh + "
        "opex_usd_per_year / 8760",
    )
    confidence: str = Field(description="the price's confidence in its source (override: the spec's)")
    source: str
    as_of: str


class PeriodFleet(_Result):
    """The fleet of one period: instances per offering (committed ones included) and replicas."""

    period: int
    start_s: float = Field(description="offset of the period's start from the horizon's start")
    rate_rps: float = Field(description="the period's mean rate, all models")
    instances: dict[str, int] = Field(description="offering -> instances running, committed included")
    replicas: dict[str, int] = Field(description="candidate -> replicas")
    committed_instances: int
    on_demand_instances: int = Field(description="instances rented by the hour beyond the committed ones")
    spot_instances: int
    started_instances: int = Field(description="instances started for this period (billed for their lead time)")
    gpus: int
    cost_usd: float = Field(description="this period's cost: its hours of the commitments, hourly instances, starts")


class ScheduleBaseline(_Result):
    """The same inputs planned another way, for comparison."""

    name: Literal["peak_provisioned_on_demand", "autoscaled_on_demand"]
    description: str
    status: str
    cost_usd: float | None = Field(description="over the horizon; null when not solved")
    gap: float | None = Field(description="relative MIP gap of the baseline's solve (0: optimal)")
    saving_pct: float | None = Field(description="how much less the plan costs than this baseline, %")
    saving_at_least_pct: float | None = Field(
        description="the saving against the baseline's proven lower bound (equals saving_pct when optimal)"
    )
    max_instances: int = Field(description="most instances running in any one period")


class CurveSummary(_Result):
    """One model's rate curve as planned."""

    model: str
    source: Literal["rates_rps", "daily_profile", "weekly_profile", "trace", "constant"]
    scale: float = Field(description="factor applied to the rates as given or counted (rate_scale or peak_rps)")
    peak_rps: float
    mean_rps: float
    trace_start_s: float | None = Field(description="from a trace: the timestamp at which period 0 starts")


class LeadTime(_Result):
    """What starting one instance of an offering takes before it serves: billed per start."""

    offering: str
    lead_s: float
    instance_start_s: float
    model_load_s: float = Field(description="the largest model's weights over the load bandwidth")
    load_gb_per_s: float


class Schedule(_Result):
    name: str | None
    status: Literal["optimal", "gap", "infeasible"]
    periods: int
    period_s: float
    horizon_hours: float
    total_cost_usd: float | None
    mean_cost_usd_per_hour: float | None
    commitments: tuple[CommitmentOption, ...] = Field(description="every option considered, committed first")
    fleet: tuple[PeriodFleet, ...]
    baselines: tuple[ScheduleBaseline, ...]
    curves: tuple[CurveSummary, ...]
    lead_times: tuple[LeadTime, ...]
    assumptions: tuple[str, ...]
    infeasible_reasons: tuple[str, ...] = ()
    solver: SolverStats
    build_seconds: float = Field(description="building the MILP's arrays (capacities excluded)")
    verification: Verification
    catalog_version: str
    spec_sha256: str
