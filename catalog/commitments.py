"""Committed-capacity prices (1-year/3-year reservations, CUDs, capacity blocks) from
catalog/data/commitment-prices.csv (sources and caveats: commitment-prices.md next to it).

Rows are read as the source states them: a percentage becomes a rate (`37.0` -> 0.37), an "up to"
figure becomes `discount_rate_max`, a price range stays a range, and a GPU named by the source maps
to a catalog GPU only where that is unambiguous. `find_commitments` is the lookup a multi-period
planner needs: the commitments that price one catalog offering, best confidence first.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from catalog.types import Catalog, Commitment, Offering
from common.errors import CatalogError
from common.files import read_text

COLUMNS = (
    "cloud", "commitment_product", "instance_type", "gpu_type", "gpus_per_instance", "region", "term",
    "payment_option", "commit_usd_per_hr_instance", "commit_usd_per_gpu_hr", "ondemand_usd_per_hr_instance",
    "ondemand_usd_per_gpu_hr", "discount_pct_vs_ondemand", "discount_basis", "price_scope", "source",
    "source_date", "confidence", "notes",
)

GPU_LABELS: dict[str, str] = {
    "A100-40GB": "a100-40gb",
    "A100-80GB": "a100-80gb",
    "A100-80GB SXM": "a100-80gb",
    "A100-80GB (PCIe)": "a100-80gb-pcie",
    "A100-80GB NVLink": "a100-80gb-pcie",
    "A10G": "a10g",
    "B200-180GB": "b200",
    "B200-192GB": "b200",
    "H100-80GB": "h100-sxm",
    "H100-80GB SXM": "h100-sxm",
    "H100-80GB (A3 Mega)": "h100-sxm",
    "H100-80GB (PCIe)": "h100-pcie",
    "H100-80GB NVLink": "h100-pcie",
    "H200-141GB": "h200",
    "H200-141GB SXM": "h200",
    "L4": "l4",
    "L40-48GB": "l40",
    "L40S-48GB": "l40s",
    "RTX A4000-16GB": "rtx-a4000",
    "RTX A6000-48GB": "rtx-a6000",
    "RTX PRO 6000 96GB": "rtx-pro-6000",
    "RTX PRO 6000 SE 96GB": "rtx-pro-6000",
    "V100-16GB": "v100",
    "V100-32GB": "v100-32gb",
}
"""The source's GPU labels -> catalog GPU ids. Hyperstack's "NVLink" parts are PCIe cards with NVLink
bridges; GCP's A3 Mega is H100 SXM. Labels not here (GB200, "any", "H100/H200/B200") map to none."""

CONFIDENCE_ORDER = {"high": 0, "medium": 1, "low": 2}


def _number(text: str) -> float | None:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*", text)
    return float(m.group(1)) if m else None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.") or "-"


def _commitment_id(cloud: str, region: str, itype: str, gpu_label: str, term: str) -> str:
    """`<cloud>:<region>:<instance type>:<term>`; a region or type the source words as prose becomes
    `any` / the GPU label, a term other than 1y/3y becomes `block` or `other`."""
    def plain(text: str) -> bool:
        return bool(text) and " " not in text and "/" not in text

    where = region if plain(region) else "any"
    what = itype if plain(itype) else _slug(gpu_label)
    span = term if term in ("1y", "3y") else "block" if "block" in term else "other"
    return f"{cloud}:{where}:{what}:{span}"


def _as_of(text: str) -> str:
    """The date a source states, as YYYY-MM-DD or YYYY; 'unknown' where it states none."""
    day = re.search(r"\b(\d{4}-\d{2}-\d{2})\b", text)
    if day:
        return day.group(1)
    year = re.search(r"\b((?:19|20)\d{2})\b", text)
    return year.group(1) if year else "unknown"


def _discount(text: str) -> tuple[float | None, float | None]:
    """(rate, upper bound) from '37.0', 'up to 60', '47 (as stated)' or ''."""
    t = text.strip().lower()
    bound = re.fullmatch(r"up to (\d+(?:\.\d+)?)", t)
    if bound:
        return None, float(bound.group(1)) / 100
    lead = re.match(r"(\d+(?:\.\d+)?)", t)
    return (float(lead.group(1)) / 100, None) if lead else (None, None)


def _commitment(rec: Mapping[str, str], line: int, offerings: Mapping[str, Offering], where: str) -> Commitment:
    cloud = rec["cloud"].strip().lower()
    region = rec["region"].strip()
    itype = rec["instance_type"].strip()
    term = rec["term"].strip()
    per_gpu_text = rec["commit_usd_per_gpu_hr"].strip()
    price_range = None
    span = re.fullmatch(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)", per_gpu_text)
    if span:
        price_range = (float(span.group(1)), float(span.group(2)))
    count = rec["gpus_per_instance"].strip()
    rate, rate_max = _discount(rec["discount_pct_vs_ondemand"])
    oid = f"{cloud}:{region}:{itype}"
    data = {
        "id": _commitment_id(cloud, region, itype, rec["gpu_type"].strip(), term),
        "cloud": cloud,
        "product": rec["commitment_product"].strip(),
        "instance_type": itype,
        "offering": oid if oid in offerings else None,
        "gpu": GPU_LABELS.get(rec["gpu_type"].strip()),
        "gpu_label": rec["gpu_type"].strip(),
        "gpus_per_instance": int(count) if count.isdigit() else None,
        "region": region or "not stated",
        "term": term,
        "term_months": {"1y": 12, "3y": 36}.get(term),
        "payment": rec["payment_option"].strip(),
        "price_usd_per_hour": _number(rec["commit_usd_per_hr_instance"]),
        "price_usd_per_gpu_hour": _number(per_gpu_text),
        "price_range_usd_per_gpu_hour": price_range,
        "ondemand_usd_per_hour": _number(rec["ondemand_usd_per_hr_instance"]),
        "ondemand_usd_per_gpu_hour": _number(rec["ondemand_usd_per_gpu_hr"]),
        "discount_rate": rate,
        "discount_rate_max": rate_max,
        "discount_basis": rec["discount_basis"].strip(),
        "price_scope": rec["price_scope"].strip(),
        "confidence": rec["confidence"].strip(),
        "source": rec["source"].strip(),
        "as_of": _as_of(rec["source_date"]),
        "as_of_note": rec["source_date"].strip(),
        "notes": rec["notes"].strip(),
    }
    try:
        return Commitment.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise CatalogError(f"line {line}: {problems}", where=where) from None


def parse_commitments(text: str, where: str, offerings: Mapping[str, Offering]) -> tuple[Commitment, ...]:
    """Commitments from the text of a commitment-prices.csv; ids made unique with a `#n` suffix."""
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CatalogError(f"missing column(s) {', '.join(missing)}", where=where)
    out: list[Commitment] = []
    seen: dict[str, int] = {}
    for line, rec in enumerate(reader, start=2):
        c = _commitment({k: rec.get(k) or "" for k in COLUMNS}, line, offerings, where)
        n = seen.get(c.id, 0) + 1
        seen[c.id] = n
        out.append(c if n == 1 else c.model_copy(update={"id": f"{c.id}#{n}"}))
    return tuple(out)


def load_commitments(path: Path, offerings: Mapping[str, Offering]) -> tuple[Commitment, ...]:
    return parse_commitments(read_text(path, "commitment prices", "CSV", CatalogError), str(path), offerings)


def committed_price(commitment: Commitment, on_demand_usd_per_hour: float | None) -> float | None:
    """The committed $/h of one instance: the row's price, else (a row that publishes only a discount
    rate) on-demand x (1 - discount_rate). An "up to" discount (`discount_rate_max`) is a bound, not a
    price, and gives none."""
    if commitment.price_usd_per_hour is not None:
        return commitment.price_usd_per_hour
    if commitment.discount_rate is None or on_demand_usd_per_hour is None:
        return None
    return round(on_demand_usd_per_hour * (1.0 - commitment.discount_rate), 6)


def find_commitments(
    catalog: Catalog, offering_id: str, term_months: int | None = None, min_confidence: str = "medium"
) -> tuple[Commitment, ...]:
    """Commitments priced for one catalog offering (optionally one term), best confidence, then price first.

    Only rows with a price are returned: a published price, or a published discount rate, which prices
    the offering at its on-demand price x (1 - rate) (`committed_price`: callers price the rows with it;
    a row keeps its source and confidence); low-confidence third-party claims are left out unless
    `min_confidence="low"`.
    """
    floor = CONFIDENCE_ORDER[min_confidence]
    offering = catalog.offerings.get(offering_id)
    on_demand = offering.price_usd_per_hour if offering is not None else None
    hits: list[tuple[int, float, str, Commitment]] = []
    for c in catalog.commitments:
        if c.offering != offering_id or (term_months is not None and c.term_months != term_months):
            continue
        price = committed_price(c, on_demand)
        if CONFIDENCE_ORDER[c.confidence] <= floor and price is not None:
            hits.append((CONFIDENCE_ORDER[c.confidence], price, c.id, c))
    return tuple(c for *_key, c in sorted(hits, key=lambda h: h[:3]))
