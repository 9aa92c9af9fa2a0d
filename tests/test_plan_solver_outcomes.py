"""Solver outcomes through planner.plan.make_plan and the CLI: optimal, stopped at the time limit (a plan
with its gap, or the cheaper single-offering plan), infeasible, unbounded, not solved, and the CBC
fallback when HiGHS is unavailable. Every outcome is a plan or a clear reason, never a traceback.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import planner.solve
from planner.inputs import load_inputs
from planner.plan import make_plan
from planner.result import Plan
from solvers.fleet import solve_fleet
from solvers.types import FleetProblem, FleetSolution, SolveStatus
from tests.support import BASE_SPEC, gpuplan, spec_with, write_spec

# Two models, parametric lengths bucketed finely, every tp and two weight formats on two clouds: a
# MILP of ~10k variables that HiGHS solves in seconds but not in a millisecond.
LARGE_SPEC: dict[str, Any] = {
    "name": "large",
    "models": [
        {
            "name": "small",
            "model": "llama-3.1-8b",
            "workload": {
                "rate_rps": 120,
                "distribution": {
                    "input": {"kind": "lognormal", "median": 900, "sigma": 1.1, "max": 16000},
                    "output": {"kind": "lognormal", "median": 200, "sigma": 0.9, "max": 2048},
                },
                "buckets_per_decade": 4,
            },
            "slo": {"ttft_ms": 600, "tpot_ms": 30},
            "min_replicas": 2,
        },
        {
            "name": "big",
            "model": "llama-3.3-70b",
            "workload": {
                "rate_rps": 15,
                "distribution": {
                    "input": {"kind": "lognormal", "median": 1500, "sigma": 1.0, "max": 16000},
                    "output": {"kind": "lognormal", "median": 300, "sigma": 0.7, "max": 2048},
                },
                "buckets_per_decade": 3,
            },
            "slo": {"ttft_ms": 2000, "tpot_ms": 60},
            "min_replicas": 2,
        },
    ],
    "offerings": {"clouds": ["aws", "gcp"]},
    "search": {"tp": [1, 2, 4, 8], "weights": ["bf16", "fp8"]},
}


# One offering: the optimum is a single-offering plan.
ONE_OFFERING = spec_with({"offerings": {"include": ["aws:us-east-1:p5.4xlarge"]}})


def _plan(tmp_path: Path, data: dict[str, Any], **kw: Any) -> Plan:
    return make_plan(load_inputs(write_spec(tmp_path, data)), **kw)


def _assert_consistent(plan: Plan) -> None:
    """A plan, or no plan with a reason: never a half of each."""
    if plan.status == "infeasible":
        assert plan.infeasible_reasons and all(r.strip() for r in plan.infeasible_reasons)
        assert plan.total_cost_usd_per_hour is None and not plan.allocations
    else:
        assert plan.verification.passed, plan.verification.violations
        assert plan.total_cost_usd_per_hour is not None and plan.total_cost_usd_per_hour > 0
        assert plan.solver.status == plan.status


def test_tiny_time_limit_gives_a_plan_with_its_gap_or_a_clear_reason(tmp_path: Path) -> None:
    plan = _plan(tmp_path, LARGE_SPEC, time_limit_s=0.001)
    _assert_consistent(plan)
    assert plan.status in ("gap", "infeasible", "optimal")
    if plan.status == "infeasible":
        assert plan.solver.status == "not_solved"
        assert "time limit" in plan.infeasible_reasons[0] and "--time-limit" in plan.infeasible_reasons[0]
    elif plan.status == "gap":
        assert "time limit" in str(plan.assumptions.get("solver_note", ""))
        assert plan.solver.gap is None or 0 <= plan.solver.gap <= 1


def test_tiny_time_limit_through_the_cli(tmp_path: Path) -> None:
    r = gpuplan("plan", write_spec(tmp_path, LARGE_SPEC), "--time-limit", "0.001", "-f", "json")
    assert r.code in (0, 1), str(r)
    assert "Traceback" not in r.err
    env = json.loads(r.out)
    data = env["data"]
    if r.code == 0:
        assert env["status"] == "ok" and data["verification"]["passed"]
        assert data["status"] in ("gap", "optimal")
    else:
        assert env["status"] == "error" and data["solver"]["status"] == "not_solved"
        assert "time limit" in env["errors"][0]
    table = gpuplan("plan", write_spec(tmp_path, LARGE_SPEC), "--time-limit", "0.001")
    assert table.code == r.code and ("no plan" in table.out or "$" in table.out), str(table)


def test_cbc_gives_the_same_optimum_as_highs(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BASE_SPEC)
    plans = {}
    for solver in ("highs", "cbc"):
        r = gpuplan("plan", spec, "--solver", solver, "-f", "json")
        assert r.code == 0, str(r)
        plans[solver] = json.loads(r.out)["data"]
    assert plans["cbc"]["solver"]["name"] == "cbc" and plans["highs"]["solver"]["name"] == "highs"
    assert plans["cbc"]["status"] == plans["highs"]["status"] == "optimal"
    assert plans["cbc"]["total_cost_usd_per_hour"] == pytest.approx(plans["highs"]["total_cost_usd_per_hour"])


def test_spec_solver_cbc(tmp_path: Path) -> None:
    plan = _plan(tmp_path, spec_with({"solver": {"name": "cbc"}}))
    assert plan.solver.name == "cbc" and plan.status == "optimal"


def test_highs_unavailable_falls_back_to_cbc_and_says_so(tmp_path: Path) -> None:
    """A fresh interpreter where `import highspy` fails, through the console entry point."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "highspy.py").write_text("raise ImportError('highspy hidden by the test')\n")
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json", env={"PYTHONPATH": str(shadow)}, process=True)
    assert r.code == 0, str(r)
    data = json.loads(r.out)["data"]
    assert data["solver"]["name"] == "cbc" and data["status"] == "optimal"
    note = str(data["assumptions"].get("solver_note", ""))
    assert "highspy" in note and "CBC" in note, data["assumptions"]


def test_highs_unavailable_in_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import solvers.fleet

    monkeypatch.setattr(solvers.fleet, "highs_available", lambda: False)
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC))
    assert r.code == 0, str(r)
    text = " ".join(r.out.split())
    assert "cbc optimal" in text and "fallback" in text


# ------------------------------------------------------------------- each status, deterministically
def _patched(monkeypatch: pytest.MonkeyPatch, make: Any) -> None:
    """Replace the main fleet solve (not the baselines) with `make(problem, real_solution)`."""
    real = solve_fleet

    def fake(problem: FleetProblem, **kw: Any) -> FleetSolution:
        return make(problem, real(problem, **kw))  # type: ignore[no-any-return]

    monkeypatch.setattr(planner.solve, "solve_fleet", fake)


def _empty(sol: FleetSolution, status: SolveStatus, message: str) -> FleetSolution:
    return replace(
        sol, status=status, cost_usd_per_hour=0.0, instances={}, replicas={}, routing={}, gap=None, message=message
    )


@pytest.mark.parametrize(
    ("status", "message", "needle", "envelope"),
    [
        ("infeasible", "infeasible: the budget binds", "the budget binds", "infeasible"),
        ("unbounded", "", "unbounded", "error"),
    ],
)
def test_no_plan_statuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: SolveStatus, message: str, needle: str, envelope: str
) -> None:
    _patched(monkeypatch, lambda p, sol: _empty(sol, status, message))
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json")
    assert r.code == 1, str(r)
    env = json.loads(r.out)
    assert env["status"] == envelope
    assert env["data"]["status"] == "infeasible" and env["data"]["solver"]["status"] == status
    assert needle in env["errors"][0]
    table = gpuplan("plan", write_spec(tmp_path, BASE_SPEC))
    assert table.code == 1 and needle in " ".join(table.out.split())


def test_not_solved_falls_back_to_the_best_single_offering_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _patched(monkeypatch, lambda p, sol: _empty(sol, "not_solved", "no feasible plan found within the time limit"))
    plan = _plan(tmp_path, BASE_SPEC)
    _assert_consistent(plan)
    assert plan.status == "gap" and plan.solver.gap is None
    assert plan.total_cost_usd_per_hour == pytest.approx(plan.best_single_offering_cost_usd_per_hour)
    assert "found no plan" in str(plan.assumptions["solver_note"])


def test_not_solved_without_any_plan_is_a_clear_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _patched(monkeypatch, lambda p, sol: _empty(sol, "not_solved", "Time limit reached"))
    monkeypatch.setattr(planner.solve, "best_single_offering", lambda *a, **k: [])
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json")
    assert r.code == 1, str(r)
    env = json.loads(r.out)
    assert env["status"] == "error" and env["data"]["solver"]["status"] == "not_solved"
    assert "not solved" in env["errors"][0] and "--time-limit" in env["errors"][0]
    table = gpuplan("plan", write_spec(tmp_path, BASE_SPEC))
    assert table.code == 1 and "no plan (1 reason below)" in table.out, str(table)


def _dearer(problem: FleetProblem, sol: FleetSolution) -> FleetSolution:
    """The real optimum plus one idle instance of its first offering: feasible, dearer, 'stopped early'."""
    oid = next(iter(sol.instances))
    price = {o.id: o.price_usd_per_hour for o in problem.offerings}[oid]
    instances = {**sol.instances, oid: sol.instances[oid] + 1}
    return replace(sol, status="gap", gap=0.5, instances=instances, cost_usd_per_hour=sol.cost_usd_per_hour + price)


def test_gap_plan_is_replaced_by_a_cheaper_single_offering_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _patched(monkeypatch, _dearer)
    data = ONE_OFFERING
    plan = _plan(tmp_path, data)
    _assert_consistent(plan)
    assert plan.status == "gap"
    assert plan.total_cost_usd_per_hour == pytest.approx(plan.best_single_offering_cost_usd_per_hour)
    assert plan.solver.gap is not None and 0 <= plan.solver.gap < 0.5
    assert "cost more than the best single-offering plan" in str(plan.assumptions["solver_note"])


def test_gap_plan_is_kept_with_its_gap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _patched(monkeypatch, lambda p, sol: replace(sol, status="gap", gap=0.25))
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json")
    assert r.code == 0, str(r)
    data = json.loads(r.out)["data"]
    assert data["status"] == "gap" and data["solver"]["gap"] == 0.25 and data["verification"]["passed"]
    assert "not proven optimal" in data["assumptions"]["solver_note"]
    table = gpuplan("plan", write_spec(tmp_path, BASE_SPEC))
    assert "25.00% gap" in " ".join(table.out.split())


def test_a_gap_plan_dearer_than_a_baseline_is_not_called_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a stopped plan costs more than the best single offering (and cannot be replaced), the report says
    so instead of 'the same as'."""
    _patched(monkeypatch, _dearer)
    monkeypatch.setattr(planner.solve, "_better_of", lambda problem, sol, singles: (sol, ""))
    r = gpuplan("plan", write_spec(tmp_path, ONE_OFFERING))
    assert r.code == 0, str(r)
    assert "above the best single offering" in " ".join(r.out.split()), str(r)


def test_real_infeasibility_names_what_binds(tmp_path: Path) -> None:
    r = gpuplan("plan", write_spec(tmp_path, spec_with({"constraints.budget_usd_per_hour": 0.01})), "-f", "json")
    assert r.code == 1, str(r)
    env = json.loads(r.out)
    assert env["status"] == "infeasible" and env["data"]["solver"]["status"] == "infeasible"
    assert "budget" in env["errors"][0]


def test_solver_errors_are_not_tracebacks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """solvers raise their own SolverFailure; the planner turns it into the application's exit 1."""
    from solvers.errors import SolverFailure

    def broken(problem: FleetProblem, **kw: Any) -> FleetSolution:
        raise SolverFailure("HiGHS failed (x) and the CBC fallback failed too (y)")

    monkeypatch.setattr(planner.solve, "solve_fleet", broken)
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC))
    assert r.code == 1 and "CBC fallback failed" in r.err and "Traceback" not in r.err, str(r)


def test_solver_argument_errors_name_the_flag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A solver argument out of range is named by the solver (`time_limit_s`) and by the CLI as its flag."""
    from solvers.errors import SolverArgumentError

    def strict(problem: FleetProblem, **kw: Any) -> FleetSolution:
        raise SolverArgumentError("time_limit_s", "time limit must be a positive number of seconds, got 0.5")

    monkeypatch.setattr(planner.solve, "solve_fleet", strict)
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC))
    assert r.code == 2 and "--time-limit" in r.err and "Traceback" not in r.err, str(r)


def test_a_tiny_slice_on_a_fast_candidate_still_gets_a_replica(tmp_path: Path) -> None:
    """0.01 req/s of 1-token requests on a GPU that serves ~10,000 req/s of them: the load coefficient
    falls below the MILP's tolerance; the fleet model's link_<c> rows keep it on a rented replica
    (found by fuzzing)."""
    data = {
        "models": [
            {
                "model": "llama-3.2-1b",
                "workload": {"rate_rps": 0.01, "histogram": [{"input_len": 1, "output_len": 1, "share": 1.0}]},
                "slo": {"ttft_ms": 50, "tpot_ms": 2},
                "min_replicas": 0,
            }
        ],
        "offerings": {"clouds": ["aws"], "gpus": ["t4"]},
        "search": {"tp": [1], "target_utilisation": 1.0},
    }
    plan = _plan(tmp_path, data)
    _assert_consistent(plan)
    assert plan.status == "optimal" and plan.total_instances >= 1
    served = {r.candidate for s in plan.routing for r in s.routes}
    replicas = {g.candidate: g.replicas for a in plan.allocations for g in a.replicas}
    assert served and all(replicas.get(c, 0) >= 1 for c in served)


def test_routes_to_candidates_without_replicas_fail_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_replicas(problem: FleetProblem, sol: FleetSolution) -> FleetSolution:
        return replace(sol, replicas={}, instances={}, cost_usd_per_hour=0.0)

    _patched(monkeypatch, no_replicas)
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json")
    assert r.code == 1, str(r)
    env = json.loads(r.out)
    assert env["status"] == "error" and not env["data"]["verification"]["passed"]
    assert any("no replica" in e for e in env["errors"]), env["errors"]
