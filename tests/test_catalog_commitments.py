"""Commitment prices carried from catalog/data/commitment-prices.csv into typed catalog entries."""

from __future__ import annotations

import json

import pytest

from catalog.commitments import find_commitments, parse_commitments
from catalog.loader import load_catalog
from catalog.types import Catalog
from planner.errors import CatalogError
from tests.support import gpuplan


@pytest.fixture(scope="module")
def cat() -> Catalog:
    return load_catalog()


def test_every_row_is_carried_with_source_date_and_confidence(cat: Catalog) -> None:
    rows = cat.commitments
    assert len(rows) == 190 and len({c.id for c in rows}) == 190
    by_cloud: dict[str, int] = {}
    for c in rows:
        by_cloud[c.cloud] = by_cloud.get(c.cloud, 0) + 1
        assert c.source and c.as_of and c.confidence in ("high", "medium", "low")
    assert by_cloud == {"gcp": 114, "aws": 51, "hyperstack": 12, "coreweave": 6, "azure": 2, "sfcompute": 2,
                        "together": 1, "lambda": 1, "runpod": 1}
    assert sum(c.term_months == 12 for c in rows) == 79 and sum(c.term_months == 36 for c in rows) == 78


def test_rates_bounds_and_ranges(cat: Catalog) -> None:
    by_id = {c.id: c for c in cat.commitments}
    a2 = by_id["gcp:us-central1:a2-highgpu-1g:1y"]
    assert (a2.price_usd_per_hour, a2.ondemand_usd_per_hour, a2.discount_rate) == (2.3142, 3.6734, 0.37)
    assert a2.offering == "gcp:us-central1:a2-highgpu-1g" and a2.gpu == "a100-40gb"
    assert a2.as_of == "2026-07-30" and a2.breakeven_utilisation() == pytest.approx(0.63)
    h100 = by_id["coreweave:any:h100-80gb:other"]
    assert h100.discount_rate is None and h100.discount_rate_max == 0.6 and h100.price_usd_per_hour is None
    together = next(c for c in cat.commitments if c.cloud == "together")
    assert together.price_range_usd_per_gpu_hour == (2.99, 7.15) and together.confidence == "low"
    block = by_id["aws:us-east-1:p5.48xlarge:block"]
    assert block.term_months is None and block.price_usd_per_hour == 39.33 and block.as_of == "2024"


def test_find_commitments_for_an_offering(cat: Catalog) -> None:
    found = find_commitments(cat, "gcp:us-central1:a2-highgpu-1g")
    assert [c.term for c in found] == ["3y", "1y"]  # cheapest first
    assert [c.term for c in find_commitments(cat, "gcp:us-central1:a2-highgpu-1g", term_months=12)] == ["1y"]
    assert find_commitments(cat, "lambda:us-east-1:gpu_1x_a10") == ()


def test_bad_file_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError, match="missing column"):
        parse_commitments("cloud,term\naws,1y\n", "x.csv", {})


def test_listing(cat: Catalog) -> None:
    run = gpuplan("catalog", "commitments", "--cloud", "gcp", "--term", "3y", "--gpu", "h100-sxm", "--format", "json")
    assert run.code == 0, run
    rows = json.loads(run.out)["data"]["rows"]
    assert rows and all(r["term"] == "3y" and r["gpu"] == "h100-sxm" and r["cloud"] == "gcp" for r in rows)
    high = gpuplan("catalog", "commitments", "--min-confidence", "medium", "--format", "json")
    assert all(r["confidence"] != "low" for r in json.loads(high.out)["data"]["rows"])
    table = gpuplan("catalog", "commitments", "--cloud", "coreweave")
    assert "<= 60%" in table.out
    bad = gpuplan("catalog", "commitments", "--term", "2y")
    assert bad.code == 2 and "--term" in bad.err
