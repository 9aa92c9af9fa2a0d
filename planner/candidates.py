"""Which replica configurations fit on the offerings a spec may rent (chosen by planner.offerings).

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

from dataclasses import dataclass
from typing import Literal

from catalog.types import DTYPE_BYTES, Catalog, Gpu, ModelArch, Offering
from planner.offerings import PricedOffering
from planner.perf import Deployment, engine_profile, memory_breakdown
from planner.perf.network import Link, replica_link
from planner.perf.pipeline import Pipeline, pipeline, pipeline_memory
from planner.perf.precision import resolve_precision
from planner.spec import Search

CandidateKind = Literal["aggregated", "prefill", "decode", "pair"]


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
    link: Link | None = None  # the replica's share of its instances' network (multi-node); pools: the KV path
    stage_link: Link | None = None  # pipeline pools: the link between their stages (`link` is the KV path)
    prefill: Candidate | None = None  # pairs only
    decode: Candidate | None = None  # pairs only

    @property
    def gpus(self) -> int:
        """GPUs one replica uses (0 for a pair: its pools' replicas use them)."""
        return 0 if self.kind == "pair" else self.tp * self.pp

    @property
    def pipeline(self) -> Pipeline | None:
        """The pipeline-parallel replica, for pp > 1."""
        link = self.stage_link if self.stage_link is not None else self.link
        if self.pp < 2 or self.deployment is None or link is None:
            return None
        return pipeline(self.deployment, self.pp, link)

    @property
    def server(self) -> Deployment | Pipeline | None:
        """What one replica runs as (a pool serving one phase too): its pipeline for pp > 1, else its
        deployment; None for a measured-only candidate."""
        return self.pipeline or self.deployment

    @property
    def shape(self) -> str:
        """tp4, tp8pp2, tp16ep16: what a replica is, for ids and reports."""
        return f"tp{self.tp}" + (f"pp{self.pp}" if self.pp > 1 else "") + (f"ep{self.ep}" if self.ep > 1 else "")


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
        scale_out_gb_per_s=net.bandwidth_gbit_s / 8.0 / g if net is not None and nodes > 1 else None,
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
