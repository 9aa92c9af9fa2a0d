"""`gpuplan check`: the comparison rules (pure) and the exit codes through the real entry point.

Exit codes: 0 no regression beyond tolerance, 1 regression, 2 bad input.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.check import compare, parse_plan_envelope
from planner.errors import ArgumentError, InputError
from planner.result import Plan
from tests.support import Run, gpuplan

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"


def _envelope(name: str) -> dict[str, Any]:
    env: dict[str, Any] = json.loads((GOLDEN / f"{name}.plan.json").read_text(encoding="utf-8"))
    return env


def _plan(name: str) -> Plan:
    return Plan.model_validate(_envelope(name)["data"])


def _with_cost(plan: Plan, factor: float) -> Plan:
    allocations = tuple(
        a.model_copy(
            update={
                "price_usd_per_hour": a.price_usd_per_hour * factor,
                "cost_usd_per_hour": a.cost_usd_per_hour * factor,
            }
        )
        for a in plan.allocations
    )
    total = plan.total_cost_usd_per_hour
    assert total is not None
    return plan.model_copy(update={"allocations": allocations, "total_cost_usd_per_hour": total * factor})


def _with_tpot(plan: Plan, slice_index: int, tpot_ms: float) -> Plan:
    routing = list(plan.routing)
    s = routing[slice_index]
    routing[slice_index] = s.model_copy(
        update={"routes": tuple(r.model_copy(update={"tpot_ms": tpot_ms}) for r in s.routes)}
    )
    return plan.model_copy(update={"routing": tuple(routing)})


# --- comparison rules ---------------------------------------------------------------------------


def test_identical_plans_pass() -> None:
    plan = _plan("two_offering")
    result = compare(plan, plan)
    assert result.passed and result.regressions == ()
    assert result.cost.change_pct == 0.0
    assert all(s.status == "ok" for s in result.slices)
    assert not result.spec_changed and not result.catalog_version_changed


def test_cost_within_tolerance_passes_beyond_fails() -> None:
    base = _plan("two_offering")
    assert compare(_with_cost(base, 1.019), base, cost_tolerance=0.02).passed
    worse = compare(_with_cost(base, 1.021), base, cost_tolerance=0.02)
    assert not worse.passed and worse.cost.regression
    assert "above the 2.00% tolerance" in worse.regressions[0]
    assert compare(_with_cost(base, 1.021), base, cost_tolerance=0.05).passed


def test_cheaper_plan_with_more_gpus_passes() -> None:
    base = _plan("two_offering")
    more = _with_cost(base, 0.9).model_copy(update={"total_gpus": 9, "total_instances": 9})
    result = compare(more, base)
    assert result.passed
    assert (result.gpus.baseline, result.gpus.current, result.gpus.change) == (6, 9, 3)


@settings(max_examples=80, deadline=None)
@given(factor=st.floats(0.5, 1.5), tolerance=st.floats(0.0, 0.3))
def test_cost_regression_iff_above_tolerance(factor: float, tolerance: float) -> None:
    base = _plan("two_offering")
    result = compare(_with_cost(base, factor), base, cost_tolerance=tolerance)
    assert base.total_cost_usd_per_hour is not None
    b, c = base.total_cost_usd_per_hour, base.total_cost_usd_per_hour * factor
    expected = c > b * (1 + tolerance) + 1e-9
    assert result.cost.regression == expected
    assert result.passed == (not expected)


@pytest.mark.parametrize("tolerance", [-0.01, math.nan, math.inf])
def test_bad_tolerance_is_input_error(tolerance: float) -> None:
    plan = _plan("two_offering")
    with pytest.raises(ArgumentError, match="must be a finite number from 0 to 10") as err:
        compare(plan, plan, cost_tolerance=tolerance)
    assert err.value.argument == "cost_tolerance"  # the command layer spells it --cost-tolerance


def test_slo_miss_is_a_regression_even_when_cheaper() -> None:
    base = _plan("two_offering")
    cur = _with_tpot(_with_cost(base, 0.8), 2, 100.5)
    result = compare(cur, base)
    assert not result.passed
    missed = [s for s in result.slices if s.status == "slo-missed"]
    assert len(missed) == 1 and missed[0].current_worst_tpot_ms == 100.5
    assert "TPOT 100.5 ms > SLO 100 ms" in result.regressions[0]
    assert result.models[0].current_worst_tpot_pct == pytest.approx(100.5)


def test_latency_growth_within_slo_passes() -> None:
    base = _plan("two_offering")
    result = compare(_with_tpot(base, 2, 99.0), base)
    assert result.passed
    assert result.models[0].current_worst_tpot_pct == pytest.approx(99.0)


def test_infeasible_against_feasible_is_a_regression() -> None:
    result = compare(_plan("infeasible"), _plan("two_offering"))
    assert not result.passed
    assert result.regressions == ("the plan is infeasible; the baseline was feasible",)
    assert not any(s.status == "slo-missed" for s in result.slices)


def test_feasible_against_infeasible_and_both_infeasible_pass() -> None:
    assert compare(_plan("two_offering"), _plan("infeasible")).passed
    assert compare(_plan("infeasible"), _plan("infeasible")).passed


def test_failed_verification_is_a_regression() -> None:
    base = _plan("two_offering")
    bad = base.model_copy(
        update={
            "verification": base.verification.model_copy(
                update={"passed": False, "violations": ("capacity_3: 1.2 > 1.0",)}
            )
        }
    )
    result = compare(bad, base)
    assert not result.passed and "capacity_3" in result.regressions[0]


def test_changed_buckets_are_listed_as_added_and_removed() -> None:
    base = _plan("two_offering")
    s = base.routing[0]
    cur = base.model_copy(
        update={"routing": (s.model_copy(update={"slice": "new-bucket"}), *base.routing[1:])}
    )
    statuses = {x.slice: x.status for x in compare(cur, base).slices}
    assert statuses["new-bucket"] == "added"
    assert statuses[s.slice] == "removed"
    assert compare(cur, base).passed


def test_offering_instance_changes_are_reported() -> None:
    result = compare(_plan("multi_model"), _plan("two_offering"))
    by_id = {o.offering: o for o in result.offerings}
    assert by_id["aws:us-east-1:g6.2xlarge"].current_instances == 0
    assert by_id["lambda:us-east-1:gpu_2x_h100_sxm5"].baseline_instances == 0
    assert [m.model for m in result.models] == ["chat", "assistant", "llama-3.1-8b"]


# --- input validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: [e], "top level is list"),
        (lambda e: {k: v for k, v in e.items() if k != "data"}, "needs schema_version, command and data"),
        (lambda e: {**e, "schema_version": "2"}, "schema_version '2' is not supported"),
        (lambda e: {**e, "command": "sweep"}, "envelope is from `gpuplan sweep`"),
        (
            lambda e: {**e, "status": "error", "data": {}, "errors": ["spec.yaml: not found"]},
            "plan run failed, there is no plan to compare: spec.yaml: not found",
        ),
        (lambda e: {**e, "data": {**e["data"], "total_gpus": "many"}}, "data.total_gpus"),
        (lambda e: {**e, "data": {**e["data"], "surprise": 1}}, "data.surprise"),
    ],
)
def test_bad_envelopes_are_input_errors(mutate: Any, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        parse_plan_envelope(mutate(_envelope("two_offering")), "plan.json")
    assert err.value.where == "plan.json"


# --- through the CLI entry point ------------------------------------------------------------------


def _main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`gpuplan ARGS` in-process through planner.cli.main (its error handling included)."""
    r = gpuplan(*args)
    return r.code, r.out, r.err


@pytest.fixture
def plans(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name in ("two_offering", "infeasible", "multi_model"):
        path = tmp_path / f"{name}.json"
        path.write_text((GOLDEN / f"{name}.plan.json").read_text(encoding="utf-8"), encoding="utf-8")
        out[name] = path
    worse = _with_cost(_plan("two_offering"), 1.05)
    env = {**_envelope("two_offering"), "data": worse.model_dump(mode="json")}
    out["costlier"] = tmp_path / "costlier.json"
    out["costlier"].write_text(json.dumps(env), encoding="utf-8")
    return out


def test_cli_exit_0_when_no_regression(
    plans: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _main(
        ["check", str(plans["two_offering"]), "--baseline", str(plans["two_offering"])], monkeypatch, capsys
    )
    assert code == 0
    assert "check passed" in out


def test_cli_exit_1_on_cost_regression_and_0_with_wider_tolerance(
    plans: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", str(plans["costlier"]), "--baseline", str(plans["two_offering"])]
    code, out, _ = _main(args, monkeypatch, capsys)
    assert code == 1 and "check FAILED" in out and "+5.00%" in out
    code, _, _ = _main([*args, "--cost-tolerance", "0.06"], monkeypatch, capsys)
    assert code == 0


def test_cli_exit_1_when_plan_became_infeasible(
    plans: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _main(
        ["check", str(plans["infeasible"]), "--baseline", str(plans["two_offering"]), "--format", "json"],
        monkeypatch,
        capsys,
    )
    assert code == 1
    env = json.loads(out)
    assert env["command"] == "check" and env["status"] == "ok"
    assert env["data"]["passed"] is False
    assert env["data"]["regressions"] == ["the plan is infeasible; the baseline was feasible"]


def test_cli_markdown_for_step_summary(
    plans: dict[str, Path], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _main(
        ["check", str(plans["costlier"]), "--baseline", str(plans["two_offering"]), "-f", "md"],
        monkeypatch,
        capsys,
    )
    assert code == 1
    assert out.startswith("### ❌ gpuplan check")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "plan not found"),
        ("", "plan is empty"),
        ("{not json", "plan is not JSON"),
        (
            '{"schema_version": "1", "command": "estimate", "status": "ok", "data": {}, "errors": []}',
            "not a plan",
        ),
        (
            '{"schema_version": "9", "command": "plan", "status": "ok", "data": {}, "errors": []}',
            "schema_version '9' is not supported",
        ),
    ],
)
def test_cli_exit_2_on_bad_input(
    content: str | None,
    message: str,
    plans: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    code, out, err = _main(["check", str(bad), "--baseline", str(plans["two_offering"])], monkeypatch, capsys)
    assert code == 2
    assert message in err and str(bad) in err
    assert "Traceback" not in err


def test_cli_exit_2_on_bad_baseline_and_tolerance(
    plans: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = _main(
        ["check", str(plans["two_offering"]), "--baseline", str(tmp_path)], monkeypatch, capsys
    )
    assert code == 2 and "baseline is a directory" in err
    code, _, err = _main(
        [
            "check",
            str(plans["two_offering"]),
            "--baseline",
            str(plans["two_offering"]),
            "--cost-tolerance",
            "-1",
        ],
        monkeypatch,
        capsys,
    )
    assert code == 2 and "--cost-tolerance" in err


def _subprocess(*args: str) -> Run:
    return gpuplan(*args, process=True)


def test_exit_codes_through_a_real_process(plans: dict[str, Path], tmp_path: Path) -> None:
    """The console entry point itself (what CI runs) returns 0, 1 and 2."""
    ok = _subprocess("check", str(plans["two_offering"]), "--baseline", str(plans["two_offering"]))
    assert ok.code == 0, ok.err
    worse = _subprocess("check", str(plans["costlier"]), "--baseline", str(plans["two_offering"]))
    assert worse.code == 1, worse.err
    missing = _subprocess("check", str(tmp_path / "nope.json"), "--baseline", str(plans["two_offering"]))
    assert missing.code == 2
    assert missing.err.strip().endswith("nope.json: plan not found")


SMALL_SPEC = """\
name: ci-flow
models:
  - model: llama-3.1-8b
    workload:
      rate_rps: {rate}
      histogram:
        - {{input_len: 256, output_len: 128, share: 0.7}}
        - {{input_len: 2048, output_len: 256, share: 0.3}}
    slo: {{ttft_ms: 2000, tpot_ms: 100}}
offerings:
  clouds: [aws]
  gpus: [l4, l40s, a10g]
search:
  tp: [1]
"""


def test_ci_flow_with_the_real_planner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the documented workflow does: plan base and head to JSON, then check head against base."""
    for name, rate in (("base", 4), ("same", 4), ("head", 9)):
        (tmp_path / f"{name}.yaml").write_text(SMALL_SPEC.format(rate=rate), encoding="utf-8")
        code, _, err = _main(
            ["plan", str(tmp_path / f"{name}.yaml"), "-f", "json", "-o", str(tmp_path / f"{name}.json")],
            monkeypatch,
            capsys,
        )
        assert code == 0, err
    base = str(tmp_path / "base.json")
    code, out, _ = _main(["check", str(tmp_path / "same.json"), "--baseline", base], monkeypatch, capsys)
    assert code == 0, out
    code, out, _ = _main(["check", str(tmp_path / "head.json"), "--baseline", base], monkeypatch, capsys)
    assert code == 1 and "FAIL" in out
    code, out, _ = _main(
        ["check", str(tmp_path / "head.json"), "--baseline", base, "--cost-tolerance", "10"],
        monkeypatch,
        capsys,
    )
    assert code == 0, out


def test_usage_error_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(["check", "plan.json"], monkeypatch, capsys)  # --baseline missing
    assert code == 2 and "--baseline" in err
