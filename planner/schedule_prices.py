"""What instances cost over a multi-period plan besides their hourly price: commitments and lead times.

    commitments     per on-demand offering and term: the spec's override (schedule.commitment_prices), else
                    the catalog's best-confidence row (catalog.commitments.find_commitments), priced by
                    `committed_price` (the row's $/h, or on-demand x (1 - discount rate) for a row that
                    publishes only a discount)
    lead times      per offering: instance start + the largest model's weights / the load bandwidth
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from catalog.commitments import committed_price, find_commitments
from planner.candidates import Candidate
from planner.errors import InputError
from planner.inputs import PlanInputs
from planner.perf import weights_bytes_total
from planner.schedule_result import LeadTime
from solvers.periods import FleetCommitment
from solvers.types import FleetProblem

TERM_MONTHS = {"1y": 12, "3y": 36}
GB = 1e9

PriceFrom = Literal["price", "discount_rate", "spec"]


@dataclass(frozen=True)
class PriceInfo:
    """Where a commitment's price comes from (reported beside it)."""

    confidence: str
    source: str
    as_of: str
    price_from: PriceFrom


def commitment_options(
    inputs: PlanInputs, base: FleetProblem
) -> tuple[tuple[FleetCommitment, ...], dict[str, PriceInfo]]:
    """Commitments for the problem's on-demand offerings (spec overrides first), and per commitment id its
    (confidence, source, as_of)."""
    opts = inputs.spec.schedule
    known = {o.pool_id for o in base.offerings}
    for oid in opts.commitment_prices:
        if oid not in inputs.catalog.offerings:
            raise InputError(f"unknown offering {oid!r}", where=f"schedule.commitment_prices[{oid!r}]")
    out: list[FleetCommitment] = []
    info: dict[str, PriceInfo] = {}
    for o in base.offerings:
        if o.spot or o.pool_id not in known:
            continue
        for term in opts.commitment_terms:
            override = opts.commitment_prices.get(o.pool_id, {}).get(term)
            if override is not None:
                cid = f"override:{o.pool_id}:{term}"
                out.append(FleetCommitment(cid, o.id, term, override))
                info[cid] = PriceInfo("spec", "schedule.commitment_prices", "spec", "spec")
                continue
            found = find_commitments(inputs.catalog, o.pool_id, TERM_MONTHS[term], opts.min_confidence)
            price = committed_price(found[0], o.price_usd_per_hour) if found else None
            if found and price is not None:
                c = found[0]
                out.append(FleetCommitment(c.id, o.id, term, price))
                basis: PriceFrom = "price" if c.price_usd_per_hour is not None else "discount_rate"
                info[c.id] = PriceInfo(c.confidence, c.source, c.as_of, basis)
    return tuple(out), info


def lead_times(inputs: PlanInputs, base: FleetProblem, by_id: Mapping[str, Candidate]) -> tuple[LeadTime, ...]:
    """Per offering: instance start + the largest weights of a candidate on it / the load bandwidth (the
    replicas of one instance read the same files; one copy is counted)."""
    opts = inputs.spec.schedule
    biggest: dict[str, float] = {}
    for fc in base.candidates:
        c = by_id.get(fc.id)
        dep = c.deployment if c is not None else None
        if dep is not None:
            size = weights_bytes_total(dep.model, dep.weights)
            biggest[fc.offering] = max(biggest.get(fc.offering, 0.0), size)
    out = []
    for o in base.offerings:
        cat = inputs.catalog.offerings.get(o.pool_id)
        gbps = cat.disk_read_gbps if cat is not None and cat.disk_read_gbps else opts.load_gbps
        load_s = biggest.get(o.id, 0.0) / (gbps * GB)
        out.append(
            LeadTime(
                offering=o.id,
                lead_s=round(opts.instance_start_s + load_s, 3),
                instance_start_s=opts.instance_start_s,
                model_load_s=round(load_s, 3),
                load_gbps=gbps,
            )
        )
    return tuple(out)
