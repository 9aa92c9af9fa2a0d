"""How close the planner's percentile capacity (tail-factor approximation) is to the simulated one.

For a grid of replicas (GPU, TP, dtype), request classes (input, output tokens) and percentile targets
(p90/p99 of TTFT or TPOT, the other metric left loose), it finds:

    simulated    the largest Poisson rate at which the simulation meets the target (bisection, 4,000
                 requests, common random numbers: planner.simulate.capacity.simulated_capacity)
    approximate  the serving model's capacity at target / TAIL_FACTORS[metric, statistic]
    f*           the tail factor that would make the approximation exact for that cell

and prints each cell, then per (metric, statistic) the spread of f* and the capacity error of the current
factors (median and p90 of |approximate / simulated - 1|). `--fit` prints the median f* per (metric,
statistic): the values TAIL_FACTORS holds.

    python bench/simulate_accuracy.py            # the full grid (a few minutes on one core)
    python bench/simulate_accuracy.py --quick    # a third of it
    python bench/simulate_accuracy.py --engine sglang   # SGLang's scheduling (TAIL_FACTORS are vLLM's)
    python bench/simulate_accuracy.py --stats mean      # targets on the mean: the serving model itself
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog.loader import load_catalog  # noqa: E402
from planner.perf import Deployment, capacity_rps_many, engine_profile, predict  # noqa: E402
from planner.simulate.capacity import TAIL_FACTORS, simulated_capacity, slo_capacity_many  # noqa: E402
from planner.spec import Slo, SloStatistic  # noqa: E402

REPLICAS = (
    ("llama-3.1-8b", "l4", 1, "fp8"),
    ("llama-3.1-8b", "a10g", 1, "bf16"),
    ("llama-3.1-8b", "h100-sxm", 1, "fp8"),
    ("llama-3.3-70b", "h100-sxm", 4, "fp8"),
)
CLASSES = ((256, 64), (1000, 200), (4000, 100), (500, 800))
TTFT_MULTIPLES = (3.0, 6.0, 12.0)  # x the lone prefill
TPOT_MULTIPLES = (1.5, 2.5, 4.0)  # x the lone decode step
LOOSE_MS = 1e9
STATS: tuple[SloStatistic, ...] = ("p50", "p90", "p95", "p99")


def fit_factor(dep: Deployment, i: int, o: int, metric: str, target_ms: float, simulated: float) -> float:
    """The divisor of the target at which the serving model's capacity equals the simulated one."""
    if simulated <= 0:
        return math.nan

    def cap(f: float) -> float:
        t = (target_ms / f, LOOSE_MS) if metric == "ttft" else (LOOSE_MS, target_ms / f)
        return capacity_rps_many(dep, [(i, o)], *t)[0]

    lo, hi = 0.2, 50.0
    if cap(lo) < simulated:
        return lo
    if cap(hi) > simulated:
        return hi
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        if cap(mid) >= simulated:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="every third cell")
    ap.add_argument("--fit", action="store_true", help="print the fitted TAIL_FACTORS")
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--engine", default="vllm", choices=("vllm", "sglang", "trtllm"), help="engine profile")
    ap.add_argument("--stats", default=",".join(STATS), help="comma-separated statistics (mean, p50, ... p99)")
    args = ap.parse_args()
    stats = [cast(SloStatistic, x) for x in args.stats.split(",")]
    cat = load_catalog(())
    rows: list[tuple[str, str, float, float, float]] = []  # metric, statistic, simulated, approximate, f*
    cells: list[tuple[Deployment, int, int, float]] = []  # replica, input, output, target ms (per row)
    print(f"{'replica':28s} {'class':>10s} {'target':>16s} {'simulated':>10s} {'approx':>10s} {'err':>7s} {'f*':>6s}")
    t0, c0 = time.perf_counter(), time.process_time()
    cell = 0
    for model, gpu, tp, weights in REPLICAS:
        g = cat.gpus[gpu]
        dep = Deployment(cat.models[model], g, tp, weights, "bf16", engine_profile(cat, args.engine, g))
        for i, o in CLASSES:
            lone = predict(dep, i, o)
            for metric, multiples, base in (
                ("ttft", TTFT_MULTIPLES, lone.ttft_ms),
                ("tpot", TPOT_MULTIPLES, lone.tpot_ms),
            ):
                for k in multiples:
                    for stat in stats:
                        cell += 1
                        if args.quick and cell % 3:
                            continue
                        target = round(k * base, 3)
                        slo = (
                            Slo(ttft_ms=target, tpot_ms=LOOSE_MS, ttft_statistic=stat)
                            if metric == "ttft"
                            else Slo(ttft_ms=LOOSE_MS, tpot_ms=target, tpot_statistic=stat)
                        )
                        sim = simulated_capacity(dep, i, o, slo, requests=args.requests)
                        approx = slo_capacity_many(dep, [(i, o)], slo)[0]
                        f_star = fit_factor(dep, i, o, metric, target, sim)
                        err = approx / sim - 1 if sim > 0 else math.nan
                        rows.append((metric, stat, sim, approx, f_star))
                        cells.append((dep, i, o, target))
                        print(
                            f"{gpu + ' tp' + str(tp) + ' ' + model:28s} {f'{i}/{o}':>10s} "
                            f"{f'{stat} {metric} {target:g}':>16s} {sim:10.3f} {approx:10.3f} {err:+7.1%} "
                            f"{f_star:6.2f}",
                            flush=True,
                        )
    print(f"\n{len(rows)} cells in {time.perf_counter() - t0:.0f} s wall, {time.process_time() - c0:.0f} s CPU")
    print(
        f"\n{'metric':6s} {'stat':5s} {'cells':>5s} {'f* p10':>7s} {'f* p50':>7s} {'f* p90':>7s} {'factor':>7s} "
        f"{'|err| p50':>9s} {'|err| p90':>9s} {'optimistic':>10s}   (error of the capacity with `factor`)"
    )
    for metric in ("ttft", "tpot"):
        for stat in stats:
            idx = [
                k for k, r in enumerate(rows) if r[0] == metric and r[1] == stat and r[2] > 0 and math.isfinite(r[4])
            ]
            if not idx:
                continue
            factors = np.asarray([rows[k][4] for k in idx])
            p10, p50, p90 = np.percentile(factors, [10, 50, 90])
            for factor in (TAIL_FACTORS[(metric, stat)], *((float(p50),) if args.fit else ())):
                approx_caps: list[float] = []
                for k in idx:
                    dep, i, o, target = cells[k]
                    t = (target / factor, LOOSE_MS) if metric == "ttft" else (LOOSE_MS, target / factor)
                    approx_caps.append(capacity_rps_many(dep, [(i, o)], *t)[0])
                sims = np.asarray([rows[k][2] for k in idx])
                ratio = np.asarray(approx_caps) / sims
                errors = np.abs(ratio - 1.0)
                print(
                    f"{metric:6s} {stat:5s} {len(idx):5d} {p10:7.2f} {p50:7.2f} {p90:7.2f} {factor:7.2f} "
                    f"{np.median(errors):9.1%} {np.percentile(errors, 90):9.1%} {np.mean(ratio > 1.02):10.0%}"
                )


if __name__ == "__main__":
    main()
