"""What instances cost over a schedule besides their hourly price: commitment rows that publish only a
discount rate, on-prem instances, and `schedule --solver cbc`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog.commitments import committed_price, find_commitments
from catalog.loader import load_catalog
from catalog.types import Catalog, Commitment
from tests.support import gpuplan, spec_with, write_spec

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
