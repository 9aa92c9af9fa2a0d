"""End-to-end planning: examples, infeasibility, monotonicity, determinism, through the library."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from planner.inputs import load_inputs
from planner.plan import make_plan
from planner.spec import parse_spec
from tests.conftest import EXAMPLES

EXAMPLE_FILES = sorted(EXAMPLES.glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLE_FILES, ids=lambda p: p.stem)
def test_every_example_plans_optimally_and_verifies(path: Path) -> None:
    plan = make_plan(load_inputs(path))
    assert plan.status == "optimal", plan.infeasible_reasons
    assert plan.verification.passed, plan.verification.violations
    assert plan.total_cost_usd_per_hour is not None and plan.total_cost_usd_per_hour > 0
    assert plan.allocations
    # the mix is never worse than the best single offering
    assert plan.best_single_offering_cost_usd_per_hour is not None
    assert plan.total_cost_usd_per_hour <= plan.best_single_offering_cost_usd_per_hour + 1e-6
    # every slice is fully routed
    for route in plan.routing:
        assert sum(r.share for r in route.routes) == pytest.approx(1.0, abs=1e-5)
    # every model gets at least its minimum replicas
    spec = load_inputs(path).spec
    for ms, summary in zip(spec.models, plan.models, strict=True):
        assert summary.replicas >= ms.min_replicas


def test_chat_example_uses_six_offerings_from_four_clouds() -> None:
    inputs = load_inputs(EXAMPLES / "chat-llama-8b.yaml")
    from planner.offerings import select_offerings

    offerings = select_offerings(inputs.catalog, inputs.spec.offerings)
    assert len(offerings) >= 6
    assert {"aws", "gcp", "azure", "lambda"} <= {po.offering.cloud for po in offerings}


def _spec(rate_rps: float, gpus: list[str] | None = None, **extra: object) -> dict[str, object]:
    spec: dict[str, object] = {
        "models": [
            {
                "model": "llama-3.1-8b",
                "workload": {
                    "rate_rps": rate_rps,
                    "histogram": [
                        {"input_len": 512, "output_len": 128, "share": 0.6},
                        {"input_len": 2048, "output_len": 256, "share": 0.4},
                    ],
                },
                "slo": {"ttft_ms": 1000, "tpot_ms": 50},
            }
        ],
        "offerings": {"clouds": ["aws", "lambda"], **({"gpus": gpus} if gpus else {})},
        "search": {"tp": [1, 2], "weights": ["bf16"]},
    }
    spec.update(extra)
    return spec


def _plan(spec_dict: dict[str, object], tmp_path: Path) -> float:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict))
    plan = make_plan(load_inputs(path))
    assert plan.status == "optimal", plan.infeasible_reasons
    assert plan.verification.passed
    assert plan.total_cost_usd_per_hour is not None
    return plan.total_cost_usd_per_hour


def test_more_traffic_never_gives_a_cheaper_plan(tmp_path: Path) -> None:
    costs = [_plan(_spec(rate), tmp_path=tmp_path) for rate in (1, 4, 10, 25, 60)]
    assert costs == sorted(costs)
    assert costs[-1] > costs[0]


def test_removing_offerings_never_lowers_cost(tmp_path: Path) -> None:
    full = _plan(_spec(10), tmp_path)
    fewer = _plan(_spec(10, gpus=["a10g", "l4", "h100-sxm"]), tmp_path)
    assert fewer >= full - 1e-9


def test_plan_is_deterministic_apart_from_elapsed_time(tmp_path: Path) -> None:
    inputs = load_inputs(EXAMPLES / "llama-70b-tp.yaml")
    a = make_plan(inputs).model_dump(mode="json")
    b = make_plan(inputs).model_dump(mode="json")
    a["solver"].pop("seconds")
    b["solver"].pop("seconds")
    assert a == b


def test_a_model_that_fits_nowhere_is_infeasible_with_a_reason(tmp_path: Path) -> None:
    spec = _spec(1, gpus=["l4"])
    spec["models"][0]["model"] = "llama-3.1-405b"  # type: ignore[index]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    plan = make_plan(load_inputs(path))
    assert plan.status == "infeasible"
    assert plan.total_cost_usd_per_hour is None
    assert any("llama-3.1-405b" in r and "GB" in r for r in plan.infeasible_reasons)


def test_an_impossible_slo_is_infeasible_and_names_the_slice(tmp_path: Path) -> None:
    spec = _spec(1)
    spec["models"][0]["slo"] = {"ttft_ms": 1, "tpot_ms": 0.5}  # type: ignore[index]
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    plan = make_plan(load_inputs(path))
    assert plan.status == "infeasible"
    assert any("cannot meet" in r for r in plan.infeasible_reasons)


def test_spot_is_used_only_when_allowed_and_capped(tmp_path: Path) -> None:
    on_demand = _plan(_spec(10), tmp_path)
    with_spot = _plan(_spec(10, offerings={"clouds": ["aws"], "spot": True}), tmp_path)
    only_aws = _plan(_spec(10, offerings={"clouds": ["aws"]}), tmp_path)
    assert with_spot <= only_aws + 1e-9
    assert on_demand <= only_aws + 1e-9


def test_min_replicas_adds_redundancy(tmp_path: Path) -> None:
    one = _spec(1)
    two = _spec(1)
    two["models"][0]["min_replicas"] = 3  # type: ignore[index]
    assert _plan(two, tmp_path) > _plan(one, tmp_path)


def test_parse_spec_of_every_example() -> None:
    for path in EXAMPLE_FILES:
        parse_spec(yaml.safe_load(path.read_text()), str(path))


def test_plan_inputs_are_not_mutated() -> None:
    inputs = load_inputs(EXAMPLES / "shared-fleet.yaml")
    before = inputs.spec.model_dump()
    make_plan(dataclasses.replace(inputs))
    assert inputs.spec.model_dump() == before


def test_offline_work_can_be_served_by_offloaded_candidates(tmp_path: Path) -> None:
    plan = make_plan(load_inputs(EXAMPLES / "offline-offload.yaml"))
    assert plan.status == "optimal" and plan.verification.passed
    sources = {g.capacity_source for a in plan.allocations for g in a.replicas}
    assert "offload" in sources
    # offloading on cheap single-GPU hosts beats holding opt-30b in GPU memory of a multi-GPU node
    spec = yaml.safe_load((EXAMPLES / "offline-offload.yaml").read_text())
    spec["models"][0]["offline"] = False
    path = tmp_path / "resident.yaml"
    path.write_text(yaml.safe_dump(spec))
    resident = make_plan(load_inputs(path))
    assert plan.total_cost_usd_per_hour is not None and resident.total_cost_usd_per_hour is not None
    assert plan.total_cost_usd_per_hour < resident.total_cost_usd_per_hour


def test_interactive_work_never_gets_offloaded_candidates(tmp_path: Path) -> None:
    spec = yaml.safe_load((EXAMPLES / "offline-offload.yaml").read_text())
    spec["models"][0]["offline"] = False
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    plan = make_plan(load_inputs(path))
    assert all(g.capacity_source != "offload" for a in plan.allocations for g in a.replicas)
