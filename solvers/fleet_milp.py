"""The fleet MILP, built once as plain arrays (numpy) and handed unchanged to HiGHS or to PuLP/CBC.

One array formulation (costs, bounds, integrality, a row-wise sparse matrix, and the name of every column
and row) means the HiGHS path and the PuLP path (CBC fallback, golden LP files) cannot disagree.

Formulation (every column and row is named `<family>_<index>`; indices are positions in the problem)
-------------------------------------------------------------------------------------------------------
Sets: offerings o (price p_o, g_o GPUs per instance, spot flag, pool P(o) with cap A), candidates c (one
replica of model m_c on tp_c GPUs of one instance of o_c; or, "whole" candidates with ν_c > 1 nodes, on
ν_c whole instances of o_c), slices s (model m_s, rate λ_s). κ_sc = req/s one replica of c sustains on
slice s within the SLOs (0 = cannot serve). u = target utilisation. D = 1 (fractional routing) or
F = slice_factor (whole-slice: route columns count pieces). N+1 models m carry a failover utilisation
u_m; their candidates are "dedicated", the others "shared".
Disaggregated pairs q = (prefill pool a_q, decode pool b_q) of model m_q: candidates with role prefill or
decode take traffic only through pairs; κ^P_sq = req/s of s one replica of a_q sustains through q (its TTFT
includes q's KV transfer), κ_{s b_q} = req/s of s one replica of b_q sustains.

Columns
    instances_o      n_o ∈ ℤ≥0              instances rented of o
    replicas_c       r_c ∈ ℤ≥0              replicas of c (0 where c can serve nothing)
    route_s_c        x_sc ∈ [0, D]          share (pieces) of s sent to c; only where κ_sc > 0, m_c = m_s, c fits,
                                            c aggregated
    pair_route_s_q   y_sq ∈ [0, D]          share (pieces) of s sent through pair q; only where κ^P_sq > 0,
                                            κ_{s b_q} > 0, m_q = m_s and both pools fit
    pattern_o_p      y_op ∈ ℤ≥0             shared instances of o whose "odd" replicas follow pattern p
    dedicated_c      d_c ∈ ℤ≥0              instances of o_c running q_c = ⌊g/tp_c⌋ replicas of c and nothing else
    in_use_c         z_c ∈ {0, 1}           c has a dedicated instance (d_c ≥ 1)

    minimise   Σ_o p_o n_o

Rows, by family (one function each below):
    demand_s            Σ_c x_sc + Σ_q y_sq = D
    capacity_c          Σ_s λ_s x_sc / (D κ_sc) − u r_c ≤ 0                                (aggregated c)
                        Σ_{s, q: a_q = c} λ_s y_sq / (D κ^P_sq) − u r_c ≤ 0                 (prefill pool c)
                        Σ_{s, q: b_q = c} λ_s y_sq / (D κ_sc) − u r_c ≤ 0                   (decode pool c)
    link_c              Σ (the route columns above) − D S_c r_c ≤ 0       (S_c = how many there are)
    packing_o[_t]       Σ_{shared c on o, tp_c ≥ t} tp_c r_c ≤ G_t (n_o − Σ_{c on o} d_c − Σ_{whole c on o} ν_c r_c)
    patterns_o          Σ_p y_op + Σ_{c on o} d_c + Σ_{whole c on o} ν_c r_c − n_o ≤ 0    (odd sizes only)
    slots_o_t           Σ_{shared c on o, tp_c = t} r_c − Σ_p a_pt y_op ≤ 0
    availability_P      Σ_{o in P} n_o ≤ A_P                              (capped pools only)
    min_replicas_m      Σ_{c of m} r_c ≥ min_m
    spot_share          Σ_{s, c on spot} λ_s x_sc / D + Σ_{s, q with a pool on spot} λ_s y_sq / D
                          ≤ share · Σ_s λ_s                                 (when share < 1)
    budget              Σ_o p_o n_o ≤ B
  N+1 models only (family "redundancy" for diagnosis):
    dedicated_c         r_c − q_c d_c = 0
    in_use_c            d_c − M_c z_c ≤ 0
    failover_c          Σ_s λ_s x_sc / (D κ_sc) − u_m (r_c − q_c z_c) ≤ 0
    failover_link_c     Σ_s x_sc − D S_c (r_c − q_c z_c) ≤ 0
    spread_m            Σ_{c of m} d_c ≥ 2                                 (m has traffic or min_m > 0)

Packing is exact for every instance shape. Per offering, the sizes tp of its shared candidates are split
(`packing_shape`) into a chain t_1 < t_2 < … where each t_j divides every larger size, and an odd core
(sizes where the smallest does not divide all others, as 2 and 3). Chain row t_j uses the GPUs of an
instance that multiples of t_j can fill, G_t = g − g mod t_j: in any packing the replicas of size ≥ t_j
on one instance fill a multiple of t_j, so the row is necessary; and once the core is placed, placing the
chain sizes largest first leaves every instance's free space a multiple of the size being placed, so the
rows are sufficient. Rows whose G equals the previous row's are implied and left out: when every tp
divides g (powers of two on 1/2/4/8-GPU instances) there is one packing row per offering, as before. The
core is packed by maximal patterns a_p (how many replicas of each core size share one instance); every
packing of an instance is dominated by a maximal one, so `slots` with ≤ are exact.

Whole candidates rent their instances outright (a replica spanning instances uses all of each, the rest
of an instance's GPUs stays idle): like dedicated instances they come off the instances the shared
replicas are packed into, so packing stays exact. A pair's traffic loads its prefill pool (through the
pair's capacity, which depends on its link) and its decode pool (through the pool's own); the pools are
replica groups like any other, sized and packed by the rows above, and may sit on different offerings;
a pool may be whole too (a pipeline over ν_c instances: its replicas take ν_c instances each, as in
packing_o and patterns_o, whatever their role). N+1 models have neither whole nor pool candidates (the
planner does not propose them).

N+1: an N+1 model's replicas run on instances dedicated to one of its candidates, nothing else on them,
so losing any one instance costs one replica group (the replicas of one candidate) the replicas on that
instance. A dedicated instance holds as many replicas as fit, q_c: with the instance count fixed, more
replicas per instance add capacity in normal operation and during a failure alike (losing q_c of
d_c q_c leaves (d_c − 1) q_c, more than (d_c − 1) k for any k < q_c), and cost, GPUs and instances do
not change, so fuller instances never lose an optimum. failover_c asks a group's remaining replicas
to carry its planned traffic within the failover utilisation u_m: the published routing stays valid
while any one instance is down (a router with fixed weights per replica group needs no change), and a
group that carries traffic spans two instances or more; spread_m keeps a model on two instances or more
(standby replicas too). z_c switches the loss on with d_c (M_c = ⌈R_c / q_c⌉, R_c = ⌈L_c / min(u, u_m)⌉
+ 2 q_c + min_m, L_c = Σ_s λ_s/κ_sc: some optimal plan never rents more replicas of c). This is
stricter than "some re-routing survives": traffic may not move to another group during a failure.
(The weaker form needs a routing per failure scenario, 10,000 more columns each on a real spec, and
HiGHS then stalled at its root.)

The link rows say what capacity alone cannot (no traffic on a candidate without a replica, however small
its load); see `solvers.fleet`. A candidate that can serve none of its model's slices gets r_c ≤ 0; a
model without slices may still get standby replicas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from solvers.packing import PackingShape, packing_shape
from solvers.sparse import Block, Columns, FloatArray, IndexArray, IntArray, Rows, Sparse
from solvers.types import FleetProblem

RELAXABLE = ("availability", "budget", "spot_share", "min_replicas", "redundancy")
"""Constraint families the infeasibility diagnosis may drop to find out which one binds."""

MIN_SPREAD_INSTANCES = 2
"""An N+1 model with replicas runs on at least this many instances."""


@dataclass(frozen=True, eq=False)
class FleetMilp:
    """min cost·v  s.t.  row_lower <= A v <= row_upper,  col_lower <= v <= col_upper, v_j integer where
    integrality_j = 1. A is row-wise CSR (a_start, a_index, a_value)."""

    num_offerings: int
    num_candidates: int
    col_cost: FloatArray
    col_lower: FloatArray
    col_upper: FloatArray
    integrality: IntArray
    row_lower: FloatArray
    row_upper: FloatArray
    a_start: IntArray
    a_index: IntArray
    a_value: FloatArray
    route_slice: IndexArray  # slice index of each route column
    route_candidate: IndexArray  # candidate index of each route column
    route_load: FloatArray  # lambda_s / kappa_sc: replicas' worth of load if all of slice s went to c
    pair_route_slice: IndexArray  # slice index of each pair-route column (they follow the route columns)
    pair_route_pair: IndexArray  # pair index of each pair-route column
    pair_prefill: IndexArray  # candidate index of each pair's prefill pool
    pair_decode: IndexArray  # candidate index of each pair's decode pool
    pair_load_prefill: FloatArray  # lambda_s / kappa^P_sq per pair-route column
    pair_load_decode: FloatArray  # lambda_s / kappa_{s b_q} per pair-route column
    nodes: IndexArray  # instances one replica of each candidate takes (1: it shares instances)
    columns: tuple[Block, ...]
    rows: tuple[Block, ...]
    demand: float  # right-hand side of each demand row: 1 (fractional) or slice_factor (whole-slice)
    gpus: FloatArray  # GPUs per instance of each offering
    fits: npt.NDArray[np.bool_]  # candidate fits its instance (tp <= gpus)
    unservable_slices: tuple[int, ...]  # slices with no route column
    usable_candidates: tuple[int, ...]  # candidates whose replicas may be rented
    dedicated_cols: dict[int, tuple[tuple[int, int], ...]]  # N+1 candidate -> ((k, column of d_ck), ...)
    dropped: frozenset[str]

    @property
    def num_cols(self) -> int:
        return int(self.col_cost.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self.row_lower.shape[0])

    @property
    def route_offset(self) -> int:
        return self.num_offerings + self.num_candidates

    @property
    def num_routes(self) -> int:
        return int(self.route_slice.shape[0])

    @property
    def pair_route_offset(self) -> int:
        return self.route_offset + self.num_routes

    @property
    def num_pair_routes(self) -> int:
        return int(self.pair_route_slice.shape[0])

    def candidate_loads(self, x: FloatArray, y: FloatArray) -> FloatArray:
        """Replicas' worth of load on each candidate, for route values `x` and pair-route values `y`
        (shares of their slices)."""
        n = self.num_candidates
        q = self.pair_route_pair
        total = (
            np.bincount(self.route_candidate, weights=self.route_load * x, minlength=n)
            + np.bincount(self.pair_prefill[q], weights=self.pair_load_prefill * y, minlength=n)
            + np.bincount(self.pair_decode[q], weights=self.pair_load_decode * y, minlength=n)
        )
        return np.asarray(total, dtype=np.float64)

    def column_names(self) -> list[str]:
        return [name for block in self.columns for name in block.names()]

    def row_names(self) -> list[str]:
        return [name for block in self.rows for name in block.names()]

    def rows_of(self, family: str) -> range:
        """The rows of one family (a family may come in several blocks only if built so; first block)."""
        for block in self.rows:
            if block.family == family:
                return range(block.first, block.stop)
        return range(0)


def validate_problem(problem: FleetProblem) -> FloatArray:  # noqa: C901 - a flat list of independent checks
    """Reject a malformed problem (a bug in whoever built it, not user input): ValueError.

    Returns the capacity matrix as an array (slices x candidates)."""
    off_ids = [o.id for o in problem.offerings]
    if len(set(off_ids)) != len(off_ids):
        raise ValueError("duplicate offering ids in the fleet problem")
    cand_ids = [c.id for c in problem.candidates]
    if len(set(cand_ids)) != len(cand_ids):
        raise ValueError("duplicate candidate ids in the fleet problem")
    slice_ids = [s.id for s in problem.slices]
    if len(set(slice_ids)) != len(slice_ids):
        raise ValueError("duplicate slice ids in the fleet problem")
    known = set(off_ids)
    for c in problem.candidates:
        if c.offering not in known:
            raise ValueError(f"candidate {c.id!r} names unknown offering {c.offering!r}")
        if c.tp < 1 or c.nodes < 1:
            raise ValueError(f"candidate {c.id!r} has tp {c.tp}, nodes {c.nodes} (both must be >= 1)")
        if c.model in problem.n_plus_one and (c.nodes > 1 or c.role != "aggregated"):
            raise ValueError(f"candidate {c.id!r} of N+1 model {c.model!r} spans instances or is a pool")
    by_id = {c.id: c for c in problem.candidates}
    pair_ids = [q.id for q in problem.pairs]
    if len(set(pair_ids)) != len(pair_ids) or set(pair_ids) & set(cand_ids):
        raise ValueError("pair ids must be unique and differ from candidate ids")
    for q in problem.pairs:
        a, b = by_id.get(q.prefill), by_id.get(q.decode)
        if a is None or b is None or a.role != "prefill" or b.role != "decode":
            raise ValueError(f"pair {q.id!r} must join a prefill candidate and a decode candidate")
        if not a.model == b.model == q.model:
            raise ValueError(f"pair {q.id!r} joins pools of different models")
    rows = problem.pair_capacity_rps
    if (problem.pairs and len(rows) != len(problem.slices)) or any(len(row) != len(problem.pairs) for row in rows):
        raise ValueError("pair_capacity_rps must have one row per slice and one column per pair")
    caps: dict[str, int | None] = {}
    for o in problem.offerings:
        if not (math.isfinite(o.price_usd_per_hour) and o.price_usd_per_hour >= 0):
            raise ValueError(f"offering {o.id!r} has price {o.price_usd_per_hour}")
        if o.gpus_per_instance < 1 or (o.available is not None and o.available < 0):
            raise ValueError(f"offering {o.id!r} has gpus_per_instance {o.gpus_per_instance}, available {o.available}")
        if o.pool_id in caps and caps[o.pool_id] != o.available:
            raise ValueError(f"offerings of pool {o.pool_id!r} state different availability caps")
        caps[o.pool_id] = o.available
    for s in problem.slices:
        if not (math.isfinite(s.rate_rps) and s.rate_rps >= 0):
            raise ValueError(f"slice {s.id!r} has rate {s.rate_rps}")
    if len(problem.capacity_rps) != len(problem.slices) or any(
        len(row) != len(problem.candidates) for row in problem.capacity_rps
    ):
        raise ValueError("capacity_rps must have one row per slice and one column per candidate")
    cap = np.zeros((len(problem.slices), len(problem.candidates)))
    if problem.slices and problem.candidates:
        cap = np.asarray(problem.capacity_rps, dtype=np.float64)
        if not np.all(np.isfinite(cap)) or np.any(cap < 0):
            raise ValueError("capacities must be finite and >= 0")
    if problem.slices and problem.pairs:
        pcap = np.asarray(problem.pair_capacity_rps, dtype=np.float64)
        if not np.all(np.isfinite(pcap)) or np.any(pcap < 0):
            raise ValueError("pair capacities must be finite and >= 0")
    if not 0 < problem.target_utilisation <= 1:
        raise ValueError(f"target_utilisation {problem.target_utilisation} must be in (0, 1]")
    if not 0 <= problem.max_spot_share <= 1:
        raise ValueError(f"max_spot_share {problem.max_spot_share} must be in [0, 1]")
    if problem.budget_usd_per_hour is not None and not problem.budget_usd_per_hour >= 0:
        raise ValueError(f"budget {problem.budget_usd_per_hour} must be >= 0")
    if problem.slice_factor < 1:
        raise ValueError(f"slice_factor {problem.slice_factor} must be >= 1")
    if any(v < 0 for v in problem.min_replicas.values()):
        raise ValueError("min_replicas must be >= 0")
    for m, u in problem.n_plus_one.items():
        if not 0 < u <= 1:
            raise ValueError(f"failover utilisation {u} of model {m!r} must be in (0, 1]")
    return cap


def model_names(problem: FleetProblem) -> list[str]:
    """Every model (LLM) the problem mentions, sorted: `min_replicas_<m>` and `spread_<m>` rows index it."""
    names = {s.model for s in problem.slices} | {c.model for c in problem.candidates} | set(problem.min_replicas)
    return sorted(names | set(problem.n_plus_one))


# ------------------------------------------------------------------------------------------ the model
class _Build:
    """Problem data as arrays, the columns, and one method per constraint family."""

    def __init__(self, problem: FleetProblem, drop: frozenset[str]) -> None:
        cap = validate_problem(problem)
        self.problem = problem
        self.drop = drop
        self.n_off, self.n_cand, self.n_sl = len(problem.offerings), len(problem.candidates), len(problem.slices)
        off_index = {o.id: i for i, o in enumerate(problem.offerings)}
        self.price = np.array([o.price_usd_per_hour for o in problem.offerings], dtype=np.float64)
        self.gpus = np.array([o.gpus_per_instance for o in problem.offerings], dtype=np.float64)
        self.cand_off = np.array([off_index[c.offering] for c in problem.candidates], dtype=np.int64)
        self.tp = np.array([c.tp for c in problem.candidates], dtype=np.int64)
        self.nodes = np.array([c.nodes for c in problem.candidates], dtype=np.int64)
        self.whole = self.nodes > 1
        self.aggregated = np.array([c.role == "aggregated" for c in problem.candidates], dtype=bool)
        self.fits = self.tp <= self.gpus[self.cand_off].astype(np.int64) if self.n_cand else np.zeros(0, bool)
        self.models = model_names(problem)
        model_index = {m: i for i, m in enumerate(self.models)}
        self.cand_model = np.array([model_index[c.model] for c in problem.candidates], dtype=np.int64)
        self.slice_model = np.array([model_index[s.model] for s in problem.slices], dtype=np.int64)
        self.rate = np.array([s.rate_rps for s in problem.slices], dtype=np.float64)
        self.pieces = problem.mode == "whole-slice"
        self.demand = float(problem.slice_factor) if self.pieces else 1.0
        self.u = problem.target_utilisation
        redundant = {} if "redundancy" in drop else problem.n_plus_one
        self.failover_u = {model_index[m]: u for m, u in redundant.items()}

        # Route columns: only pairs that can serve (capacity > 0, same model, replica fits an instance).
        if self.n_sl and self.n_cand:
            ok = (
                (cap > 0)
                & (self.slice_model[:, None] == self.cand_model[None, :])
                & (self.fits & self.aggregated)[None, :]
            )
            rs, rc = np.nonzero(ok)
            route_cap = cap[rs, rc]
        else:
            rs = rc = np.zeros(0, np.int64)
            route_cap = np.zeros(0)
        self.rs, self.rc = rs.astype(np.int64), rc.astype(np.int64)
        self.route_load = self.rate[self.rs] / route_cap if self.rs.size else np.zeros(0)
        self.n_route = int(self.rs.shape[0])
        self._pair_routes(problem, cap, model_index)
        served = np.zeros(self.n_sl, dtype=bool)
        served[self.rs] = True
        served[self.ps] = True
        self.unservable = tuple(int(s) for s in np.nonzero(~served)[0])
        self.cand_serves = np.zeros(self.n_cand, dtype=bool)
        self.cand_serves[self.rc] = True
        self.cand_serves[self.pair_a[self.pq]] = True
        self.cand_serves[self.pair_b[self.pq]] = True
        # Usable: can serve a slice of its model, or (standby replicas) its model has no slices and it fits.
        idle_model = ~np.isin(self.cand_model, self.slice_model)
        self.usable = self.cand_serves | (idle_model & self.fits)
        self.routes_of = (
            np.bincount(self.rc, minlength=self.n_cand)
            + np.bincount(self.pair_a[self.pq], minlength=self.n_cand)
            + np.bincount(self.pair_b[self.pq], minlength=self.n_cand)
        ).astype(np.float64)
        self.dedicated = self.usable & np.isin(self.cand_model, list(self.failover_u))

        self.cols = Columns()
        self.rows = Rows()
        self.instances0 = self.cols.add(
            "instances", (str(o) for o in range(self.n_off)), cost=self.price, upper=math.inf, integer=True
        )
        self.replicas0 = self.cols.add(
            "replicas",
            (str(c) for c in range(self.n_cand)),
            upper=np.where(self.usable, math.inf, 0.0),  # a replica that can serve nothing is never rented
            integer=True,
        )
        self.route0 = self.cols.add(
            "route",
            (f"{s}_{c}" for s, c in zip(self.rs.tolist(), self.rc.tolist(), strict=True)),
            upper=self.demand,
            integer=self.pieces,
        )
        self.pair_route0 = self.cols.add(
            "pair_route",
            (f"{s}_{q}" for s, q in zip(self.ps.tolist(), self.pq.tolist(), strict=True)),
            upper=self.demand,
            integer=self.pieces,
        )
        self.shapes = self._shapes()
        self.pattern0 = {
            o: self.cols.add("pattern", (f"{o}_{p}" for p in range(len(shape.patterns))), upper=math.inf, integer=True)
            for o, shape in enumerate(self.shapes)
            if shape.patterns
        }
        self.dedicated_cols: dict[int, tuple[tuple[int, int], ...]] = {}
        self.in_use: dict[int, int] = {}
        dedicated = np.nonzero(self.dedicated)[0].tolist()
        first = self.cols.add("dedicated", (str(c) for c in dedicated), upper=math.inf, integer=True)
        for i, c in enumerate(dedicated):  # (replicas per instance = all that fit, column of d_c)
            self.dedicated_cols[c] = ((int(self.gpus[self.cand_off[c]]) // int(self.tp[c]), first + i),)
        first = self.cols.add("in_use", (str(c) for c in dedicated), upper=1.0, integer=True)
        self.in_use = {c: first + i for i, c in enumerate(dedicated)}

    def _pair_routes(self, problem: FleetProblem, cap: FloatArray, model_index: dict[str, int]) -> None:
        """Pair-route columns: (slice, pair) where both pools serve the slice and fit their instances."""
        cand_index = {c.id: j for j, c in enumerate(problem.candidates)}
        self.pair_a = np.array([cand_index[q.prefill] for q in problem.pairs], dtype=np.int64)
        self.pair_b = np.array([cand_index[q.decode] for q in problem.pairs], dtype=np.int64)
        pair_model = np.array([model_index[q.model] for q in problem.pairs], dtype=np.int64)
        if self.n_sl and problem.pairs:
            pcap = np.asarray(problem.pair_capacity_rps, dtype=np.float64)
            dcap = cap[:, self.pair_b]
            ok = (
                (pcap > 0)
                & (dcap > 0)
                & (self.slice_model[:, None] == pair_model[None, :])
                & (self.fits[self.pair_a] & self.fits[self.pair_b])[None, :]
            )
            ps, pq = np.nonzero(ok)
            self.pair_load_pre = self.rate[ps] / pcap[ps, pq]
            self.pair_load_dec = self.rate[ps] / dcap[ps, pq]
        else:
            ps = pq = np.zeros(0, np.int64)
            self.pair_load_pre = self.pair_load_dec = np.zeros(0)
        self.ps, self.pq = ps.astype(np.int64), pq.astype(np.int64)
        self.n_pair_route = int(self.ps.shape[0])

    def _loads(self) -> tuple[IndexArray, IndexArray, FloatArray]:
        """(candidate, column, replicas' worth of load) of every route column on every candidate it loads."""
        pr = self.pair_route0 + np.arange(self.n_pair_route)
        return (
            np.concatenate([self.rc, self.pair_a[self.pq], self.pair_b[self.pq]]),
            np.concatenate([self.route0 + np.arange(self.n_route), pr, pr]),
            np.concatenate([self.route_load, self.pair_load_pre, self.pair_load_dec]),
        )

    def _shapes(self) -> list[PackingShape]:
        shared = self.usable & ~np.isin(self.cand_model, list(self.failover_u)) & ~self.whole
        return [
            packing_shape(int(self.gpus[o]), self.tp[(self.cand_off == o) & shared].tolist()) for o in range(self.n_off)
        ]

    # ---------------------------------------------------------------------------- constraint families
    def demand_rows(self) -> None:
        """demand_s: Σ_c x_sc + Σ_q y_sq = D."""
        self.rows.add(
            "demand",
            (str(s) for s in range(self.n_sl)),
            np.concatenate([self.rs, self.ps]),
            np.concatenate([self.route0 + np.arange(self.n_route), self.pair_route0 + np.arange(self.n_pair_route)]),
            np.ones(self.n_route + self.n_pair_route),
            np.full(self.n_sl, self.demand),
            np.full(self.n_sl, self.demand),
        )

    def capacity_rows(self) -> None:
        """capacity_c: the load of c's route columns (direct, or through pairs for pools) − u r_c ≤ 0."""
        n = self.n_cand
        cand, col, load = self._loads()
        self.rows.add(
            "capacity",
            (str(c) for c in range(n)),
            np.concatenate([cand, np.arange(n)]),
            np.concatenate([col, self.replicas0 + np.arange(n)]),
            np.concatenate([load / self.demand, np.full(n, -self.u)]),
            np.full(n, -math.inf),
            np.zeros(n),
        )

    def link_rows(self) -> None:
        """link_c: Σ (c's route columns) − D S_c r_c ≤ 0, only for candidates with route columns (S_c > 0)."""
        linked = np.nonzero(self.routes_of)[0].astype(np.int64)
        row_of = np.full(self.n_cand, -1, np.int64)
        row_of[linked] = np.arange(linked.shape[0])
        cand, col, _load = self._loads()
        self.rows.add(
            "link",
            (str(c) for c in linked.tolist()),
            np.concatenate([row_of[cand], row_of[linked]]),
            np.concatenate([col, self.replicas0 + linked]),
            np.concatenate([np.ones(cand.shape[0]), -self.demand * self.routes_of[linked]]),
            np.full(linked.shape[0], -math.inf),
            np.zeros(linked.shape[0]),
        )

    def _dedicated_on(self, o: int) -> list[int]:
        return [col for c, ks in self.dedicated_cols.items() if self.cand_off[c] == o for _k, col in ks]

    def packing_rows(self) -> None:
        """packing_o[_t] (chain sizes), patterns_o and slots_o_t (odd core sizes): exact for every shape."""
        packing, patterns, slots = Sparse(), Sparse(), Sparse()
        shared = self.usable & ~self.dedicated & ~self.whole
        for o, shape in enumerate(self.shapes):
            # instances taken whole: N+1 layouts (one column each) and replicas spanning instances (nu_c each)
            whole = [int(c) for c in np.nonzero((self.cand_off == o) & self.usable & self.whole)[0]]
            taken = self._dedicated_on(o) + [self.replicas0 + c for c in whole]
            per = [1.0] * (len(taken) - len(whole)) + [float(self.nodes[c]) for c in whole]
            on_o = np.nonzero((self.cand_off == o) & shared)[0]
            n_col = self.instances0 + o
            for j, (t, usable) in enumerate(shape.chain):
                cs = [int(c) for c in on_o if self.tp[c] >= t]
                packing.row(
                    str(o) if j == 0 else f"{o}_{t}",
                    [self.replicas0 + c for c in cs] + taken + [n_col],
                    [float(self.tp[c]) for c in cs] + [usable * k for k in per] + [-float(usable)],
                    -math.inf,
                    0.0,
                )
            if not shape.chain and not shape.core and taken:
                packing.row(str(o), [*taken, n_col], [*per, -1.0], -math.inf, 0.0)
            if shape.core:
                first = self.pattern0[o]
                n_pat = len(shape.patterns)
                patterns.row(
                    str(o),
                    [*range(first, first + n_pat), *taken, n_col],
                    [1.0] * n_pat + per + [-1.0],
                    -math.inf,
                    0.0,
                )
                for i, t in enumerate(shape.core):
                    cs = [int(c) for c in on_o if self.tp[c] == t]
                    pats = [p for p in range(n_pat) if shape.patterns[p][i]]
                    slots.row(
                        f"{o}_{t}",
                        [self.replicas0 + c for c in cs] + [first + p for p in pats],
                        [1.0] * len(cs) + [-float(shape.patterns[p][i]) for p in pats],
                        -math.inf,
                        0.0,
                    )
        packing.into(self.rows, "packing")
        patterns.into(self.rows, "patterns")
        slots.into(self.rows, "slots")

    def availability_rows(self) -> None:
        """availability_P: Σ_{o in pool P} n_o ≤ A_P (one cap per pool: on-demand and spot together)."""
        if "availability" in self.drop:
            return
        rows = Sparse()
        pools: dict[str, list[int]] = {}
        for o, off in enumerate(self.problem.offerings):
            pools.setdefault(off.pool_id, []).append(o)
        for members in pools.values():
            cap = self.problem.offerings[members[0]].available
            if cap is not None:
                rows.row(str(members[0]), [self.instances0 + o for o in members], [1.0] * len(members), -math.inf, cap)
        rows.into(self.rows, "availability")

    def min_replicas_rows(self) -> None:
        """min_replicas_m: Σ_{c of m} r_c ≥ min_m."""
        if "min_replicas" in self.drop:
            return
        rows = Sparse()
        for m, want in sorted(self.problem.min_replicas.items()):
            if want > 0:
                mi = self.models.index(m)
                cs = np.nonzero(self.cand_model == mi)[0].tolist()
                rows.row(str(mi), [self.replicas0 + c for c in cs], [1.0] * len(cs), float(want), math.inf)
        rows.into(self.rows, "min_replicas")

    def spot_share_row(self) -> None:
        """spot_share: Σ_{s, c on spot} λ_s x_sc / D ≤ share · Σ_s λ_s (a share of traffic, not of cost)."""
        spot = np.array([o.spot for o in self.problem.offerings], dtype=bool)
        total = float(self.rate.sum())
        share = self.problem.max_spot_share
        if "spot_share" in self.drop or share >= 1 or not spot.any() or total <= 0:
            return
        on_spot = spot[self.cand_off[self.rc]] if self.n_route else np.zeros(0, bool)
        # traffic through a pair is on spot if either pool is: losing either loses the request
        pair_spot = (
            spot[self.cand_off[self.pair_a[self.pq]]] | spot[self.cand_off[self.pair_b[self.pq]]]
            if self.n_pair_route
            else np.zeros(0, bool)
        )
        cols = np.concatenate([self.route0 + np.nonzero(on_spot)[0], self.pair_route0 + np.nonzero(pair_spot)[0]])
        rates = np.concatenate([self.rate[self.rs[on_spot]], self.rate[self.ps[pair_spot]]])
        self.rows.add(
            "spot_share",
            ("",),
            np.zeros(cols.shape[0], np.int64),
            cols,
            rates / (self.demand * total),
            [-math.inf],
            [share],
        )

    def budget_row(self) -> None:
        """budget: Σ_o p_o n_o ≤ B."""
        budget = self.problem.budget_usd_per_hour
        if "budget" in self.drop or budget is None:
            return
        self.rows.add(
            "budget", ("",), np.zeros(self.n_off, np.int64), np.arange(self.n_off), self.price, [-math.inf], [budget]
        )

    def redundancy_rows(self) -> None:
        """N+1: dedicated_c, in_use_c, failover_c, failover_link_c, spread_m (see the module docstring)."""
        dedicated, in_use, failover, link, spread = Sparse(), Sparse(), Sparse(), Sparse(), Sparse()
        for c, ((q, d),) in self.dedicated_cols.items():
            z = self.in_use[c]
            dedicated.row(str(c), [self.replicas0 + c, d], [1.0, -float(q)], 0.0, 0.0)
            in_use.row(str(c), [d, z], [1.0, -float(max(math.ceil(self._replica_bound(c) / q), 1))], -math.inf, 0.0)
            mine = np.nonzero(self.rc == c)[0]
            if not mine.size:
                continue
            u_m = self.failover_u[int(self.cand_model[c])]
            cols = (self.route0 + mine).tolist() + [self.replicas0 + c, z]
            failover.row(str(c), cols, (self.route_load[mine] / self.demand).tolist() + [-u_m, u_m * q], -math.inf, 0.0)
            big = self.demand * float(mine.size)
            link.row(str(c), cols, [1.0] * int(mine.size) + [-big, big * q], -math.inf, 0.0)
        for mi in sorted(self.failover_u):
            m = self.models[mi]
            has_load = bool(self.rate[self.slice_model == mi].sum() > 0)
            cols = [d for c, ((_q, d),) in self.dedicated_cols.items() if self.cand_model[c] == mi]
            if cols and (has_load or self.problem.min_replicas.get(m, 0) > 0):
                spread.row(str(mi), cols, [1.0] * len(cols), float(MIN_SPREAD_INSTANCES), math.inf)
        dedicated.into(self.rows, "dedicated")
        in_use.into(self.rows, "in_use")
        failover.into(self.rows, "failover")
        link.into(self.rows, "failover_link")
        spread.into(self.rows, "spread")

    def _replica_bound(self, c: int) -> int:
        """R_c: replicas of c that some optimal plan never exceeds (see the module docstring)."""
        mine = self.rc == c
        load = float(self.route_load[mine].sum())
        u_min = min(self.u, self.failover_u[int(self.cand_model[c])])
        per = int(self.gpus[self.cand_off[c]]) // int(self.tp[c])
        wanted = self.problem.min_replicas.get(self.problem.candidates[c].model, 0)
        return math.ceil(load / u_min - 1e-9) + 2 * per + wanted

    def milp(self) -> FleetMilp:
        self.demand_rows()
        self.capacity_rows()
        self.link_rows()
        self.packing_rows()
        self.availability_rows()
        self.min_replicas_rows()
        self.spot_share_row()
        self.budget_row()
        self.redundancy_rows()
        cost, lower, upper, integer = self.cols.arrays()
        a_start, a_index, a_value, row_lower, row_upper = self.rows.csr()
        return FleetMilp(
            num_offerings=self.n_off,
            num_candidates=self.n_cand,
            col_cost=cost,
            col_lower=lower,
            col_upper=upper,
            integrality=integer,
            row_lower=row_lower,
            row_upper=row_upper,
            a_start=a_start,
            a_index=a_index,
            a_value=a_value,
            route_slice=self.rs,
            route_candidate=self.rc,
            route_load=self.route_load,
            pair_route_slice=self.ps,
            pair_route_pair=self.pq,
            pair_prefill=self.pair_a,
            pair_decode=self.pair_b,
            pair_load_prefill=self.pair_load_pre,
            pair_load_decode=self.pair_load_dec,
            nodes=self.nodes,
            columns=tuple(self.cols.blocks),
            rows=tuple(self.rows.blocks),
            demand=self.demand,
            gpus=self.gpus,
            fits=self.fits,
            unservable_slices=self.unservable,
            usable_candidates=tuple(int(c) for c in np.nonzero(self.usable)[0]),
            dedicated_cols=dict(self.dedicated_cols),
            dropped=self.drop,
        )


def build_milp(problem: FleetProblem, drop: frozenset[str] = frozenset()) -> FleetMilp:
    """Arrays of the fleet MILP; `drop` leaves out whole constraint families (for diagnosis only)."""
    return _Build(problem, drop).milp()
