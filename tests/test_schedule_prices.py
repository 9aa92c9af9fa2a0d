"""What instances cost over a schedule besides their hourly price: commitment rows that publish only a
discount rate, on-prem instances, and `schedule --solver cbc`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog.commitments import committed_price, find_commitments
from catalog.loader import load_catalog
from catalog.types import Catalog, Commitment
from planner.capacity import model_capacity
from planner.inputs import load_inputs, load_model, offerings_for, without_dominated
from planner.problem import build_problem
from solvers.types import FleetProblem
from tests.support import assert_user_error, gpuplan, spec_with, write_spec

A2 = "gcp:us-central1:a2-highgpu-1g"


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def _discount_only(cat: Catalog, rate: float | None, rate_max: float | None = None) -> Commitment:
    row = next(c for c in cat.commitments if c.id == f"{A2}:1y")
    return row.model_copy(
        update={
            "id": f"{A2}:1y#discount",
            "price_usd_per_hour": None,
            "price_usd_per_gpu_hour": None,
            "discount_rate": rate,
            "discount_rate_max": rate_max,
            "source": "a discount-only source",
        }
    )


def test_a_row_with_only_a_discount_rate_is_priced_from_the_on_demand_price(cat: Catalog) -> None:
    on_demand = cat.offerings[A2].price_usd_per_hour
    row = _discount_only(cat, 0.5)
    assert committed_price(row, on_demand) == pytest.approx(on_demand * 0.5)
    assert committed_price(row, None) is None
    assert committed_price(_discount_only(cat, None, 0.6), on_demand) is None  # "up to 60 %" is no price
    more = cat.model_copy(update={"commitments": (*cat.commitments, row, _discount_only(cat, None, 0.9))})
    found = find_commitments(more, A2, term_months=12)
    assert [c.id for c in found] == [f"{A2}:1y#discount", f"{A2}:1y"]  # cheaper first, the bound left out
    assert found[0].source == "a discount-only source" and found[0].confidence == "high"


def test_schedule_reports_where_a_commitment_price_comes_from(tmp_path: Path) -> None:
    data = spec_with(
        {"models[0].workload.rate_curve": {"rates_rps": [1, 4, 8, 2]}, "schedule": {"commitment_terms": ["1y"]}},
        drop=("models[0].workload.rate_rps",),
    )
    run = gpuplan("schedule", write_spec(tmp_path, data), "--format", "json")
    assert run.code == 0, str(run)
    options = json.loads(run.out)["data"]["commitments"]
    assert options and all(c["price_from"] == "price" for c in options)


def test_schedule_with_cbc_matches_highs(tmp_path: Path) -> None:
    data = spec_with(
        {"models[0].workload.rate_curve": {"rates_rps": [1, 4, 8, 2]}, "offerings.spot": True},
        drop=("models[0].workload.rate_rps",),
    )
    spec = write_spec(tmp_path, data)
    runs = {s: gpuplan("schedule", spec, "--solver", s, "--format", "json") for s in ("highs", "cbc")}
    out = {}
    for s, run in runs.items():
        assert run.code == 0, str(run)
        out[s] = json.loads(run.out)["data"]
        assert out[s]["solver"]["name"] == s and out[s]["status"] == "optimal", out[s]["solver"]
        assert out[s]["verification"]["passed"], out[s]["verification"]
    assert out["cbc"]["total_cost_usd"] == pytest.approx(out["highs"]["total_cost_usd"], rel=1e-6)
    for b_cbc, b_highs in zip(out["cbc"]["baselines"], out["highs"]["baselines"], strict=True):
        assert b_cbc["cost_usd"] == pytest.approx(b_highs["cost_usd"], rel=1e-6)


OWNED = "aws:us-east-1:g5.2xlarge"
AMORTISED = {  # 876 / (1 x 8760) + 0.5 x 0.2 + 876 / 8760 = 0.1 + 0.1 + 0.1 $/h
    "purchase_usd": 876,
    "lifetime_years": 1,
    "power_kw": 0.5,
    "usd_per_kwh": 0.2,
    "opex_usd_per_year": 876,
    "max_instances": 1,
}


def _on_prem_spec(tmp_path: Path, on_prem: object, **more: object) -> Path:
    changes = {
        "models[0].workload.rate_curve": {"rates_rps": [1, 4, 8, 2]},
        "offerings.spot": True,
        "schedule": {"commitment_terms": [], "on_prem": on_prem},
        **more,
    }
    return write_spec(tmp_path, spec_with(changes, drop=("models[0].workload.rate_rps",)))


def test_an_owned_machine_costs_its_amortised_price_every_hour_and_is_never_rented(tmp_path: Path) -> None:
    run = gpuplan("schedule", _on_prem_spec(tmp_path, {OWNED: AMORTISED}), "--format", "json")
    assert run.code == 0, str(run)
    data = json.loads(run.out)["data"]
    assert data["status"] == "optimal" and data["verification"]["passed"], data["verification"]
    (option,) = data["commitments"]
    assert option["commitment"] == f"on-prem:{OWNED}" and option["term"] == "on_prem"
    assert option["price_usd_per_hour"] == pytest.approx(0.3) and option["price_from"] == "on_prem"
    assert option["break_even_utilisation"] is None
    assert option["instances"] == 1, "owning at $0.30/h beats renting (spot from $0.64/h) in every period"
    for period in data["fleet"]:
        assert period["instances"].get(OWNED) == 1 and f"{OWNED}#spot" not in period["instances"]
    assert any("on-prem" in a for a in data["assumptions"])
    assert all(b["cost_usd"] for b in data["baselines"])  # the baselines rent other offerings


@pytest.mark.parametrize(
    ("on_prem", "more", "needles"),
    [
        ({OWNED: {**AMORTISED, "lifetime_years": 0}}, {}, ("schedule.on_prem", "lifetime_years", "greater than 0")),
        ({OWNED: {**AMORTISED, "power_kw": -1}}, {}, ("schedule.on_prem", "power_kw")),
        ({OWNED: {"purchase_usd": 1000}}, {}, ("schedule.on_prem", "lifetime_years", "missing")),
        ({"aws:us-east-1:g5.2xlargee": AMORTISED}, {}, ("schedule.on_prem['aws:us-east-1:g5.2xlargee']", "unknown")),
        ({OWNED: AMORTISED}, {"offerings.gpus": ["l4"]}, ("schedule.on_prem['aws:us-east-1:g5.2xlarge']", "filters")),
    ],
)
def test_bad_on_prem_entries_are_input_errors(
    tmp_path: Path, on_prem: object, more: dict[str, object], needles: tuple[str, ...]
) -> None:
    assert_user_error(gpuplan("schedule", _on_prem_spec(tmp_path, on_prem, **more)), *needles)


def _problem(tmp_path: Path, buffer: float) -> FleetProblem:
    spec = write_spec(tmp_path, spec_with({"offerings.spot": True, "offerings.spot_buffer": buffer}))
    inputs = load_inputs(spec)
    offerings = offerings_for(inputs)
    models = without_dominated(inputs.spec, [load_model(inputs, 0, offerings)])
    return build_problem(inputs.spec, [model_capacity(m) for m in models])[0]


def test_a_spot_buffer_counts_spot_replicas_at_part_of_their_capacity(tmp_path: Path) -> None:
    plain, buffered = _problem(tmp_path, 0.0), _problem(tmp_path, 0.25)
    spot = {o.id for o in plain.offerings if o.spot}
    assert spot, "the spec allows spot"
    for j, c in enumerate(plain.candidates):
        for row, more in zip(plain.capacity_rps, buffered.capacity_rps, strict=True):
            assert more[j] == pytest.approx(row[j] * (0.75 if c.offering in spot else 1.0))


def test_a_spot_buffer_costs_at_least_as_much_and_is_checked(tmp_path: Path) -> None:
    costs = []
    for buffer in (0.0, 0.6):
        run = gpuplan("schedule", _on_prem_spec(tmp_path, {}, **{"offerings.spot_buffer": buffer}), "--format", "json")
        assert run.code == 0, str(run)
        data = json.loads(run.out)["data"]
        assert data["status"] == "optimal" and data["verification"]["passed"]
        costs.append(data["total_cost_usd"])
    assert costs[1] >= costs[0] - 1e-9
    bad = _on_prem_spec(tmp_path, {}, **{"offerings.spot_buffer": 1.0})
    assert_user_error(gpuplan("schedule", bad), "offerings.spot_buffer", "0.9")


def _lab(name: str, price: float) -> dict[str, object]:
    return {
        "id": f"lab:-:{name}",
        "cloud": "lab",
        "region": "-",
        "instance_type": name,
        "gpu": "a10g",
        "gpus_per_instance": 1,
        "price_usd_per_hour": price,
        "source": "test",
        "as_of": "2026-12-01",
    }


def test_a_dearer_twin_with_a_commitment_is_kept(tmp_path: Path) -> None:
    """`plan` drops an offering another one matches for less money; a schedule keeps it when it can be
    committed: committed, the dearer twin is the cheaper of the two."""
    changes = {
        "models[0].workload.rate_curve": {"rates_rps": [2, 4, 3]},
        "offerings": {"clouds": ["lab"]},
        "catalog": {"offerings": [_lab("cheap", 1.0), _lab("dear", 1.2)]},
        "schedule": {"commitment_terms": ["1y"], "commitment_prices": {"lab:-:dear": {"1y": 0.3}}},
    }
    spec = write_spec(tmp_path, spec_with(changes, drop=("models[0].workload.rate_rps",)))
    run = gpuplan("schedule", spec, "--format", "json")
    assert run.code == 0, str(run)
    data = json.loads(run.out)["data"]
    (option,) = data["commitments"]
    assert option["offering"] == "lab:-:dear" and option["instances"] >= 1
    assert data["verification"]["passed"]
