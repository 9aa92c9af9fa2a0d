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
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from catalog.types import Catalog, ModelArch
from planner.capacity.disaggregated import pool_links
from planner.errors import InputError
from planner.perf.disagg import kv_transfer_s
from planner.perf.network import Link, between
from planner.result import ReplicaGroup
from planner.simulate.engine import arrives_with_kv
from planner.simulate.routing import Group
from planner.simulate.server import RequestTable


def pool_link(catalog: Catalog, offering_id: str, rg: ReplicaGroup, dp_attention: bool) -> Link:
    """The path one request's KV cache takes out of (or into) a replica of pool `rg`: what the planner priced
    the pair with (planner.capacity.disaggregated.pool_links)."""
    offering = catalog.offerings[offering_id.removesuffix("#spot")]
    net = catalog.network(offering)
    if net is None:
        raise InputError(
            f"the plan's pool {rg.candidate} needs the network of {offering_id} for its KV transfers, which the "
            "catalog does not have",
            where="--catalog",
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
    """Seconds to send a prompt's KV cache of `tokens` tokens from a replica of group `prefill` to one of
    group `decode` (the estimator's kv_transfer_s over the slower end of the path)."""
    p, d = groups[prefill], groups[decode]
    assert p.kv_link is not None and d.kv_link is not None and p.deployment is not None
    link = between(p.kv_link, d.kv_link)
    return float(kv_transfer_s(model_of[p.model], p.deployment.kv, float(tokens), link))


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
    ready: list[tuple[float, int]] = []
    sent: dict[int, float] = {}
    pre, dec = prefill_table, decode_table
    for rid in np.flatnonzero(decode_of >= 0).tolist():
        table.sched_s[rid] = pre.sched_s[rid]
        table.preemptions[rid] = pre.preemptions[rid]
        if pre.rejected[rid]:
            table.rejected[rid] = True
            table.done_s[rid] = pre.done_s[rid]
            continue
        if table.output_len[rid] <= 1:
            table.first_s[rid] = table.done_s[rid] = pre.first_s[rid]
            continue
        kv_s = transfer_s(groups, model_of, int(group_of[rid]), int(decode_of[rid]), table.input_len[rid])
        at = pre.first_s[rid] + kv_s
        table.first_s[rid] = at
        arrives_with_kv(dec, rid, at)
        sent[rid] = kv_s
        ready.append((at, rid))
    ready.sort()
    turn = dict.fromkeys((g.index for g in groups if g.role == "decode"), 0)
    for _, rid in ready:
        g = groups[int(decode_of[rid])]
        srv = g.servers[turn[g.index] % g.replicas]
        turn[g.index] += 1
        srv.add(rid)
        srv.area += sent[rid]  # in the system (in transfer to it) from the end of its prefill
    for g in groups:
        if g.role == "decode":
            for srv in g.servers:
                srv.run_until()
    for _, rid in ready:
        table.done_s[rid] = dec.done_s[rid]
        table.rejected[rid] = dec.rejected[rid]
        table.preemptions[rid] += dec.preemptions[rid]
