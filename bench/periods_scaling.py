"""Solve time of the multi-period optimiser (solvers.periods) against periods x offerings x slices.

Problems are seeded and shaped like real ones: offerings of 1, 2, 4 or 8 GPUs with a compute and a
bandwidth speed drawn separately and a price roughly proportional to speed (no type dominates), one
candidate per offering (a replica on the whole instance), a quarter of them with a spot twin at 35 % of
the price in the same pool, capacities that fall with the slice's lengths (as bench/fleet_scaling.py), and
1y/3y commitments at 63 % / 43 % of the on-demand price on half the offerings. Rates follow a weekly
curve like BurstGPT's first week (night ~5 % of the afternoon peak, weekends lower), each slice with its
own noise, so the length mix changes from period to period; starts are billed for 0.1 h.

    .venv/bin/python bench/periods_scaling.py --quick   # small rows and the target row
    .venv/bin/python bench/periods_scaling.py           # the full table (scaling in each dimension)

Columns: build_s (the stacked arrays), solve_s (build + warm start + HiGHS + extraction, wall), cpu_s
(process CPU time: HiGHS threads included); status, gap, cost, the committed instances, and the
verifier's verdict (planner.verify_periods). The target: 168 x 40 x 50 to optimality in <= 10 s.

`--breakdown` then prints, for the largest row, what the time goes to: building the arrays, one period
solved alone to optimality (the warm start solves every period once, twice with commitments, and again
those the commitments raise), and the LP relaxation of the whole stacked model (HiGHS with integrality
dropped).

`--couplings P O S` solves one size four times: periods joined by nothing, by the starts only, by the
commitments only, and by both (the bench's problem) — which coupling the time goes to.

    .venv/bin/python bench/periods_scaling.py --couplings 24 10 10 --limit 120
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import numpy as np

from planner.verify_periods import verify_periods
from solvers.backend import open_backend
from solvers.fleet_milp import build_milp
from solvers.periods import DROPPED, FleetCommitment, PeriodsProblem, build, period_problem, solve_periods
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice

SHAPES = (1, 2, 4, 8)


def weekly_curve(periods: int) -> np.ndarray:
    """Relative rate per hour: a daytime bump (peak mid-afternoon), night ~5 %, days 3-4 at 55 %."""
    hours = np.arange(periods)
    hour = hours % 24
    day = (hours // 24) % 7
    daily = 0.05 + 0.95 * np.clip(np.sin((hour - 6) / 16 * math.pi), 0, None) ** 1.5
    weekend = np.where(np.isin(day, (3, 4)), 0.55, 1.0)
    return np.asarray(daily * weekend, dtype=np.float64)


def random_periods(periods: int, offerings: int, slices: int, seed: int = 0) -> PeriodsProblem:
    rng = np.random.default_rng(seed)
    offs: list[FleetOffering] = []
    cands: list[FleetCandidate] = []
    speeds: list[tuple[float, float, float]] = []
    k = 0
    while len(offs) < offerings:
        g = int(rng.choice(SHAPES)) if k else 8
        c, b = float(rng.uniform(0.5, 8.0)), 0.0
        b = c * float(rng.uniform(0.5, 1.5))
        price = round((0.5 * c + 0.5 * b) * float(rng.uniform(0.35, 0.6)) * g, 3)
        mem = float(rng.uniform(4_000, 40_000)) * g if k else math.inf
        oid = f"o{k:03d}"
        offs.append(FleetOffering(oid, price, g, None, False, oid))
        cands.append(FleetCandidate(f"{oid}-tp{g}", oid, "m", g))
        speeds.append((c * g**0.9, b * g**0.9, mem))
        if len(offs) < offerings and k and rng.random() < 0.25:
            offs.append(FleetOffering(f"{oid}#spot", round(price * 0.35, 3), g, None, True, oid))
            cands.append(FleetCandidate(f"{oid}#spot-tp{g}", f"{oid}#spot", "m", g))
            speeds.append(speeds[-1])
        k += 1
    n_in = max(1, round(math.sqrt(slices * 2)))
    n_out = max(1, math.ceil(slices / n_in))
    grid = [(i, o) for i in np.geomspace(16, 32_000, n_in) for o in np.geomspace(8, 4_000, n_out)][:slices]
    share = rng.lognormal(0.0, 1.0, len(grid))
    share /= share.sum()
    peak = float(rng.uniform(20, 200))
    sl = tuple(FleetSlice(f"b{j:03d}", "m", float(peak * sh)) for j, sh in enumerate(share))
    cap = tuple(
        tuple(
            round(1.0 / (i / (2000 * c) + (1 + o / 150) / b), 4) if i + o <= mem else 0.0 for c, b, mem in speeds
        )
        for i, o in grid
    )
    base = FleetProblem(
        offerings=tuple(offs),
        candidates=tuple(cands),
        slices=sl,
        capacity_rps=cap,
        target_utilisation=0.8,
        min_replicas={"m": 1},
        max_spot_share=0.5,
    )
    curve = weekly_curve(periods)
    noise = rng.lognormal(0.0, 0.3, (periods, len(sl)))
    rates = tuple(
        tuple(float(round(s.rate_rps * curve[p] * noise[p, j], 6)) for j, s in enumerate(sl)) for p in range(periods)
    )
    commitments = tuple(
        FleetCommitment(f"{o.id}:{term}", o.id, term, round(o.price_usd_per_hour * f, 4))
        for o in offs[::2]
        if not o.spot
        for term, f in (("1y", 0.63), ("3y", 0.43))
    )
    return PeriodsProblem(base, rates, 1.0, commitments, {o.id: 0.1 for o in offs}, cyclic=True)


def run(periods: int, offerings: int, slices: int, seed: int, limit: float) -> dict[str, object]:
    problem = random_periods(periods, offerings, slices, seed)
    t = time.perf_counter()
    stacked = build(problem)
    build_s = time.perf_counter() - t
    c0, t0 = time.process_time(), time.perf_counter()
    sol = solve_periods(problem, time_limit_s=limit)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    bad = verify_periods(problem, sol)
    return {
        "periods": periods,
        "offerings": offerings,
        "slices": slices,
        "cols": stacked.milp.num_cols,
        "rows": stacked.milp.num_rows,
        "build_s": round(build_s, 2),
        "solve_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "status": sol.status,
        "gap": None if sol.gap is None else round(sol.gap, 5),
        "cost_usd": round(sol.cost_usd, 2),
        "committed": sum(sol.committed.values()),
        "verified": "ok" if not bad else f"{len(bad)} violations",
    }


def breakdown(periods: int, offerings: int, slices: int, seed: int) -> None:
    """Where the time of one solve goes (see the module docstring)."""
    problem = random_periods(periods, offerings, slices, seed)
    t = time.perf_counter()
    stacked = build(problem)
    print(f"build: {time.perf_counter() - t:.2f} s for {stacked.milp.num_cols} columns, {stacked.milp.num_rows} rows")
    sample = range(0, periods, max(1, periods // 8))
    c0, t0 = time.process_time(), time.perf_counter()
    for p in sample:
        open_backend(build_milp(period_problem(problem, p), DROPPED), "highs").solve(time_limit_s=60, mip_rel_gap=0.0)
    n = len(sample)
    wall, cpu = (time.perf_counter() - t0) / n, (time.process_time() - c0) / n
    print(f"one period alone (gap 0): {wall:.3f} s wall, {cpu:.3f} s CPU (mean of {n}); one pass over {periods} "
          f"periods = {periods * cpu:.1f} s CPU, two passes {2 * periods * cpu:.1f} s; a 10 s target leaves "
          f"{10 / periods * 1000:.0f} ms per period for one pass")
    relaxed = replace(stacked.milp, integrality=stacked.milp.integrality * 0)
    c0, t0 = time.process_time(), time.perf_counter()
    res = open_backend(relaxed, "highs").solve(time_limit_s=600, mip_rel_gap=0.0)
    print(f"LP relaxation of the stacked model: {time.perf_counter() - t0:.2f} s wall, "
          f"{time.process_time() - c0:.2f} s CPU ({res.status}, bound ${res.objective or 0:,.2f} before the "
          "commitment constant)")


def couplings(periods: int, offerings: int, slices: int, seed: int, limit: float) -> None:
    """The same size with the periods joined by nothing, the starts, the commitments, or both."""
    problem = random_periods(periods, offerings, slices, seed)
    variants = (
        ("none (decomposable)", replace(problem, start_hours={}, commitments=())),
        ("starts only", replace(problem, commitments=())),
        ("commitments only", replace(problem, start_hours={})),
        ("starts + commitments", problem),
    )
    print(f"{periods} x {offerings} x {slices}, limit {limit:g} s")
    for name, variant in variants:
        c0, t0 = time.process_time(), time.perf_counter()
        sol = solve_periods(variant, time_limit_s=limit)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        gap = "-" if sol.gap is None else f"{sol.gap:.5f}"
        print(f"  {name:<22} {sol.status:>10} gap {gap:>8}  {wall:7.2f} s wall  {cpu:7.2f} s CPU  "
              f"${sol.cost_usd:,.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few small rows and the target row")
    ap.add_argument("--limit", type=float, default=120.0, help="solver time limit per row, s")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--breakdown", action="store_true", help="where the time of the largest row goes")
    ap.add_argument("--couplings", type=int, nargs=3, metavar=("P", "O", "S"), help="one size, by coupling")
    args = ap.parse_args()
    if args.couplings:
        p, o, s = args.couplings
        couplings(p, o, s, args.seed, args.limit)
        return
    rows = [(24, 10, 10), (168, 10, 10), (168, 40, 50)] if args.quick else [
        (24, 10, 10), (24, 40, 50), (72, 40, 50), (168, 10, 10), (168, 20, 25), (168, 40, 50), (336, 40, 50),
    ]
    keys = ("periods", "offerings", "slices", "cols", "rows", "build_s", "solve_s", "cpu_s", "status", "gap",
            "cost_usd", "committed", "verified")
    print(" ".join(f"{k:>10}" for k in keys))
    for p, o, s in rows:
        r = run(p, o, s, args.seed, args.limit)
        print(" ".join(f"{r[k]!s:>10}" for k in keys), flush=True)
    if args.breakdown:
        breakdown(*rows[-1], args.seed)


if __name__ == "__main__":
    main()
