"""Where a solved fleet sends its traffic, and what each replica group then carries.

Per slice, the shares routed to each replica group (or disaggregated pair) with the TTFT/TPOT predicted
at the group's planned load; the load and utilisation of every group; and, for N+1 groups, how loaded
what is left runs while the fullest instance is down. Read-only over the solver's answer: assemble
puts these into the Plan, nothing here decides anything.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from planner.candidates import Candidate
from planner.capacity import ModelCapacity
from planner.perf import predict
from planner.perf.disagg import decode_point, prefill_point
from planner.perf.pipeline import pipeline_point
from planner.result import Failover, RouteShare, SliceRoute
from planner.workload import Slice
from solvers.types import SHARE_EPS, FleetProblem, FleetSolution


def route_legs(problem: FleetProblem, k: int, route: str) -> list[tuple[str, float]]:
    """(replica group, its capacity for slice k) of every group a route loads: the candidate itself, or a
    pair's prefill pool (at the pair's capacity) and decode pool (at its own)."""
    cand_index = {c.id: j for j, c in enumerate(problem.candidates)}
    if route in cand_index:
        return [(route, problem.capacity_rps[k][cand_index[route]])]
    q = next(i for i, p in enumerate(problem.pairs) if p.id == route)
    pair = problem.pairs[q]
    return [
        (pair.prefill, problem.pair_capacity_rps[k][q]),
        (pair.decode, problem.capacity_rps[k][cand_index[pair.decode]]),
    ]


def loads(problem: FleetProblem, solution: FleetSolution) -> dict[str, float]:
    """Offered load on each replica group in replicas' worth (rate x share / capacity)."""
    slice_index = {s.id: k for k, s in enumerate(problem.slices)}
    load: dict[str, float] = {}
    for sid, shares in solution.routing.items():
        k = slice_index[sid]
        for route, share in shares.items():
            for cid, kappa in route_legs(problem, k, route):
                load[cid] = load.get(cid, 0.0) + problem.slices[k].rate_rps * share / kappa
    return load


def failover(problem: FleetProblem, solution: FleetSolution, by_id: dict[str, Candidate]) -> tuple[Failover, ...]:
    """N+1 replica groups while their fullest instance is down: what is left and how loaded it runs."""
    load = loads(problem, solution)
    out = []
    for cid, layout in sorted(solution.dedicated.items()):
        c = by_id[cid]
        lost = max((k for k, i in layout.items() if i > 0), default=0)
        left = solution.replicas.get(cid, 0) - lost
        out.append(
            Failover(
                model=c.model_label,
                candidate=cid,
                offering=c.priced.offering.id,
                replicas_lost=lost,
                replicas_left=left,
                utilisation=round(load.get(cid, 0.0) / left, 4) if left > 0 else 0.0,
                max_utilisation=problem.n_plus_one[c.model_label],
            )
        )
    return tuple(out)


def utilisation(problem: FleetProblem, solution: FleetSolution) -> dict[str, float]:
    """Utilisation of each replica group: offered load / capacity, per replica."""
    load = loads(problem, solution)
    return {cid: load.get(cid, 0.0) / r for cid, r in solution.replicas.items() if r > 0}


def routing(
    models: Sequence[ModelCapacity],
    problem: FleetProblem,
    solution: FleetSolution,
    by_id: dict[str, Candidate],
    measured: set[str],
) -> tuple[SliceRoute, ...]:
    """Each slice's shares per candidate, with the latencies predicted at the planned load (a measured
    candidate's latencies are the profile's business, not predicted here)."""
    util = utilisation(problem, solution)
    slice_index = {s.id: k for k, s in enumerate(problem.slices)}
    slice_of = {s.id: s for m in models for s in m.slices}
    spec_of = {m.label: m.spec for m in models}
    out = []
    for fs in problem.slices:
        s = slice_of[fs.id]
        ms = spec_of[s.model]
        k = slice_index[fs.id]
        routes = []
        for cid, share in sorted(solution.routing.get(fs.id, {}).items()):
            if share <= SHARE_EPS:
                continue
            c = by_id[cid]
            legs = route_legs(problem, k, cid)
            if c.kind == "pair":
                routes.append(_pair_route(c, s, share, legs, util))
                continue
            kappa = legs[0][1]
            ttft = tpot = None
            if c.deployment is not None and cid not in measured:
                ttft, tpot = _predicted(c, s, util.get(cid, 0.0) * kappa)
            routes.append(
                RouteShare(
                    candidate=cid,
                    offering=c.priced.id,
                    share=share,  # rounded for publication by planner.verify.publishable
                    rate_rps=round(s.rate_rps * share, 6),
                    ttft_ms=ttft,
                    tpot_ms=tpot,
                )
            )
        out.append(
            SliceRoute(
                slice=s.id,
                model=s.model,
                input_len=s.input_len,
                output_len=s.output_len,
                input_len_range=s.input_len_range,
                output_len_range=s.output_len_range,
                rate_rps=round(s.rate_rps, 6),
                slo_ttft_ms=ms.slo.ttft_ms,
                slo_tpot_ms=ms.slo.tpot_ms,
                routes=tuple(routes),
                slo_ttft_statistic=ms.slo.ttft_statistic,
                slo_tpot_statistic=ms.slo.tpot_statistic,
            )
        )
    return tuple(out)


def _predicted(c: Candidate, s: Slice, rate_rps: float) -> tuple[float | None, float | None]:
    """(TTFT ms, TPOT ms) of one replica of `c` serving slice `s` at `rate_rps`."""
    pl = c.pipeline
    if pl is not None:
        pt = pipeline_point(pl, s.input_len, s.output_len, rate_rps)
        return (round(pt.ttft_s * 1e3, 2) if math.isfinite(pt.ttft_s) else None), round(pt.tpot_s * 1e3, 3)
    assert c.deployment is not None
    point = predict(c.deployment, s.input_len, s.output_len, rate_rps=rate_rps)
    return round(point.ttft_ms, 2), round(point.tpot_ms, 3)


def _pair_route(
    q: Candidate, s: Slice, share: float, legs: list[tuple[str, float]], util: dict[str, float]
) -> RouteShare:
    """A route through a disaggregated pair: TTFT on its prefill pool (queueing + prefill + KV transfer) and
    TPOT on its decode pool, each at its planned load."""
    assert q.prefill is not None and q.decode is not None and q.link is not None
    pserver, dserver = q.prefill.server, q.decode.server
    assert pserver is not None and dserver is not None
    (pid, pcap), (did, dcap) = legs
    pre = prefill_point(pserver, s.input_len, util.get(pid, 0.0) * pcap, q.link)
    dec = decode_point(dserver, s.input_len, s.output_len, util.get(did, 0.0) * dcap)
    return RouteShare(
        candidate=q.id,
        offering=q.prefill.priced.id,
        share=share,
        rate_rps=round(s.rate_rps * share, 6),
        ttft_ms=round(pre.ttft_s * 1e3, 2) if math.isfinite(pre.ttft_s) else None,
        tpot_ms=round(dec.tpot_s * 1e3, 3) if s.output_len > 1 else 0.0,
        decode_candidate=q.decode.id,
        decode_offering=q.decode.priced.id,
        kv_transfer_ms=round(pre.transfer_s * 1e3, 3),
    )
