"""The multi-period fleet MILP: commitments held over the whole horizon, on-demand and spot per period.

Every period p (of h hours; H = P h over P periods) is the single-period fleet problem of
`solvers.fleet_milp` with that period's slice rates, so every period's slices are served within the SLOs
by exact packing, availability caps, spot share, min replicas and N+1 exactly as in a one-period plan
(a slice with no traffic in a period has no demand row there). The blocks share nothing but these columns
and rows, which join them:

Columns (besides each period's block, named `<family>_p<p>_<index>`, indices within period p's problem)
    instances_p<p>_o   n_op ∈ ℤ≥0   instances of offering o running in period p, committed ones included
    commit_j           k_j ∈ ℤ≥0    instances committed under commitment j (offering o_j, $/h c_j), held
                                    for the whole horizon whether used or not
    start_p<p>_o       s_op ≥ 0     instances of o started for period p (continuous: the objective pushes
                                    it down to max(0, n_op − n_o,p−1), an integer)

    minimise   Σ_j H c_j k_j + Σ_p Σ_o h p_o (n_op − K_o) + Σ_p Σ_o L_o p_o s_op,    K_o = Σ_{j: o_j = o} k_j

i.e. the committed instances at their committed price all horizon, every other running instance at its
hourly price (on-demand, or spot for spot offerings) for the periods it runs, and each start billed for
its lead time L_o (instance start plus model load: a period's capacity is requested L_o before the
period begins and paid from then). As implemented the K_o term is folded into the costs of k_j:
cost(k_j) = H (c_j − p_o), cost(n_op) = h p_o, cost(s_op) = L_o p_o.

Rows (besides each period's block)
    committed_p<p>_o   K_o − n_op ≤ 0                 committed instances run in every period
    scale_up_p<p>_o    n_op − n_o,p−1 − s_op ≤ 0      starts (p − 1 of period 0: the last period when the
                                                     horizon is cyclic; else K_o, the horizon starts with
                                                     the committed instances only); only where L_o > 0
    constant_p<p>_o    n_op − n_o,p−1 = 0             (baseline "peak-provisioned" only: one fleet for all
                                                     periods)
    owned_p<p>_o       n_op − K_o ≤ 0                 offerings that run only as committed instances
                                                     (`owned_only`: on-prem machines, not rentable by the hour)
    and k_j ≤ M_j where commitment j caps its count (`max_instances`: the machines that can be owned).

Value cuts (added before the solve, valid for every plan): each period is first solved alone, which gives
a warm start and a proven lower bound v_p on what period p's instances cost at their hourly prices, and
(with commitments) w_p at effective prices e_o = min(p_o, the cheapest committed $/h of o), so
    value_p            Σ_o p_o n_op ≥ v_p          and          Σ_o e_o n_op ≥ w_p
hold for every feasible plan (n_op includes the committed instances; each is the least any fleet that
serves period p costs at those prices). Without them the LP bound sums
every period's rounding gap and branch and bound must close them all at once: on the BurstGPT week
(168 periods) HiGHS stalled at a 5 % gap for minutes; with them the bound starts close to the optimum.
Each period is solved to optimality (gap 0) and, where every price is a whole multiple of a step δ
(cents, tenths of a cent: `price_grid`), its bound is raised to the next multiple of δ, which a fleet's
cost Σ_o p_o n_o over whole instances cannot undercut. The cuts then sum to the exact optimum when
nothing couples the periods, and HiGHS proves a plan at its root instead of branching over sub-cent
tolerance gaps (24 periods x 10 offerings x 10 slices without commitments or starts: 6.3 s → 1.5 s CPU).

Exact reductions: a commitment is never bought (`commit_j` fixed at 0) where its offering has an uncapped
one that is cheaper (or as cheap and listed first): moving committed instances there never costs more.

Warm start: every period alone (above); commitments chosen greedily from those fleets; then every
period whose fleet the commitments raised is solved again given them (n_op ≥ K_o, hourly prices: the
committed instances are paid anyway, so that period's best fleet uses them); the cheaper of the two
passes' points starts HiGHS.

Work limit: every solve stops at a node limit that follows from its model's size (`NODE_WORK`), not at a
share of the time limit, so the plan, its cost and its gap are the same on every machine. The time limit
only stops a run that would overrun it: the warm start by `WARM_SHARE` of it (the stacked solve then
starts from what it has), the stacked solve at the limit (its best plan so far, with its gap, or the warm
start's plan when the solver has none).

Simplifications (said in reports too): a period's rate is its mean (bursts inside a period are not
planned for); a start is billed for its lead time, and a period's capacity is assumed requestable ahead
(the curve is known: scheduled scaling); instances stop at a period's end without cost; the lexicographic
tie-breaks of the single-period optimiser are not applied across periods (HiGHS is deterministic, so the
same inputs give the same plan); spot interruptions are handled by the spot share of each period
(`offerings.max_spot_share`), not by a buffer; the budget row is left out (a budget is per hour at one
rate, not for a horizon).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from solvers.backend import NO_NODE_LIMIT, BackendFailure, ExtraRow, MipResult, open_backend
from solvers.fleet_extract import extract
from solvers.fleet_milp import FleetMilp, build_milp
from solvers.sparse import Block, FloatArray, IndexArray, IntArray
from solvers.types import FleetProblem, FleetSolution, SolveStatus

DROPPED = frozenset({"budget"})
"""Families of the single-period model left out of every period (see the module docstring)."""
WARM_GAP = 0.0
WARM_SHARE = 0.8
"""The warm start (every period solved alone, the commitments' search) ends by this share of the time limit
at the latest, so that a model too large for the limit still gets a stacked solve; within it, no part of
the warm start has a share of its own (the work limit below ends each solve)."""
GRID_TOLERANCE = 1e-3
"""A bound this close (in grid steps) below a multiple of the step is taken for it (solver tolerances)."""
VALUE_CUT_SLACK = 1e-7
"""The value cuts sit this much (relative) below each period's proven bound, for the solvers' tolerances."""
NODE_WORK = 16e9
"""Branch and bound of a model (the stacked one, or a period alone) stops after NODE_WORK / its columns²
nodes, and never before the end of its root (`node_limit`): a fixed amount of work rather than of time,
so that the same inputs give the same plan, cost and gap on every machine. A node's time grew with about
the square of the columns (bench/periods_scaling.py rows and the BurstGPT week on two shared cores: about
20 ms at 3,106 columns, 55 ms at 4,986, 160 ms at 9,976), so the budget is about the same time at every
size, some 30 s of branch and bound after the root on this machine: a day of hours on 10 offerings and 10
slices (3,106 columns) gets 1,658 nodes and is proven optimal; the BurstGPT week (9,976 columns) 160
nodes after a root of about 35 s; a model of 130,000 columns or more its root alone."""


@dataclass(frozen=True)
class FleetCommitment:
    """`price_usd_per_hour` per committed instance of `offering`, paid every hour of the horizon."""

    id: str
    offering: str  # FleetOffering.id of an on-demand offering
    term: str
    price_usd_per_hour: float
    max_instances: int | None = None  # at most this many may be committed (on-prem: what can be owned)


@dataclass(frozen=True)
class PeriodsProblem:
    """`base` gives offerings, candidates, capacities and settings (its slice rates are not used);
    `rates_rps[p][s]` is slice s's rate in period p. `start_hours[o]`: hours billed per start of o."""

    base: FleetProblem
    rates_rps: tuple[tuple[float, ...], ...]
    period_hours: float
    commitments: tuple[FleetCommitment, ...] = ()
    start_hours: Mapping[str, float] = field(default_factory=dict)
    cyclic: bool = True
    constant_fleet: bool = False
    owned_only: frozenset[str] = frozenset()  # offerings that run only as committed instances (on-prem)

    @property
    def periods(self) -> int:
        return len(self.rates_rps)

    @property
    def horizon_hours(self) -> float:
        return self.periods * self.period_hours


@dataclass(frozen=True)
class PeriodsSolution:
    """A multi-period plan: commitments, and each period's fleet (its `instances` include the committed
    ones), routing of that period's slices, and the instances started for it."""

    status: SolveStatus
    cost_usd: float  # over the horizon
    committed: dict[str, int]  # commitment id -> instances (only > 0)
    periods: tuple[FleetSolution, ...]
    starts: tuple[dict[str, int], ...]  # per period: offering id -> instances started for it (only > 0)
    solver: str
    seconds: float
    build_seconds: float
    gap: float | None
    variables: int
    constraints: int
    message: str = ""


def period_problem(problem: PeriodsProblem, p: int) -> FleetProblem:
    """Period p as a single-period problem: the slices with traffic in p, at p's rates."""
    base = problem.base
    rates = problem.rates_rps[p]
    keep = [k for k, r in enumerate(rates) if r > 0]
    return replace(
        base,
        slices=tuple(replace(base.slices[k], rate_rps=rates[k]) for k in keep),
        capacity_rps=tuple(base.capacity_rps[k] for k in keep),
        pair_capacity_rps=tuple(base.pair_capacity_rps[k] for k in keep) if base.pairs else (),
        budget_usd_per_hour=None,
    )


def validate(problem: PeriodsProblem) -> None:
    """Reject a malformed problem (a bug in whoever built it): ValueError."""
    n = len(problem.base.slices)
    if not problem.rates_rps or any(len(r) != n for r in problem.rates_rps):
        raise ValueError("rates_rps needs one row per period and one rate per slice")
    if not (math.isfinite(problem.period_hours) and problem.period_hours > 0):
        raise ValueError(f"period_hours {problem.period_hours} must be > 0")
    on_demand = {o.id for o in problem.base.offerings if not o.spot}
    for c in problem.commitments:
        if c.offering not in on_demand or not (math.isfinite(c.price_usd_per_hour) and c.price_usd_per_hour >= 0):
            raise ValueError(f"commitment {c.id!r}: offering {c.offering!r}, price {c.price_usd_per_hour}")
    if any(not (math.isfinite(v) and v >= 0) for v in problem.start_hours.values()):
        raise ValueError("start_hours must be finite and >= 0")
    if any(c.max_instances is not None and c.max_instances < 0 for c in problem.commitments):
        raise ValueError("max_instances must be >= 0")
    if not problem.owned_only <= on_demand:
        raise ValueError(f"owned_only {sorted(problem.owned_only - on_demand)} are not on-demand offerings")


@dataclass(frozen=True)
class _Stacked:
    milp: FleetMilp
    blocks: tuple[tuple[FleetProblem, FleetMilp, int], ...]  # (period problem, its MILP, first column)
    commit0: int
    start0: int
    start_offerings: tuple[int, ...]


def _renamed(blocks: tuple[Block, ...], p: int, shift: int) -> list[Block]:
    return [Block(b.family, b.first + shift, tuple(f"p{p}_{x}" if x else f"p{p}" for x in b.labels)) for b in blocks]


def build(problem: PeriodsProblem) -> _Stacked:  # noqa: C901, PLR0915 - the stacked arrays, family by family
    """The stacked arrays (see the module docstring)."""
    validate(problem)
    base = problem.base
    h = problem.period_hours
    n_off = len(base.offerings)
    off_index = {o.id: i for i, o in enumerate(base.offerings)}
    price = np.array([o.price_usd_per_hour for o in base.offerings], dtype=np.float64)
    blocks: list[tuple[FleetProblem, FleetMilp, int]] = []
    costs, lowers, uppers, ints = [], [], [], []
    r_start, r_index, r_value, r_lo, r_hi = [], [], [], [], []
    col_blocks: list[Block] = []
    row_blocks: list[Block] = []
    n_cols = n_rows = n_nz = 0
    for p in range(problem.periods):
        sub = period_problem(problem, p)
        m = build_milp(sub, DROPPED)
        blocks.append((sub, m, n_cols))
        costs.append(m.col_cost * h)
        lowers.append(m.col_lower)
        uppers.append(m.col_upper)
        ints.append(m.integrality)
        r_start.append(m.a_start[:-1].astype(np.int64) + n_nz)
        r_index.append(m.a_index.astype(np.int64) + n_cols)
        r_value.append(m.a_value)
        r_lo.append(m.row_lower)
        r_hi.append(m.row_upper)
        col_blocks += _renamed(m.columns, p, n_cols)
        row_blocks += _renamed(m.rows, p, n_rows)
        n_cols += m.num_cols
        n_rows += m.num_rows
        n_nz += int(m.a_value.shape[0])

    def inst(p: int, o: int) -> int:
        return blocks[p][2] + o  # instances_o is the first column family of every block

    # commitments
    commit0 = n_cols
    H = problem.horizon_hours
    com_off = np.array([off_index[c.offering] for c in problem.commitments], dtype=np.int64)
    com_price = np.array([c.price_usd_per_hour for c in problem.commitments], dtype=np.float64)
    n_com = len(problem.commitments)
    costs.append(H * (com_price - price[com_off]) if n_com else np.zeros(0))
    lowers.append(np.zeros(n_com))
    kept = _undominated_commitments(problem)
    uppers.append(
        np.array(
            [
                (math.inf if c.max_instances is None else float(c.max_instances)) if j in kept else 0.0
                for j, c in enumerate(problem.commitments)
            ]
        )
    )
    ints.append(np.ones(n_com, np.int32))
    col_blocks.append(Block("commit", n_cols, tuple(str(j) for j in range(n_com))))
    n_cols += n_com
    # starts
    lead = np.array([problem.start_hours.get(o.id, 0.0) for o in base.offerings], dtype=np.float64)
    started = tuple(o for o in range(n_off) if lead[o] > 0) if problem.periods > 1 or not problem.cyclic else ()
    start0 = n_cols
    P = problem.periods
    costs.append(np.tile(lead[list(started)] * price[list(started)], P) if started else np.zeros(0))
    lowers.append(np.zeros(P * len(started)))
    uppers.append(np.full(P * len(started), math.inf))
    ints.append(np.zeros(P * len(started), np.int32))
    col_blocks.append(Block("start", n_cols, tuple(f"p{p}_{o}" for p in range(P) for o in started)))
    n_cols += P * len(started)

    extra: list[tuple[str, str, list[int], list[float], float, float]] = []
    for p in range(P):
        for o in range(n_off):
            mine = [commit0 + j for j in range(n_com) if com_off[j] == o]
            if mine:
                extra.append(("committed", f"p{p}_{o}", [*mine, inst(p, o)], [1.0] * len(mine) + [-1.0], -math.inf, 0))
    for p in range(P):
        for i, o in enumerate(started):
            s_col = start0 + p * len(started) + i
            if p > 0 or problem.cyclic:
                prev = inst((p - 1) % P, o)
                cols, vals = [inst(p, o), prev, s_col], [1.0, -1.0, -1.0]
            else:
                mine = [commit0 + j for j in range(n_com) if com_off[j] == o]
                cols, vals = [inst(p, o), s_col, *mine], [1.0, -1.0] + [-1.0] * len(mine)
            if cols[0] != cols[1]:
                extra.append(("scale_up", f"p{p}_{o}", cols, vals, -math.inf, 0.0))
    for p in range(P):
        for o in sorted(off_index[x] for x in problem.owned_only):
            mine = [commit0 + j for j in range(n_com) if com_off[j] == o]
            extra.append(("owned", f"p{p}_{o}", [inst(p, o), *mine], [1.0] + [-1.0] * len(mine), -math.inf, 0.0))
    if problem.constant_fleet:
        for p in range(1, P):
            for o in range(n_off):
                extra.append(("constant", f"p{p}_{o}", [inst(p, o), inst(p - 1, o)], [1.0, -1.0], 0.0, 0.0))
    family = None
    for fam, label, cols, vals, lo, hi in extra:
        if fam != family:
            row_blocks.append(Block(fam, n_rows, ()))
            family = fam
        last = row_blocks[-1]
        row_blocks[-1] = Block(last.family, last.first, (*last.labels, label))
        r_start.append(np.array([n_nz], dtype=np.int64))
        r_index.append(np.array(cols, dtype=np.int64))
        r_value.append(np.array(vals, dtype=np.float64))
        r_lo.append(np.array([lo]))
        r_hi.append(np.array([hi]))
        n_rows += 1
        n_nz += len(cols)

    a_start: IntArray = np.concatenate([*r_start, np.array([n_nz], dtype=np.int64)]).astype(np.int32)
    empty_i: IndexArray = np.zeros(0, np.int64)
    empty_f: FloatArray = np.zeros(0)
    milp = FleetMilp(
        num_offerings=0,
        num_candidates=0,
        col_cost=np.concatenate(costs),
        col_lower=np.concatenate(lowers),
        col_upper=np.concatenate(uppers),
        integrality=np.concatenate(ints).astype(np.int32),
        row_lower=np.concatenate(r_lo),
        row_upper=np.concatenate(r_hi),
        a_start=a_start,
        a_index=np.concatenate(r_index).astype(np.int32),
        a_value=np.concatenate(r_value),
        route_slice=empty_i,
        route_candidate=empty_i,
        route_load=empty_f,
        pair_route_slice=empty_i,
        pair_route_pair=empty_i,
        pair_prefill=empty_i,
        pair_decode=empty_i,
        pair_load_prefill=empty_f,
        pair_load_decode=empty_f,
        nodes=empty_i,
        columns=tuple(col_blocks),
        rows=tuple(row_blocks),
        demand=1.0,
        gpus=empty_f,
        fits=np.zeros(0, bool),
        unservable_slices=(),
        usable_candidates=(),
        dedicated_cols={},
        dropped=DROPPED,
    )
    return _Stacked(milp, tuple(blocks), commit0, start0, started)


def solve_periods(
    problem: PeriodsProblem, *, solver: str = "highs", time_limit_s: float = 60.0, mip_gap: float = 0.0
) -> PeriodsSolution:
    """The cheapest multi-period plan. A period whose slices nothing serves, or an infeasible period,
    makes the whole problem infeasible (status "infeasible", the message says which period)."""
    t0 = time.perf_counter()
    stacked = build(problem)
    built = time.perf_counter() - t0
    milp = stacked.milp
    for p, (sub, m, _first) in enumerate(stacked.blocks):
        if m.unservable_slices:
            names = ", ".join(sub.slices[k].id for k in m.unservable_slices[:3])
            return _empty(problem, "infeasible", solver, t0, built, milp, f"period {p}: no candidate serves {names}")
    deadline = t0 + time_limit_s
    try:
        warm = warm_start(problem, stacked, solver, t0 + WARM_SHARE * time_limit_s)
        session = open_backend(milp, solver)
        n_off = len(problem.base.offerings)
        for prices, lower in warm.cuts if warm is not None else ():
            for first, bound in zip((b[2] for b in stacked.blocks), lower, strict=True):
                session.add_row(ExtraRow(tuple(range(first, first + n_off)), prices, bound, math.inf))
        left = max(deadline - time.perf_counter(), 1e-3)
        res = session.solve(
            time_limit_s=left,
            mip_rel_gap=mip_gap,
            start=warm.values if warm is not None else None,
            node_limit=node_limit(milp.num_cols),
        )
    except BackendFailure as exc:
        return _empty(problem, "not_solved", solver, t0, built, milp, f"the {solver} solver failed: {exc}")
    if res.status == "not_solved" and warm is not None:  # out of time before the solver took the start
        return _extract(problem, stacked, warm.values, "gap", None, solver, t0, built)
    if res.status in ("infeasible", "unbounded", "error", "not_solved") or res.values is None:
        msg = res.message if res.status != "infeasible" else "the solver proved the multi-period problem infeasible"
        status: SolveStatus = "infeasible" if res.status == "infeasible" else "not_solved"
        return _empty(problem, status, solver, t0, built, milp, msg)
    return _extract(problem, stacked, res.values, res.status, res.gap, solver, t0, built)


def node_limit(num_cols: int) -> int:
    """Branch-and-bound nodes a model of `num_cols` columns may take (NODE_WORK; the root at least)."""
    return max(1, min(NO_NODE_LIMIT, int(NODE_WORK / max(1, num_cols) ** 2)))


@dataclass(frozen=True)
class WarmStart:
    values: FloatArray  # a feasible point of the stacked model
    # value cuts: (prices per offering, per period a proven lower bound on Σ_o prices_o n_op)
    cuts: tuple[tuple[tuple[float, ...], list[float]], ...]


def warm_start(problem: PeriodsProblem, stacked: _Stacked, solver: str, deadline: float) -> WarmStart | None:
    """A feasible point to start from, and a lower bound per period for the value cuts.

    Every period is solved alone at hourly prices (v_p: what its instances cost at least); with
    commitments, again at effective prices e_o = min(hourly, cheapest committed $/h of o) (w_p: what
    its instances cost at least however they are paid for). Each pass gives a start: its fleets, then
    commitments chosen greedily (commit the k-th instance of an offering where the periods running k
    or more of it outnumber the break-even share, at the cheapest term), the committed instances added
    to every period, the starts counted; the cheaper start is kept. When the second pass runs out of
    time the first one's start and cuts are used; None when the first does (the solver then starts
    cold, without value cuts).

    Why: the periods are independent but for the commitments and the starts, and branch and bound over
    their sum closes each period's small rounding gap only together with all the others; without a start
    HiGHS spends its time at the root and its own heuristics find poor plans."""
    price = np.array([o.price_usd_per_hour for o in problem.base.offerings])
    cheapest = _cheapest_commitments(problem)
    effective = price.copy()
    for o, (c_price, _j) in cheapest.items():
        effective[o] = min(price[o], c_price)
    passes = [price] + ([effective] if (effective < price).any() else [])
    starts: list[FloatArray] = []
    bounds: list[list[float]] = []
    previous: FloatArray | None = None
    solved_fleets: list[FloatArray] = []
    for prices in passes:
        solved = _solve_blocks(problem, stacked, solver, prices, deadline, previous)
        if solved is None:  # out of time: the passes done so far still give a start and cuts
            if not starts:
                return None
            break
        values, lower = solved
        previous = values
        bounds.append(lower)
        committed = _committed_start(problem, stacked, values, cheapest)
        starts.append(_refined(problem, stacked, solver, values, committed, deadline))
        solved_fleets.append(values)
    pick = min(range(len(starts)), key=lambda i: float(stacked.milp.col_cost @ starts[i]))
    best = _search_commitments(problem, stacked, solver, solved_fleets[pick], starts[pick], cheapest, deadline)
    rows = tuple((tuple(price), b) for b in bounds[0:1]) + tuple((tuple(effective), b) for b in bounds[1:2])
    return WarmStart(best, rows)


def _search_commitments(
    problem: PeriodsProblem,
    stacked: _Stacked,
    solver: str,
    solved: FloatArray,
    start: FloatArray,
    cheapest: dict[int, tuple[float, int]],
    deadline: float,
) -> FloatArray:
    """`start` improved by trying one committed instance more or fewer of each offering (the periods
    re-solved given the new levels, `_refined`), keeping every change that lowers the cost, until none
    does or the deadline. The greedy break-even rule misjudges levels when committing changes which
    offerings the periods use; the solver's own heuristics take long to find the better levels."""
    cost = float(stacked.milp.col_cost @ start)
    best = start
    owned = _owned_mask(problem)
    k = np.zeros(len(problem.base.offerings))
    for o, (_price, j) in cheapest.items():
        k[o] = start[stacked.commit0 + j]
    top = _counts(problem, stacked, solved).max(axis=0)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for o, (_price, j) in sorted(cheapest.items()):
            if owned[o]:
                continue
            cap = problem.commitments[j].max_instances
            for step in (1.0, -1.0):
                level = k[o] + step
                if level < 0 or level > top[o] or (cap is not None and level > cap):
                    continue
                if time.perf_counter() >= deadline:
                    return best
                trial_k = k.copy()
                trial_k[o] = level
                trial = _with_commitments(problem, stacked, solved, trial_k, cheapest)
                trial = _refined(problem, stacked, solver, solved, trial, deadline)
                trial_cost = float(stacked.milp.col_cost @ trial)
                if trial_cost < cost - 1e-9:
                    best, cost, k, improved = trial, trial_cost, trial_k, True
                    break
    return best


def _undominated_commitments(problem: PeriodsProblem) -> set[int]:
    """Commitments that may be bought: not one whose offering has an uncapped commitment that is cheaper
    (or as cheap and listed first) — moving its instances there never costs more."""
    out = set()
    for j, c in enumerate(problem.commitments):
        if not any(
            d.offering == c.offering
            and d.max_instances is None
            and (d.price_usd_per_hour, i) < (c.price_usd_per_hour, j)
            for i, d in enumerate(problem.commitments)
        ):
            out.add(j)
    return out


def _cheapest_commitments(problem: PeriodsProblem) -> dict[int, tuple[float, int]]:
    """Offering index -> (cheapest committed $/h, its commitment's index)."""
    off_index = {o.id: i for i, o in enumerate(problem.base.offerings)}
    best: dict[int, tuple[float, int]] = {}
    for j, c in enumerate(problem.commitments):
        o = off_index[c.offering]
        if o not in best or c.price_usd_per_hour < best[o][0]:
            best[o] = (c.price_usd_per_hour, j)
    return best


def price_grid(prices: FloatArray) -> float | None:
    """The largest step δ in 10⁻¹ … 10⁻⁶ of which every price is a whole multiple (None if none is):
    a fleet's cost Σ_o p_o n_o over whole instances is then a multiple of δ too."""
    for digits in range(1, 7):
        step = 10.0**-digits
        scaled = np.asarray(prices, dtype=np.float64) / step
        if np.all(np.abs(scaled - np.rint(scaled)) <= 1e-6):
            return step
    return None


def _on_grid(bound: float, step: float | None) -> float:
    """A proven lower bound on a cost that is a multiple of `step`, raised to the next multiple (the
    cost cannot lie between); without a step, lowered a little for the solvers' tolerances."""
    if step is None:
        return bound - VALUE_CUT_SLACK * max(1.0, abs(bound))
    return float(math.ceil(bound / step - GRID_TOLERANCE) * step)


def _solve_blocks(
    problem: PeriodsProblem,
    stacked: _Stacked,
    solver: str,
    prices: FloatArray,
    deadline: float,
    previous: FloatArray | None = None,
) -> tuple[FloatArray, list[float]] | None:
    """Every period alone with `prices` on its instances: the blocks' points side by side (integers
    rounded) and per period a proven lower bound on Σ_o prices_o n_op. `previous`: a point of the
    stacked model whose blocks are feasible, each block's MIP start."""
    n_off = len(problem.base.offerings)
    values = np.zeros(stacked.milp.num_cols)
    bounds: list[float] = []
    for _sub, m, first in stacked.blocks:
        cost = m.col_cost.copy()
        cost[:n_off] = prices
        start = None if previous is None else previous[first : first + m.num_cols]
        solved = _solve_period(replace(m, col_cost=cost), solver, deadline, start)
        if solved is None:
            return None
        vals, res = solved
        proven = (res.objective or 0.0) * (1.0 - (res.gap or 0.0))
        step = price_grid(prices) if not cost[n_off:].any() else None
        bounds.append(max(0.0, _on_grid(proven, step)))
        values[first : first + m.num_cols] = vals
    return values, bounds


def _solve_period(
    m: FleetMilp, solver: str, deadline: float, start: FloatArray | None
) -> tuple[FloatArray, MipResult] | None:
    """One period's model solved alone, within its work limit and by `deadline`: its point (integers
    rounded) and the solver's result; None when out of time or without a point."""
    left = deadline - time.perf_counter()
    if left <= 0:
        return None
    res = open_backend(m, solver).solve(
        time_limit_s=left, mip_rel_gap=WARM_GAP, start=start, node_limit=node_limit(m.num_cols)
    )
    if res.values is None or res.status not in ("optimal", "gap"):
        return None
    vals = np.asarray(res.values, dtype=np.float64).copy()
    ints = m.integrality == 1
    vals[ints] = np.rint(vals[ints])
    return vals, res


def _refined(
    problem: PeriodsProblem, stacked: _Stacked, solver: str, solved: FloatArray, start: FloatArray, deadline: float
) -> FloatArray:
    """`start` (the periods' fleets `solved`, commitments added) with every period the commitments raised
    re-solved given them: at hourly prices with
    n_op ≥ K_o (the committed instances are paid anyway, so the period's best fleet uses them); the
    starts recomputed. A period not solved in time keeps its raised fleet (feasible)."""
    n_off = len(problem.base.offerings)
    k = np.zeros(n_off)
    off_index = {o.id: i for i, o in enumerate(problem.base.offerings)}
    for j, c in enumerate(problem.commitments):
        k[off_index[c.offering]] += start[stacked.commit0 + j]
    if not k.any():
        return start
    owned = _owned_mask(problem)
    values: FloatArray = start.copy()
    raised = [
        p
        for p, (_s, _m, first) in enumerate(stacked.blocks)
        if (solved[first : first + n_off] < k).any() or (owned & (solved[first : first + n_off] > k)).any()
    ]
    for p in raised:
        _sub, m, first = stacked.blocks[p]
        lower, upper = m.col_lower.copy(), m.col_upper.copy()
        lower[:n_off] = np.maximum(lower[:n_off], k)
        upper[:n_off] = np.where(owned, np.minimum(upper[:n_off], k), upper[:n_off])
        bounded = replace(m, col_lower=lower, col_upper=upper)
        point = _solve_period(bounded, solver, deadline, start[first : first + m.num_cols])
        if point is None:  # out of time, or no point: the period keeps its raised fleet
            continue
        values[first : first + m.num_cols] = point[0]
    _set_starts(problem, stacked, values, k)
    return values


def _set_starts(problem: PeriodsProblem, stacked: _Stacked, values: FloatArray, k: FloatArray) -> None:
    """Fill the start columns of `values` (in place) with the growth its fleets imply."""
    n_off = len(problem.base.offerings)
    counts = np.array([values[first : first + n_off] for _s, _m, first in stacked.blocks])
    width = len(stacked.start_offerings)
    for p in range(problem.periods):
        for i, o in enumerate(stacked.start_offerings):
            before = counts[p - 1, o] if (p > 0 or problem.cyclic) else k[o]
            values[stacked.start0 + p * width + i] = max(0.0, counts[p, o] - before)


def _committed_start(
    problem: PeriodsProblem, stacked: _Stacked, solved: FloatArray, cheapest: dict[int, tuple[float, int]]
) -> FloatArray:
    """The periods' own fleets with commitments chosen greedily and the starts they imply (a constant
    fleet: every period's fleet raised to the largest count of each offering, which serves each period
    with that period's own replicas and routing)."""
    n_off = len(problem.base.offerings)
    price = np.array([o.price_usd_per_hour for o in problem.base.offerings])
    counts = _counts(problem, stacked, solved)
    owned = _owned_mask(problem)
    k = np.zeros(n_off)
    for o, (c_price, j) in cheapest.items():
        cap = problem.commitments[j].max_instances
        if owned[o]:  # the owned instances must cover every period
            level = int(counts[:, o].max())
        elif price[o] <= 0:
            continue
        else:
            level = 0
            while level < counts[:, o].max() and np.mean(counts[:, o] >= level + 1) > c_price / price[o]:
                level += 1
        k[o] = level if cap is None else min(level, cap)
    return _with_commitments(problem, stacked, solved, k, cheapest)


def _counts(problem: PeriodsProblem, stacked: _Stacked, values: FloatArray) -> FloatArray:
    """Instances of each offering in each period (periods x offerings)."""
    n_off = len(problem.base.offerings)
    out: FloatArray = np.array([values[first : first + n_off] for _s, _m, first in stacked.blocks])
    return out.reshape(len(stacked.blocks), n_off)


def _with_commitments(
    problem: PeriodsProblem,
    stacked: _Stacked,
    solved: FloatArray,
    k: FloatArray,
    cheapest: dict[int, tuple[float, int]],
) -> FloatArray:
    """The periods' fleets `solved` with K_o instances of each offering committed (at its cheapest
    commitment) and running in every period, and the starts they imply."""
    values: FloatArray = np.array(solved, dtype=np.float64)
    n_off = len(problem.base.offerings)
    firsts = [first for _sub, _m, first in stacked.blocks]
    counts = _counts(problem, stacked, values)
    owned = _owned_mask(problem)
    for j in range(len(problem.commitments)):
        values[stacked.commit0 + j] = 0.0
    for o, (_c_price, j) in cheapest.items():
        values[stacked.commit0 + j] = k[o]
    floor = k
    if problem.constant_fleet:  # one fleet for every period: each period's own, raised to the largest
        floor = np.maximum(k, counts.max(axis=0))
    for first in firsts:
        fleet = np.maximum(values[first : first + n_off], floor)
        values[first : first + n_off] = np.where(owned, np.minimum(fleet, k), fleet)
    _set_starts(problem, stacked, values, k)
    return values


def _owned_mask(problem: PeriodsProblem) -> npt.NDArray[np.bool_]:
    return np.array([o.id in problem.owned_only for o in problem.base.offerings], dtype=bool)


def _empty(
    problem: PeriodsProblem, status: SolveStatus, solver: str, t0: float, built: float, milp: FleetMilp, msg: str
) -> PeriodsSolution:
    return PeriodsSolution(
        status, 0.0, {}, (), (), solver, time.perf_counter() - t0, built, None, milp.num_cols, milp.num_rows, msg
    )


def _extract(
    problem: PeriodsProblem,
    stacked: _Stacked,
    values: FloatArray,
    status: str,
    gap: float | None,
    solver: str,
    t0: float,
    built: float,
) -> PeriodsSolution:
    periods = []
    for sub, m, first in stacked.blocks:
        periods.append(extract(sub, m, values[first : first + m.num_cols], status, gap, solver, t0, ""))
    committed = {
        c.id: int(round(values[stacked.commit0 + j]))
        for j, c in enumerate(problem.commitments)
        if round(values[stacked.commit0 + j]) > 0
    }
    starts = tuple(period_starts(problem, committed, tuple(s.instances for s in periods)))
    sol = PeriodsSolution(
        status="optimal" if status == "optimal" else "gap",
        cost_usd=0.0,
        committed=committed,
        periods=tuple(periods),
        starts=starts,
        solver=solver,
        seconds=time.perf_counter() - t0,
        build_seconds=built,
        gap=gap,
        variables=stacked.milp.num_cols,
        constraints=stacked.milp.num_rows,
    )
    return replace(sol, cost_usd=horizon_cost(problem, sol))


def committed_per_offering(problem: PeriodsProblem, committed: Mapping[str, int]) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in problem.commitments:
        if committed.get(c.id, 0):
            out[c.offering] = out.get(c.offering, 0) + committed[c.id]
    return out


def period_starts(
    problem: PeriodsProblem, committed: Mapping[str, int], instances: tuple[Mapping[str, int], ...]
) -> list[dict[str, int]]:
    """Instances started for each period: growth over the period before (cyclic: the last before the
    first; else the horizon starts with the committed instances)."""
    k = committed_per_offering(problem, committed)
    out = []
    for p, now in enumerate(instances):
        before = instances[p - 1] if (p > 0 or problem.cyclic) else k
        grown = {o: n - before.get(o, 0) for o, n in now.items() if n > before.get(o, 0)}
        out.append(grown)
    return out


def horizon_cost(problem: PeriodsProblem, solution: PeriodsSolution) -> float:
    """Total cost over the horizon, recomputed from the plan's counts (the formula of the docstring)."""
    prices = {o.id: o.price_usd_per_hour for o in problem.base.offerings}
    k = committed_per_offering(problem, solution.committed)
    by_id = {c.id: c for c in problem.commitments}
    total = sum(problem.horizon_hours * by_id[j].price_usd_per_hour * n for j, n in solution.committed.items())
    for period in solution.periods:
        total += sum(problem.period_hours * prices[o] * (n - k.get(o, 0)) for o, n in period.instances.items())
    for grown in solution.starts:
        total += sum(problem.start_hours.get(o, 0.0) * prices[o] * n for o, n in grown.items())
    return float(total)
