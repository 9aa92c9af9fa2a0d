"""`gpuplan plan` end to end on what the fleet optimiser promises: exact packing on odd instance shapes, one
availability cap across on-demand and spot, N+1 redundancy, and published shares that still verify.

Each spec is measured-only (an exclusive profile on inline offerings), so the capacities are the test's
own numbers and the expected plans can be worked out by hand.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import planner.plan
from planner.verify import rounded_shares
from solvers.types import FleetProblem, FleetSolution
from tests.support import gpuplan, write_spec

GPU = "h100-sxm"


def _offering(name: str, gpus: int, price: float, spot: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f"lab:-:{name}",
        "cloud": "lab",
        "region": "-",
        "instance_type": name,
        "gpu": GPU,
        "gpus_per_instance": gpus,
        "price_usd_per_hour": price,
        "source": "test",
        "as_of": "2026-12-01",
    }
    if spot is not None:
        out["spot_price_usd_per_hour"] = spot
    return out


def _spec(
    offerings: list[dict[str, Any]],
    buckets: list[tuple[int, float]],
    points: list[dict[str, Any]],
    rate_rps: float,
    tp: list[int],
    **model: Any,
) -> dict[str, Any]:
    """One measured-only model; `buckets` = (input_len, share); `points` = capacities by offering or gpu."""
    utilisation = model.pop("target_utilisation", 1.0)
    return {
        "name": "optimiser",
        "models": [
            {
                "name": "m",
                "model": "m",
                "workload": {
                    "rate_rps": rate_rps,
                    "histogram": [{"input_len": i, "output_len": 10, "share": s} for i, s in buckets],
                },
                "slo": {"ttft_ms": 1e9, "tpot_ms": 1e9},
                "min_replicas": 0,
                **model,
            }
        ],
        "offerings": {"include": [o["id"] for o in offerings]},
        "search": {"tp": tp, "target_utilisation": utilisation},
        "profiles": [{"model": "m", "exclusive": True, "capacities": points}],
        "catalog": {"offerings": offerings},
    }


def _plan(tmp_path: Path, spec: dict[str, Any], code: int = 0) -> dict[str, Any]:
    r = gpuplan("plan", write_spec(tmp_path, spec), "-f", "json")
    assert r.code == code, str(r)
    data: dict[str, Any] = json.loads(r.out)["data"]
    return data


def _replicas(plan: dict[str, Any]) -> dict[str, int]:
    return {g["candidate"]: g["replicas"] for a in plan["allocations"] for g in a["replicas"]}


def test_odd_instance_shape_packs_two_tp_sizes_on_one_instance(tmp_path: Path) -> None:
    """One 6-GPU offering at $10/h; one bucket only tp4 serves, the other only tp2: both replicas share one
    instance (4 + 2 GPUs), $10/h (the packing row once charged a tp4 replica all 6 GPUs: $20/h)."""
    six = _offering("six", 6, 10.0)
    points = [
        {"offering": six["id"], "tp": 4, "input_len": 100, "output_len": 10, "capacity_rps": 1.0},
        {"offering": six["id"], "tp": 2, "input_len": 200, "output_len": 10, "capacity_rps": 1.0},
    ]
    plan = _plan(tmp_path, _spec([six], [(100, 0.5), (200, 0.5)], points, rate_rps=2.0, tp=[2, 4]))
    assert plan["status"] == "optimal" and plan["verification"]["passed"], plan["verification"]
    assert (plan["total_cost_usd_per_hour"], plan["total_instances"], plan["total_gpus"]) == (10.0, 1, 6)
    assert sorted(_replicas(plan).values()) == [1, 1]
    assert plan["allocations"][0]["idle_gpus"] == 0


def test_available_caps_on_demand_and_spot_together(tmp_path: Path) -> None:
    """`available: {one: 1}` with spot on: one instance of `one` in all (spot, the cheaper), the rest on
    `other`; never one on-demand plus one spot."""
    one, other = _offering("one", 1, 2.0, spot=1.0), _offering("other", 1, 5.0)
    points = [{"gpu": GPU, "tp": 1, "input_len": 100, "output_len": 10, "capacity_rps": 1.0}]
    spec = _spec([one, other], [(100, 1.0)], points, rate_rps=2.0, tp=[1])
    spec["offerings"].update(spot=True, available={one["id"]: 1})
    plan = _plan(tmp_path, spec)
    assert plan["verification"]["passed"], plan["verification"]
    rented = {(a["offering"], a["spot"]): a["instances"] for a in plan["allocations"]}
    assert rented == {(one["id"], True): 1, (other["id"], False): 1}
    assert plan["total_cost_usd_per_hour"] == 6.0
    spec["offerings"]["include"] = [one["id"]]  # alone, two instances of `one` would be needed: infeasible
    plan = _plan(tmp_path, spec, code=1)
    assert plan["status"] == "infeasible" and "availability caps bind" in plan["infeasible_reasons"][0]


def _n_plus_one_spec(**model: Any) -> dict[str, Any]:
    eight, one = _offering("eight", 8, 8.0), _offering("one", 1, 2.5)
    points = [{"gpu": GPU, "tp": 1, "input_len": 100, "output_len": 10, "capacity_rps": 1.0}]
    return _spec([eight, one], [(100, 1.0)], points, rate_rps=3.0, tp=[1], target_utilisation=0.8, **model)


def test_min_replicas_is_a_floor_not_redundancy(tmp_path: Path) -> None:
    """min_replicas 2: four replicas (3 req/s at u 0.8) all on one 8-GPU instance; losing it drops the model."""
    plan = _plan(tmp_path, _n_plus_one_spec(min_replicas=2))
    assert plan["total_instances"] == 1 and plan["failover"] == []
    assert plan["models"][0]["redundancy"] == "none"


def test_n_plus_one_survives_losing_any_one_instance(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _n_plus_one_spec(redundancy="n+1"))
    assert plan["verification"]["passed"] and "redundancy" in plan["verification"]["checks"]
    assert plan["models"][0]["redundancy"] == "n+1"
    replicas = _replicas(plan)
    layouts = {g["candidate"]: g["dedicated"] for a in plan["allocations"] for g in a["replicas"]}
    assert sum(d["instances"] for ds in layouts.values() for d in ds) >= 2  # spread over two instances or more
    for cid, ds in layouts.items():  # every replica sits on an instance of its own layout
        assert sum(d["replicas_per_instance"] * d["instances"] for d in ds) == replicas[cid]
    # Losing the fullest instance of a group leaves `replicas_left`; the group keeps its routed traffic
    # (every replica serves 1 req/s here, so its load is 3 req/s x its share) within the stated utilisation.
    (route,) = plan["routing"]
    share = {r["candidate"]: r["share"] for r in route["routes"]}
    assert {f["candidate"] for f in plan["failover"]} == set(replicas)
    for f in plan["failover"]:
        assert f["replicas_left"] == replicas[f["candidate"]] - f["replicas_lost"]
        load = 3.0 * share.get(f["candidate"], 0.0)
        assert load <= f["max_utilisation"] * f["replicas_left"] + 1e-9
        assert f["utilisation"] == pytest.approx(load / f["replicas_left"], abs=1e-4)
    assert plan["total_cost_usd_per_hour"] == 10.0  # 4 x one ($2.5): 2 x eight would cost $16


def test_n_plus_one_with_a_stricter_degraded_target(tmp_path: Path) -> None:
    """failover_utilisation 0.8 keeps the normal headroom during a failure: 5 replicas instead of 4."""
    plan = _plan(tmp_path, _n_plus_one_spec(redundancy="n+1", failover_utilisation=0.8))
    assert plan["verification"]["passed"] and plan["total_instances"] == 5
    assert {f["max_utilisation"] for f in plan["failover"]} == {0.8}


def _sliver_spec() -> dict[str, Any]:
    """13 big replicas cannot carry 10,400.3 req/s at u 0.8 alone; three cheap ones take a sliver
    (about 3.7e-5 of the traffic) and fill up exactly."""
    cheap, big = _offering("cheap", 1, 0.1), _offering("big", 1, 5.0)
    points = [
        {"offering": cheap["id"], "tp": 1, "input_len": 100, "output_len": 10, "capacity_rps": 0.1591},
        {"offering": big["id"], "tp": 1, "input_len": 100, "output_len": 10, "capacity_rps": 1000.0},
    ]
    spec = _spec([cheap, big], [(100, 1.0)], points, rate_rps=10_400.38184, tp=[1], target_utilisation=0.8)
    spec["offerings"]["available"] = {cheap["id"]: 3}
    return spec


def test_published_shares_verify_as_published(tmp_path: Path) -> None:
    """The JSON carries the shares the verifier checked: on the cheap replicas, load = rate x share /
    capacity stays within 3 x 0.8 (6 decimals would put 2.4187 replicas' worth on them)."""
    plan = _plan(tmp_path, _sliver_spec())
    assert plan["verification"]["passed"], plan["verification"]
    (route,) = plan["routing"]
    shares = {r["candidate"]: r["share"] for r in route["routes"]}
    cheap = next(c for c in shares if "cheap" in c)
    assert shares[cheap] == 0.000036714  # 9 decimals: the fewest at which the published plan verifies
    assert 10_400.38184 * shares[cheap] / 0.1591 <= 0.8 * 3 * (1 + 1e-6)
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)


def test_the_verifier_reads_the_published_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Publishing at a fixed 6 decimals (the old rounding) makes the published plan fail verification,
    although the solver's unrounded plan is valid: the verdict is about what the JSON says."""

    def six_decimals(problem: FleetProblem, solution: FleetSolution) -> FleetSolution:
        return replace(solution, routing={s: rounded_shares(shares, 6) for s, shares in solution.routing.items()})

    monkeypatch.setattr(planner.plan, "publishable", six_decimals)
    plan = _plan(tmp_path, _sliver_spec(), code=1)
    assert not plan["verification"]["passed"]
    assert any(v.startswith("capacity: ") and "cheap" in v for v in plan["verification"]["violations"])
