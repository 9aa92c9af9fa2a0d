"""Measured capacity profiles: inline points, CSV, vllm bench result files, SLO filtering, slice matching."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner.errors import InputError
from planner.measured_profiles import (
    MeasuredPoint,
    Target,
    load_profile_points,
    match_points_to_slices,
    read_vllm_bench,
    unmatched_points,
)
from planner.spec import ProfileSource, Slo
from planner.workload import Slice, slices_from_lengths

DATA = Path(__file__).parent / "data" / "profiles"
WHERE = "profiles[0]"
SLO = Slo(ttft_ms=500, tpot_ms=25)
A_FILES = ["a-rate2.json", "a-rate8.json", "a-rate16.json", "a-rateinf.json"]


def load(spec: dict[str, Any], slo: Slo = SLO, base: Path = DATA) -> tuple[MeasuredPoint, ...]:
    return load_profile_points(ProfileSource.model_validate({"model": "m", **spec}), base, WHERE, slo)


# ---------------------------------------------------------------- vllm bench


def test_bench_file_fields_are_read() -> None:
    (run,) = read_vllm_bench(DATA / "a-rate8.json", "w")
    raw = json.loads((DATA / "a-rate8.json").read_text())
    assert run.mean_input_len == raw["total_input_tokens"] / raw["completed"] == 1024
    assert run.mean_output_len == pytest.approx(127.365)
    assert (run.request_throughput_rps, run.mean_ttft_ms, run.mean_tpot_ms, run.failed) == (
        raw["request_throughput"],
        raw["mean_ttft_ms"],
        raw["mean_tpot_ms"],
        0,
    )


def test_appended_jsonl_runs_and_failures() -> None:
    runs = read_vllm_bench(DATA / "b-sweep.jsonl", "w")
    assert [r.source.rsplit(":", 1)[1] for r in runs] == ["1", "2", "3"]
    assert [r.failed for r in runs] == [0, 0, 1]
    assert not runs[2].meets(Slo(ttft_ms=10_000, tpot_ms=1_000))  # a failed request fails the run


@pytest.mark.parametrize(
    ("slo", "capacity"),
    [
        (Slo(ttft_ms=500, tpot_ms=25), 14.3885),  # rate 16 run is the best passing one
        (Slo(ttft_ms=500, tpot_ms=15), 7.8094),  # TPOT excludes rate 16
        (Slo(ttft_ms=3000, tpot_ms=40), 25.3165),  # everything passes: the saturated run counts
        (Slo(ttft_ms=30, tpot_ms=40), 0.0),  # nothing passes: cannot serve within the SLO
    ],
)
def test_capacity_is_best_throughput_meeting_slo(slo: Slo, capacity: float) -> None:
    (p,) = load({"vllm_bench": A_FILES, "gpu": "h100-sxm"}, slo)
    raw = [json.loads((DATA / f).read_text()) for f in A_FILES]
    direct = max(
        (
            r["request_throughput"]
            for r in raw
            if r["mean_ttft_ms"] <= slo.ttft_ms and r["mean_tpot_ms"] <= slo.tpot_ms
        ),
        default=0.0,
    )
    assert p.capacity_rps == direct == pytest.approx(capacity)
    assert (p.input_len, p.output_len) == (1024, 128)  # runs at 127.4 and 128 tokens form one group
    assert p.target == Target("gpu", "h100-sxm", 1) and p.model == "m"


def test_groups_by_lengths_and_target_from_profile() -> None:
    pts = load({"vllm_bench": [*A_FILES, "b-sweep.jsonl", "c-detailed.json"], "offering": "o-1", "tp": 2})
    assert [(p.input_len, p.output_len) for p in pts] == [(512, 64), (1024, 128), (3000, 300)]
    assert pts[0].capacity_rps == pytest.approx(4 / 4.3, abs=1e-4)
    assert pts[1].capacity_rps == pytest.approx(14.3885)
    assert pts[2].capacity_rps == pytest.approx(1.6611)  # the max_concurrency 16 run; 32 breaks the TTFT SLO
    assert all(p.target == Target("offering", "o-1", 2) for p in pts)
    assert "3/4 meet SLO" in pts[1].source


def test_per_request_lists_are_used_without_totals(tmp_path: Path) -> None:
    raw = json.loads((DATA / "c-detailed.json").read_text())
    del raw["total_input_tokens"], raw["total_output_tokens"]
    raw["input_lens"] = [500, 510, 520, 530]
    (tmp_path / "r.json").write_text(json.dumps(raw))
    (run,) = read_vllm_bench(tmp_path / "r.json", "w")
    assert (run.mean_input_len, run.mean_output_len) == (515, 64)


def test_run_that_completed_nothing_is_ignored(tmp_path: Path) -> None:
    raw = json.loads((DATA / "a-rate2.json").read_text())
    raw.update(completed=0, total_input_tokens=0, total_output_tokens=0, request_throughput=0.0)
    (tmp_path / "r.json").write_text(json.dumps(raw))
    assert read_vllm_bench(tmp_path / "r.json", "w") == []


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        ({"mean_tpot_ms": None}, "'mean_tpot_ms': None is not a finite number"),
        ({"request_throughput": "fast"}, "'request_throughput'"),
        ({"completed": -1}, "'completed'"),
    ],
)
def test_bad_bench_values_name_file_and_key(tmp_path: Path, edit: dict[str, Any], match: str) -> None:
    raw = json.loads((DATA / "a-rate2.json").read_text())
    raw.update(edit)
    p = tmp_path / "r.json"
    p.write_text(json.dumps(raw))
    with pytest.raises(InputError, match=match) as e:
        read_vllm_bench(p, "w")
    assert e.value.where == str(p)


def test_missing_bench_key_names_line_in_jsonl(tmp_path: Path) -> None:
    good = json.loads((DATA / "a-rate2.json").read_text())
    bad = dict(good)
    del bad["mean_ttft_ms"]
    p = tmp_path / "r.jsonl"
    p.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(InputError, match="'mean_ttft_ms' is missing") as e:
        read_vllm_bench(p, "w")
    assert e.value.where == f"{p}:2"


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("", "empty"),
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_bench_files(tmp_path: Path, content: str, match: str) -> None:
    (tmp_path / "r.json").write_text(content)
    with pytest.raises(InputError, match=match):
        load({"vllm_bench": ["r.json"], "gpu": "l4"}, base=tmp_path)


def test_missing_bench_file_names_spec_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"profiles\[0\]\.vllm_bench\[0\]") as e:
        load({"vllm_bench": ["nope.json"], "gpu": "l4"}, base=tmp_path)
    assert e.value.where == str(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"vllm_bench": ["a-rate2.json"]}, f"{WHERE}.gpu"),
        ({"vllm_bench": ["a-rate2.json"], "gpu": "l4", "offering": "x"}, f"{WHERE}.gpu"),
        ({"csv": "capacities.csv", "gpu": "l4"}, f"{WHERE}.gpu"),
        ({}, WHERE),
    ],
)
def test_profile_entry_errors(spec: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as e:
        load(spec)
    assert e.value.where == where


# ---------------------------------------------------------------- CSV and inline


def test_csv_and_inline_points() -> None:
    pts = load(
        {
            "csv": "capacities.csv",
            "capacities": [{"gpu": "l4", "tp": 1, "input_len": 1000, "output_len": 128, "capacity_rps": 0.9}],
        }
    )
    assert [
        (p.target, p.input_len, p.output_len, p.capacity_rps, p.source.rsplit("/", 1)[-1]) for p in pts
    ] == [
        (Target("gpu", "l4", 1), 1000, 128, 0.9, "profiles[0].capacities[0]"),
        (Target("gpu", "h100-sxm", 1), 1000, 128, 14.0, "capacities.csv:2"),
        (Target("gpu", "h100-sxm", 1), 900, 100, 16.5, "capacities.csv:3"),
        (Target("offering", "aws-us-east-1-p5.48xlarge", 2), 3000, 300, 9.25, "capacities.csv:4"),
        (Target("gpu", "a10g", 1), 1000, 128, 1.8, "capacities.csv:5"),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("gpu,tp,input_len,output_len\nl4,1,5,5\n", "lacks 'capacity_rps'.*4 column"),
        ("tp,input_len,output_len,capacity_rps\n1,5,5,1\n", "lacks 'offering or gpu'"),
        (
            "gpu,tp,input_len,output_len,capacity_rps\nl4,one,5,5,1\n",
            "line 2, column 'tp': a non-numeric value is not an integer",
        ),
        (
            "gpu,tp,input_len,output_len,capacity_rps\nl4,1,5,5,1\nl4,1,0,5,1\n",
            "line 3, column 'input_len'.*>= 1",
        ),
        ("gpu,tp,input_len,output_len,capacity_rps\nl4,1,5,5,-2\n", "line 2, column 'capacity_rps'"),
        ("gpu,tp,input_len,output_len,capacity_rps\nl4,1,5,5,nan\n", "line 2, column 'capacity_rps'"),
        ("gpu,offering,tp,input_len,output_len,capacity_rps\nl4,o,1,5,5,1\n", "line 2: fill exactly one"),
        ("gpu,tp,input_len,output_len,capacity_rps\n", "no rows"),
        ("", "empty"),
    ],
)
def test_csv_errors_name_line_column_value(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "p.csv").write_text(text)
    with pytest.raises(InputError, match=match) as e:
        load({"csv": "p.csv"}, base=tmp_path)
    assert e.value.where == str(tmp_path / "p.csv")


# ---------------------------------------------------------------- matching


def _slices() -> tuple[Slice, ...]:
    ins = np.array([700, 950, 1000, 1500, 3000], dtype=np.int64)
    outs = np.array([90, 100, 128, 128, 300], dtype=np.int64)
    return slices_from_lengths("m", ins, outs, 4, 10.0)


def test_points_cover_the_slice_containing_them_min_wins() -> None:
    slices = _slices()
    ids = {(s.input_len_range, s.output_len_range): s.id for s in slices}
    h100, l4 = Target("gpu", "h100-sxm", 1), Target("gpu", "l4", 1)
    pts = [
        MeasuredPoint("m", h100, 1000, 128, 14.0, "a"),  # (563-1000, 101-178)
        MeasuredPoint("m", h100, 900, 110, 16.5, "b"),  # same bucket, faster: the min (14.0) is kept
        MeasuredPoint("m", h100, 600, 60, 30.0, "c"),  # (563-1000, 57-100)
        MeasuredPoint("m", l4, 1000, 128, 0.9, "d"),
        MeasuredPoint("other", l4, 1000, 100, 0.5, "e"),  # other model: ignored
        MeasuredPoint("m", l4, 50_000, 10, 0.1, "f"),  # covers no slice
    ]
    got = match_points_to_slices(pts, slices)
    a, c = ids[((563, 1000), (101, 178))], ids[((563, 1000), (57, 100))]
    assert got == {(a, h100): 14.0, (c, h100): 30.0, (a, l4): 0.9}
    assert list(got) == sorted(got)
    assert unmatched_points(pts, slices) == (pts[4], pts[5])


def test_histogram_slices_match_exact_lengths_only() -> None:
    s = Slice("m/i512-512/o128-128", "m", 512, 128, (512, 512), (128, 128), 1.0, 1.0)
    t = Target("offering", "o", 8)
    pts = [MeasuredPoint("m", t, 512, 128, 3.0, "x"), MeasuredPoint("m", t, 511, 128, 9.0, "y")]
    assert match_points_to_slices(pts, [s]) == {(s.id, t): 3.0}


def test_bench_profile_end_to_end_with_slices() -> None:
    pts = load({"vllm_bench": A_FILES, "gpu": "h100-sxm"})
    slices = slices_from_lengths(
        "m", np.array([1024, 1100], dtype=np.int64), np.array([120, 128], dtype=np.int64), 4, 1.0
    )
    got = match_points_to_slices(pts, slices)
    assert got == {("m/i1001-1778/o101-178", Target("gpu", "h100-sxm", 1)): pytest.approx(14.3885)}
