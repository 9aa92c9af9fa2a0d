"""What instances cost over a multi-period plan besides their hourly price: commitments, on-prem
machines and lead times.

    commitments     per on-demand offering and term: the spec's override (schedule.commitment_prices), else
                    the catalog's best-confidence row (catalog.commitments.find_commitments), priced by
                    `committed_price` (the row's $/h, or on-demand x (1 - discount rate) for a row that
                    publishes only a discount)
    on-prem         schedule.on_prem: an offering the user owns, at its amortised $/h (planner.spec_schedule.OnPrem),
                    committed over the horizon and never rented by the hour (its spot twin is left out)
    offerings       the spec's offerings less the dominated ones (planner.offerings.drop_dominated), keeping
                    every offering with a commitment (a dearer hourly twin may be cheaper committed) and
                    leaving on-prem ones out of the comparison (owned, they stand in for nothing rented)
    lead times      per offering: instance start + the largest model's weights / the load bandwidth
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

from catalog.commitments import committed_price, find_commitments
from planner.candidates import Candidate
from planner.errors import InputError, did_you_mean
from planner.inputs import ModelInputs, PlanInputs, named_offerings
from planner.offerings import SPOT_SUFFIX, PricedOffering, drop_dominated
from planner.perf import weights_bytes_total
from planner.schedule_result import LeadTime
from solvers.periods import FleetCommitment
from solvers.types import FleetProblem

TERM_MONTHS = {"1y": 12, "3y": 36}
GB = 1e9

PriceFrom = Literal["price", "discount_rate", "spec", "on_prem"]
ON_PREM = "on_prem"


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
    in_problem = {o.id for o in base.offerings}
    for oid, owned in sorted(opts.on_prem.items()):
        if oid not in in_problem:
            continue  # no candidate on it serves anything: nothing to own
        cid = f"on-prem:{oid}"
        out.append(FleetCommitment(cid, oid, ON_PREM, round(owned.price_usd_per_hour(), 6), owned.max_instances))
        info[cid] = PriceInfo("spec", "schedule.on_prem", "spec", "on_prem")
    for o in base.offerings:
        if o.spot or o.pool_id not in known or o.id in opts.on_prem:
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
        gb_per_s = cat.disk_read_gb_per_s if cat is not None and cat.disk_read_gb_per_s else opts.load_gb_per_s
        load_s = biggest.get(o.id, 0.0) / (gb_per_s * GB)
        out.append(
            LeadTime(
                offering=o.id,
                lead_s=round(opts.instance_start_s + load_s, 3),
                instance_start_s=opts.instance_start_s,
                model_load_s=round(load_s, 3),
                load_gb_per_s=gb_per_s,
            )
        )
    return tuple(out)


def on_prem_offerings(inputs: PlanInputs, offerings: tuple[PricedOffering, ...]) -> tuple[PricedOffering, ...]:
    """The spec's offerings with each on-prem one at its amortised price and without its spot twin; an
    on-prem id that is no catalog offering, or that the spec's filters leave out, is an input error."""
    owned = inputs.spec.schedule.on_prem
    if not owned:
        return offerings
    rentable = {o.id for o in offerings if not o.spot}
    for oid in owned:
        where = f"schedule.on_prem[{oid!r}]"
        if oid not in inputs.catalog.offerings:
            raise InputError(f"unknown offering {oid!r}; {did_you_mean(oid, inputs.catalog.offerings)}", where=where)
        if oid not in rentable:
            raise InputError(
                f"offering {oid!r} is not among the offerings the spec's `offerings` filters let the plan use; "
                "add it to offerings.include (or widen the filters)",
                where=where,
            )
    return tuple(
        replace(o, price_usd_per_hour=round(owned[o.id].price_usd_per_hour(), 6)) if o.id in owned else o
        for o in offerings
        if not (o.spot and o.id.removesuffix(SPOT_SUFFIX) in owned)
    )


def committable(inputs: PlanInputs, offerings: tuple[PricedOffering, ...]) -> set[str]:
    """Ids of the on-demand offerings that some allowed commitment (catalog or spec) prices."""
    opts = inputs.spec.schedule
    months = [TERM_MONTHS[t] for t in opts.commitment_terms]
    out = set()
    for o in offerings:
        if o.spot:
            continue
        overridden = any(t in opts.commitment_prices.get(o.id, {}) for t in opts.commitment_terms)
        found = overridden or any(find_commitments(inputs.catalog, o.id, m, opts.min_confidence) for m in months)
        if o.id in opts.on_prem or found:
            out.add(o.id)
    return out


def schedule_offerings(inputs: PlanInputs, models: list[ModelInputs]) -> list[ModelInputs]:
    """`planner.inputs.without_dominated` for a schedule: offerings with a commitment are kept, and
    on-prem ones neither stand in for nor are replaced by rented ones (see the module docstring)."""
    if not models:
        return []
    offerings = models[0].offerings
    owned = set(inputs.spec.schedule.on_prem)
    rented = tuple(o for o in offerings if o.id not in owned)
    keep = named_offerings(inputs.spec, models) | committable(inputs, offerings)
    kept, dropped = drop_dominated(rented, keep=keep)
    ids = {o.id for o in kept} | owned
    pairs = tuple(sorted(dropped.items()))
    return [replace(m, offerings=tuple(o for o in offerings if o.id in ids), dropped=pairs) for m in models]
