"""Parametric length distributions, discretised deterministically (no sampling): a length is a draw X
rounded half up to an integer and clipped to ``[min, max]``, or without them to the ``TAIL_QUANTILE`` /
``1 - TAIL_QUANTILE`` quantiles. planner.workload buckets these into slices; the simulator draws from the
same discretisation (`distribution_lengths`), so both see one distribution."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from planner.errors import InputError
from planner.spec import LengthDistribution

TAIL_QUANTILE = 1e-3

_STD_NORMAL = NormalDist()


@dataclass(frozen=True)
class Discretised:
    """A continuous draw X, rounded half up and clipped to [lo, hi]."""

    cdf: Callable[[float], float]
    ppf: Callable[[float], float]
    lo: int
    hi: int

    def cdf_len(self, k: int) -> float:
        """P(length <= k) for integer k."""
        if k < self.lo:
            return 0.0
        if k >= self.hi:
            return 1.0
        return self.cdf(k + 0.5)

    def length_at(self, q: float) -> int:
        x = self.ppf(q)
        return min(self.hi, max(self.lo, math.floor(x + 0.5)))


def _round_half_up(x: float) -> int:
    return math.floor(x + 0.5)


def discretise(d: LengthDistribution, where: str) -> Discretised:
    """Validate the parameters of one length distribution and build its CDF/quantile functions."""
    given = {n for n in ("mean", "median", "stddev", "sigma", "value") if getattr(d, n) is not None}

    def reject(allowed: set[str], needs: str) -> None:
        extra = sorted(given - allowed)
        if extra:
            raise InputError(
                f"{', '.join(extra)} does not apply to kind {d.kind!r}; it takes {needs}", where=where
            )

    if d.min is not None and d.max is not None and d.min > d.max:
        raise InputError(f"min ({d.min}) is greater than max ({d.max})", where=where)

    cdf: Callable[[float], float]
    ppf: Callable[[float], float]
    if d.kind == "constant":
        reject({"value"}, "`value`")
        if d.value is None:
            raise InputError("kind 'constant' needs `value` (tokens)", where=where)
        v = d.value
        return Discretised(lambda x: 1.0 if x >= v else 0.0, lambda q: float(v), v, v)
    if d.kind == "uniform":
        reject(set(), "`min` and `max` (integers in between are equally likely)")
        if d.min is None or d.max is None:
            raise InputError("kind 'uniform' needs `min` and `max`", where=where)
        a, b = d.min - 0.5, d.max + 0.5
        cdf = lambda x: min(1.0, max(0.0, (x - a) / (b - a)))  # noqa: E731
        ppf = lambda q: a + q * (b - a)  # noqa: E731
        return Discretised(cdf, ppf, d.min, d.max)
    if d.kind == "normal":
        reject({"mean", "median", "stddev"}, "`mean` (or `median`) and `stddev`")
        if (d.mean is None) == (d.median is None) or d.stddev is None:
            raise InputError("kind 'normal' needs `mean` (or `median`, not both) and `stddev`", where=where)
        mu = d.mean if d.mean is not None else (d.median or 0.0)
        if d.stddev == 0:
            return _constant_like(mu, d, where)
        nd = NormalDist(mu, d.stddev)
        cdf, ppf = nd.cdf, nd.inv_cdf
    elif d.kind == "exponential":
        reject({"mean", "median"}, "`mean` or `median`")
        if (d.mean is None) == (d.median is None):
            raise InputError("kind 'exponential' needs `mean` or `median` (one of them)", where=where)
        scale = d.mean if d.mean is not None else (d.median or 0.0) / math.log(2)
        cdf = lambda x: 0.0 if x <= 0 else -math.expm1(-x / scale)  # noqa: E731
        ppf = lambda q: -scale * math.log1p(-q)  # noqa: E731
    else:  # lognormal
        reject({"mean", "median", "stddev", "sigma"}, "`median` or `mean`, and `sigma` or `stddev`")
        mu, sigma = _lognormal_params(d, where)
        if sigma == 0:
            return _constant_like(math.exp(mu), d, where)
        cdf = lambda x: 0.0 if x <= 0 else _STD_NORMAL.cdf((math.log(x) - mu) / sigma)  # noqa: E731
        ppf = lambda q: math.exp(mu + sigma * _STD_NORMAL.inv_cdf(q))  # noqa: E731
    lo = d.min if d.min is not None else max(1, _round_half_up(ppf(TAIL_QUANTILE)))
    if d.max is not None:
        hi = d.max
        lo = min(lo, hi)  # a default lower clip never passes a user's max (min <= max is checked)
    else:
        hi = max(lo, _round_half_up(ppf(1 - TAIL_QUANTILE)))
    return Discretised(cdf, ppf, lo, hi)


def _constant_like(x: float, d: LengthDistribution, where: str) -> Discretised:
    v = _round_half_up(x)
    v = max(d.min or 1, min(d.max if d.max is not None else v, v))
    return Discretised(lambda t: 1.0 if t >= v else 0.0, lambda q: float(v), v, v)


def _lognormal_params(d: LengthDistribution, where: str) -> tuple[float, float]:
    """(mu, sigma) of log X from the parameters given."""
    shapes = [n for n in ("sigma", "stddev") if getattr(d, n) is not None]
    if len(shapes) > 1:
        raise InputError("kind 'lognormal' takes `sigma` or `stddev`, not both", where=where)
    if d.mean is not None and d.median is not None:
        if shapes:
            raise InputError(
                "kind 'lognormal': give two of mean, median, sigma/stddev, not three", where=where
            )
        if d.mean <= d.median:
            raise InputError(
                f"kind 'lognormal' needs mean > median (got mean {d.mean}, median {d.median})", where=where
            )
        sigma = math.sqrt(2 * math.log(d.mean / d.median))
        return math.log(d.median), sigma
    if not shapes or (d.mean is None and d.median is None):
        raise InputError("kind 'lognormal' needs `median` or `mean`, and `sigma` or `stddev`", where=where)
    if d.median is not None:
        mu = math.log(d.median)
        if d.sigma is not None:
            return mu, d.sigma
        r = (d.stddev or 0.0) / d.median
        y = (1 + math.sqrt(1 + 4 * r * r)) / 2  # y = exp(sigma^2) solves sd^2 = m^2 y (y - 1)
        return mu, math.sqrt(math.log(y))
    mean = d.mean or 1.0
    sigma = d.sigma if d.sigma is not None else math.sqrt(math.log1p(((d.stddev or 0.0) / mean) ** 2))
    return math.log(mean) - sigma * sigma / 2, sigma


def distribution_lengths(
    dist: LengthDistribution, where: str, quantiles: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """Lengths of the discretised distribution (the one the slices are built from) at `quantiles` in (0, 1):
    inverse-transform sampling for the simulator."""
    d = discretise(dist, where)
    q = np.clip(np.asarray(quantiles, dtype=float), 1e-12, 1.0 - 1e-12)
    return np.fromiter((d.length_at(x) for x in q.tolist()), dtype=np.int64, count=q.shape[0])
