"""Turn one model's workload (histogram, parametric distribution or trace) into request slices.

A slice is a bucket of requests with similar input and output lengths; the fleet optimiser routes each
slice's rate to replicas whose capacity for that slice is known. The rules:

Histogram
    Each bin is its own slice at exactly its lengths (range ``(len, len)``); bins with identical
    ``(input_len, output_len)`` are merged (shares added).

Traces and parametric distributions: log-spaced buckets
    Bucket edges, per length axis, are ``round(10 ** (k / buckets_per_decade))`` for k = 0, 1, 2, ...
    (rounded half up to integers, duplicates removed), preceded by 0. Bucket j holds the integer lengths
    ``edges[j] < L <= edges[j + 1]``, so its length range is ``(edges[j] + 1, edges[j + 1])``. Input and
    output lengths are bucketed separately; a slice is one (input bucket, output bucket) cell, and empty
    cells are dropped. With 4 buckets per decade the edges are 0, 1, 2, 3, 6, 10, 18, 32, 56, 100, 178, ...

Representative length: the upper edge, clipped to the longest member
    A slice is planned at ``input_len = min(upper edge, longest input in the cell)`` and the same for
    output. TTFT grows with input length, and TPOT and KV-cache use grow with both lengths, so planning
    every request of a bucket at its longest member never predicts a better latency for a request than
    the one planned for: the plan is safe for the SLOs, at the price of some over-provisioning inside
    wide buckets (more buckets per decade = tighter plans, more slices).

Parametric distributions
    Discretised deterministically through the CDF (no sampling). A length is a draw X rounded half up to
    an integer and clipped to ``[min, max]``; without ``min`` / ``max`` the clip is at the 0.1 % / 99.9 %
    quantiles (``TAIL_QUANTILE``, planner.distributions), so an unbounded distribution's longest 0.1 %
    are planned at its 99.9th percentile (set ``max`` to plan for a hard limit instead). A bucket's share is
    ``P(edge_lo < clipped length <= edge_hi)``; input and output are independent, so a cell's share is the
    product. Cells with a share below ``MIN_DISTRIBUTION_SHARE`` are dropped and the rest renormalised.
    Parameters: lognormal (``median`` or ``mean``, and ``sigma`` or ``stddev``; or ``mean`` and ``median``),
    normal (``mean`` or ``median``, and ``stddev``), exponential (``mean`` or ``median``), uniform
    (``min`` and ``max``, integers equally likely), constant (``value``).

Rate
    ``rate_rps`` from the spec, or with ``trace.use_trace_rate: true`` the trace's mean rate
    ``(n - 1) / (latest - earliest timestamp)`` over the rows kept. A slice's rate is share x model rate.

Summary statistics (mean, p50, p90, p99 of each length axis, for reports): planner/length_stats.py.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from planner.distributions import Discretised, discretise
from planner.errors import InputError
from planner.length_stats import LengthStats, distribution_stats, histogram_stats, trace_stats
from planner.rate_curve import PeriodRates, spec_curve, trace_curve
from planner.spec import HistogramBin, TraceSource, Workload
from planner.traces import TraceData, read_trace

MIN_DISTRIBUTION_SHARE = 1e-9


@dataclass(frozen=True)
class Slice:
    """A bucket of one model's requests, planned at its representative (longest) lengths."""

    id: str
    model: str
    input_len: int
    output_len: int
    input_len_range: tuple[int, int]  # inclusive token range of the bucket
    output_len_range: tuple[int, int]
    share: float  # of the model's requests
    rate_rps: float


@dataclass(frozen=True)
class WorkloadSummary:
    """What the slices were built from, for reports."""

    source: Literal["histogram", "distribution", "trace"]
    rate_rps: float
    rate_from: Literal["spec", "trace"]
    requests_read: int | None  # trace rows kept; None for histogram/distribution
    rows_skipped: tuple[tuple[str, int], ...]  # (reason, count), sorted by reason
    trace_path: str | None
    trace_format: str | None
    buckets_per_decade: int | None  # None for a histogram (no bucketing)
    input_len: LengthStats
    output_len: LengthStats

    @property
    def rows_skipped_total(self) -> int:
        return sum(c for _, c in self.rows_skipped)


@dataclass(frozen=True)
class WorkloadSlices:
    model: str
    slices: tuple[Slice, ...]  # sorted by (input range, output range)
    summary: WorkloadSummary
    periods: PeriodRates | None = None  # workload.rate_curve: rates per period and slice (slices: the peak)


def bucket_edges(max_len: int, buckets_per_decade: int) -> tuple[int, ...]:
    """Edges ``0, round(10**(k/bpd)) ...`` (deduplicated) up to the first edge >= max_len."""
    if buckets_per_decade < 1:
        raise ValueError("buckets_per_decade must be >= 1")
    edges = [0]
    k = 0
    while edges[-1] < max(max_len, 1):
        e = math.floor(10 ** (k / buckets_per_decade) + 0.5)
        if e > edges[-1]:
            edges.append(e)
        k += 1
    return tuple(edges)


def slice_id(model: str, input_range: tuple[int, int], output_range: tuple[int, int]) -> str:
    return f"{model}/i{input_range[0]}-{input_range[1]}/o{output_range[0]}-{output_range[1]}"


def _make_slice(
    model: str,
    rep: tuple[int, int],
    in_range: tuple[int, int],
    out_range: tuple[int, int],
    share: float,
    rate_rps: float,
) -> Slice:
    return Slice(
        id=slice_id(model, in_range, out_range),
        model=model,
        input_len=rep[0],
        output_len=rep[1],
        input_len_range=in_range,
        output_len_range=out_range,
        share=share,
        rate_rps=share * rate_rps,
    )


# ---------------------------------------------------------------- histogram


def _histogram_slices(model: str, bins: Sequence[HistogramBin], rate_rps: float) -> tuple[Slice, ...]:
    merged: dict[tuple[int, int], float] = {}
    for b in bins:
        key = (b.input_len, b.output_len)
        merged[key] = merged.get(key, 0.0) + b.share
    total = sum(merged.values())
    return tuple(
        _make_slice(model, key, (key[0], key[0]), (key[1], key[1]), share / total, rate_rps)
        for key, share in sorted(merged.items())
    )


# ---------------------------------------------------------------- traces


def slice_of_requests(
    ins: npt.NDArray[np.int64], outs: npt.NDArray[np.int64], bpd: int
) -> npt.NDArray[np.int64]:
    """For each request, the index of its slice in `slices_from_lengths(..)` (same cells, same order)."""
    e_in = np.asarray(bucket_edges(int(ins.max()), bpd), dtype=np.int64)
    e_out = np.asarray(bucket_edges(int(outs.max()), bpd), dtype=np.int64)
    key = (np.searchsorted(e_in, ins, side="left") - 1) * len(e_out) + np.searchsorted(e_out, outs, side="left") - 1
    _cells, inverse = np.unique(key, return_inverse=True)
    return np.asarray(inverse, dtype=np.int64).reshape(-1)


def _with_peak(ws: WorkloadSlices, periods: PeriodRates) -> WorkloadSlices:
    """The slices at the busiest period's total rate (each at its share), with the per-period rates."""
    peak = periods.peak_rps
    slices = tuple(replace(s, rate_rps=s.share * peak) for s in ws.slices)
    return replace(ws, slices=slices, summary=replace(ws.summary, rate_rps=peak), periods=periods)


def slices_from_lengths(
    model: str, ins: npt.NDArray[np.int64], outs: npt.NDArray[np.int64], bpd: int, rate_rps: float
) -> tuple[Slice, ...]:
    """Group requests (lengths >= 1) into (input bucket, output bucket) cells, in length order;
    a cell's share is its fraction of the requests and its lengths are its longest member's per axis."""
    if ins.shape != outs.shape or ins.shape[0] == 0:
        raise ValueError("need equally long, non-empty input and output length arrays")
    e_in = np.asarray(bucket_edges(int(ins.max()), bpd), dtype=np.int64)
    e_out = np.asarray(bucket_edges(int(outs.max()), bpd), dtype=np.int64)
    b_in = np.searchsorted(e_in, ins, side="left") - 1
    b_out = np.searchsorted(e_out, outs, side="left") - 1
    key = b_in * len(e_out) + b_out
    order = np.argsort(key, kind="stable")
    k_sorted = key[order]
    starts = np.flatnonzero(np.r_[True, k_sorted[1:] != k_sorted[:-1]])
    counts = np.diff(np.r_[starts, k_sorted.shape[0]])
    max_in = np.maximum.reduceat(ins[order], starts)
    max_out = np.maximum.reduceat(outs[order], starts)
    n = ins.shape[0]
    out: list[Slice] = []
    for s, c, mi, mo in zip(starts.tolist(), counts.tolist(), max_in.tolist(), max_out.tolist(), strict=True):
        bi, bo = int(b_in[order[s]]), int(b_out[order[s]])
        in_range = (int(e_in[bi]) + 1, int(e_in[bi + 1]))
        out_range = (int(e_out[bo]) + 1, int(e_out[bo + 1]))
        out.append(_make_slice(model, (mi, mo), in_range, out_range, c / n, rate_rps))
    return tuple(out)


# ---------------------------------------------------------------- parametric distributions


def _axis_buckets(dist: Discretised, bpd: int) -> list[tuple[tuple[int, int], int, float]]:
    """[(range, representative length, share)] of one axis, in length order."""
    edges = bucket_edges(dist.hi, bpd)
    out = []
    for lo_e, hi_e in zip(edges[:-1], edges[1:], strict=True):
        if hi_e < dist.lo:
            continue
        share = dist.cdf_len(hi_e) - dist.cdf_len(lo_e)
        if share > 0:
            out.append(((lo_e + 1, hi_e), min(hi_e, dist.hi), share))
    return out


def _distribution_slices(
    model: str, d_in: Discretised, d_out: Discretised, bpd: int, rate_rps: float
) -> tuple[Slice, ...]:
    ax_in, ax_out = _axis_buckets(d_in, bpd), _axis_buckets(d_out, bpd)
    cells = [
        (ri, rep_i, ro, rep_o, si * so)
        for ri, rep_i, si in ax_in
        for ro, rep_o, so in ax_out
        if si * so >= MIN_DISTRIBUTION_SHARE
    ]
    total = sum(c[4] for c in cells)
    return tuple(
        _make_slice(model, (ri, ro), r_in, r_out, s / total, rate_rps) for r_in, ri, r_out, ro, s in cells
    )


# ---------------------------------------------------------------- entry point


def _read_memoised(
    source: TraceSource, base_dir: Path, where: str, need_timestamps: bool, memo: dict[str, TraceData] | None
) -> TraceData:
    """read_trace, kept in `memo` under everything that decides what it reads (the source, the directory
    a relative path resolves against, whether timestamps are parsed). TraceData is frozen with read-only
    arrays, so sharing it is safe; a failed read raises and keeps nothing."""
    if memo is None:
        return read_trace(source, base_dir, where, need_timestamps=need_timestamps)
    key = json.dumps([source.model_dump(mode="json"), str(base_dir), need_timestamps], sort_keys=True)
    data = memo.get(key)
    if data is None:
        data = memo[key] = read_trace(source, base_dir, where, need_timestamps=need_timestamps)
    return data


def build_slices(
    model_label: str, workload: Workload, base_dir: Path, where: str, trace_memo: dict[str, TraceData] | None = None
) -> WorkloadSlices:
    """The slices of one model's workload. `where` is the YAML path of the workload (for messages);
    `base_dir` resolves a relative trace path (the spec file's directory). `trace_memo` keeps traces read
    for other plans of the same spec (a sweep's points all read the same file; see `_read_memoised`)."""
    bpd = workload.buckets_per_decade
    if workload.histogram is not None:
        rate = _spec_rate(workload, where)
        bins = workload.histogram
        shares = [b.share for b in bins]
        summary = WorkloadSummary(
            source="histogram",
            rate_rps=rate,
            rate_from="spec",
            requests_read=None,
            rows_skipped=(),
            trace_path=None,
            trace_format=None,
            buckets_per_decade=None,
            input_len=histogram_stats([b.input_len for b in bins], shares),
            output_len=histogram_stats([b.output_len for b in bins], shares),
        )
        built = WorkloadSlices(model_label, _histogram_slices(model_label, bins, rate), summary)
        return _curved(built, workload, where)

    if workload.distribution is not None:
        rate = _spec_rate(workload, where)
        d_in = discretise(workload.distribution.input, f"{where}.distribution.input")
        d_out = discretise(workload.distribution.output, f"{where}.distribution.output")
        summary = WorkloadSummary(
            source="distribution",
            rate_rps=rate,
            rate_from="spec",
            requests_read=None,
            rows_skipped=(),
            trace_path=None,
            trace_format=None,
            buckets_per_decade=bpd,
            input_len=distribution_stats(d_in),
            output_len=distribution_stats(d_out),
        )
        built = WorkloadSlices(model_label, _distribution_slices(model_label, d_in, d_out, bpd, rate), summary)
        return _curved(built, workload, where)

    trace = workload.trace
    if trace is None:  # the spec validator guarantees one source
        raise InputError("give one of histogram, distribution or trace", where=where)
    if trace.use_trace_rate and workload.rate_rps is not None:
        raise InputError(
            f"give either rate_rps ({workload.rate_rps}) or trace.use_trace_rate: true, not both",
            where=f"{where}.rate_rps",
        )
    curve = workload.rate_curve
    from_trace = curve is not None and curve.from_trace
    data = _read_memoised(trace, base_dir, f"{where}.trace", trace.use_trace_rate or from_trace, trace_memo)
    rate_from: Literal["spec", "trace"] = "spec"
    if curve is not None:
        rate = 1.0  # replaced by the curve's peak below
        rate_from = "trace" if from_trace else "spec"
    elif trace.use_trace_rate:
        trace_rate = data.mean_rate_rps()
        if trace_rate is None:
            raise InputError(
                f"cannot take the rate from the trace: {data.requests} request(s) over "
                f"{(data.last_timestamp_s or 0) - (data.first_timestamp_s or 0):g} s; give rate_rps instead",
                where=f"{where}.trace.use_trace_rate",
            )
        rate, rate_from = trace_rate, "trace"
    else:
        rate = _spec_rate(workload, where)
    summary = WorkloadSummary(
        source="trace",
        rate_rps=rate,
        rate_from=rate_from,
        requests_read=data.requests,
        rows_skipped=data.rows_skipped,
        trace_path=trace.path,
        trace_format=trace.format,
        buckets_per_decade=bpd,
        input_len=trace_stats(data.input_lens),
        output_len=trace_stats(data.output_lens),
    )
    built = WorkloadSlices(
        model_label, slices_from_lengths(model_label, data.input_lens, data.output_lens, bpd, rate), summary
    )
    if curve is not None and curve.from_trace:
        if data.timestamps_s is None:  # read with timestamps above
            raise InputError("the trace's timestamps were not read", where=f"{where}.trace")
        which = slice_of_requests(data.input_lens, data.output_lens, bpd)
        periods = trace_curve(curve, data.timestamps_s, which, len(built.slices), f"{where}.rate_curve")
        return _with_peak(built, periods)
    return _curved(built, workload, where)


def _curved(ws: WorkloadSlices, workload: Workload, where: str) -> WorkloadSlices:
    """A workload with a rate curve written in the spec: its per-period rates, slices at the peak."""
    if workload.rate_curve is None:
        return ws
    shares = tuple(s.share for s in ws.slices)
    mix = None
    if workload.rate_curve.mix is not None and workload.histogram is not None:
        mix = tuple(_bin_shares(workload.histogram, row) for row in workload.rate_curve.mix)
    return _with_peak(ws, spec_curve(workload.rate_curve, shares, f"{where}.rate_curve", mix))


def _bin_shares(bins: Sequence[HistogramBin], shares: Sequence[float]) -> tuple[float, ...]:
    """Shares given per histogram entry, as shares of `_histogram_slices`' slices (entries with the same
    lengths merged, in length order)."""
    merged: dict[tuple[int, int], float] = {}
    for b, share in zip(bins, shares, strict=True):
        key = (b.input_len, b.output_len)
        merged[key] = merged.get(key, 0.0) + share
    total = sum(merged.values())
    return tuple(v / total for _key, v in sorted(merged.items()))


def _spec_rate(workload: Workload, where: str) -> float:
    if workload.rate_curve is not None:
        return 1.0  # replaced by the curve's peak (_curved)
    if workload.rate_rps is None:
        raise InputError(
            "rate_rps is required (or, for a trace, set trace.use_trace_rate: true)", where=where
        )
    return workload.rate_rps
