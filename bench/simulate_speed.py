"""Speed of `gpuplan simulate` and of planning for percentile targets.

1. One hour of the chat example's traffic (Poisson at its planned 20 req/s: about 72,000 requests) through
   its planned fleet; the target is <= 5 s on one core.
2. Cost against the number of requests (durations 450 s .. 3,600 s): CPU microseconds per request should
   stay flat (linear cost).
3. Every example the simulator replays planned with mean targets (make_plan) and with the same numbers as
   percentile targets (p99 TTFT, p90 TPOT; plan_checked: planning rounds with a simulation each); the
   target is <= 3x. Left out: chat-percentiles (already percentile targets).

Figures are CPU time (process_time) beside wall time, in-process, after one warm-up run.

    python bench/simulate_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planner.inputs import load_inputs  # noqa: E402
from planner.plan import make_plan  # noqa: E402
from planner.simulate.run import SimulationOptions, simulate_plan  # noqa: E402
from planner.simulate.slo_check import plan_checked  # noqa: E402

EXAMPLES = ROOT / "examples"
NAMES = (
    "chat-llama-8b",
    "llama-70b-tp",
    "shared-fleet",
    "offline-offload",
    "deepseek-v3-ep",
    "llama-405b-multinode",
    "long-prompt-disagg",
)


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    w, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - w, time.process_time() - c


def percentile_spec(name: str, folder: Path) -> Path:
    """The example with its targets as p99 TTFT / p90 TPOT (same numbers), in `folder` with a copy of the
    example's traces (spec paths stay within the spec's folder)."""
    raw = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    for m in raw["models"]:
        m["slo"] = {"ttft_ms": {"p99": m["slo"]["ttft_ms"]}, "tpot_ms": {"p90": m["slo"]["tpot_ms"]}}
        trace = m["workload"].get("trace")
        if trace is not None:
            (folder / trace["path"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(EXAMPLES / trace["path"], folder / trace["path"])
    path = folder / f"{name}-percentiles.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="shorter runs")
    args = ap.parse_args()
    inputs = load_inputs(EXAMPLES / "chat-llama-8b.yaml")
    plan = make_plan(inputs)
    hour = 900.0 if args.quick else 3600.0
    simulate_plan(plan, inputs, SimulationOptions(arrivals="poisson", duration_s=60))  # warm-up
    res, wall, cpu = timed(simulate_plan, plan, inputs, SimulationOptions(arrivals="poisson", duration_s=hour))
    n = res.settings.requests_simulated
    print(f"1. chat example, {hour:.0f} s of Poisson traffic at 20 req/s through its plan "
          f"({sum(g.replicas for g in res.groups)} replicas)")
    print(f"   {n:,} requests: {cpu:.2f} s CPU, {wall:.2f} s wall ({1e6 * cpu / n:.1f} us CPU per request)")
    print("\n2. cost against requests")
    print(f"   {'duration s':>10s} {'requests':>9s} {'CPU s':>7s} {'us/request':>10s}")
    for duration in (hour / 8, hour / 4, hour / 2, hour):
        r, _, c = timed(simulate_plan, plan, inputs, SimulationOptions(arrivals="poisson", duration_s=duration))
        k = r.settings.requests_simulated
        print(f"   {duration:10.0f} {k:9,d} {c:7.2f} {1e6 * c / k:10.1f}")
    print("\n3. planning with percentile targets (p99 TTFT, p90 TPOT) against the same numbers as means")
    print(f"   {'example':16s} {'mean s':>7s} {'pct s':>7s} {'ratio':>6s} {'rounds':>6s} {'mean $/h':>9s} "
          f"{'pct $/h':>8s}  simulated")
    with tempfile.TemporaryDirectory() as tmp:
        for name in NAMES:
            mean_inputs = load_inputs(EXAMPLES / f"{name}.yaml")
            pct_inputs = load_inputs(percentile_spec(name, Path(tmp)))
            make_plan(mean_inputs)  # warm caches (catalog, estimator tables) for both
            mean_plan, _, mean_cpu = timed(make_plan, mean_inputs)
            pct_plan, _, pct_cpu = timed(plan_checked, pct_inputs)
            check = pct_plan.slo_check
            shown = (
                ", ".join(
                    f"{t.statistic} {t.metric} {t.simulated_ms if t.simulated_ms is not None else 'inf'}"
                    f"/{t.target_ms:g}"
                    for t in check.targets
                )
                if check is not None
                else pct_plan.status
            )
            print(
                f"   {name:16s} {mean_cpu:7.2f} {pct_cpu:7.2f} {pct_cpu / mean_cpu:6.2f} "
                f"{check.rounds if check else 0:6d} {mean_plan.total_cost_usd_per_hour or 0:9.2f} "
                f"{pct_plan.total_cost_usd_per_hour or 0:8.2f}  {shown}"
            )


if __name__ == "__main__":
    main()
