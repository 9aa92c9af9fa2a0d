"""How far to trust an estimate: its calibration grade and an error band from the cross-validated residuals
of its regime (catalog/data/calibration-fit.yaml, written by bench/fit_calibration.py).

Grades:
- `calibrated`: the engine has measured rows on this GPU family and the estimate's regime has rows;
- `borrowed`: the family's kernel factors or the engine's runtime factors come from other rows (another
  engine on the family, the engine on other families), or the regime itself has no rows;
- `extrapolated`: no measured rows on this GPU family at all (its kernel factors are priors).

The band is what leave-one-source-out cross-validation saw on rows of the same regime (engine x load
level x GPU family x dense/MoE x TP bucket), pooled to coarser regimes while a regime has fewer than
MIN_ROWS rows. `optimism` is log(predicted/measured) for throughput and log(measured/predicted) for
latency: positive when the estimator promised more than the engine delivered.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from planner.perf.calibration import tp_bucket
from planner.perf.deployment import Deployment
from planner.perf.fitted import RegimeBand, read_fit
from planner.perf.profiles import profile_grade as _grade

Grade = Literal["calibrated", "borrowed", "extrapolated"]
LoadLevel = Literal["b1", "low", "online", "high"]
MIN_ROWS = 5
# a margin never plans away more than half of a candidate's estimated capacity
MAX_MARGIN = 0.5


@dataclass(frozen=True)
class Uncertainty:
    """Grade and cross-validated error band of one estimate."""

    grade: Grade
    regime: str  # the regime the estimate falls in
    band_regime: str  # the (possibly pooled) regime whose rows gave the band
    rows: int  # cross-validated rows behind the band
    median_abs_error: float
    p90_abs_error: float
    optimism_p50: float  # median log over-promise of throughput (see module doc)
    optimism_p90: float  # 90th percentile: the pessimistic edge
    why: str

    @property
    def throughput_low_factor(self) -> float:
        """Measured / predicted throughput at the pessimistic edge (p90 optimism)."""
        return math.exp(-max(self.optimism_p90, 0.0))

    @property
    def auto_margin(self) -> float:
        """Share of estimated capacity to hold back so the pessimistic edge still meets demand."""
        return min(1.0 - self.throughput_low_factor, MAX_MARGIN)


def profile_grade(fit_text: str) -> Grade:
    """The grade an engine profile's `fit` text states (profiles.profile_grade)."""
    grade = _grade(fit_text)
    return "calibrated" if grade == "calibrated" else "extrapolated" if grade == "extrapolated" else "borrowed"


def regime_of(dep: Deployment, load: LoadLevel) -> tuple[str, str, str, str, str]:
    arch = "moe" if dep.model.is_moe else "dense"
    return (dep.engine.engine, load, dep.gpu.family, arch, tp_bucket(dep.tp))


def _band(key: tuple[str, str, str, str, str]) -> RegimeBand | None:
    bands = read_fit().bands
    eng, load, fam, arch, tpb = key
    for cand in (
        (eng, load, fam, arch, tpb),
        (eng, load, fam, "*", "*"),
        (eng, load, "*", "*", "*"),
        (eng, "*", "*", "*", "*"),
        ("*", "*", "*", "*", "*"),
    ):
        band = bands.get("/".join(cand))
        if band is not None and band.rows >= MIN_ROWS:
            return band
    return None


def uncertainty(dep: Deployment, load: LoadLevel) -> Uncertainty:
    """Grade and error band of an estimate of `dep` under a load of kind `load`."""
    key = regime_of(dep, load)
    grade = profile_grade(dep.engine.fit)
    band = _band(key)
    exact = "/".join(key)
    why = dep.engine.fit.split(";")[0]
    if band is None:
        return Uncertainty(grade, exact, "", 0, math.nan, math.nan, 0.0, 0.0, why + "; no cross-validated rows")
    if band.regime != exact and grade == "calibrated":
        grade = "borrowed"
        why += f"; no {MIN_ROWS}+ measured rows in regime {exact}, band pooled from {band.regime}"
    return Uncertainty(
        grade=grade,
        regime=exact,
        band_regime=band.regime,
        rows=band.rows,
        median_abs_error=band.median_abs_error,
        p90_abs_error=band.p90_abs_error,
        optimism_p50=band.optimism_p50,
        optimism_p90=band.optimism_p90,
        why=why,
    )
