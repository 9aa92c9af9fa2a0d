"""The requests a simulation replays: arrival times and lengths, per model, deterministic for a seed.

Arrival processes (per model, at the planned rate x `rate_factor`):

- ``trace``: the trace's own timestamps, in time order, with its own lengths. The timeline is scaled so
  that the trace's mean rate equals the target rate (burstiness is kept, the level is the plan's); a
  trace shorter than the duration repeats.
- ``poisson``: exponential gaps.
- ``gamma``: Gamma-distributed gaps with coefficient of variation `burstiness_cv` (1 = Poisson; larger
  is burstier), shape 1/CV^2.

Lengths for synthetic arrivals are drawn from the workload itself: trace rows resampled uniformly, a
histogram's bins by share, a distribution by inverse transform of the discretised distribution the
planner bucketed. `auto` replays timestamps where the model's workload is a trace that has them and
uses Poisson otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from planner.distributions import distribution_lengths
from planner.errors import ArgumentError, InputError
from planner.spec import Workload
from planner.traces import read_trace

ArrivalProcess = Literal["auto", "trace", "poisson", "gamma"]
DEFAULT_REQUESTS = 10_000  # default duration: long enough for this many requests (p99 from ~100 tail points)
MIN_DURATION_S = 60.0
MAX_REQUESTS = 2_000_000
"""Requests one simulation may generate (about 0.5 GB of per-request state); more is an input error that
says how long a run fits, not an out-of-memory crash (1e7 req/s for 100 s asked for 1.1e9)."""


@dataclass(frozen=True)
class ModelTraffic:
    """One model's traffic as planned."""

    label: str
    rate_rps: float  # planned mean rate
    workload: Workload
    where: str  # YAML path of the workload, for messages


@dataclass(frozen=True, eq=False)
class Requests:
    """Columnar requests of a run, sorted by arrival time (ties: by model, then generation order)."""

    arrival_s: npt.NDArray[np.float64]
    input_len: npt.NDArray[np.int64]
    output_len: npt.NDArray[np.int64]
    model: npt.NDArray[np.int64]  # index into the models of the run
    duration_s: float
    processes: tuple[str, ...]  # per model: the process used
    rates_rps: tuple[float, ...]  # per model: target mean rate
    pace: tuple[float, ...]  # per model: replay speed of its trace's timestamps (1 = as recorded)
    rate_factor: float  # target over planned rate (models at their recorded pace excepted)

    @property
    def count(self) -> int:
        return int(self.arrival_s.shape[0])


@dataclass(frozen=True, eq=False)
class _Source:
    """Lengths (and, for traces with timestamps, times) to draw from."""

    ins: npt.NDArray[np.int64] | None
    outs: npt.NDArray[np.int64] | None
    shares: npt.NDArray[np.float64] | None
    stamps: npt.NDArray[np.float64] | None
    workload: Workload
    where: str


def _source(m: ModelTraffic, base_dir: Path, want_stamps: bool) -> _Source:
    w = m.workload
    if w.histogram is not None:
        ins = np.asarray([b.input_len for b in w.histogram], dtype=np.int64)
        outs = np.asarray([b.output_len for b in w.histogram], dtype=np.int64)
        shares = np.asarray([b.share for b in w.histogram], dtype=float)
        return _Source(ins, outs, shares / shares.sum(), None, w, m.where)
    if w.trace is not None:
        data = read_trace(w.trace, base_dir, f"{m.where}.trace", need_timestamps=want_stamps)
        stamps = data.timestamps_s
        ins, outs = np.asarray(data.input_lens), np.asarray(data.output_lens)
        if stamps is not None:
            order = np.argsort(stamps, kind="stable")
            stamps, ins, outs = stamps[order], ins[order], outs[order]
        return _Source(ins, outs, None, stamps, w, m.where)
    return _Source(None, None, None, None, w, m.where)


def trace_has_timestamps(w: Workload) -> bool:
    """Whether the workload is a trace whose format carries arrival times."""
    t = w.trace
    if t is None:
        return False
    if t.format in ("azure-2023", "mooncake", "burstgpt"):
        return True
    return t.columns is not None and t.columns.timestamp is not None


def _draw_lengths(
    src: _Source, rng: np.random.Generator, n: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    if src.ins is not None and src.outs is not None:
        if src.shares is not None:
            idx = rng.choice(src.ins.shape[0], size=n, p=src.shares)
        else:
            idx = rng.integers(0, src.ins.shape[0], size=n)
        return src.ins[idx], src.outs[idx]
    dist = src.workload.distribution
    if dist is None:  # the spec validator guarantees one source
        raise InputError("give one of histogram, distribution or trace", where=src.where)
    u = rng.random((2, n))
    return (
        distribution_lengths(dist.input, f"{src.where}.distribution.input", u[0]),
        distribution_lengths(dist.output, f"{src.where}.distribution.output", u[1]),
    )


def _gaps(rng: np.random.Generator, rate: float, cv: float, n: int) -> npt.NDArray[np.float64]:
    if abs(cv - 1.0) < 1e-12:
        return rng.exponential(1.0 / rate, size=n)
    shape = 1.0 / (cv * cv)
    return rng.gamma(shape, 1.0 / (rate * shape), size=n)


def _synthetic_times(rng: np.random.Generator, rate: float, cv: float, duration: float) -> npt.NDArray[np.float64]:
    n = int(rate * duration * 1.1 + 10.0 * math.sqrt(rate * duration + 1.0) * max(cv, 1.0) + 10)
    times = np.cumsum(_gaps(rng, rate, cv, n))
    while times[-1] < duration:
        more = np.cumsum(_gaps(rng, rate, cv, n)) + times[-1]
        times = np.concatenate([times, more])
    return times[times < duration]


def trace_timeline(
    stamps: npt.NDArray[np.float64], rate: float, duration: float | None
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], float]:
    """(row indices, arrival times, period) of a trace replayed at mean `rate` for `duration` seconds (None: the
    trace once); the period is the scaled span plus one mean gap, after which the trace repeats. Needs at
    least two distinct timestamps."""
    n = stamps.shape[0]
    span = float(stamps[-1] - stamps[0])
    if n < 2 or span <= 0.0:
        raise ValueError("a trace needs two distinct timestamps to be replayed")
    native = (n - 1) / span
    scale = native / rate
    rel = (stamps - stamps[0]) * scale
    period = (span + span / (n - 1)) * scale  # one trace plus one mean gap before it repeats
    if duration is None:
        return np.arange(n, dtype=np.int64), rel, period  # once: every row, then one mean gap
    reps = max(1, math.ceil(duration / period))
    idx = np.tile(np.arange(n, dtype=np.int64), reps)
    times = (rel[None, :] + period * np.arange(reps)[:, None]).ravel()
    keep = times < duration
    return idx[keep], times[keep], period


def generate(
    models: tuple[ModelTraffic, ...],
    base_dir: Path,
    *,
    process: ArrivalProcess = "auto",
    burstiness_cv: float | None = None,
    rate_factor: float = 1.0,
    total_rate_rps: float | None = None,
    recorded_pace: bool = False,
    duration_s: float | None = None,
    seed: int = 0,
) -> Requests:
    """Arrivals of every model over one common duration (module doc); deterministic for `seed`."""
    if burstiness_cv is not None and process in ("auto", "poisson"):
        process = "gamma" if process == "auto" or abs(burstiness_cv - 1.0) > 1e-12 else "poisson"
    if process == "gamma" and burstiness_cv is None:
        raise ArgumentError(
            "arrivals",
            "gamma arrivals need {burstiness_cv} CV (the gaps' coefficient of variation)",
            ("burstiness_cv",),
        )
    cv = 1.0 if burstiness_cv is None else burstiness_cv
    chosen: list[str] = []
    for m in models:
        has = trace_has_timestamps(m.workload)
        if process == "trace" and not has:
            raise ArgumentError(
                "arrivals",
                f"model {m.label!r} has no trace with timestamps to replay ({m.where}); "
                "use {arrivals} poisson or gamma",
                ("arrivals",),
            )
        if process == "trace" or (process == "auto" and has):
            chosen.append("trace")
        else:
            chosen.append("poisson" if process == "auto" else process)
    if total_rate_rps is not None:
        rate_factor = total_rate_rps / sum(m.rate_rps for m in models)
    sources = [_source(m, base_dir, chosen[i] == "trace") for i, m in enumerate(models)]
    rate_list = [m.rate_rps * rate_factor for m in models]
    pace = [1.0] * len(models)
    for i, src in enumerate(sources):
        if chosen[i] == "trace":
            stamps = _checked(src, models[i])
            native = (stamps.shape[0] - 1) / float(stamps[-1] - stamps[0])
            if recorded_pace:
                rate_list[i] = native
            pace[i] = rate_list[i] / native
    rates = tuple(rate_list)
    duration = duration_s
    if duration is None:
        spans = []
        for i, src in enumerate(sources):
            if chosen[i] == "trace" and src.stamps is not None:
                spans.append(trace_timeline(_checked(src, models[i]), rates[i], None)[2])
        total_rate = sum(rates)
        duration = max(spans) if spans else max(MIN_DURATION_S, DEFAULT_REQUESTS / total_rate)
    _check_size(sum(rates), duration)
    parts_t, parts_i, parts_o, parts_m = [], [], [], []
    for i, (m, src) in enumerate(zip(models, sources, strict=True)):
        rng = np.random.default_rng([seed, i])
        if chosen[i] == "trace":
            idx, times, _ = trace_timeline(_checked(src, m), rates[i], duration)
            assert src.ins is not None and src.outs is not None
            ins, outs = src.ins[idx], src.outs[idx]
        else:
            times = _synthetic_times(rng, rates[i], cv, duration)
            ins, outs = _draw_lengths(src, rng, times.shape[0])
        parts_t.append(times)
        parts_i.append(ins)
        parts_o.append(outs)
        parts_m.append(np.full(times.shape[0], i, dtype=np.int64))
    t = np.concatenate(parts_t)
    mi = np.concatenate(parts_m)
    order = np.lexsort((mi, t))
    return Requests(
        arrival_s=t[order],
        input_len=np.concatenate(parts_i)[order].astype(np.int64),
        output_len=np.concatenate(parts_o)[order].astype(np.int64),
        model=mi[order],
        duration_s=float(duration),
        processes=tuple(chosen),
        rates_rps=rates,
        pace=tuple(pace),
        rate_factor=rate_factor,
    )


def _check_size(rate_rps: float, duration_s: float) -> None:
    """Refuse a run of more than MAX_REQUESTS requests before allocating anything for it."""
    expected = rate_rps * duration_s
    if expected > MAX_REQUESTS:
        raise ArgumentError(
            "duration_s",
            f"{rate_rps:.4g} req/s over {duration_s:g} s is about {expected:.3g} requests; a simulation replays at "
            f"most {MAX_REQUESTS:,}: give a {{duration_s}} of at most {MAX_REQUESTS / rate_rps:.3g} s or a lower rate",
            ("duration_s",),
        )


def _checked(src: _Source, m: ModelTraffic) -> npt.NDArray[np.float64]:
    stamps = src.stamps
    if stamps is None or stamps.shape[0] < 2 or float(stamps[-1] - stamps[0]) <= 0.0:
        raise InputError(
            f"model {m.label!r}: the trace needs at least two distinct timestamps to replay its arrivals",
            where=f"{m.where}.trace",
        )
    return stamps
