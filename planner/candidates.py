"""Which offerings a spec may rent, and which replica configurations fit on them.

A candidate is (model, offering, shape, weights dtype, kv dtype, engine). Its shape is tp GPUs of one
instance; or, for a model no instance holds, a replica spanning `nodes` whole instances joined by their
network (catalog networks): `pp` pipeline stages of tp GPUs each, or (MoE) tp = ep GPUs over several
instances with expert parallelism and data-parallel attention. Its `kind` is "aggregated" (it serves
requests), "prefill" / "decode" (a pool of a disaggregated pair: planner.capacity.disaggregated), or
"pair" (a prefill candidate and a decode candidate joined by a KV link: routes, not replicas).
Only memory-feasible candidates are produced; for models with none, `explain_no_fit` says what binds and
what would make it fit.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from catalog.types import DTYPE_BYTES, Catalog, Gpu, ModelArch, Offering
from planner.errors import CatalogError, InputError, did_you_mean
from planner.perf import Deployment, engine_profile, memory_breakdown
from planner.perf.network import Link, replica_link
from planner.perf.pipeline import Pipeline, pipeline, pipeline_memory
from planner.perf.precision import resolve_precision
from planner.spec import OfferingFilter, Search

CandidateKind = Literal["aggregated", "prefill", "decode", "pair"]

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


@dataclass(frozen=True)
class Candidate:
    """One replica configuration (or, kind "pair", a route through a prefill and a decode configuration).

    A replica uses tp x pp GPUs: tp of one instance when `nodes` is 1, else `nodes` whole instances
    (pp stages of tp GPUs, or tp GPUs over nodes instances with expert parallelism)."""

    id: str
    model_label: str
    priced: PricedOffering  # pairs: the prefill candidate's
    tp: int
    deployment: Deployment | None  # None: a measured-only candidate of a model the catalog does not know
    offload: bool = False  # weights/KV offloaded to host RAM/disk (batch work only)
    pp: int = 1
    ep: int = 1
    dp_attention: bool = False
    nodes: int = 1  # instances one replica spans (whole instances when > 1)
    kind: CandidateKind = "aggregated"
    link: Link | None = None  # the replica's share of its instances' network (multi-node and pools)
    prefill: Candidate | None = None  # pairs only
    decode: Candidate | None = None  # pairs only

    @property
    def gpus(self) -> int:
        """GPUs one replica uses (0 for a pair: its pools' replicas use them)."""
        return 0 if self.kind == "pair" else self.tp * self.pp

    @property
    def pipeline(self) -> Pipeline | None:
        """The pipeline-parallel replica, for pp > 1."""
        if self.pp < 2 or self.deployment is None or self.link is None:
            return None
        return pipeline(self.deployment, self.pp, self.link)

    @property
    def shape(self) -> str:
        """tp4, tp8pp2, tp16ep16: what a replica is, for ids and reports."""
        return f"tp{self.tp}" + (f"pp{self.pp}" if self.pp > 1 else "") + (f"ep{self.ep}" if self.ep > 1 else "")


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


HOST_FIELDS = ("cpu_mem_gb", "disk_gb", "disk_read_gbps", "vcpus")


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


def make_candidates(
    catalog: Catalog,
    model_label: str,
    model: ModelArch,
    offerings: tuple[PricedOffering, ...],
    search: Search,
) -> tuple[Candidate, ...]:
    """Every memory-feasible replica configuration of `model` on `offerings`, in the precisions the
    engine runs on each GPU family (bf16 becomes fp16 on chips without bf16; formats without kernels
    there are skipped; `precision_notes` says which)."""
    out: list[Candidate] = []
    for po in offerings:
        engine = engine_profile(catalog, search.engine, po.gpu)
        for tp in search.tp:
            if tp > po.offering.gpus_per_instance:
                continue
            seen: set[tuple[str, str]] = set()
            for weights, kv in _runnable(po.gpu, search):
                if (weights, kv) in seen:
                    continue
                seen.add((weights, kv))
                dep = Deployment(model, po.gpu, tp, weights, kv, engine, search.gpu_memory_utilization)
                if not memory_breakdown(dep).fits:
                    continue
                cid = f"{model_label}@{po.id}/tp{tp}/{weights}-{kv}"
                out.append(Candidate(cid, model_label, po, tp, dep))
    out.extend(expert_parallel_candidates(catalog, model_label, model, offerings, search))
    out.extend(multi_node_candidates(catalog, model_label, model, offerings, search, out))
    return tuple(out)


def ep_deployment(
    catalog: Catalog, model: ModelArch, offering: Offering, gpu: Gpu, search: Search, ep: int, weights: str, kv: str
) -> Deployment:
    """`ep` GPUs with experts split over them and attention data-parallel; over ep / g instances (and their
    network) when ep exceeds the instance's g GPUs. Also what `gpuplan simulate` replays for such a replica."""
    g = offering.gpus_per_instance
    engine = engine_profile(catalog, search.engine, gpu)
    net = catalog.network(offering)
    nodes = max(ep // g, 1)
    return Deployment(
        model,
        gpu,
        ep,
        weights,
        kv,
        engine,
        search.gpu_memory_utilization,
        ep=ep,
        dp_attention=True,
        nodes=nodes,
        scale_out_gbps=net.bandwidth_gbit_s / 8.0 / g if net is not None and nodes > 1 else None,
        scale_out_latency_us=net.latency_us if net is not None and nodes > 1 else None,
        gpus_per_node=g,
    )


def expert_parallel_candidates(
    catalog: Catalog, model_label: str, model: ModelArch, offerings: tuple[PricedOffering, ...], search: Search
) -> list[Candidate]:
    """MoE replicas with expert parallelism and data-parallel attention that fit one instance (explicit
    `search.ep` degrees up to the instance's GPUs)."""
    out: list[Candidate] = []
    if not model.is_moe or search.ep == "auto":
        return out
    for po in offerings:
        g = po.offering.gpus_per_instance
        for ep in (e for e in search.ep if 1 < e <= g and g % e == 0):
            for weights, kv in dict.fromkeys(_runnable(po.gpu, search)):
                dep = ep_deployment(catalog, model, po.offering, po.gpu, search, ep, weights, kv)
                if memory_breakdown(dep).fits:
                    cid = f"{model_label}@{po.id}/tp{ep}ep{ep}/{weights}-{kv}"
                    out.append(Candidate(cid, model_label, po, ep, dep, ep=ep, dp_attention=True))
    return out


MAX_PIPELINE_DEGREES = 2
"""Pipeline degrees tried per offering: the smallest that holds the model, and the next allowed one (more
stages than needed use more GPUs per replica for no more speed than several smaller replicas; the next
degree is kept for requests whose KV cache the smallest cannot hold)."""


def multi_node_candidates(
    catalog: Catalog,
    model_label: str,
    model: ModelArch,
    offerings: tuple[PricedOffering, ...],
    search: Search,
    single: list[Candidate],
) -> list[Candidate]:
    """Replicas spanning whole instances, on offerings where no single-instance candidate holds the model
    and whose instance type has a known network: pp stages of tp = the instance's GPUs each, and for MoE
    models expert parallelism over ep = nodes x GPUs per instance (the smallest that holds the model).
    With `search.pp` / `search.ep` auto, only when no offering holds the model in one instance."""
    out: list[Candidate] = []
    fits_one = {c.priced.id for c in single}
    for po in offerings:
        g = po.offering.gpus_per_instance
        net = catalog.network(po.offering)
        if po.id in fits_one or net is None:
            continue
        engine = engine_profile(catalog, search.engine, po.gpu)
        link = replica_link(net, g, g)
        for weights, kv in dict.fromkeys(_runnable(po.gpu, search)):
            if model.is_moe and not (search.ep == "auto" and single):
                degrees = (2 * g, 4 * g) if search.ep == "auto" else tuple(e for e in search.ep if e > g and e % g == 0)
                for ep in degrees[:MAX_PIPELINE_DEGREES]:
                    dep = ep_deployment(catalog, model, po.offering, po.gpu, search, ep, weights, kv)
                    if memory_breakdown(dep).fits:
                        cid = f"{model_label}@{po.id}/tp{ep}ep{ep}/{weights}-{kv}"
                        out.append(
                            Candidate(cid, model_label, po, ep, dep, ep=ep, dp_attention=True, nodes=ep // g, link=link)
                        )
                        break  # the smallest that holds the model (more instances: several replicas do as well)
            if (search.pp == "auto" and single) or g not in search.tp:
                continue
            whole = Deployment(model, po.gpu, g, weights, kv, engine, search.gpu_memory_utilization)
            kept = 0
            for pp in search.pp_degrees:
                if kept >= MAX_PIPELINE_DEGREES:
                    break
                if not pipeline_memory(pipeline(whole, pp, link)).fits:
                    continue
                kept += 1
                cid = f"{model_label}@{po.id}/tp{g}pp{pp}/{weights}-{kv}"
                out.append(Candidate(cid, model_label, po, g, whole, pp=pp, nodes=pp, link=link))
    return out


def _runnable(gpu: Gpu, search: Search) -> list[tuple[str, str]]:
    """The (weights, kv) storage pairs the spec allows, as the engine runs them on `gpu`."""
    out = []
    for weights in search.weights:
        for kv in search.kv:
            prec = resolve_precision(gpu, search.engine, weights, kv)
            if prec.supported:
                out.append((prec.weights, prec.kv))
    return out


def precision_notes(offerings: tuple[PricedOffering, ...], search: Search) -> tuple[str, ...]:
    """What the plan substituted or could not run, once per GPU type (e.g. 'bf16 runs as fp16 on t4')."""
    notes: list[str] = []
    for gpu in sorted({po.gpu.id: po.gpu for po in offerings}.values(), key=lambda g: g.id):
        refused: list[str] = []
        for weights in search.weights:
            for kv in search.kv:
                prec = resolve_precision(gpu, search.engine, weights, kv)
                if not prec.supported:
                    refused.append(prec.reason)
                notes.extend(n for n in prec.notes if n not in notes)
        notes.extend(r for r in dict.fromkeys(refused) if r not in notes)
    return tuple(notes)


def explain_no_fit(
    catalog: Catalog, model_label: str, model: ModelArch, offerings: tuple[PricedOffering, ...], search: Search
) -> str:
    """Why no candidate holds the model, and the nearest change that would help."""
    if not offerings:
        return f"{model_label}: no offering passes the `offerings` filters"
    best: tuple[float, str] | None = None
    for po in offerings:
        engine = engine_profile(catalog, search.engine, po.gpu)
        tp = max((t for t in search.tp if t <= po.offering.gpus_per_instance), default=None)
        if tp is None:
            continue
        dep = Deployment(model, po.gpu, tp, search.weights[-1], search.kv[-1], engine, search.gpu_memory_utilization)
        mem = memory_breakdown(dep)
        usable = po.gpu.device_memory_bytes / 1e9 * tp * search.gpu_memory_utilization
        if best is None or usable > best[0]:
            best = (usable, f"{po.gpu.id} x{tp} ({po.id}): {mem.reason}")
    if best is None:
        return (
            f"{model_label}: no offering has as many GPUs per instance as the smallest allowed tp "
            f"({min(search.tp)}); allow a smaller tp"
        )
    needed_gb = model.total_params * min(DTYPE_BYTES[w] for w in search.weights) / 1e9
    hints = []
    if "fp8" not in search.weights:
        hints.append("allow weights fp8")
    if max(search.tp) < 8:
        hints.append("allow tp 8")
    hint = ("; " + " or ".join(hints)) if hints else ""
    return (
        f"{model_label} needs {needed_gb:.0f} GB of weights in {'/'.join(search.weights)}; the largest candidate "
        f"holds {best[0]:.0f} GB — {best[1]}{hint}"
    )


MAX_OFFLOAD_HOSTS = 6


def offload_dtypes(search: Search) -> tuple[str, str]:
    """Weights/KV formats for offloading: group-wise int4 when the spec allows int4, else fp16."""
    weights = "int4" if "int4" in search.weights else "fp16"
    return weights, "fp16"


def offload_offerings(
    catalog: Catalog, model: ModelArch, offerings: tuple[PricedOffering, ...], search: Search
) -> tuple[PricedOffering, ...]:
    """Offerings worth an offloaded candidate: the model does not fit one of their GPUs, its weights fit
    the GPU plus that GPU's share of host RAM, and the instance is the cheapest per GPU of its GPU type
    (at most MAX_OFFLOAD_HOSTS, so the placement search stays within the plan's time budget)."""
    best: dict[str, PricedOffering] = {}
    for po in offerings:
        if po.offering.cpu_mem_gb is None:
            continue
        engine = engine_profile(catalog, search.engine, po.gpu)
        fits = any(
            memory_breakdown(Deployment(model, po.gpu, 1, w, search.kv[0], engine, search.gpu_memory_utilization)).fits
            for w in search.weights
        )
        if fits:
            continue
        weights_gb = model.total_params * DTYPE_BYTES[offload_dtypes(search)[0]] / 1e9
        if po.offering.cpu_mem_gb / po.offering.gpus_per_instance + po.gpu.memory_gb < weights_gb:
            continue  # the weights would not even fit GPU + this GPU's share of host RAM
        per_gpu = po.price_usd_per_hour / po.offering.gpus_per_instance
        cur = best.get(po.gpu.id)
        if cur is None or (per_gpu, po.id) < (cur.price_usd_per_hour / cur.offering.gpus_per_instance, cur.id):
            best[po.gpu.id] = po
    ranked = sorted(best.values(), key=lambda p: (p.price_usd_per_hour / p.offering.gpus_per_instance, p.id))
    return tuple(ranked[:MAX_OFFLOAD_HOSTS])
