"""Disaggregated serving in the simulation: a prefill pool and a decode pool joined by the KV transfer.

A request routed to a pair `prefill>decode` runs in two engines, as planner.perf.disagg models it:

1. on a replica of the prefill pool, a prefill-only engine (its own `RequestTable` where every request has
   one output token: the prefill produces the first token, then the request leaves);
2. its prompt's KV cache is sent over the path between the two pools (`kv_transfer_s`: link latency + KV
   bytes / link bytes/s, not overlapped with the prefill);
3. on a replica of the decode pool (round-robin in the order the caches arrive), a decode-only engine that
   admits it with the KV blocks of its prompt and generates the other output tokens.

TTFT = prefill queueing + prefill + transfer (the estimator's definition: the first token leaves with the
cache); TPOT is the decode pool's. A one-token request ends with its prefill (nothing to send).
The decode replica counts a request in its system from the end of the prefill (the transfer included), so
Little's law holds over the whole fleet.

A pipeline pool (pp stages of tp GPUs, one instance each; planner.perf.disagg): its decode engine iterates as
a pipeline replica does (planner.simulate.timing.PipelineIterationTimes). Its prefill engine is its first
stage: a prompt batch occupies the pipeline for one stage's pass (the next batch enters behind it, as the
engine's micro-batches do), then goes through the other identical stages, a delay of
(pp - 1) x (stage's lone prefill + activation transfer) before the first token and the cache leave
(`pipeline_tail_s`: a lower bound, the batch's own lone pass per stage). The estimator prices it the same
way (service = one stage's pass, lone TTFT = every stage in turn).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from catalog.types import Catalog, ModelArch
from planner.capacity.disaggregated import pool_links
from planner.errors import ArgumentError
from planner.perf import Deployment
from planner.perf.disagg import kv_transfer_s
from planner.perf.network import Link, between
from planner.perf.pipeline import Pipeline, activation_s
from planner.perf.roofline import coefficients, prefill_alone_s
from planner.result import ReplicaGroup
from planner.simulate.engine import Replica, arrives_with_kv
from planner.simulate.policy import scheduler_policy
from planner.simulate.routing import Group, Server
from planner.simulate.server import RequestTable
from planner.simulate.timing import IterationTimes, engine_limits


def pool_link(catalog: Catalog, offering_id: str, rg: ReplicaGroup, dp_attention: bool) -> Link:
    """The path one request's KV cache takes out of (or into) a replica of pool `rg`: what the planner priced
    the pair with (planner.capacity.disaggregated.pool_links)."""
    offering = catalog.offerings[offering_id.removesuffix("#spot")]
    net = catalog.network(offering)
    if net is None:
        raise ArgumentError(
            "catalog",
            f"the plan's pool {rg.candidate} needs the network of {offering_id} for its KV transfers, which the "
            "catalog does not have",
        )
    link, _nic = pool_links(net, offering.gpus_per_instance, rg.tp * rg.pp, dp_attention)
    return link


def pool_tables(table: RequestTable) -> tuple[RequestTable, RequestTable]:
    """(prefill-phase table, decode-phase table) of a run's requests: the prefill phase has the arrivals and
    one output token each; the decode phase's arrivals are set when each cache reaches its decode replica."""
    n = len(table.arrival_s)
    prefill = RequestTable(list(table.arrival_s), list(table.input_len), [1] * n)
    decode = RequestTable([math.nan] * n, list(table.input_len), list(table.output_len))
    return prefill, decode


def transfer_s(groups: list[Group], model_of: dict[str, ModelArch], prefill: int, decode: int, tokens: int) -> float:
    """Seconds from a prompt's end on a replica of group `prefill` (its first stage, for a pipeline) to its
    KV cache of `tokens` tokens on one of group `decode`: a pipeline's later stages, then the estimator's
    kv_transfer_s over the slower end of the path."""
    p, d = groups[prefill], groups[decode]
    assert p.kv_link is not None and d.kv_link is not None and p.deployment is not None
    link = between(p.kv_link, d.kv_link)
    tail = pipeline_tail_s(p.pipeline, tokens) if p.pipeline is not None else 0.0
    return tail + float(kv_transfer_s(model_of[p.model], p.deployment.kv, float(tokens), link))


def pipeline_tail_s(pl: Pipeline, tokens: int) -> float:
    """Seconds a prompt of `tokens` tokens spends in the stages after the first of a pipeline prefill pool
    (each stage's lone prefill, the activations sent between stages): the module doc."""
    n = np.asarray([float(tokens)])
    stage = np.asarray(prefill_alone_s(coefficients(pl.stage), n), dtype=float)
    return float(((pl.pp - 1) * (stage + activation_s(pl, n)))[0])


def run_decode_phase(
    groups: list[Group],
    model_of: dict[str, ModelArch],
    table: RequestTable,
    prefill_table: RequestTable,
    decode_table: RequestTable,
    group_of: npt.NDArray[np.int64],
    decode_of: npt.NDArray[np.int64],
) -> None:
    """After every prefill replica ran: send each paired request's cache to a replica of its decode pool, run
    the decode pools, and write the whole request's outcome into `table`."""
    turn = dict.fromkeys((g.index for g in groups if g.role == "decode"), 0)

    def pick(rid: int) -> Server:
        g = groups[int(decode_of[rid])]
        srv = g.servers[turn[g.index] % g.replicas]
        turn[g.index] += 1
        return srv

    _decode_phase(
        table,
        prefill_table,
        decode_table,
        np.flatnonzero(decode_of >= 0).tolist(),
        lambda rid: transfer_s(groups, model_of, int(group_of[rid]), int(decode_of[rid]), table.input_len[rid]),
        pick,
    )


def _decode_phase(
    table: RequestTable,
    pre: RequestTable,
    dec: RequestTable,
    paired: list[int],
    transfer: Callable[[int], float],
    pick: Callable[[int], Server],
) -> None:
    """Send each paired request's cache (`transfer(rid)` seconds) once its prefill ended, give it to the decode
    replica `pick(rid)` (called in the order the caches arrive), run those replicas, and write the whole
    request's outcome into `table`."""
    ready: list[tuple[float, int]] = []
    sent: dict[int, float] = {}
    for rid in paired:
        table.sched_s[rid] = pre.sched_s[rid]
        table.preemptions[rid] = pre.preemptions[rid]
        if pre.rejected[rid]:
            table.rejected[rid] = True
            table.done_s[rid] = pre.done_s[rid]
            continue
        if table.output_len[rid] <= 1:
            table.first_s[rid] = table.done_s[rid] = pre.first_s[rid]
            continue
        kv_s = transfer(rid)
        at = pre.first_s[rid] + kv_s
        table.first_s[rid] = at
        arrives_with_kv(dec, rid, at)
        sent[rid] = kv_s
        ready.append((at, rid))
    ready.sort()
    used: dict[int, Server] = {}
    for _, rid in ready:
        srv = pick(rid)
        used.setdefault(id(srv), srv)
        srv.add(rid)
        srv.area += sent[rid]  # in the system (in transfer to it) from the end of its prefill
    for srv in used.values():
        srv.run_until()
    for _, rid in ready:
        table.done_s[rid] = dec.done_s[rid]
        table.rejected[rid] = dec.rejected[rid]
        table.preemptions[rid] += dec.preemptions[rid]


@dataclass(frozen=True, eq=False)
class PoolReplay:
    """Per-request latencies of a pools replay (seconds; inf for rejected requests, TPOT NaN for one-token
    outputs)."""

    ttft_s: npt.NDArray[np.float64]
    tpot_s: npt.NDArray[np.float64]
    rejected: npt.NDArray[np.bool_]


def replay_pools(
    prefill: Deployment,
    decode: Deployment,
    prefill_replicas: int,
    decode_replicas: int,
    link: Link,
    arrival_s: npt.ArrayLike,
    input_len: npt.ArrayLike,
    output_len: npt.ArrayLike,
) -> PoolReplay:
    """Replay given requests (in arrival order) on `prefill_replicas` prefill-only replicas of `prefill` and
    `decode_replicas` decode-only replicas of `decode`, joined by `link` (no plan, no router: the building
    block of the disaggregation validation, as `replay` is for one aggregated replica). Requests go
    round-robin over the prefill replicas in arrival order and over the decode replicas in the order their
    caches arrive, as a plan's pair routes them (module doc)."""
    if prefill_replicas < 1 or decode_replicas < 1:
        raise ValueError("a pair needs at least one prefill and one decode replica")
    arr = np.asarray(arrival_s, dtype=float)
    ins = np.asarray(input_len, dtype=np.int64)
    outs = np.asarray(output_len, dtype=np.int64)
    table = RequestTable(arr.tolist(), ins.tolist(), outs.tolist())
    pre, dec = pool_tables(table)
    longest = int((ins + outs).max()) if ins.size else 1

    def servers(dep: Deployment, requests: RequestTable, count: int) -> list[Replica]:
        limits = engine_limits(dep)
        times = IterationTimes(dep, longest)
        times.prime(ins)
        policy = scheduler_policy(dep.engine.engine, limits)
        return [
            Replica(requests, times, limits, policy, window_s=1e12, max_position=dep.context_window)
            for _ in range(count)
        ]

    prefills = servers(prefill, pre, prefill_replicas)
    for rid in range(arr.size):
        prefills[rid % prefill_replicas].add(rid)
    for srv in prefills:
        srv.run_until()
    decodes = servers(decode, dec, decode_replicas)
    turn = [0]

    def pick(_rid: int) -> Server:
        srv = decodes[turn[0] % decode_replicas]
        turn[0] += 1
        return srv

    kv = kv_transfer_s(prefill.model, prefill.kv, ins.astype(float), link)
    _decode_phase(table, pre, dec, list(range(arr.size)), lambda rid: float(kv[rid]), pick)
    first = np.asarray(table.first_s, dtype=float)
    done = np.asarray(table.done_s, dtype=float)
    rej = np.asarray(table.rejected, dtype=bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(outs >= 2, (done - first) / np.maximum(outs - 1, 1), np.nan)
    return PoolReplay(
        ttft_s=np.where(rej, np.inf, first - arr),
        tpot_s=np.where(rej & (outs >= 2), np.inf, tpot),
        rejected=rej,
    )
