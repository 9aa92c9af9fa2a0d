"""Solve time of the fleet optimiser against problem size (slices, candidates, models).

Problems are random but seeded and shaped like real ones: GPU types with a compute speed c (prefill)
and a memory-bandwidth speed b (decode) drawn separately, a price roughly proportional to speed (with
noise, so no type dominates), a memory limit on the tokens a replica can hold, instances of 1, 2, 4 or
8 GPUs, and a capacity per replica that falls with input and output length,
κ = tp^0.9 / (in / (2000 c) + (1 + out/150) / b), 0 where the request does not fit. Because c and b
differ per GPU type, which GPU is cheapest depends on the lengths (as with real profiles).
Slices are length buckets on a log grid with lognormal-ish shares.

    .venv/bin/python bench/fleet_scaling.py            # the full table
    .venv/bin/python bench/fleet_scaling.py --quick    # a few rows
    .venv/bin/python bench/fleet_scaling.py --melange  # the two speed goals only
    .venv/bin/python bench/fleet_scaling.py --quick --shapes  # also odd instance shapes and N+1 models

`--shapes` adds rows on the same grid with instances of 1, 2, 4, 6 or 8 GPUs (a 6-GPU instance holds one
tp4 replica: extra packing rows), with tp 3 and 6 too (sizes that do not divide each other: pattern
columns), and with every model N+1 (`n_plus_one`: dedicated layouts and failover rows).

Columns: build_s = model building (arrays), solve_s = everything in solve_fleet (build, stage 1,
tie-breaks, extraction) in wall time, solve_cpu_s the same in CPU time of the process (HiGHS threads
included; on a shared machine the steadier figure), status, gap, and the cost. Every row is checked by
planner.verify.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from planner.melange import melange_problem, melange_spec
from planner.melange_input import read_melange
from planner.verify import verify_solution
from solvers.fleet import best_single_offering, solve_fleet
from solvers.fleet_milp import build_milp
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice

GPU_SHAPES = (1, 2, 4, 8)


def _speeds(rng: np.random.Generator) -> tuple[float, float]:
    """(compute speed, bandwidth speed) of a GPU type, relative units."""
    c = float(rng.uniform(0.5, 8.0))
    return c, c * float(rng.uniform(0.5, 1.5))


def _capacity(speed: tuple[float, float], input_len: float, output_len: float) -> float:
    c, b = speed
    return round(1.0 / (input_len / (2000 * c) + (1 + output_len / 150) / b), 4)


def random_problem(
    slices: int,
    candidates: int,
    models: int = 1,
    seed: int = 0,
    mode: str = "fractional",
    slice_factor: int = 1,
    shapes: tuple[int, ...] = GPU_SHAPES,
    tps: tuple[int, ...] = GPU_SHAPES,
    n_plus_one: bool = False,
) -> FleetProblem:
    """A seeded problem with `slices` slices (split over `models`) and about `candidates` candidates;
    instances of `shapes` GPUs, replicas of `tps` GPUs; `n_plus_one`: every model N+1."""
    rng = np.random.default_rng(seed)
    per_model = max(1, candidates // models)
    offerings: list[FleetOffering] = []
    cands: list[FleetCandidate] = []
    mem_tokens: list[float] = []
    speed: list[tuple[float, float]] = []
    k = 0
    while len(cands) < per_model * models:
        g = int(rng.choice(shapes)) if k else 8  # the first offering is a big node: it can serve everything
        c_speed, b_speed = _speeds(rng)
        price_per_gpu = (0.5 * c_speed + 0.5 * b_speed) * float(rng.uniform(0.35, 0.6))
        oid = f"o{k:03d}"
        spot = bool(rng.random() < 0.2) and k > 0  # the big first node is on-demand (spot share <= 50 %)
        offerings.append(FleetOffering(oid, round(price_per_gpu * g, 3), g, spot=spot))
        for m in range(models):
            for tp in (t for t in tps if t <= g):
                if len([c for c in cands if c.model == f"m{m}"]) >= per_model:
                    break
                cands.append(FleetCandidate(f"{oid}-m{m}-tp{tp}", oid, f"m{m}", tp))
                mem_tokens.append(float(rng.uniform(4_000, 40_000)) * tp if k else math.inf)
                speed.append((c_speed * tp**0.9, b_speed * tp**0.9))
        k += 1
    per = max(1, slices // models)
    n_in = max(1, round(math.sqrt(per * 2)))
    n_out = max(1, math.ceil(per / n_in))
    sl: list[FleetSlice] = []
    lens: list[tuple[float, float]] = []
    for m in range(models):
        ins = np.geomspace(16, 32_000, n_in)
        outs = np.geomspace(8, 4_000, n_out)
        grid = [(i, o) for i in ins for o in outs][:per]
        share = rng.lognormal(0.0, 1.0, len(grid))
        share /= share.sum()
        rate = float(rng.uniform(5, 200))
        for b, ((i, o), sh) in enumerate(zip(grid, share, strict=True)):
            sl.append(FleetSlice(f"m{m}-b{b:04d}", f"m{m}", float(rate * sh)))
            lens.append((float(i), float(o)))
    cap_rows = []
    for s, (i, o) in zip(sl, lens, strict=True):
        row = []
        for c, mt, sp in zip(cands, mem_tokens, speed, strict=True):
            ok = c.model == s.model and i + o <= mt
            row.append(_capacity(sp, i, o) if ok else 0.0)
        cap_rows.append(tuple(row))
    return FleetProblem(
        offerings=tuple(offerings),
        candidates=tuple(cands),
        slices=tuple(sl),
        capacity_rps=tuple(cap_rows),
        target_utilisation=0.8,
        min_replicas={f"m{m}": 2 for m in range(models)},
        max_spot_share=0.5,
        mode=mode,  # type: ignore[arg-type]
        slice_factor=slice_factor,
        n_plus_one={f"m{m}": 1.0 for m in range(models)} if n_plus_one else {},
    )


MELANGE_NAMES = ("A10G", "L4", "A100-80GB", "H100", "L40S", "A100-40GB", "T4", "H200")


def melange_input(buckets_in: int, buckets_out: int, gpus: int, seed: int = 0, slice_factor: int = 8) -> dict[str, Any]:
    """A Mélange-format input (gpu_info / workload_distribution / rate / slice_factor) with `gpus` entries
    named after real GPUs ("A10G", "L4", ..., then "A10G-2", ... for more offerings of one GPU)."""
    rng = np.random.default_rng(seed)
    ins = np.geomspace(16, 16_000, buckets_in)
    outs = np.geomspace(8, 2_000, buckets_out)
    share = rng.lognormal(0.0, 1.0, (buckets_in, buckets_out))
    share /= share.sum()
    share = np.round(share, 12)
    share[0, 0] += 1.0 - share.sum()
    info = {}
    for g in range(gpus):
        base = MELANGE_NAMES[g % len(MELANGE_NAMES)]
        name = base if g < len(MELANGE_NAMES) else f"{base}-{g // len(MELANGE_NAMES) + 1}"
        c_speed, b_speed = _speeds(rng)
        mem = float(rng.uniform(8_000, 60_000)) if g else float("inf")  # the first serves everything
        tputs = [[_capacity((c_speed, b_speed), i, o) if i + o <= mem else 0.0 for o in outs] for i in ins]
        info[name] = {"cost": round((0.5 * c_speed + 0.5 * b_speed) * float(rng.uniform(0.35, 0.6)), 2), "tputs": tputs}
    return {
        "gpu_info": info,
        "workload_distribution": share.tolist(),
        "total_request_rate": 60.0,
        "slice_factor": slice_factor,
    }


def _row(label: str, problem: FleetProblem, time_limit_s: float, baselines: bool = False) -> dict[str, object]:
    t = time.perf_counter()
    build_milp(problem)
    build_s = time.perf_counter() - t
    t, cpu = time.perf_counter(), time.process_time()
    sol = solve_fleet(problem, time_limit_s=time_limit_s)
    solve_s, solve_cpu_s = time.perf_counter() - t, time.process_time() - cpu
    base_s = 0.0
    if baselines:
        t = time.perf_counter()
        best_single_offering(problem, time_limit_s=time_limit_s)
        base_s = time.perf_counter() - t
    bad = verify_solution(problem, sol)
    return {
        "case": label,
        "slices": len(problem.slices),
        "candidates": len(problem.candidates),
        "models": len({s.model for s in problem.slices}),
        "variables": sol.variables,
        "build_s": round(build_s, 3),
        "solve_s": round(solve_s, 3),
        "solve_cpu_s": round(solve_cpu_s, 3),
        "baselines_s": round(base_s, 3),
        "status": sol.status,
        "gap": sol.gap,
        "cost_usd_per_hour": round(sol.cost_usd_per_hour, 3),
        "verified": not bad,
    }


def _print(rows: list[dict[str, object]]) -> None:
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.rjust(widths[k]) for k in keys))
    for r in rows:
        print("  ".join(str(r[k]).rjust(widths[k]) for k in keys))
    sys.stdout.flush()


def _cli(*args: str) -> tuple[float, str]:
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, timeout=600)
    if r.returncode not in (0, 1):
        raise RuntimeError(r.stderr)
    return time.perf_counter() - t, r.stdout


def melange_goals(cli: bool = True) -> list[dict[str, object]]:
    """`import melange` + plan at the Mélange paper's scale and at 40 GPU types x 400 buckets.

    in_process_s: read + validate the JSON, build the spec and the problem, solve (with tie-breaks),
    baselines (one solve per GPU type) and verify, in one Python process. cli_s: the two commands
    `gpuplan import melange` and `gpuplan plan --format json` as separate processes (interpreter
    start-up, catalog loading and reporting included).
    """
    out = []
    cases = [
        ("paper: 60 buckets x slice_factor 8 = 480 slices, 4 GPUs, whole-slice", 10, 6, 4, 8, "whole-slice"),
        ("paper scale: 480 buckets, 4 GPUs, fractional", 24, 20, 4, 1, "fractional"),
        ("40 GPU types x 400 buckets, fractional", 20, 20, 40, 1, "fractional"),
    ]
    for label, bi, bo, g, sf, mode in cases:
        data = melange_input(bi, bo, g, seed=1, slice_factor=sf)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "input.json"
            path.write_text(json.dumps(data))
            t = time.perf_counter()
            inp = read_melange(path)
            melange_spec(inp, source_name=path.name, as_of="2025-01-01")
            problem = melange_problem(inp, mode=mode)  # type: ignore[arg-type]
            sol = solve_fleet(problem)
            base = best_single_offering(problem)
            bad = verify_solution(problem, sol)
            total = time.perf_counter() - t
            row: dict[str, object] = {
                "case": label,
                "slices": len(problem.slices) * (sf if mode == "whole-slice" else 1),
                "in_process_s": round(total, 3),
                "solve_s": round(sol.seconds, 3),
                "status": sol.status,
                "cost_usd_per_hour": round(sol.cost_usd_per_hour, 2),
                "best_single": round(base[0][1].cost_usd_per_hour, 2) if base else None,
                "verified": not bad,
            }
            if cli:
                spec_path = Path(tmp) / "spec.yaml"
                t_import, _ = _cli("import", "melange", str(path), "-o", str(spec_path))
                if mode != "fractional":
                    spec_path.write_text(spec_path.read_text().replace("mode: fractional", f"mode: {mode}"))
                t_plan, text = _cli("plan", str(spec_path), "--format", "json")
                env = json.loads(text)
                row["cli_s"] = round(t_import + t_plan, 3)
                row["cli_cost"] = env["data"].get("total_cost_usd_per_hour")
            out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few rows only")
    ap.add_argument("--melange", action="store_true", help="only the two speed goals")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI timings")
    ap.add_argument("--shapes", action="store_true", help="also odd instance shapes, odd tp, and N+1 models")
    ap.add_argument("--time-limit", type=float, default=60.0, help="per solve, seconds (default 60)")
    args = ap.parse_args(argv)
    _print(melange_goals(cli=not args.no_cli))
    if args.melange:
        return 0
    print()
    rows = []
    if args.quick:
        grid = [(60, 4, 1), (480, 4, 1), (400, 40, 1), (1000, 40, 2)]
    else:
        grid = [(s, 8, 1) for s in (60, 240, 480, 1000, 2000, 5000)]
        grid += [(400, c, 1) for c in (4, 10, 20, 40, 80, 120, 200)]
        grid += [(600, 60, m) for m in (1, 2, 3, 4, 5)]
        grid += [(5000, 200, 5)]
    tl = args.time_limit
    for s, c, m in grid:
        rows.append(_row(f"s={s} c={c} m={m}", random_problem(s, c, m, seed=args.seed), tl))
        print(rows[-1], file=sys.stderr, flush=True)  # progress
    whole = random_problem(60, 8, 1, seed=args.seed, mode="whole-slice", slice_factor=8)
    rows.append(_row("whole-slice s=60 c=8 sf=8", whole, tl))
    if args.shapes:
        variants = (
            ("6-GPU nodes", {"shapes": (1, 2, 4, 6, 8)}),
            ("tp 3, 6", {"shapes": (1, 2, 4, 6, 8), "tps": (1, 2, 3, 4, 6, 8)}),
            ("N+1", {"n_plus_one": True}),
        )
        for label, kw in variants:
            for s, c, m in grid:
                problem = random_problem(s, c, m, seed=args.seed, **kw)
                rows.append(_row(f"{label} s={s} c={c} m={m}", problem, tl))
                print(rows[-1], file=sys.stderr, flush=True)
    _print(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
