"""Solve time of the fleet MILP against the number of disaggregated prefill x decode pairs, and how the
pairs are pruned.

The pairs come from planner.capacity.disaggregated: pools are the aggregated replica configurations (one
instance, or pipeline / expert-parallel replicas over several) on instance types with a known network; in
each cloud and region a pool is kept if it is among the KEEP_PER_SLICE cheapest of its role for some length
bucket (at most MAX_POOLS per role), pairs join kept prefill and decode pools of one region with the same
precision, and at most MAX_PAIRS pairs are kept, cheapest per request over the workload first. This script
re-runs that source with those limits raised step by step (the last row prunes nothing beyond the
cheapest-offering-per-GPU rule), and for each prints the pools and pairs it kept, the MILP's size, its
solve time (wall and CPU of the process, HiGHS threads included) and the plan's cost. The 0-pair row
(aggregated only) is the reference measured in the same run.

    .venv/bin/python bench/disagg_pairs.py                       # examples/long-prompt-disagg.yaml
    .venv/bin/python bench/disagg_pairs.py examples/chat-llama-8b.yaml
    .venv/bin/python bench/disagg_pairs.py examples/llama-405b-multinode.yaml   # pipeline pools (tp8 x pp)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from planner.capacity import disaggregated as dis
from planner.capacity import model_capacity
from planner.inputs import load_inputs, load_model, offerings_for, without_dominated
from planner.problem import build_problem
from planner.verify import verify_solution
from solvers.fleet import solve_fleet

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ((1, 1, 1), (1, 2, 4), (2, 3, 9), (2, 4, 16), (3, 6, 36), (4, 8, 64), (99, 99, 9999))
"""(KEEP_PER_SLICE, MAX_POOLS, MAX_PAIRS) per row; the defaults are (2, 4, 16)."""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("spec", nargs="?", default=str(ROOT / "examples" / "long-prompt-disagg.yaml"))
    args = ap.parse_args()
    inputs = load_inputs(Path(args.spec))
    offerings = offerings_for(inputs)
    # as make_plan does: offerings another one dominates are left out before capacities
    models = without_dominated(inputs.spec, [load_model(inputs, i, offerings) for i in range(len(inputs.spec.models))])
    defaults = (dis.KEEP_PER_SLICE, dis.MAX_POOLS, dis.MAX_PAIRS)
    print(f"{Path(args.spec).name}: {len(models)} model(s), {sum(len(m.slices) for m in models)} length buckets")
    print(f"defaults: KEEP_PER_SLICE={defaults[0]} MAX_POOLS={defaults[1]} MAX_PAIRS={defaults[2]}")
    head = (
        f"{'keep/slice':>10} {'pools/role':>10} {'max pairs':>9} {'pools':>6} {'pairs':>6} {'cols':>7} "
        f"{'rows':>6} {'capacity_s':>10} {'solve_s':>8} {'solve_cpu_s':>11} {'$/h':>10}  verified"
    )
    print(head)
    print("-" * len(head))
    rows: list[tuple[int, float, float]] = []
    for k, pools, pairs in ((0, 0, 0), *SETTINGS):
        dis.KEEP_PER_SLICE, dis.MAX_POOLS, dis.MAX_PAIRS = (k, pools, pairs) if pairs else defaults
        t0 = time.perf_counter()
        caps = [model_capacity(m) for m in models]
        cap_s = time.perf_counter() - t0
        problem, _ = build_problem(inputs.spec, caps, disaggregated=pairs > 0)
        w0, c0 = time.perf_counter(), time.process_time()
        sol = solve_fleet(problem, time_limit_s=120)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        n_pools = sum(1 for c in problem.candidates if c.role != "aggregated")
        ok = "yes" if not verify_solution(problem, sol) else "NO"
        label = ("aggregated only", "", "") if not pairs else (str(k), str(pools), str(pairs))
        print(
            f"{label[0]:>10} {label[1]:>10} {label[2]:>9} {n_pools:>6} {len(problem.pairs):>6} "
            f"{sol.variables:>7} {sol.constraints:>6} {cap_s:>10.2f} {wall:>8.2f} {cpu:>11.2f} "
            f"{sol.cost_usd_per_hour:>10.2f}  {ok} ({sol.status})"
        )
        rows.append((len(problem.pairs), cpu, sol.cost_usd_per_hour))
    dis.KEEP_PER_SLICE, dis.MAX_POOLS, dis.MAX_PAIRS = defaults
    ref = rows[0][1]
    print()
    print("solve CPU time against the aggregated-only reference of this run:")
    for n, cpu, cost in rows[1:]:
        print(f"  {n:>5} pairs: {cpu / ref if ref > 0 else float('nan'):5.2f}x, ${cost:,.2f}/h")


if __name__ == "__main__":
    main()
