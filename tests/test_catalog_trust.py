"""Price trust (flags, marks, ages) and dropping offerings no plan needs."""

from __future__ import annotations

import datetime
import itertools
import json
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.loader import load_catalog
from catalog.trust import age_days, as_of_start, marks, price_flags, price_reasons
from catalog.types import Gpu, Offering
from planner.offerings import PricedOffering, drop_dominated, select_offerings
from planner.spec import OfferingFilter
from tests.support import gpuplan

CAT = load_catalog()
H100 = CAT.gpus["h100-sxm"]


def test_flags_and_reasons() -> None:
    nd = CAT.offerings["azure:eastus:Standard_ND96isr_H100_v5"]
    assert price_flags(nd) == ("uncertain",)
    assert "AcceleratorCount 12" in price_reasons(nd)[0]
    a100 = CAT.offerings["azure:eastus:Standard_ND96asr_v4"]
    assert price_flags(a100) == () and price_flags(a100, spot=True) == ("suspect",)
    assert "below on-demand" in price_reasons(a100, spot=True)[0]
    assert price_flags(a100, overridden=True) == ("overridden",)
    assert marks(("suspect", "uncertain", "overridden")) == "?!*"


@pytest.mark.parametrize(
    ("as_of", "days"), [("2025", 700), ("2025-06", 549), ("2025-06-01", 549), ("unknown", None), ("2025-13", None)]
)
def test_ages_count_from_the_start_of_the_period(as_of: str, days: int | None) -> None:
    assert age_days(as_of, datetime.date(2026, 12, 2)) == days
    assert (as_of_start(as_of) is None) == (days is None)


def _po(i: int, price: float, *, gpus: int = 8, spot: bool = False, available: int | None = None,
        mem: float | None = 1000.0, uncertain: bool = False, gpu: Gpu = H100) -> PricedOffering:
    o = Offering(id=f"x:r{i}:t{i}", cloud="x", region=f"r{i}", instance_type=f"t{i}", gpu=gpu.id,
                 gpus_per_instance=gpus, price_usd_per_hour=price, cpu_mem_gb=mem, uncertain=uncertain,
                 notes="UNCERTAIN: test" if uncertain else "", source="test", as_of="2025")
    return PricedOffering(o.id + ("#spot" if spot else ""), o, gpu, price, spot, available)


def test_identical_offerings_collapse_to_the_first_id() -> None:
    offs = [_po(i, 10.0) for i in (3, 1, 2)]
    kept, dropped = drop_dominated(offs)
    assert [p.id for p in kept] == ["x:r1:t1"] and dropped == {"x:r3:t3": "x:r1:t1", "x:r2:t2": "x:r1:t1"}


def test_what_may_not_stand_in() -> None:
    capped = _po(1, 5.0, available=2)
    assert drop_dominated([capped, _po(2, 6.0)])[1] == {}  # a capped offering cannot take all the load
    small_host = _po(1, 5.0, mem=100.0)
    assert drop_dominated([small_host, _po(2, 6.0, mem=1000.0)])[1] == {}  # offloading may need the RAM
    doubtful = _po(1, 5.0, uncertain=True)
    assert drop_dominated([doubtful, _po(2, 6.0)])[1] == {}  # a doubted price does not replace a clean one
    assert drop_dominated([_po(1, 5.0), doubtful])[1] == {doubtful.id: "x:r1:t1"}
    other_shape = [_po(1, 5.0, gpus=4), _po(2, 6.0, gpus=8), _po(3, 5.0, spot=True), _po(4, 6.0)]
    assert drop_dominated(other_shape)[1] == {"x:r4:t4": "x:r2:t2"}
    assert drop_dominated([_po(1, 5.0), _po(2, 6.0)], keep={"x:r2:t2"})[1] == {}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.sampled_from([None, 1, 3]), st.sampled_from([100.0, 500.0])),
                min_size=1, max_size=7))
def test_cheapest_fleet_is_unchanged(shapes: list[tuple[int, int | None, float]]) -> None:
    """Brute force: the cheapest way to rent n instances of this shape costs the same without the dropped ones."""
    offs = [_po(i, float(p), available=a, mem=m) for i, (p, a, m) in enumerate(shapes)]
    kept, _ = drop_dominated(offs)

    def cheapest(pool: Sequence[PricedOffering], n: int, mem: float) -> float | None:
        best = None
        usable = [p for p in pool if (p.offering.cpu_mem_gb or 0) >= mem]
        for counts in itertools.product(range(n + 1), repeat=len(usable)):
            pairs = list(zip(usable, counts, strict=True))
            if sum(counts) != n or any(p.available is not None and c > p.available for p, c in pairs):
                continue
            cost = sum(c * p.price_usd_per_hour for p, c in zip(usable, counts, strict=True))
            best = cost if best is None else min(best, cost)
        return best

    for n, mem in ((1, 100.0), (3, 100.0), (2, 500.0)):
        assert cheapest(kept, n, mem) == cheapest(offs, n, mem)


def test_preemptible_offerings_only_where_spot_is_allowed() -> None:
    flt = OfferingFilter(clouds=("verda",), include_uncertain=True)
    ids = {p.id for p in select_offerings(CAT, flt)}
    assert "verda:FIN-03:2B300.60V" not in ids and "verda:FIN-03:2B300.60V#spot" not in ids
    spot = {p.id: p for p in select_offerings(CAT, flt.model_copy(update={"spot": True}))}
    po = spot["verda:FIN-03:2B300.60V#spot"]
    assert po.spot and po.price_usd_per_hour == 4.893


def test_offerings_listing_marks_doubtful_prices() -> None:
    table = gpuplan("catalog", "offerings", "--cloud", "azure", "--format", "md")
    assert "| azure:eastus:Standard_ND96isr_H100_v5 | h100-sxm | 8 | 98.32 | 12.29 | - | 2040 | ? |" in table.out
    assert "| 27.20 | 3.40 | 2.99 | 966 | !s |" in table.out and "!s spot price looks wrong" in table.out
    verda = gpuplan("catalog", "offerings", "--cloud", "verda", "--format", "md")
    assert "| verda:FIN-03:2B300.60V | b300 | 2 | 4.89 | 2.45 | - | 591 | p |" in verda.out
    assert "p preemptible: $/h is a spot price" in verda.out
    data = json.loads(gpuplan("catalog", "offerings", "--cloud", "verda", "--format", "json").out)["data"]
    assert sum(r["preemptible"] for r in data["rows"]) == 5
