"""The demand half of a spec (`models[i].workload` and `models[i].slo`): request lengths (histogram,
parametric distribution or trace), the arrival rate or rate curve, and the latency targets.

Split from planner/spec.py, which re-exports every name here; callers may import from either.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from planner.bounds import MAX_LATENCY_MS, MAX_RATE_RPS, MAX_SECONDS, MAX_SIGMA, MAX_TOKENS
from planner.errors import did_you_mean
from planner.spec_fields import Float, Int, NonNegFloat, PositiveFloat, SpecModel, Tokens

SHARE_TOLERANCE = 1e-6


class HistogramBin(SpecModel):
    input_len: Tokens
    output_len: Tokens
    share: Float = Field(gt=0, le=1, allow_inf_nan=False)


class LengthDistribution(SpecModel):
    """A parametric length distribution (tokens); sampled deterministically by quantiles."""

    kind: Literal["lognormal", "normal", "uniform", "constant", "exponential"]
    mean: PositiveFloat | None = Field(default=None, le=MAX_TOKENS)
    median: PositiveFloat | None = Field(default=None, le=MAX_TOKENS)
    stddev: NonNegFloat | None = Field(default=None, le=MAX_TOKENS)
    sigma: NonNegFloat | None = Field(default=None, le=MAX_SIGMA, description="lognormal shape (std of log)")
    min: Tokens | None = None
    max: Tokens | None = None
    value: Tokens | None = Field(default=None, description="for kind: constant")


class ParametricLengths(SpecModel):
    input: LengthDistribution
    output: LengthDistribution


class TraceColumns(SpecModel):
    """Column names of a generic CSV/JSONL trace."""

    input_len: str
    output_len: str
    timestamp: str | None = None


class TraceSource(SpecModel):
    path: str
    format: Literal["azure-2023", "mooncake", "burstgpt", "csv", "jsonl"]
    columns: TraceColumns | None = None
    skip_bad_rows: bool = Field(default=False, description="skip malformed rows instead of failing (counted)")
    use_trace_rate: bool = Field(default=False, description="take the request rate from the trace timestamps")


MAX_PERIODS = 1344
"""Most periods of a rate curve (eight weeks of hours)."""
HOURS_PER_DAY = 24
DAYS_PER_WEEK = 7


class RateCurve(SpecModel):
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
    mix: tuple[tuple[NonNegFloat, ...], ...] | None = Field(
        default=None,
        max_length=MAX_PERIODS,
        description="the length mix of each period: one row per period, one share per workload.histogram "
        "entry (in its order), each row summing to 1; default: the histogram's shares in every period",
    )

    @property
    def periods(self) -> int | None:
        """How many periods a written curve has (None for from_trace: the trace decides)."""
        if self.rates_rps is not None:
            return len(self.rates_rps)
        if self.daily_profile is not None:
            return len(self.daily_profile)
        if self.weekly_profile is not None:
            return sum(len(d) for d in self.weekly_profile)
        return None

    def _check_mix(self) -> None:
        if self.mix is None:
            return
        if self.from_trace:
            raise ValueError("mix: a curve counted from the trace keeps each period's own mix; leave mix out")
        if len(self.mix) != self.periods:
            raise ValueError(f"mix has {len(self.mix)} row(s); the curve has {self.periods} periods (one row each)")
        for p, row in enumerate(self.mix):
            total = sum(row)
            if abs(total - 1.0) > SHARE_TOLERANCE:
                raise ValueError(f"mix[{p}] sums to {total:.6g}; each period's shares must sum to 1")

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
        self._check_mix()
        return self


class Workload(SpecModel):
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
            mix = self.rate_curve.mix
            if mix is not None and self.histogram is None:
                raise ValueError("rate_curve.mix gives shares of workload.histogram entries: it needs a histogram")
            for p, row in enumerate(mix or ()):
                if self.histogram is not None and len(row) != len(self.histogram):
                    raise ValueError(
                        f"rate_curve.mix[{p}] has {len(row)} share(s); workload.histogram has "
                        f"{len(self.histogram)} entries (one share each)"
                    )
            return self
        if self.rate_rps is None and not uses_trace_rate:
            raise ValueError("rate_rps is required (or set trace.use_trace_rate: true, or give rate_curve)")
        return self


SLO_STATISTICS = ("mean", "p50", "p90", "p95", "p99", "p99.9")
SloStatistic = Literal["mean", "p50", "p90", "p95", "p99", "p99.9"]


def statistic_quantile(statistic: str) -> float | None:
    """0.99 for "p99"; None for "mean"."""
    return None if statistic == "mean" else float(statistic[1:]) / 100.0


class Slo(SpecModel):
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
