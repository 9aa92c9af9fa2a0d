"""Rate curves (workload.rate_curve) and multi-period plans (`gpuplan schedule`), end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planner.errors import InputError
from planner.rate_curve import spec_curve, trace_curve
from planner.spec import RateCurve, TraceSource, Workload
from planner.traces import read_trace
from planner.workload import build_slices, slice_of_requests, slices_from_lengths
from tests.support import ROOT, assert_user_error, gpuplan, spec_with, write_spec

BURSTGPT = ROOT / "examples" / "traces" / "burstgpt-first7d.csv.gz"
BURSTGPT_KEPT = 19_431 - 1_538  # rows of the week less the failed requests (traces.md, section 7)

CURVE = {"rates_rps": [1, 0.5, 4, 8, 6, 2]}


def _curved(**changes: Any) -> dict[str, Any]:
    data = spec_with(
        {"models[0].workload.rate_curve": CURVE, "offerings.spot": True, "offerings.max_spot_share": 0.5},
        drop=("models[0].workload.rate_rps",),
    )
    for path, value in changes.items():
        data = _set(data, path, value)
    return data


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node: Any = data
    *head, last = path.split(".")
    for key in head:
        node = node[int(key)] if key.isdigit() else node[key]
    node[last] = value
    return data


@pytest.mark.parametrize(
    ("curve", "needle"),
    [
        ({"rates_rps": [1, 2], "weekly_profile": [[1] * 24] * 7, "peak_rps": 3}, "give exactly one of"),
        ({"daily_profile": [1] * 24}, "give peak_rps"),
        ({"daily_profile": [1] * 23, "peak_rps": 2}, "needs 24 values"),
        ({"weekly_profile": [[1] * 24] * 6, "peak_rps": 2}, "7 rows of 24"),
        ({"rates_rps": [1, 2], "rate_scale": 2, "peak_rps": 3}, "rate_scale or peak_rps"),
        ({"rates_rps": [0, 0]}, "every rate is 0"),
        ({"from_trace": True}, "needs a trace"),
        ({"rates_rps": [1, 2], "mix": [[1.0]]}, "mix has 1 row(s); the curve has 2 periods"),
        ({"rates_rps": [1, 2], "mix": [[1.0], [0.5]]}, "mix[1] sums to 0.5"),
        ({"rates_rps": [1, 2], "mix": [[0.5, 0.5], [1.0, 0.0]]}, "rate_curve.mix[0] has 2 share(s)"),
        ({"rates_rps": [1], "mix": [[-1.0]]}, "mix"),
    ],
)
def test_bad_curves_are_input_errors(tmp_path: Path, curve: dict[str, Any], needle: str) -> None:
    spec = write_spec(tmp_path, _curved(**{"models.0.workload.rate_curve": curve}))
    assert_user_error(gpuplan("validate", spec), "models[0].workload", needle)


def test_a_curve_and_a_rate_together_are_refused(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, _curved(**{"models.0.workload.rate_rps": 4}))
    assert_user_error(gpuplan("validate", spec), "rate_curve or rate_rps")


def test_profiles_scale_to_their_peak_and_keep_the_mix() -> None:
    day = [float(h % 12 + 1) for h in range(24)]
    curve = RateCurve(daily_profile=tuple(day), peak_rps=6.0)
    rates = spec_curve(curve, (0.25, 0.75), "w")
    assert rates.periods == 24 and rates.peak_rps == pytest.approx(6.0)
    assert rates.totals_rps[0] == pytest.approx(0.5)  # 1/12 of the peak
    assert all(row[1] == pytest.approx(3 * row[0]) for row in rates.rates_rps)
    scaled = spec_curve(RateCurve(rates_rps=(1.0, 2.0), rate_scale=3.0), (1.0,), "w")
    assert scaled.totals_rps == (3.0, 6.0)


def test_a_written_curve_takes_a_length_mix_per_period(tmp_path: Path) -> None:
    bins = [
        {"input_len": 2000, "output_len": 100, "share": 0.5},
        {"input_len": 200, "output_len": 300, "share": 0.25},
        {"input_len": 2000, "output_len": 100, "share": 0.25},  # the same lengths as the first: one slice
    ]
    mix = [[1.0, 0.0, 0.0], [0.1, 0.8, 0.1], [0.0, 0.5, 0.5]]
    workload = Workload.model_validate({"histogram": bins, "rate_curve": {"rates_rps": [2.0, 4.0, 1.0], "mix": mix}})
    built = build_slices("m", workload, tmp_path, "models[0].workload")
    assert [(s.input_len, s.output_len) for s in built.slices] == [(200, 300), (2000, 100)]
    assert built.periods is not None
    assert np.allclose(built.periods.rates_rps, [[0.0, 2.0], [3.2, 0.8], [0.5, 0.5]])
    assert [s.rate_rps for s in built.slices] == pytest.approx([1.0, 3.0])  # the busiest period, overall mix
    spec = write_spec(
        tmp_path, _curved(**{"models.0.workload.rate_curve": {"rates_rps": [1, 4], "mix": [[1.0], [1.0]]}})
    )
    assert gpuplan("validate", spec).code == 0
    data = spec_with({"models[0].workload.rate_curve": {"rates_rps": [1, 4], "mix": [[1.0], [1.0]]}})
    data["models"][0]["workload"] = {
        "distribution": {
            "input": {"kind": "lognormal", "median": 500, "sigma": 1},
            "output": {"kind": "lognormal", "median": 100, "sigma": 1},
        },
        "rate_curve": {"rates_rps": [1, 4], "mix": [[1.0], [1.0]]},
    }
    assert_user_error(gpuplan("validate", write_spec(tmp_path, data)), "models[0].workload", "needs a histogram")


def test_a_trace_is_counted_per_period_with_its_own_mix() -> None:
    data = read_trace(TraceSource(path=str(BURSTGPT), format="burstgpt"), ROOT, "t", need_timestamps=True)
    assert data.requests == BURSTGPT_KEPT and data.timestamps_s is not None
    slices = slices_from_lengths("m", data.input_lens, data.output_lens, 1, 1.0)
    which = slice_of_requests(data.input_lens, data.output_lens, 1)
    for k, s in enumerate(slices):  # the same cells, in the same order
        assert np.mean(which == k) == pytest.approx(s.share)
    plain = trace_curve(RateCurve(from_trace=True), data.timestamps_s, which, len(slices), "w")
    assert plain.periods == 168 and plain.trace_start_s == 0.0 and plain.scale == 1.0
    assert sum(plain.totals_rps) * 3600 == pytest.approx(BURSTGPT_KEPT)
    night, day = plain.rates_rps[4], plain.rates_rps[14]  # 04:00 and 14:00 of the first day
    assert sum(day) > 5 * sum(night)
    mixes = {tuple(round(r / sum(row), 3) for r in row) for row in plain.rates_rps if sum(row) > 0}
    assert len(mixes) > 100  # each period has its own length mix
    peak = trace_curve(RateCurve(from_trace=True, peak_rps=20.0), data.timestamps_s, which, len(slices), "w")
    assert peak.peak_rps == pytest.approx(20.0)
    assert np.allclose(np.array(peak.rates_rps), np.array(plain.rates_rps) * peak.scale)
    with pytest.raises(InputError, match="periods"):
        trace_curve(RateCurve(from_trace=True, period_s=60), data.timestamps_s, which, len(slices), "w")


def test_plan_plans_the_busiest_period(tmp_path: Path) -> None:
    run = gpuplan("plan", write_spec(tmp_path, _curved()), "--format", "json")
    assert run.code == 0, str(run)
    assert json.loads(run.out)["data"]["models"][0]["rate_rps"] == pytest.approx(8.0)


def test_schedule_commits_scales_and_beats_both_baselines(tmp_path: Path) -> None:
    run = gpuplan("schedule", write_spec(tmp_path, _curved()), "--format", "json")
    assert run.code == 0, str(run)
    data = json.loads(run.out)["data"]
    assert data["status"] == "optimal" and data["verification"]["passed"], data["verification"]
    assert data["periods"] == 6 and len(data["fleet"]) == 6
    assert [round(p["rate_rps"], 6) for p in data["fleet"]] == CURVE["rates_rps"]
    peak, auto = (b["cost_usd"] for b in data["baselines"])
    assert data["total_cost_usd"] <= auto + 1e-6 <= peak + 2e-6
    assert sum(p["cost_usd"] for p in data["fleet"]) == pytest.approx(data["total_cost_usd"], abs=1e-3)
    for c in data["commitments"]:
        ratio = c["price_usd_per_hour"] / c["on_demand_usd_per_hour"]
        assert c["break_even_utilisation"] == pytest.approx(ratio, abs=1e-4)
    committed = [c for c in data["commitments"] if c["instances"]]
    assert committed, "a 3y commitment at 43 % of the hourly price pays on this curve"
    for c in committed:  # committed instances run in every period
        assert all(p["instances"].get(c["offering"], 0) >= c["instances"] for p in data["fleet"])
        assert 0 < c["utilisation"] <= 1
    busiest = max(data["fleet"], key=lambda p: p["rate_rps"])
    quietest = min(data["fleet"], key=lambda p: p["rate_rps"])
    assert sum(busiest["instances"].values()) > sum(quietest["instances"].values())


def test_no_commitments_and_no_spot_is_the_autoscaled_baseline(tmp_path: Path) -> None:
    data = _curved(**{"offerings.spot": False})
    data["schedule"] = {"commitment_terms": []}
    run = gpuplan("schedule", write_spec(tmp_path, data), "--format", "json")
    assert run.code == 0, str(run)
    out = json.loads(run.out)["data"]
    assert out["commitments"] == [] and out["baselines"][1]["saving_pct"] == pytest.approx(0.0, abs=1e-6)


def test_schedule_refuses_a_budget_and_unequal_curves(tmp_path: Path) -> None:
    budget = _curved(**{"constraints": {"budget_usd_per_hour": 100}})
    assert_user_error(gpuplan("schedule", write_spec(tmp_path, budget)), "budget_usd_per_hour")
    two = _curved()
    other = json.loads(json.dumps(two["models"][0]))
    other["name"] = "second"
    other["workload"]["rate_curve"] = {"rates_rps": [1, 2, 3]}
    two["models"].append(other)
    run = gpuplan("schedule", write_spec(tmp_path, two, "two.yaml"))
    assert_user_error(run, "models[1].workload.rate_curve", "same periods")


def test_check_compares_schedules(tmp_path: Path) -> None:
    base = tmp_path / "base.json"
    assert gpuplan("schedule", write_spec(tmp_path, _curved()), "--format", "json", "-o", base).code == 0
    busier = _curved(**{"models.0.workload.rate_curve": {"rates_rps": [2, 1, 8, 16, 12, 4]}})
    cur = tmp_path / "busier.json"
    assert gpuplan("schedule", write_spec(tmp_path, busier, "busier.yaml"), "--format", "json", "-o", cur).code == 0
    same = gpuplan("check", base, "--baseline", base, "--format", "json")
    assert same.code == 0 and json.loads(same.out)["data"]["kind"] == "schedule", str(same)
    worse = gpuplan("check", cur, "--baseline", base)
    assert worse.code == 1 and "mean cost" in worse.out, str(worse)
    plan = tmp_path / "plan.json"
    assert gpuplan("plan", write_spec(tmp_path, _curved(), "p.yaml"), "--format", "json", "-o", plan).code == 0
    assert_user_error(gpuplan("check", cur, "--baseline", plan), "a schedule is checked against a schedule")


def test_sweep_rescales_a_curve(tmp_path: Path) -> None:
    run = gpuplan("sweep", write_spec(tmp_path, _curved()), "--rate", "4,16", "--format", "json")
    assert run.code == 0, str(run)
    points = json.loads(run.out)["data"]["points"]
    assert [p["value"] for p in points] == [4, 16]
    assert points[0]["total_cost_usd_per_hour"] < points[1]["total_cost_usd_per_hour"]


def test_the_example_peak_plan_simulates() -> None:
    """examples/burstgpt-week.yaml planned by `plan` (its busiest hour, the golden plan) replays in simulate."""
    plan = ROOT / "tests" / "golden" / "examples" / "burstgpt-week.plan.json"
    spec = ROOT / "examples" / "burstgpt-week.yaml"
    run = gpuplan("simulate", plan, "--spec", spec, "--arrivals", "poisson", "--duration", "30", "-f", "json")
    assert run.code in (0, 1), str(run)
    assert json.loads(run.out)["data"]["models"][0]["requests"] > 300
