"""Mélange's ILP as its own process: the reference `bench/speed.py` times `gpuplan plan --melange` against.

    .venv/bin/python bench/melange_ilp.py INPUT.json [TIME_LIMIT_S]   # prints cost ($/h), CBC seconds, status

The formulation of the Mélange paper (Griggs et al., arXiv 2404.14527, section 5), written here from the
paper, not copied: each bucket with traffic is cut into `slice_factor` slices of equal rate; a binary
x[s][g] sends slice s whole to GPU type g; an integer y[g] counts GPUs of type g; minimise the cost
Σ_g cost_g y_g subject to every slice assigned once and, per GPU type, Σ_s x[s][g] rate_s / tputs_g(s) <=
y[g]. PuLP with its bundled CBC, as Mélange's own solver runs. The process pays Python start-up, PuLP's
import, writing the model for CBC and CBC itself: what running Mélange's solver on an input costs.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pulp  # noqa: TID251 - the reference is Mélange's own kind of model: PuLP + CBC, not gpuplan's back-end


def solve(path: Path, time_limit_s: float = 60.0) -> tuple[float, float, str]:
    """(cost $/h, seconds in CBC, status) of Mélange's ILP on the input at `path`; CBC stops at the limit
    (status "time limit": the cost is its best plan then)."""
    data = json.loads(path.read_text())
    gpus = data["gpu_info"]
    rate, factor = float(data["total_request_rate"]), int(data["slice_factor"])
    slices = [
        (i, j, k, share * rate / factor)
        for i, row in enumerate(data["workload_distribution"])
        for j, share in enumerate(row)
        if share > 0
        for k in range(factor)
    ]
    model = pulp.LpProblem("melange", pulp.LpMinimize)
    y = {g: pulp.LpVariable(f"y_{n}", lowBound=0, cat="Integer") for n, g in enumerate(gpus)}
    x = {
        (s, g): pulp.LpVariable(f"x_{s}_{n}", cat="Binary")
        for s, (i, j, _, _) in enumerate(slices)
        for n, g in enumerate(gpus)
        if gpus[g]["tputs"][i][j] > 0
    }
    model += pulp.lpSum(gpus[g]["cost"] * y[g] for g in gpus)
    for s in range(len(slices)):
        model += pulp.lpSum(v for (t, _), v in x.items() if t == s) == 1
    for g in gpus:
        load = [(v, slices[s][3] / gpus[g]["tputs"][slices[s][0]][slices[s][1]]) for (s, h), v in x.items() if h == g]
        model += pulp.lpSum(w * v for v, w in load) <= y[g]
    t = time.perf_counter()
    model.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s))
    seconds = time.perf_counter() - t
    status = "optimal" if model.sol_status == pulp.LpSolutionOptimal else "time limit"
    return float(pulp.value(model.objective)), seconds, status


def main() -> int:
    limit = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    cost, seconds, status = solve(Path(sys.argv[1]), limit)
    print(f"{cost:.6f} {seconds:.3f} {status.replace(' ', '_')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
