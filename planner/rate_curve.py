"""Rate curves: a model's demand per period, per slice (`workload.rate_curve`).

Sources (exactly one):
    rates_rps        one mean rate per period, as written; every period has the workload's length mix, or
                     its own (`mix`: per period, a share of each workload.histogram entry; profiles too)
    daily_profile    24 relative rates (hours 0-23); weekly_profile: 7 x 24 (168 hours); scaled so the busiest
                     hour is `peak_rps`, with the workload's length mix
    from_trace       the trace's requests counted per period of `period_s` seconds: period k holds the
                     requests with `t0 + k period_s <= t < t0 + (k + 1) period_s`, where t0 is the first
                     timestamp rounded down to a whole period (BurstGPT's seconds-from-midnight give hour
                     0 = midnight; absolute timestamps give UTC hours). A period's rate of slice s is the
                     number of its requests in s's length bucket / period_s, so each period keeps its own
                     length mix. The last period is counted over its full length.

Scaling is explicit: `rate_scale` multiplies every rate, `peak_rps` rescales them so that the busiest
period's total is `peak_rps`. A period's rate is its mean: bursts inside a period are not planned for
(shorter periods see more of them; `gpuplan simulate` replays a plan against a trace's arrivals).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from planner.errors import InputError
from planner.spec import MAX_PERIODS, RateCurve

CurveSource = Literal["rates_rps", "daily_profile", "weekly_profile", "trace"]


@dataclass(frozen=True)
class PeriodRates:
    """One model's demand per period: `rates_rps[p][s]` req/s of slice s (in the order of the model's
    slices) in period p, each period `period_s` long."""

    source: CurveSource
    period_s: float
    rates_rps: tuple[tuple[float, ...], ...]
    scale: float  # the factor applied to the rates as given or counted
    trace_start_s: float | None = None  # from_trace: timestamp at which period 0 starts

    @property
    def periods(self) -> int:
        return len(self.rates_rps)

    @property
    def totals_rps(self) -> tuple[float, ...]:
        return tuple(sum(row) for row in self.rates_rps)

    @property
    def peak_rps(self) -> float:
        return max(self.totals_rps, default=0.0)


def curve_totals(curve: RateCurve) -> tuple[CurveSource, tuple[float, ...]]:
    """The unscaled per-period totals of a curve written in the spec (not from_trace)."""
    if curve.rates_rps is not None:
        return "rates_rps", curve.rates_rps
    if curve.daily_profile is not None:
        return "daily_profile", curve.daily_profile
    if curve.weekly_profile is not None:
        return "weekly_profile", tuple(v for day in curve.weekly_profile for v in day)
    raise ValueError("from_trace curves are counted from the trace (trace_curve)")


def _scale(curve: RateCurve, peak: float, where: str) -> float:
    if curve.peak_rps is not None:
        if peak <= 0:
            raise InputError("every period is empty: nothing to scale to peak_rps", where=f"{where}.peak_rps")
        return curve.peak_rps / peak
    return curve.rate_scale if curve.rate_scale is not None else 1.0


def spec_curve(
    curve: RateCurve,
    shares: tuple[float, ...],
    where: str,
    mix: tuple[tuple[float, ...], ...] | None = None,
) -> PeriodRates:
    """A curve written in the spec: each period's total split over the slices by their shares, or by
    that period's own shares `mix[p]` (rate_curve.mix, mapped onto the slices)."""
    source, totals = curve_totals(curve)
    scale = _scale(curve, max(totals), where)
    rows = tuple(tuple(t * scale * sh for sh in (shares if mix is None else mix[p])) for p, t in enumerate(totals))
    return PeriodRates(source, curve.period_s, rows, scale)


def trace_curve(
    curve: RateCurve,
    timestamps_s: npt.NDArray[np.float64],
    slice_of_request: npt.NDArray[np.int64],
    n_slices: int,
    where: str,
) -> PeriodRates:
    """Requests counted per (period, slice) over the trace's timestamps, as rates, scaled."""
    if timestamps_s.shape[0] == 0:
        raise InputError("the trace has no timestamps to count", where=f"{where}.from_trace")
    period = curve.period_s
    t0 = math.floor(float(timestamps_s.min()) / period) * period
    index = np.floor((timestamps_s - t0) / period).astype(np.int64)
    n_periods = int(index.max()) + 1
    if n_periods > MAX_PERIODS:
        raise InputError(
            f"the trace spans {n_periods} periods of {period:g} s; at most {MAX_PERIODS} are planned "
            "(raise period_s or cut the trace)",
            where=f"{where}.period_s",
        )
    counts = np.zeros((n_periods, n_slices), dtype=np.float64)
    np.add.at(counts, (index, slice_of_request), 1.0)
    rates = counts / period
    scale = _scale(curve, float(rates.sum(axis=1).max()), where)
    rows = tuple(tuple(float(v) for v in row) for row in rates * scale)
    return PeriodRates("trace", period, rows, scale, t0)
