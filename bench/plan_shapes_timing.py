"""Plan time of every example with the shapes of issue 14 against the search as it was before them.

"before": `search.pp: [1]`, `search.ep: [1]` and `search.disaggregated: false` (single-instance, aggregated
replicas only: what gpuplan searched before). "as written": the example's own search (by default
pipeline/expert-parallel replicas where no instance holds the model, and disaggregated serving compared
in the report). Each figure is the best of `--repeat` runs of `make_plan` in one process (catalog and
estimator caches warm after the first), CPU time of the process (HiGHS threads included) beside wall
time; the ratio is measured in the same run. The examples that need replicas spanning instances are
infeasible "before" (that time is the time to say so).

    .venv/bin/python bench/plan_shapes_timing.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from planner.inputs import PlanInputs, load_inputs
from planner.plan import make_plan

ROOT = Path(__file__).resolve().parent.parent


def _before(inputs: PlanInputs) -> PlanInputs:
    search = inputs.spec.search.model_copy(update={"pp": (1,), "ep": (1,), "disaggregated": False})
    spec = inputs.spec.model_copy(update={"search": search})
    return PlanInputs(spec, inputs.catalog, inputs.base_dir, inputs.spec_sha256)


def _time(inputs: PlanInputs, repeat: int) -> tuple[float, float, str]:
    best_cpu = best_wall = float("inf")
    what = ""
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        plan = make_plan(inputs)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
        what = f"${plan.total_cost_usd_per_hour:,.2f}/h" if plan.total_cost_usd_per_hour is not None else plan.status
    return best_cpu, best_wall, what


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    head = f"{'example':<26} {'before cpu/wall s':>18} {'as written cpu/wall s':>22} {'cpu ratio':>9}  plans"
    print(head)
    print("-" * len(head))
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        inputs = load_inputs(path)
        make_plan(inputs)  # warm the caches both runs share
        b_cpu, b_wall, b_what = _time(_before(inputs), args.repeat)
        a_cpu, a_wall, a_what = _time(inputs, args.repeat)
        print(
            f"{path.stem:<26} {b_cpu:>8.2f} / {b_wall:<7.2f} {a_cpu:>11.2f} / {a_wall:<7.2f} "
            f"{a_cpu / b_cpu:>9.2f}  {b_what} -> {a_what}"
        )


if __name__ == "__main__":
    main()
