"""The fleet as the router sees it, and which replica each request goes to.

A `Group` is the replicas of one plan candidate, each a `Server` (an engine replica or an offloaded
block server). `route_plan` follows the plan's routing shares per length bucket (`BucketLookup` finds a
request's bucket); `route_dynamic` sends each request round-robin or to the least-loaded replica of its
model, running the replicas in lock-step with the arrivals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from planner.perf import Deployment
from planner.perf.network import Link
from planner.perf.pipeline import Pipeline
from planner.result import Plan, SliceRoute
from planner.simulate.arrivals import Requests
from planner.simulate.options import Routing
from planner.simulate.policy import SchedulerPolicy
from planner.simulate.server import RequestTable

IntArray = npt.NDArray[np.int64]


class Server(Protocol):
    """What the simulation needs of a replica (an engine or an offloaded block server)."""

    busy_s: float
    area: float
    completed: int
    preempted: int
    running_peak: int
    win_busy: list[float]
    win_kv: list[float]
    win_kv_peak: list[float]

    def add(self, rid: int) -> None: ...

    def run_until(self, t_stop: float = math.inf) -> None: ...

    @property
    def in_system(self) -> int: ...


@dataclass
class Group:
    """The replicas of one plan candidate."""

    index: int
    candidate: str
    model: str
    model_index: int
    offering: str
    gpu: str
    engine: str
    replicas: int
    planned_utilisation: float
    deployment: Deployment | None
    offload: bool
    timing_source: str
    pipeline: Pipeline | None = None  # a pipeline replica: `deployment` is the whole model on one stage's GPUs
    role: str = "aggregated"  # or a prefill / decode pool of disaggregated serving
    kv_link: Link | None = None  # a pool: the path one request's KV cache takes out of (or into) a replica
    policy: SchedulerPolicy | None = None
    servers: list[Server] = field(default_factory=list)


@dataclass(frozen=True, eq=False)
class BucketLookup:
    """Which planned slice of one model a (input, output) length pair falls in."""

    routes: tuple[SliceRoute, ...]
    in_lo: npt.NDArray[np.int64]
    in_hi: npt.NDArray[np.int64]
    out_lo: npt.NDArray[np.int64]
    out_hi: npt.NDArray[np.int64]
    cell: dict[tuple[int, int], int]

    @classmethod
    def build(cls, routes: Sequence[SliceRoute]) -> BucketLookup:
        ins = sorted({s.input_len_range for s in routes})
        outs = sorted({s.output_len_range for s in routes})
        cell = {(ins.index(s.input_len_range), outs.index(s.output_len_range)): k for k, s in enumerate(routes)}
        return cls(
            tuple(routes),
            np.asarray([r[0] for r in ins], dtype=np.int64),
            np.asarray([r[1] for r in ins], dtype=np.int64),
            np.asarray([r[0] for r in outs], dtype=np.int64),
            np.asarray([r[1] for r in outs], dtype=np.int64),
            cell,
        )

    def find(
        self, ins: npt.NDArray[np.int64], outs: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """(slice index per request, whether it was outside every bucket and sent to the nearest one)."""
        n = ins.shape[0]
        j = np.minimum(np.searchsorted(self.in_hi, ins, side="left"), len(self.in_hi) - 1)
        k = np.minimum(np.searchsorted(self.out_hi, outs, side="left"), len(self.out_hi) - 1)
        ok_j = (self.in_lo[j] <= ins) & (ins <= self.in_hi[j])
        ok_k = (self.out_lo[k] <= outs) & (outs <= self.out_hi[k])
        out = np.full(n, -1, dtype=np.int64)
        miss = np.zeros(n, dtype=bool)
        for idx in range(n):
            key = (int(j[idx]), int(k[idx]))
            s = self.cell.get(key, -1) if ok_j[idx] and ok_k[idx] else -1
            if s < 0:
                s = self._nearest(int(ins[idx]), int(outs[idx]))
                miss[idx] = True
            out[idx] = s
        return out, miss

    def _nearest(self, i: int, o: int) -> int:
        """The tightest bucket whose upper edges cover the request, else the largest one."""
        cover = [
            (s.input_len_range[1], s.output_len_range[1], k)
            for k, s in enumerate(self.routes)
            if s.input_len_range[1] >= i and s.output_len_range[1] >= o
        ]
        if cover:
            return min(cover)[2]
        return max((s.input_len_range[1], s.output_len_range[1], k) for k, s in enumerate(self.routes))[2]


def route_plan(
    req: Requests,
    plan: Plan,
    groups: list[Group],
    models: list[str],
    rng: np.random.Generator,
) -> tuple[IntArray, IntArray, IntArray, npt.NDArray[np.bool_], dict[str, BucketLookup], IntArray]:
    """(group, replica within group, slice, unplanned, ..., decode group) per request under the plan's routing
    shares. A route through a (prefill pool, decode pool) pair (`prefill>decode`) sends the request to the
    prefill pool's group; its decode group is the last array (-1 for aggregated replicas)."""
    n = req.count
    group = np.full(n, -1, dtype=np.int64)
    decode = np.full(n, -1, dtype=np.int64)
    slice_ = np.full(n, -1, dtype=np.int64)
    unplanned = np.zeros(n, dtype=bool)
    by_candidate = {g.candidate: g.index for g in groups}
    lookups: dict[str, BucketLookup] = {}
    u = rng.random(n)
    for mi, label in enumerate(models):
        routes = [s for s in plan.routing if s.model == label]
        if not routes:
            continue
        look = BucketLookup.build(routes)
        lookups[label] = look
        sel = np.flatnonzero(req.model == mi)
        if sel.size == 0:
            continue
        s_idx, miss = look.find(req.input_len[sel], req.output_len[sel])
        slice_[sel] = s_idx
        unplanned[sel] = miss
        for k, route in enumerate(look.routes):
            members = sel[s_idx == k]
            if members.size == 0:
                continue
            targets: list[tuple[int, int, float]] = []
            for r in route.routes:
                if r.decode_candidate is None:
                    if r.candidate in by_candidate:
                        targets.append((by_candidate[r.candidate], -1, r.share))
                    continue
                prefill = r.candidate.split(">", 1)[0]  # a pair's id is the prefill pool's, '>', the decode pool's
                if prefill in by_candidate and r.decode_candidate in by_candidate:
                    targets.append((by_candidate[prefill], by_candidate[r.decode_candidate], r.share))
            if not targets:
                continue
            shares = np.asarray([s for _, _, s in targets], dtype=float)
            cum = np.cumsum(shares / shares.sum())
            pick = np.minimum(np.searchsorted(cum, u[members], side="right"), len(targets) - 1)
            group[members] = np.asarray([g for g, _, _ in targets], dtype=np.int64)[pick]
            decode[members] = np.asarray([d for _, d, _ in targets], dtype=np.int64)[pick]
    replica = np.zeros(n, dtype=np.int64)
    for g in groups:
        members = np.flatnonzero(group == g.index)
        replica[members] = np.arange(members.size, dtype=np.int64) % g.replicas
    return group, replica, slice_, unplanned, lookups, decode


def route_dynamic(
    req: Requests,
    groups: list[Group],
    flat: list[Server],
    offsets: npt.NDArray[np.int64],
    routing: Routing,
    table: RequestTable,
) -> npt.NDArray[np.int64]:
    """Round-robin or least-loaded over the replicas of each request's model (module doc)."""
    per_model: dict[int, list[int]] = {}
    for g in groups:
        per_model.setdefault(g.model_index, []).extend(range(int(offsets[g.index]), int(offsets[g.index + 1])))
    server_of = np.full(req.count, -1, dtype=np.int64)
    counters = dict.fromkeys(per_model, 0)
    arrival = table.arrival_s
    for rid, mi in enumerate(req.model.tolist()):
        candidates = per_model.get(mi)
        if not candidates:
            table.rejected[rid] = True
            table.done_s[rid] = arrival[rid]
            continue
        if routing == "round-robin":
            sv = candidates[counters[mi] % len(candidates)]
            counters[mi] += 1
        else:
            t = arrival[rid]
            best = -1
            load = 0
            for c in candidates:
                flat[c].run_until(t)
                n = flat[c].in_system
                if best < 0 or n < load:
                    best, load = c, n
            sv = best
        flat[sv].add(rid)
        server_of[rid] = sv
    for srv in flat:
        srv.run_until()
    return server_of
