"""The offerings a spec may rent, at the price a plan pays, and the ones no plan can need.

Split from planner.candidates (issue 18): choosing and pricing offerings (the spec's filters, price
overrides, availability caps, spot variants) and dropping dominated ones is one step of its own, run once
per spec before any candidate is built; planner.candidates builds replica configurations on what this
module returns.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from catalog.types import Catalog, Gpu, Offering
from planner.errors import CatalogError, InputError, did_you_mean
from planner.spec import OfferingFilter

SPOT_SUFFIX = "#spot"


@dataclass(frozen=True)
class PricedOffering:
    """An offering at the price the plan pays: on-demand, or spot (a distinct choice with its own id)."""

    id: str
    offering: Offering
    gpu: Gpu
    price_usd_per_hour: float
    spot: bool
    available: int | None


def _check_ids(kind: str, given: tuple[str, ...] | None, valid: set[str], where: str) -> None:
    for i, value in enumerate(given or ()):
        if value not in valid:
            raise InputError(f"unknown {kind} {value!r}; {did_you_mean(value, valid)}", where=f"{where}[{i}]")


def select_offerings(catalog: Catalog, flt: OfferingFilter, where: str = "offerings") -> tuple[PricedOffering, ...]:
    """Apply the spec's filters, price overrides and availability caps; add spot variants if allowed."""
    offerings = catalog.offerings
    _check_ids("cloud", flt.clouds, {o.cloud for o in offerings.values()}, f"{where}.clouds")
    _check_ids("gpu", flt.gpus, set(catalog.gpus), f"{where}.gpus")
    _check_ids("region", flt.regions, {o.region for o in offerings.values()}, f"{where}.regions")
    _check_ids("offering", flt.include, set(offerings), f"{where}.include")
    _check_ids("offering", flt.exclude, set(offerings), f"{where}.exclude")
    for key in flt.price_overrides:
        if key.removesuffix(SPOT_SUFFIX) not in offerings:
            raise InputError(
                f"unknown offering {key!r}; {did_you_mean(key, offerings)}", where=f"{where}.price_overrides"
            )
    for key in flt.available:
        if key not in offerings:
            raise InputError(f"unknown offering {key!r}; {did_you_mean(key, offerings)}", where=f"{where}.available")
    out: list[PricedOffering] = []
    for oid in sorted(offerings):
        o = offerings[oid]
        if flt.include is not None and oid not in flt.include:
            continue
        if oid in flt.exclude or (flt.clouds is not None and o.cloud not in flt.clouds):
            continue
        if (flt.gpus is not None and o.gpu not in flt.gpus) or (
            flt.regions is not None and o.region not in flt.regions
        ):
            continue
        if o.uncertain and not flt.include_uncertain and not (flt.include and oid in flt.include):
            continue
        gpu = catalog.gpus.get(o.gpu)
        if gpu is None:
            raise CatalogError(f"offering {oid} names unknown gpu {o.gpu!r}")
        available = flt.available.get(oid, o.available_instances)
        if o.preemptible:  # a spot product: its price is a spot price, usable only where spot is allowed
            if flt.spot:
                price = flt.price_overrides.get(oid + SPOT_SUFFIX, o.price_usd_per_hour)
                out.append(PricedOffering(oid + SPOT_SUFFIX, o, gpu, price, True, available))
            continue
        price = flt.price_overrides.get(oid, o.price_usd_per_hour)
        out.append(PricedOffering(oid, o, gpu, price, False, available))
        spot_price = flt.price_overrides.get(oid + SPOT_SUFFIX, o.spot_price_usd_per_hour)
        if flt.spot and spot_price is not None:
            out.append(PricedOffering(oid + SPOT_SUFFIX, o, gpu, spot_price, True, available))
    return tuple(out)


def price_flagged(po: PricedOffering) -> bool:
    """Whether the price a plan would pay here is doubted: uncertain, or suspect for this variant."""
    o = po.offering
    return o.uncertain or bool(o.spot_suspect if po.spot and not o.preemptible else o.price_suspect)


def drop_dominated(
    offerings: Sequence[PricedOffering], keep: Collection[str] = ()
) -> tuple[tuple[PricedOffering, ...], dict[str, str]]:
    """(the offerings a plan can need, {dropped id: the id that stands in for it}).

    `b` is dominated by `a` when every replica `b` can host, `a` hosts for no more money and without a
    limit: same GPU and GPUs per instance, both spot or both not, a's price <= b's, `a` has no
    availability cap, a's host (RAM, disk, vCPUs) is at least b's, and a's price is not flagged where
    b's is not. Any fleet on `b` then costs no less on `a`, so dropping `b` leaves the optimum
    unchanged while the solver no longer has to break ties between identical columns (one Lambda type
    in 17 regions at one price). Ties go to the lowest id. Ids in `keep` (named by the spec or by
    measured profiles) are never dropped.
    """
    groups: dict[tuple[str, int, bool], list[PricedOffering]] = {}
    for po in offerings:
        groups.setdefault((po.gpu.id, po.offering.gpus_per_instance, po.spot), []).append(po)
    dropped: dict[str, str] = {}
    for group in groups.values():
        # Stand-ins: the kept offerings without a cap, unflagged prices (which stand in for any) apart from
        # flagged ones (only for flagged). Each offering is compared with these, in the order they were
        # kept, and the first whose host is at least its own stands in. A kept offering whose host an
        # earlier stand-in (of a kind that covers it) already matches is never the first to match, so it
        # is not added; and a host beyond every stand-in's in some field is settled at once (`_Front.top`).
        # Both keep the answer of comparing with every kept offering, at about linear cost.
        fronts = {False: _Front(), True: _Front()}
        ordered = sorted(group, key=lambda p: (p.price_usd_per_hour, price_flagged(p), p.id))
        for position, po in enumerate(ordered):
            flagged, host = price_flagged(po), _host(po.offering)
            if po.id not in keep:
                by = fronts[False].first_at_least(host)
                if flagged:
                    other = fronts[True].first_at_least(host)
                    if other is not None and (by is None or other[0] < by[0]):
                        by = other
                if by is not None:
                    dropped[po.id] = by[1].id
                    continue
            covered = fronts[False].first_at_least(host) is not None or (
                flagged and fronts[True].first_at_least(host) is not None
            )
            if po.available is None and not covered:
                fronts[flagged].add(position, po, host)
    return tuple(po for po in offerings if po.id not in dropped), dropped


HOST_FIELDS = ("cpu_mem_gb", "disk_gb", "disk_read_gb_per_s", "vcpus")


def _host(o: Offering) -> tuple[float, ...]:
    """What offloading reads of a host, unknown as -1 (nothing)."""
    return tuple(-1.0 if (v := getattr(o, name)) is None else float(v) for name in HOST_FIELDS)


class _Front:
    """Stand-in offerings in the order they were kept, with the largest value of each host field."""

    def __init__(self) -> None:
        self.items: list[tuple[int, PricedOffering, tuple[float, ...]]] = []
        self.top = tuple(-math.inf for _ in HOST_FIELDS)

    def add(self, order: int, po: PricedOffering, host: tuple[float, ...]) -> None:
        self.items.append((order, po, host))
        self.top = tuple(max(a, b) for a, b in zip(self.top, host, strict=True))

    def first_at_least(self, host: tuple[float, ...]) -> tuple[int, PricedOffering] | None:
        if any(h > t for h, t in zip(host, self.top, strict=True)):
            return None
        for order, po, h in self.items:
            if all(a >= b for a, b in zip(h, host, strict=True)):
                return order, po
        return None
