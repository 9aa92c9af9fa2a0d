"""Workload slicing: histogram bins, log-spaced buckets, representative lengths, shares and rates."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.errors import InputError
from planner.spec import Workload
from planner.workload import (
    Slice,
    WorkloadSlices,
    bucket_edges,
    build_slices,
    slices_from_lengths,
)

DATA = Path(__file__).parent / "data" / "traces"
EXAMPLES = Path(__file__).parent.parent / "examples" / "traces"
WHERE = "models[0].workload"


def build(spec: dict[str, Any], base: Path = DATA) -> WorkloadSlices:
    return build_slices("m", Workload.model_validate(spec), base, WHERE)


def covering(slices: tuple[Slice, ...], i: int, o: int) -> list[Slice]:
    return [
        s
        for s in slices
        if s.input_len_range[0] <= i <= s.input_len_range[1]
        and s.output_len_range[0] <= o <= s.output_len_range[1]
    ]


# ---------------------------------------------------------------- bucket edges


def test_bucket_edges_documented_values() -> None:
    assert bucket_edges(1000, 4) == (0, 1, 2, 3, 6, 10, 18, 32, 56, 100, 178, 316, 562, 1000)
    assert bucket_edges(1001, 4)[-1] == 1778
    assert bucket_edges(5, 1) == (0, 1, 10)
    assert bucket_edges(1, 4) == (0, 1)
    # dense: rounding makes duplicates, which are removed
    e = bucket_edges(10, 20)
    assert e == tuple(sorted(set(e))) and e[:4] == (0, 1, 2, 3)


@given(max_len=st.integers(1, 10**6), bpd=st.integers(1, 20))
def test_bucket_edges_partition_lengths(max_len: int, bpd: int) -> None:
    e = bucket_edges(max_len, bpd)
    assert e[0] == 0 and e[1] == 1
    assert all(a < b for a, b in zip(e, e[1:], strict=False))
    assert e[-2] < max_len <= e[-1]
    # every edge is 10**(k/bpd) rounded, for some k
    for x in e[1:]:
        k = round(bpd * math.log10(x))
        assert any(math.floor(10 ** (j / bpd) + 0.5) == x for j in (k - 1, k, k + 1))


# ---------------------------------------------------------------- histogram


def test_histogram_bins_are_slices_and_identical_bins_merge() -> None:
    ws = build(
        {
            "rate_rps": 10,
            "histogram": [
                {"input_len": 512, "output_len": 128, "share": 0.25},
                {"input_len": 2048, "output_len": 256, "share": 0.5},
                {"input_len": 512, "output_len": 128, "share": 0.25},
            ],
        }
    )
    assert [s.id for s in ws.slices] == ["m/i512-512/o128-128", "m/i2048-2048/o256-256"]
    a, b = ws.slices
    assert (a.input_len, a.output_len, a.input_len_range, a.share, a.rate_rps) == (
        512,
        128,
        (512, 512),
        0.5,
        5.0,
    )
    assert (b.share, b.rate_rps) == (0.5, 5.0)
    s = ws.summary
    assert (s.source, s.rate_rps, s.rate_from, s.requests_read, s.buckets_per_decade) == (
        "histogram",
        10,
        "spec",
        None,
        None,
    )
    assert s.input_len.mean_tokens == pytest.approx(1280)
    assert (s.input_len.p50_tokens, s.input_len.p90_tokens, s.output_len.p99_tokens) == (512, 2048, 256)


# ---------------------------------------------------------------- lengths (the trace path without files)


lengths = st.lists(st.tuples(st.integers(1, 200_000), st.integers(1, 5_000)), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(reqs=lengths, bpd=st.integers(1, 12))
def test_every_request_is_in_one_slice_planned_no_shorter(reqs: list[tuple[int, int]], bpd: int) -> None:
    ins = np.array([r[0] for r in reqs], dtype=np.int64)
    outs = np.array([r[1] for r in reqs], dtype=np.int64)
    slices = slices_from_lengths("m", ins, outs, bpd, rate_rps=3.0)
    assert sum(s.share for s in slices) == pytest.approx(1.0, abs=1e-12)
    assert sum(s.rate_rps for s in slices) == pytest.approx(3.0)
    assert len({s.id for s in slices}) == len(slices)
    members: dict[str, list[tuple[int, int]]] = {s.id: [] for s in slices}
    for i, o in reqs:
        (s,) = covering(slices, i, o)  # exactly one
        assert s.input_len >= i and s.output_len >= o  # never planned shorter than a member
        members[s.id].append((i, o))
    for s in slices:
        m = members[s.id]
        assert m, "empty buckets are dropped"
        assert s.share == pytest.approx(len(m) / len(reqs))
        assert (s.input_len, s.output_len) == (max(x[0] for x in m), max(x[1] for x in m))
        assert s.input_len_range[0] <= s.input_len <= s.input_len_range[1]
        assert s.output_len_range[0] <= s.output_len <= s.output_len_range[1]
    assert [(s.input_len_range, s.output_len_range) for s in slices] == sorted(
        (s.input_len_range, s.output_len_range) for s in slices
    )


def test_bucket_representative_is_clipped_upper_edge() -> None:
    ins = np.array([700, 900, 950, 1200], dtype=np.int64)
    outs = np.array([100, 100, 100, 100], dtype=np.int64)
    s = slices_from_lengths("m", ins, outs, 4, 1.0)
    assert [(x.input_len_range, x.input_len, x.share) for x in s] == [
        ((563, 1000), 950, 0.75),
        ((1001, 1778), 1200, 0.25),
    ]
    assert s[0].id == "m/i563-1000/o57-100"


# ---------------------------------------------------------------- traces through build_slices


def test_trace_slices_match_direct_counts() -> None:
    with open(EXAMPLES / "azure-2023-conv-excerpt.csv", newline="") as f:
        rows = [(int(r["ContextTokens"]), int(r["GeneratedTokens"])) for r in csv.DictReader(f)]
    ws = build(
        {"rate_rps": 4, "trace": {"path": "azure-2023-conv-excerpt.csv", "format": "azure-2023"}}, EXAMPLES
    )
    assert ws.summary.requests_read == len(rows) == 2000
    for s in ws.slices:
        n = sum(
            1
            for i, o in rows
            if s.input_len_range[0] <= i <= s.input_len_range[1]
            and s.output_len_range[0] <= o <= s.output_len_range[1]
        )
        assert s.share == pytest.approx(n / len(rows))
        assert s.rate_rps == pytest.approx(4 * n / len(rows))
    ins = np.array([r[0] for r in rows])
    st_in = ws.summary.input_len
    assert st_in.mean_tokens == pytest.approx(ins.mean())
    assert st_in.p90_tokens == pytest.approx(np.percentile(ins, 90))
    assert ws.summary.rate_from == "spec" and ws.summary.trace_format == "azure-2023"


def test_trace_rate_from_timestamps() -> None:
    ws = build(
        {
            "trace": {
                "path": "mooncake-conversation-excerpt.jsonl",
                "format": "mooncake",
                "use_trace_rate": True,
            }
        }
    )
    assert ws.summary.rate_from == "trace"
    assert ws.summary.rate_rps == pytest.approx(199 / 72.0)
    assert sum(s.rate_rps for s in ws.slices) == pytest.approx(199 / 72.0)


def test_burstgpt_failures_reported_in_summary() -> None:
    ws = build({"rate_rps": 1, "trace": {"path": "burstgpt-synthetic.csv", "format": "burstgpt"}})
    assert ws.summary.requests_read == 14 and ws.summary.rows_skipped_total == 2


def test_rate_from_spec_and_trace_both_is_an_error() -> None:
    with pytest.raises(InputError) as e:
        build(
            {
                "rate_rps": 1,
                "trace": {"path": "burstgpt-synthetic.csv", "format": "burstgpt", "use_trace_rate": True},
            }
        )
    assert e.value.where == f"{WHERE}.rate_rps"


def test_trace_rate_needs_two_distinct_timestamps(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"timestamp": 5, "input_length": 3, "output_length": 4}\n')
    with pytest.raises(InputError) as e:
        build({"trace": {"path": "t.jsonl", "format": "mooncake", "use_trace_rate": True}}, tmp_path)
    assert e.value.where == f"{WHERE}.trace.use_trace_rate"


def test_trace_errors_name_the_spec_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"models\[0\]\.workload\.trace\.path"):
        build({"rate_rps": 1, "trace": {"path": "missing.csv", "format": "azure-2023"}}, tmp_path)


# ---------------------------------------------------------------- parametric distributions


def dist(inp: dict[str, Any], out: dict[str, Any], bpd: int = 4) -> WorkloadSlices:
    return build({"rate_rps": 2, "buckets_per_decade": bpd, "distribution": {"input": inp, "output": out}})


def test_constant_distribution_is_one_slice() -> None:
    ws = dist({"kind": "constant", "value": 700}, {"kind": "constant", "value": 64})
    (s,) = ws.slices
    assert (s.input_len, s.output_len, s.share, s.rate_rps) == (700, 64, 1.0, 2.0)
    assert s.input_len_range == (563, 1000) and s.output_len_range == (57, 100)
    assert ws.summary.input_len.mean_tokens == 700


def test_uniform_distribution_shares_are_exact_integer_proportions() -> None:
    ws = dist({"kind": "uniform", "min": 5, "max": 40}, {"kind": "constant", "value": 10})
    got = {(s.input_len_range, s.input_len): s.share for s in ws.slices}
    # buckets (3,6], (6,10], (10,18], (18,32], (32,56] hold 2, 4, 8, 14, 8 of the 36 integers 5..40
    assert got == pytest.approx(
        {
            ((4, 6), 6): 2 / 36,
            ((7, 10), 10): 4 / 36,
            ((11, 18), 18): 8 / 36,
            ((19, 32), 32): 14 / 36,
            ((33, 56), 40): 8 / 36,
        }
    )
    assert ws.summary.input_len.mean_tokens == pytest.approx(22.5, abs=0.05)


def test_lognormal_from_mean_and_median_reproduces_them() -> None:
    ws = dist({"kind": "lognormal", "median": 1020, "mean": 1154.7}, {"kind": "exponential", "mean": 211})
    s = ws.summary
    assert s.input_len.p50_tokens == 1020
    assert s.input_len.mean_tokens == pytest.approx(1154.7, rel=0.01)
    assert s.output_len.p50_tokens == pytest.approx(211 * math.log(2), abs=1)
    assert sum(x.share for x in ws.slices) == pytest.approx(1.0)
    assert sum(x.rate_rps for x in ws.slices) == pytest.approx(2.0)
    assert len(ws.slices) == len({x.id for x in ws.slices})


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "lognormal", "median": 800, "sigma": 0.9},
        {"kind": "lognormal", "mean": 800, "stddev": 500, "max": 4000},
        {"kind": "lognormal", "median": 800, "stddev": 300, "min": 100},
        {"kind": "lognormal", "mean": 800, "sigma": 1.2},
        {"kind": "normal", "mean": 300, "stddev": 100},
        {"kind": "exponential", "median": 50, "max": 300},
    ],
)
def test_distribution_slices_are_conservative_and_in_support(spec: dict[str, Any]) -> None:
    ws = dist(spec, {"kind": "constant", "value": 1})
    total = sum(s.share for s in ws.slices)
    assert total == pytest.approx(1.0)
    hi = max(s.input_len for s in ws.slices)
    if "max" in spec:
        assert hi == spec["max"]
    lo_support = spec.get("min", 1)
    for s in ws.slices:
        assert s.share > 0
        assert s.input_len_range[0] <= s.input_len <= s.input_len_range[1]
        # representative = upper edge unless it is the top of the support
        assert s.input_len == s.input_len_range[1] or s.input_len == hi
        assert s.input_len_range[1] >= lo_support


@given(
    median=st.floats(2, 50_000),
    sigma=st.floats(0.05, 2.5),
    bpd=st.integers(1, 10),
    cap=st.one_of(st.none(), st.integers(1, 200_000)),
)
@settings(max_examples=40, deadline=None)
def test_lognormal_properties(median: float, sigma: float, bpd: int, cap: int | None) -> None:
    spec: dict[str, Any] = {"kind": "lognormal", "median": median, "sigma": sigma}
    if cap is not None:
        spec["max"] = cap
    ws = dist(spec, {"kind": "constant", "value": 3}, bpd)
    assert sum(s.share for s in ws.slices) == pytest.approx(1.0)
    tops = sorted(s.input_len for s in ws.slices)
    ranges = sorted(s.input_len_range for s in ws.slices)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))  # disjoint buckets
    if cap is not None:
        assert tops[-1] <= cap
    edges = set(bucket_edges(tops[-1], bpd))
    assert all(t in edges for t in tops[:-1])  # all but the top bucket are planned at their upper edge


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"kind": "normal", "mean": 100, "sigma": 1}, "sigma does not apply"),
        ({"kind": "normal", "mean": 100}, "needs `mean`"),
        ({"kind": "lognormal", "median": 100}, "sigma` or `stddev"),
        ({"kind": "lognormal", "median": 100, "mean": 90}, "mean > median"),
        ({"kind": "lognormal", "median": 100, "sigma": 1, "stddev": 3}, "not both"),
        ({"kind": "uniform", "min": 10}, "needs `min` and `max`"),
        ({"kind": "uniform", "min": 10, "max": 5}, "greater than max"),
        ({"kind": "uniform", "min": 1, "max": 5, "mean": 3}, "mean does not apply"),
        ({"kind": "constant"}, "needs `value`"),
        ({"kind": "exponential", "mean": 5, "median": 3}, "one of them"),
    ],
)
def test_distribution_parameter_errors(spec: dict[str, Any], match: str) -> None:
    with pytest.raises(InputError, match=match) as e:
        dist({"kind": "constant", "value": 5}, spec)
    assert e.value.where == f"{WHERE}.distribution.output"
