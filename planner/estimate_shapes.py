"""`gpuplan estimate` for replicas that span instances and for disaggregated prefill/decode pairs.

- `--pp N`: N pipeline stages of --tp GPUs, one instance each (planner.perf.pipeline), joined by the
  network of the instance type (`--offering`, or the catalog's first offering of the GPU with a known
  network and enough GPUs per instance).
- `--tp` above one instance's GPUs (expert parallel with `--ep`): the replica spans tp / GPUs-per-instance
  instances, its collectives over that network (the estimator's scale-out terms).
- `--disagg PREFILL_GPU:TP,DECODE_GPU:TP`: a prefill replica and a decode replica joined by the path
  between their instances (planner.perf.disagg): TTFT = queueing + prefill + KV transfer on the prefill
  side, TPOT on the decode side, each at `--rate` (per replica) or for a lone request. `GPU:TPxPP` makes
  that side a pipeline of PP stages of TP GPUs, one instance each (the pools the planner proposes for a
  model no instance holds).
"""

from __future__ import annotations

import math
from typing import Literal

from catalog.loader import unknown
from catalog.types import Catalog, Gpu, InstanceNetwork, Offering
from planner.bounds import MAX_TP
from planner.capacity.disaggregated import pool_links
from planner.errors import ArgumentError
from planner.estimate import DisaggEstimate, EstimateResult, PoolEstimate, estimate
from planner.perf import Deployment
from planner.perf.disagg import decode_point, kv_bytes_per_token, prefill_point
from planner.perf.memory import memory_breakdown
from planner.perf.network import Link, between, replica_link
from planner.perf.pipeline import Pipeline, pipeline, pipeline_memory, pipeline_point
from planner.perf.precision import Precision


def instance_for(catalog: Catalog, gpu: Gpu, gpus: int, offering: str | None, argument: str) -> Offering:
    """The offering whose instances (and network) a replica uses: the one named, else the first by id of
    this GPU with a known network and at least `gpus` GPUs per instance (or the largest instances).
    `argument` names the parameter that gave `offering` (offering or decode_offering), for errors."""
    if offering is not None:
        off = catalog.offerings.get(offering)
        if off is None:
            raise ArgumentError(argument, unknown("offering", offering, catalog.offerings, None).message)
        if off.gpu != gpu.id:
            raise ArgumentError(argument, f"offering {offering} has {off.gpu} GPUs, not {gpu.id}")
        if catalog.network(off) is None:
            raise ArgumentError(
                argument,
                f"the catalog knows no network for {off.cloud} {off.instance_type}; add one to a {{catalog}} "
                "overlay (networks:) or name another offering",
                ("catalog",),
            )
        return off
    known = [o for o in catalog.offerings.values() if o.gpu == gpu.id and catalog.network(o) is not None]
    if not known:
        raise ArgumentError(
            argument,
            f"no offering of {gpu.id} has a known network between instances; name one with a {{catalog}} overlay "
            "(networks:)",
            ("catalog",),
        )
    big = [o for o in known if o.gpus_per_instance >= gpus]
    if big:
        return sorted(big, key=lambda o: o.id)[0]
    return sorted(known, key=lambda o: (-o.gpus_per_instance, o.id))[0]


def _net(catalog: Catalog, off: Offering) -> InstanceNetwork:
    net = catalog.network(off)
    assert net is not None  # instance_for only returns offerings with a network
    return net


def spanning_deployment(catalog: Catalog, dep: Deployment, offering: str | None) -> tuple[Deployment, str]:
    """`dep` as a replica over tp / GPUs-per-instance instances of an offering, with that network."""
    off = instance_for(catalog, dep.gpu, dep.tp, offering, "offering")
    g = off.gpus_per_instance
    if dep.tp <= g:
        return dep, ""
    if dep.tp % g:
        raise ArgumentError("tp", f"{{tp}} {dep.tp} over instances of {g} GPUs must be a multiple of {g}", ("tp",))
    net = _net(catalog, off)
    spanned = Deployment(
        dep.model,
        dep.gpu,
        dep.tp,
        dep.weights,
        dep.kv,
        dep.engine,
        dep.gpu_memory_utilization,
        dep.max_model_len,
        ep=dep.ep,
        dp_attention=dep.dp_attention,
        nodes=dep.tp // g,
        scale_out_gb_per_s=net.bandwidth_gbit_s / 8.0 / g,
        scale_out_latency_us=net.latency_us,
        gpus_per_node=g,
    )
    return spanned, f"{dep.tp // g} x {off.id} over {net.fabric} ({net.bandwidth_gbit_s:g} Gbit/s per instance)"


def estimate_spanning(
    catalog: Catalog,
    dep: Deployment,
    precision: Precision,
    input_len: int,
    output_len: int,
    offering: str | None,
    *,
    concurrency: int | Literal["max"] | None,
    rate_rps: float | None,
) -> EstimateResult:
    """A replica whose tp exceeds one instance's GPUs (expert or tensor parallel over the network)."""
    spanned, where = spanning_deployment(catalog, dep, offering)
    result = estimate(spanned, precision, input_len, output_len, concurrency=concurrency, rate_rps=rate_rps)
    return result.model_copy(update={"nodes": spanned.nodes, "network": where})


def estimate_pipeline(
    catalog: Catalog,
    dep: Deployment,
    precision: Precision,
    pp: int,
    input_len: int,
    output_len: int,
    offering: str | None,
    *,
    rate_rps: float | None,
) -> EstimateResult:
    """`pp` stages of `dep` (tp GPUs of one instance each) at `rate_rps`, or one lone request."""
    off = instance_for(catalog, dep.gpu, dep.tp, offering, "offering")
    if dep.tp > off.gpus_per_instance:
        raise ArgumentError(
            "tp",
            f"a pipeline stage runs on one instance: {{tp}} {dep.tp} exceeds the {off.gpus_per_instance} GPUs of "
            f"{off.id}",
            ("tp",),
        )
    link = replica_link(_net(catalog, off), off.gpus_per_instance, dep.tp)
    pl = pipeline(dep, pp, link)
    base = estimate(dep, precision, input_len, output_len, rate_rps=rate_rps)  # the stage-independent fields
    mem = pipeline_memory(pl, input_len + output_len)
    head = base.model_copy(
        update={
            "gpus": dep.tp * pp,
            "pp": pp,
            "nodes": pp,
            "network": f"{pp} x {off.id}, stages joined by {link.describe()}",
            "fits": mem.fits,
            "reason": mem.reason,
            "memory": base.memory.model_copy(
                update={
                    "weights_gb": round(mem.weights_gb, 3),
                    "weights_gb_total": round(mem.weights_gb_total * pp, 3),
                    "activation_gb": round(mem.activation_gb, 3),
                    "free_for_kv_gb": round(mem.free_for_kv_gb, 3),
                    "free_for_kv_gb_per_gpu": round(mem.free_for_kv_gb_per_gpu, 3),
                    "kv_mb_per_token": round(mem.kv_gb_per_token * 1e3, 6),
                    "kv_gb_per_request": round(mem.kv_gb_per_request, 4),
                    "max_tokens_in_kv": mem.max_tokens_in_kv,
                }
            ),
            "long_context": None,
        }
    )
    blank = {k: None for k in ("ttft_ms", "tpot_ms", "e2e_latency_ms", "output_tokens_per_s",
                               "output_tokens_per_s_per_gpu", "requests_per_s", "concurrency", "max_concurrency",
                               "admission_limit", "kv_limited", "saturated", "prefill_share", "decode_step_ms",
                               "prefill_ms")}  # fmt: skip
    if not mem.fits:
        return head.model_copy(update=blank)
    pt = pipeline_point(pl, input_len, output_len, rate_rps if rate_rps is not None else 1e-9)
    o1 = max(output_len - 1, 0)
    ttft = pt.ttft_s * 1e3
    tpot = pt.tpot_s * 1e3 if o1 else 0.0
    return head.model_copy(
        update={
            **blank,
            "ttft_ms": round(ttft, 3) if math.isfinite(ttft) else None,
            "tpot_ms": round(tpot, 3),
            "e2e_latency_ms": round(ttft + o1 * tpot, 3) if math.isfinite(ttft) else None,
            "output_tokens_per_s": round(pt.rate_rps * output_len, 3),
            "output_tokens_per_s_per_gpu": round(pt.rate_rps * output_len / (dep.tp * pp), 3),
            "requests_per_s": round(pt.rate_rps, 5),
            "concurrency": round(pt.in_flight, 3),
            "saturated": pt.saturated,
            "prefill_share": round(pt.prefill_share, 4),
        }
    )


Side = tuple[str, int, int]
"""One side of `--disagg`: (GPU id, tp, pp)."""


def parse_disagg(value: str) -> tuple[Side, Side]:
    """`PREFILL_GPU:TP[xPP],DECODE_GPU:TP[xPP]` -> ((gpu, tp, pp), (gpu, tp, pp)); pp 1 when not given."""
    parts = [p.strip() for p in value.split(",")]
    out: list[Side] = []
    for part in parts:
        gpu, _, shape = part.partition(":")
        tp, x, pp = shape.lower().partition("x")
        if not gpu or not tp.isdigit() or not 1 <= int(tp) <= MAX_TP:
            break
        if x and (not pp.isdigit() or not 1 <= int(pp) <= MAX_TP):
            break
        out.append((gpu, int(tp), int(pp) if x else 1))
    if len(parts) != 2 or len(out) != 2:
        raise ArgumentError(
            "disagg",
            f"must be PREFILL_GPU:TP,DECODE_GPU:TP, each TP optionally xPP for pipeline stages on PP instances (TP "
            f"and PP 1 to {MAX_TP}; e.g. h100-sxm:4,a100-80gb:4 or h100-sxm:8x2,h100-sxm:8x2), got {value!r}",
        )
    return out[0], out[1]


def _pool(role: Literal["prefill", "decode"], dep: Deployment, pl: Pipeline | None, off: Offering) -> PoolEstimate:
    mem = pipeline_memory(pl) if pl is not None else memory_breakdown(dep)
    return PoolEstimate(
        role=role,
        gpu=dep.gpu.id,
        tp=dep.tp,
        pp=pl.pp if pl is not None else 1,
        offering=off.id,
        fits=mem.fits,
        reason=mem.reason,
        max_tokens_in_kv=mem.max_tokens_in_kv,
    )


def _side(catalog: Catalog, dep: Deployment, pp: int, off: Offering, argument: str) -> tuple[Pipeline | None, Link]:
    """(the pipeline of a pool of `pp` stages, or None; the path its KV caches take: every GPU of every stage
    sending its shard, as the planner prices pools: planner.capacity.disaggregated.pool_links)."""
    g = off.gpus_per_instance
    if dep.tp > g:
        stage = " (a pipeline stage runs on one instance)" if pp > 1 else ""
        raise ArgumentError(argument, f"tp {dep.tp} exceeds the {g} GPUs of {off.id}{stage}")
    net = _net(catalog, off)
    link, _nic = pool_links(net, g, dep.tp * pp, dep.dp_attention)
    return (pipeline(dep, pp, replica_link(net, g, g)) if pp > 1 else None), link


def estimate_disagg(
    catalog: Catalog,
    prefill: Deployment,
    decode: Deployment,
    prefill_offering: str | None,
    decode_offering: str | None,
    input_len: int,
    output_len: int,
    rate_rps: float | None,
    *,
    prefill_pp: int = 1,
    decode_pp: int = 1,
) -> DisaggEstimate:
    """A prefill replica and a decode replica of one model (each on one instance, or `*_pp` pipeline stages of
    tp GPUs on as many instances), each receiving `rate_rps` (or a lone request)."""
    p_off = instance_for(catalog, prefill.gpu, prefill.tp, prefill_offering, "offering")
    d_off = instance_for(catalog, decode.gpu, decode.tp, decode_offering, "decode_offering")
    p_pl, p_link = _side(catalog, prefill, prefill_pp, p_off, "offering")
    d_pl, d_link = _side(catalog, decode, decode_pp, d_off, "decode_offering")
    link = between(p_link, d_link)
    rate = rate_rps if rate_rps is not None else 1e-9
    pre, dec = _pool("prefill", prefill, p_pl, p_off), _pool("decode", decode, d_pl, d_off)
    kv_mb = input_len * kv_bytes_per_token(prefill.model, prefill.kv) / 1e6
    ttft = tpot = None
    if pre.fits:
        pp = prefill_point(p_pl or prefill, input_len, rate, link)
        pre = pre.model_copy(
            update={
                "ttft_ms": round(pp.ttft_s * 1e3, 3) if math.isfinite(pp.ttft_s) else None,
                "prefill_ms": round(pp.prefill_s * 1e3, 3),
                "queue_ms": round(pp.queue_s * 1e3, 3) if math.isfinite(pp.queue_s) else None,
                "utilisation": round(pp.utilisation, 4),
                "saturated": pp.saturated,
            }
        )
        ttft = pre.ttft_ms
    if dec.fits:
        dp = decode_point(d_pl or decode, input_len, output_len, rate)
        dec = dec.model_copy(
            update={
                "tpot_ms": round(dp.tpot_s * 1e3, 3) if output_len > 1 else 0.0,
                "in_flight": round(dp.in_flight, 3),
                "saturated": dp.saturated,
            }
        )
        tpot = dec.tpot_ms
    transfer = link.transfer_s(kv_mb * 1e6)
    return DisaggEstimate(
        prefill=pre,
        decode=dec,
        link=f"{p_off.id} -> {d_off.id}: {link.describe()}",
        kv_mb_per_request=round(kv_mb, 3),
        kv_transfer_ms=round(transfer * 1e3, 3),
        ttft_ms=ttft,
        tpot_ms=tpot,
    )
