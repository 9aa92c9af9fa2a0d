"""Disaggregated capacity: prefill pools, decode pools and the pairs that join them (planner.perf.disagg).

Proposes, from the aggregated replica configurations the estimated source proposed before it (one
instance, expert parallel over several, or pipeline stages on several: planner.candidates):

- a prefill pool and a decode pool per configuration whose instance type has a known network (catalog
  networks): the same replica, serving only one phase (a pipeline pool rents its pp instances whole, its
  stages joined by the same network; planner.perf.disagg). Rows: a prefill pool's req/s per slice with no
  transfer (what it could do next to a decode pool on the same GPUs; informative), a decode pool's req/s
  per slice within the TPOT target (what the MILP's decode capacity rows use);
- a pair per (prefill pool, decode pool) of one cloud and region with the same weights and KV formats:
  its row is the prefill pool's req/s per slice when the slice's KV cache goes over this pair's link
  within the TTFT target (what the MILP's prefill capacity rows use). Routes go to pairs; replicas to
  pools.

Pruning (so the MILP stays small; `bench/disagg_pairs.py` shows solve time against the pairs kept): pools
only on the offerings of each GPU type within PRICE_SLACK of its cheapest $/GPU-hour, at the POOL_TPS
smallest replica sizes (GPUs: tp x pp) that hold the model there; in each cloud and
region, a pool is kept if it is among the KEEP_PER_SLICE cheapest of its role ($/h per req/s of one
replica) for some slice, at most MAX_POOLS per role and region (fewest $/h over the whole workload
first); pairs are then ranked by their $/h per req/s over the workload (prefill + decode, each at its
own capacity) and at most MAX_PAIRS kept. A pair that serves no slice is dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from catalog.types import InstanceNetwork
from planner.candidates import Candidate
from planner.capacity.estimated import estimated_row, within_context
from planner.capacity.source import Answer, CapacityRow
from planner.inputs import ModelInputs
from planner.perf.disagg import decode_capacity_rps_many, prefill_capacity_rps_many
from planner.perf.network import Link, between, replica_link
from planner.result import CapacitySourceName

KEEP_PER_SLICE = 2
MAX_POOLS = 4
MAX_PAIRS = 16
NO_LINK = Link(bytes_per_s=math.inf, latency_s=0.0, fabric="none")


@dataclass(frozen=True)
class _Pool:
    cand: Candidate  # its `link`: the path one request's KV cache takes out of (or into) a replica
    row: tuple[float, ...]  # req/s per slice (prefill: without transfer)
    per_replica_usd_per_hour: float
    nic_bytes_per_s: float  # all the replica's NICs: what its KV traffic as a whole may use

    def cost_per_rps(self, k: int) -> float:
        return self.per_replica_usd_per_hour / self.row[k] if self.row[k] > 0 else math.inf


def pool_links(net: InstanceNetwork, gpus_per_instance: int, gpus: int, dp_attention: bool) -> tuple[Link, float]:
    """(the link one request's KV cache crosses, the replica's NICs in all, bytes/s). A request's KV cache
    is sharded over the replica's GPUs, each sending its shard over its own NIC share; under data-parallel
    attention it lives whole on one GPU, so one GPU's share carries it."""
    per_gpu = replica_link(net, gpus_per_instance, 1)
    senders = 1 if dp_attention else gpus
    link = Link(per_gpu.bytes_per_s * senders, per_gpu.latency_s, per_gpu.fabric)
    return link, per_gpu.bytes_per_s * gpus


def _workload_cost(pool_rows: Sequence[tuple[float, ...]], prices: Sequence[float], rates: Sequence[float]) -> float:
    """$/h to serve every slice (at its rate) with replicas whose capacities are `pool_rows` (inf if some
    slice with traffic gets none)."""
    total = 0.0
    for k, rate in enumerate(rates):
        if rate <= 0:
            continue
        part = 0.0
        for row, price in zip(pool_rows, prices, strict=True):
            if row[k] <= 0:
                return math.inf
            part += rate * price / row[k]
        total += part
    return total


def _keep(pools: list[_Pool], rates: Sequence[float]) -> list[_Pool]:
    """The pools among the KEEP_PER_SLICE cheapest for some slice, at most MAX_POOLS (cheapest overall first)."""
    chosen: set[str] = set()
    for k in range(len(rates)):
        ranked = sorted((p for p in pools if p.row[k] > 0), key=lambda p: (p.cost_per_rps(k), p.cand.id))
        chosen.update(p.cand.id for p in ranked[:KEEP_PER_SLICE])

    def overall(p: _Pool) -> tuple[float, str]:
        return (
            sum(rate * p.cost_per_rps(k) for k, rate in enumerate(rates) if p.row[k] > 0)
            / max(sum(rate for k, rate in enumerate(rates) if p.row[k] > 0), 1e-12),
            p.cand.id,
        )

    return sorted((p for p in pools if p.cand.id in chosen), key=overall)[:MAX_POOLS]


PRICE_SLACK = 1.05
"""Pools are built on the offerings of a GPU type (per cloud and region) whose price per GPU is within this
factor of the cheapest: a dearer instance of the same GPU makes the same pool at a higher price (it may
differ in NICs and size, which the slack keeps)."""


def _cheapest_per_gpu(candidates: Sequence[Candidate]) -> set[str]:
    """Priced offering ids whose $/GPU-hour is within PRICE_SLACK of the cheapest of their GPU type in their
    cloud and region (spot and on-demand apart)."""
    best: dict[tuple[str, str, str, bool], float] = {}
    per_gpu: dict[str, tuple[tuple[str, str, str, bool], float]] = {}
    for c in candidates:
        o = c.priced.offering
        key = (o.cloud, o.region, c.priced.gpu.id, c.priced.spot)
        price = c.priced.price_usd_per_hour / o.gpus_per_instance
        per_gpu[c.priced.id] = (key, price)
        best[key] = min(best.get(key, math.inf), price)
    return {pid for pid, (key, price) in per_gpu.items() if price <= best[key] * PRICE_SLACK}


POOL_TPS = 2
"""Pools are built on the POOL_TPS smallest replica sizes (tp x pp GPUs) that hold the model on an offering
(in each precision): a pool only needs to meet one phase's target, and more GPUs per replica serve fewer
requests per GPU."""


def _smallest_tps(candidates: Sequence[Candidate]) -> set[str]:
    by_config: dict[tuple[str, str, str], list[Candidate]] = {}
    for c in candidates:
        if c.deployment is not None and c.kind == "aggregated":
            key = (c.priced.id, c.deployment.weights, c.deployment.kv)
            by_config.setdefault(key, []).append(c)
    return {
        c.id for group in by_config.values() for c in sorted(group, key=lambda c: (c.gpus, c.pp, c.id))[:POOL_TPS]
    }


def unnetworked_note(model: ModelInputs, candidates: Sequence[Candidate]) -> str | None:
    """What the report tells the user about offerings whose instance type has no network facts (the SkyPilot
    neoclouds': their catalogs publish none, and gpuplan never guesses a network): no pools there."""
    clouds = sorted(
        {
            c.priced.offering.cloud
            for c in candidates
            if c.kind == "aggregated" and c.deployment is not None and not c.offload
            if model.catalog.network(c.priced.offering) is None
        }
    )
    if not clouds:
        return None
    return (
        f"{model.label}: no prefill/decode pools (nor replicas spanning instances) on {', '.join(clouds)}: the "
        "catalog has no network facts for those instance types (catalog networks), and gpuplan assumes none; "
        "add one with a --catalog overlay (networks:) to plan pairs there"
    )


def _pools(
    model: ModelInputs, candidates: tuple[Candidate, ...], lengths: list[tuple[int, int]], fits: list[bool]
) -> dict[tuple[str, str], tuple[list[_Pool], list[_Pool]]]:
    """Prefill and decode pools per (cloud, region): the aggregated candidates on networked offerings
    (cheapest per GPU, smallest replicas), each with its capacity in that role. An offering with no
    network facts has none (`unnetworked_note`)."""
    slo = model.spec.slo
    groups: dict[tuple[str, str], tuple[list[_Pool], list[_Pool]]] = {}
    by_config: dict[tuple[object, ...], tuple[tuple[float, ...], tuple[float, ...]]] = {}
    cheapest = _cheapest_per_gpu(candidates)
    smallest = _smallest_tps(candidates)
    for c in candidates:
        dep = c.deployment
        net = model.catalog.network(c.priced.offering)
        if c.kind != "aggregated" or c.offload or dep is None or net is None:
            continue
        if c.priced.id not in cheapest or c.id not in smallest:
            continue
        link, nic = pool_links(net, c.priced.offering.gpus_per_instance, c.gpus, dep.dp_attention)
        server = c.server
        assert server is not None  # dep is not None
        key = (server, link)
        if key not in by_config:
            pre = prefill_capacity_rps_many(server, [i for i, _ in lengths], slo.ttft_ms, NO_LINK, nic)
            dec = decode_capacity_rps_many(server, lengths, slo.tpot_ms, nic)
            by_config[key] = (
                tuple(v if ok else 0.0 for v, ok in zip(pre, fits, strict=True)),
                tuple(v if ok else 0.0 for v, ok in zip(dec, fits, strict=True)),
            )
        pre_row, dec_row = by_config[key]
        g = c.priced.offering.gpus_per_instance
        price = c.priced.price_usd_per_hour * (c.nodes if c.nodes > 1 else c.gpus / g)
        prefill, decode = groups.setdefault((c.priced.offering.cloud, c.priced.offering.region), ([], []))
        stage = c.link if c.pp > 1 else None  # a pipeline's stages keep their own link
        if any(v > 0 for v in pre_row):
            made = replace(c, id=f"{c.id}/prefill", kind="prefill", link=link, stage_link=stage)
            prefill.append(_Pool(made, pre_row, price, nic))
        if any(v > 0 for v in dec_row):
            made = replace(c, id=f"{c.id}/decode", kind="decode", link=link, stage_link=stage)
            decode.append(_Pool(made, dec_row, price, nic))
    return groups


def _pairs(
    groups: dict[tuple[str, str], tuple[list[_Pool], list[_Pool]]],
    model: ModelInputs,
    lengths: list[tuple[int, int]],
    fits: list[bool],
) -> tuple[list[tuple[float, Candidate, tuple[float, ...], _Pool, _Pool]], int]:
    """Every (prefill pool, decode pool) of one region with the same storage, the pair's capacity with the
    KV transfer between them, and its cost for the workload; and how many pairs were considered."""
    slo = model.spec.slo
    rates = [s.rate_rps for s in model.slices]
    pairs: list[tuple[float, Candidate, tuple[float, ...], _Pool, _Pool]] = []
    considered = 0
    for (_cloud, _region), (prefill, decode) in sorted(groups.items()):
        for p in _keep(prefill, rates):
            pdep, pserver = p.cand.deployment, p.cand.server
            assert pdep is not None and pserver is not None and p.cand.link is not None
            for d in _keep(decode, rates):
                ddep = d.cand.deployment
                assert ddep is not None and d.cand.link is not None
                if (pdep.weights, pdep.kv) != (ddep.weights, ddep.kv):
                    continue
                considered += 1
                link = between(p.cand.link, d.cand.link)
                caps = prefill_capacity_rps_many(
                    pserver, [i for i, _ in lengths], slo.ttft_ms, link, p.nic_bytes_per_s
                )
                row = tuple(
                    v if ok and d.row[k] > 0 else 0.0 for k, (v, ok) in enumerate(zip(caps, fits, strict=True))
                )
                if not any(v > 0 for v in row):
                    continue
                cost = _workload_cost([row, d.row], [p.per_replica_usd_per_hour, d.per_replica_usd_per_hour], rates)
                pair = replace(
                    p.cand,
                    id=f"{p.cand.id}>{d.cand.id.split('@', 1)[1]}",
                    kind="pair",
                    link=link,
                    prefill=p.cand,
                    decode=d.cand,
                )
                pairs.append((cost, pair, row, p, d))
    return pairs, considered


@dataclass(frozen=True)
class DisaggregatedSource:
    name: CapacitySourceName = "estimate"

    def evaluate(self, model: ModelInputs, candidates: tuple[Candidate, ...]) -> Answer:
        search = model.search
        if search.disaggregated is False or model.exclusive or model.arch is None:
            return Answer()
        if model.spec.redundancy == "n+1":
            return Answer(notes=(f"{model.label}: disaggregated pools not searched for an N+1 model",))
        slices = model.slices
        fits = [within_context(model, s.input_len, s.output_len) for s in slices]
        lengths = [(s.input_len, s.output_len) for s in slices]
        groups = _pools(model, candidates, lengths, fits)
        pairs, considered = _pairs(groups, model, lengths, fits)
        pairs.sort(key=lambda t: (t[0], t[1].id))
        kept = pairs[:MAX_PAIRS]
        own: dict[str, Candidate] = {}
        rows: dict[str, CapacityRow] = {}
        for _cost, pair, row, p, d in kept:
            for pool in (p, d):
                if pool.cand.id not in own:
                    own[pool.cand.id] = pool.cand
                    rows[pool.cand.id] = _row(pool.cand, pool.row, model)
            own[pair.id] = pair
            rows[pair.id] = _row(p.cand, row, model)
        notes: tuple[str, ...] = ()
        if considered > len(kept):
            notes = (
                f"{model.label}: {len(kept)} of {considered} disaggregated prefill/decode pairs kept "
                f"(pools cheapest per slice, at most {MAX_PAIRS} pairs)",
            )
        unnetworked = unnetworked_note(model, candidates)
        if unnetworked is not None:
            notes = (*notes, unnetworked)
        return Answer(candidates=tuple(own.values()), rows=rows, notes=notes)


def _row(c: Candidate, capacity: tuple[float, ...], model: ModelInputs) -> CapacityRow:
    """The estimator's grade, error band and the spec's capacity margin, as for any estimated row."""
    assert c.deployment is not None
    return estimated_row(c.deployment, capacity, model.search)
