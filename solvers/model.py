"""The fleet MILP as plain arrays, built once with numpy and handed to HiGHS or PuLP unchanged.

Keeping one array formulation (costs, bounds, integrality, a row-wise sparse matrix and the names of
every variable and constraint) means the fast HiGHS path and the PuLP path (CBC fallback, golden LP
files) can never disagree. The formulation itself is documented in `solvers.fleet`.

Column order: instances_<o> (one per offering), replicas_<c> (one per candidate), then one route_<s>_<c>
per (slice, candidate) pair that can serve: same model, capacity > 0 and a candidate that fits its
instance. Pairs that cannot serve get no variable at all.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from solvers.types import FleetProblem

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int32]
IndexArray = npt.NDArray[np.int64]

RELAXABLE = ("availability", "budget", "spot_share", "min_replicas")
"""Constraint families the infeasibility diagnosis may drop to find out which one binds."""


@dataclass(frozen=True)
class RowFamily:
    """A block of consecutive rows: `family` with the problem indices that name its rows."""

    family: str
    first_row: int
    labels: tuple[str, ...]  # row name suffixes ("" = the family name alone)


@dataclass(frozen=True, eq=False)
class FleetModel:
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
    rows: tuple[RowFamily, ...]
    demand: float  # right-hand side of each demand row: 1 (fractional) or slice_factor (whole-slice)
    gpus: FloatArray  # GPUs per instance of each offering
    effective_tp: FloatArray  # GPUs one replica of each candidate takes from its instance's budget
    unservable_slices: tuple[int, ...]  # slices with no route column
    usable_candidates: tuple[int, ...]  # candidates whose replicas may be rented
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

    def column_names(self) -> list[str]:
        names = [f"instances_{o}" for o in range(self.num_offerings)]
        names += [f"replicas_{c}" for c in range(self.num_candidates)]
        names += [
            f"route_{s}_{c}" for s, c in zip(self.route_slice.tolist(), self.route_candidate.tolist(), strict=True)
        ]
        return names

    def row_names(self) -> list[str]:
        out: list[str] = []
        for fam in self.rows:
            out += [f"{fam.family}_{label}" if label else fam.family for label in fam.labels]
        return out

    def rows_of(self, family: str) -> range:
        for fam in self.rows:
            if fam.family == family:
                return range(fam.first_row, fam.first_row + len(fam.labels))
        return range(0)


def effective_tp(gpus_per_instance: int, tp: int) -> float:
    """GPUs a replica costs in the packing row: `gpus / floor(gpus / tp)` (inf if it does not fit).

    Equal to tp when tp divides the instance's GPUs (every power-of-two shape), where the aggregate
    packing row is exact; larger otherwise, so the row stays safe for odd shapes (a 4-GPU replica on a
    6-GPU instance leaves 2 GPUs that only smaller replicas could use).
    """
    per_instance = gpus_per_instance // tp if tp >= 1 else 0
    return gpus_per_instance / per_instance if per_instance >= 1 else math.inf


class _Rows:
    """COO triplets collected family by family, then sorted into CSR once."""

    def __init__(self) -> None:
        self.r: list[IndexArray] = []
        self.c: list[IndexArray] = []
        self.v: list[FloatArray] = []
        self.lo: list[FloatArray] = []
        self.hi: list[FloatArray] = []
        self.families: list[RowFamily] = []
        self.count = 0

    def add(
        self,
        family: str,
        labels: Iterable[str],
        rows: IndexArray,
        cols: IndexArray,
        vals: FloatArray,
        lo: FloatArray,
        hi: FloatArray,
    ) -> None:
        labels = tuple(labels)
        self.families.append(RowFamily(family, self.count, labels))
        self.r.append(rows.astype(np.int64) + self.count)
        self.c.append(cols.astype(np.int64))
        self.v.append(vals.astype(np.float64))
        self.lo.append(lo.astype(np.float64))
        self.hi.append(hi.astype(np.float64))
        self.count += len(labels)

    def csr(self) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
        rows = np.concatenate(self.r) if self.r else np.zeros(0, np.int64)
        cols = np.concatenate(self.c) if self.c else np.zeros(0, np.int64)
        vals = np.concatenate(self.v) if self.v else np.zeros(0)
        keep = vals != 0.0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
        order = np.lexsort((cols, rows))
        start = np.zeros(self.count + 1, np.int32)
        np.cumsum(np.bincount(rows, minlength=self.count), out=start[1:])
        lo = np.concatenate(self.lo) if self.lo else np.zeros(0)
        hi = np.concatenate(self.hi) if self.hi else np.zeros(0)
        return start, cols[order].astype(np.int32), vals[order], lo, hi


def validate_problem(problem: FleetProblem) -> FloatArray:
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
        if c.tp < 1:
            raise ValueError(f"candidate {c.id!r} has tp {c.tp} < 1")
    for o in problem.offerings:
        if not (math.isfinite(o.price_usd_per_hour) and o.price_usd_per_hour >= 0):
            raise ValueError(f"offering {o.id!r} has price {o.price_usd_per_hour}")
        if o.gpus_per_instance < 1 or (o.available is not None and o.available < 0):
            raise ValueError(f"offering {o.id!r} has gpus_per_instance {o.gpus_per_instance}, available {o.available}")
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
    return cap


def model_names(problem: FleetProblem) -> list[str]:
    """Every model the problem mentions, sorted: `min_replicas_<m>` rows index this list."""
    names = {s.model for s in problem.slices} | {c.model for c in problem.candidates} | set(problem.min_replicas)
    return sorted(names)


def build_model(problem: FleetProblem, drop: frozenset[str] = frozenset()) -> FleetModel:
    """Arrays of the fleet MILP; `drop` leaves out whole constraint families (for diagnosis only)."""
    cap = validate_problem(problem)
    n_off, n_cand, n_sl = len(problem.offerings), len(problem.candidates), len(problem.slices)
    off_index = {o.id: i for i, o in enumerate(problem.offerings)}
    price = np.array([o.price_usd_per_hour for o in problem.offerings], dtype=np.float64)
    gpus = np.array([o.gpus_per_instance for o in problem.offerings], dtype=np.float64)
    cand_off = np.array([off_index[c.offering] for c in problem.candidates], dtype=np.int64)
    eff_tp = np.array(
        [effective_tp(problem.offerings[off_index[c.offering]].gpus_per_instance, c.tp) for c in problem.candidates],
        dtype=np.float64,
    )
    models = model_names(problem)
    model_index = {m: i for i, m in enumerate(models)}
    cand_model = np.array([model_index[c.model] for c in problem.candidates], dtype=np.int64)
    slice_model = np.array([model_index[s.model] for s in problem.slices], dtype=np.int64)
    rate = np.array([s.rate_rps for s in problem.slices], dtype=np.float64)
    whole = problem.mode == "whole-slice"
    demand = float(problem.slice_factor) if whole else 1.0

    # Route columns: only pairs that can serve (capacity > 0, same model, replica fits an instance).
    if n_sl and n_cand:
        ok = (cap > 0) & (slice_model[:, None] == cand_model[None, :]) & np.isfinite(eff_tp)[None, :]
        route_s, route_c = np.nonzero(ok)
        route_cap = cap[route_s, route_c]
    else:
        route_s = route_c = np.zeros(0, np.int64)
        route_cap = np.zeros(0)
    route_s = route_s.astype(np.int64)
    route_c = route_c.astype(np.int64)
    n_route = int(route_s.shape[0])
    served = np.zeros(n_sl, dtype=bool)
    served[route_s] = True
    unservable = tuple(int(s) for s in np.nonzero(~served)[0])
    cand_serves = np.zeros(n_cand, dtype=bool)
    cand_serves[route_c] = True
    # A candidate is usable when it can serve a slice of its model, or (standby replicas) when its model
    # has no slices at all and fits its instance.
    idle_model = ~np.isin(cand_model, slice_model)
    cand_usable = cand_serves | (idle_model & np.isfinite(eff_tp))

    # Columns.
    off0, cand0, route0 = 0, n_off, n_off + n_cand
    n_cols = route0 + n_route
    col_cost = np.zeros(n_cols)
    col_cost[:n_off] = price
    col_lower = np.zeros(n_cols)
    col_upper = np.full(n_cols, math.inf)
    col_upper[cand0:route0] = np.where(cand_usable, math.inf, 0.0)  # a replica that can serve nothing
    col_upper[route0:] = demand
    integrality = np.zeros(n_cols, np.int32)
    integrality[:route0] = 1
    if whole:
        integrality[route0:] = 1
    route_cols = np.arange(route0, n_cols, dtype=np.int64)

    rows = _Rows()
    # demand_<s>: sum_c x_sc = 1 (whole-slice: = slice_factor pieces)
    rows.add(
        "demand",
        (str(s) for s in range(n_sl)),
        route_s,
        route_cols,
        np.ones(n_route),
        np.full(n_sl, demand),
        np.full(n_sl, demand),
    )
    # capacity_<c>: sum_s lambda_s x_sc / (kappa_sc * demand) - u r_c <= 0
    rows.add(
        "capacity",
        (str(c) for c in range(n_cand)),
        np.concatenate([route_c, np.arange(n_cand)]),
        np.concatenate([route_cols, cand0 + np.arange(n_cand)]),
        np.concatenate([rate[route_s] / (route_cap * demand), np.full(n_cand, -problem.target_utilisation)]),
        np.full(n_cand, -math.inf),
        np.zeros(n_cand),
    )
    # link_<c>: sum_s x_sc - demand * S_c * r_c <= 0, S_c = number of route columns of c (only c with S_c > 0):
    # no traffic on a candidate without a replica, however small its load (see solvers.fleet)
    routes_of = np.bincount(route_c, minlength=n_cand)
    linked = np.nonzero(routes_of)[0].astype(np.int64)
    link_row = np.full(n_cand, -1, np.int64)
    link_row[linked] = np.arange(linked.shape[0])
    rows.add(
        "link",
        (str(c) for c in linked.tolist()),
        np.concatenate([link_row[route_c], link_row[linked]]),
        np.concatenate([route_cols, cand0 + linked]),
        np.concatenate([np.ones(n_route), -demand * routes_of[linked].astype(np.float64)]),
        np.full(linked.shape[0], -math.inf),
        np.zeros(linked.shape[0]),
    )
    # packing_<o>: sum_{c on o} tp_c r_c - gpus_o n_o <= 0
    finite_tp = np.where(np.isfinite(eff_tp), eff_tp, 0.0)
    rows.add(
        "packing",
        (str(o) for o in range(n_off)),
        np.concatenate([cand_off, np.arange(n_off)]),
        np.concatenate([cand0 + np.arange(n_cand), off0 + np.arange(n_off)]),
        np.concatenate([finite_tp, -gpus]),
        np.full(n_off, -math.inf),
        np.zeros(n_off),
    )
    # availability_<o>: n_o <= available_o
    if "availability" not in drop:
        capped = [i for i, o in enumerate(problem.offerings) if o.available is not None]
        caps = np.array([problem.offerings[i].available for i in capped], dtype=np.float64)
        rows.add(
            "availability",
            (str(i) for i in capped),
            np.arange(len(capped)),
            np.array(capped, dtype=np.int64),
            np.ones(len(capped)),
            np.full(len(capped), -math.inf),
            caps,
        )
    # min_replicas_<m>: sum_{c of m} r_c >= min_m
    if "min_replicas" not in drop:
        wanted = [(model_index[m], v) for m, v in sorted(problem.min_replicas.items()) if v > 0]
        r_rows: list[IndexArray] = []
        r_cols: list[IndexArray] = []
        for k, (mi, _v) in enumerate(wanted):
            cs = np.nonzero(cand_model == mi)[0].astype(np.int64)
            r_rows.append(np.full(cs.shape[0], k, np.int64))
            r_cols.append(cand0 + cs)
        rows.add(
            "min_replicas",
            (str(mi) for mi, _v in wanted),
            np.concatenate(r_rows) if r_rows else np.zeros(0, np.int64),
            np.concatenate(r_cols) if r_cols else np.zeros(0, np.int64),
            np.ones(sum(a.shape[0] for a in r_cols)),
            np.array([float(v) for _m, v in wanted]),
            np.full(len(wanted), math.inf),
        )
    # spot_share: sum_{s, c on spot} lambda_s x_sc / demand <= share * sum_s lambda_s
    # (a share of the traffic, not of the cost: idle on-demand instances must not dilute it)
    spot = np.array([o.spot for o in problem.offerings], dtype=bool)
    total_rate = float(rate.sum())
    if "spot_share" not in drop and problem.max_spot_share < 1 and spot.any() and total_rate > 0:
        on_spot = spot[cand_off[route_c]]
        rows.add(
            "spot_share",
            ("",),
            np.zeros(int(on_spot.sum()), np.int64),
            route_cols[on_spot],
            rate[route_s[on_spot]] / (demand * total_rate),
            np.array([-math.inf]),
            np.array([problem.max_spot_share]),
        )
    # budget: sum_o p_o n_o <= B
    if "budget" not in drop and problem.budget_usd_per_hour is not None:
        rows.add(
            "budget",
            ("",),
            np.zeros(n_off, np.int64),
            np.arange(n_off),
            price,
            np.array([-math.inf]),
            np.array([float(problem.budget_usd_per_hour)]),
        )

    a_start, a_index, a_value, row_lower, row_upper = rows.csr()
    return FleetModel(
        num_offerings=n_off,
        num_candidates=n_cand,
        col_cost=col_cost,
        col_lower=col_lower,
        col_upper=col_upper,
        integrality=integrality,
        row_lower=row_lower,
        row_upper=row_upper,
        a_start=a_start,
        a_index=a_index,
        a_value=a_value,
        route_slice=route_s,
        route_candidate=route_c,
        route_load=rate[route_s] / route_cap,
        rows=tuple(rows.families),
        demand=demand,
        gpus=gpus,
        effective_tp=eff_tp,
        unservable_slices=unservable,
        usable_candidates=tuple(int(c) for c in np.nonzero(cand_usable)[0]),
        dropped=drop,
    )
