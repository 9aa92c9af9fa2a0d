"""Placement optimiser benchmark: search time per case, and the FlexGen calibration/validation table.

    .venv/bin/python bench/placement_search.py              # timing table + FlexGen comparison
    .venv/bin/python bench/placement_search.py --calibrate  # refit the runtime's overlap efficiency

Reference throughputs are FlexGen's published measurements on its T4 machine (Sheng et al., "FlexGen:
High-Throughput Generative Inference of Large Language Models with a Single GPU", ICML 2023,
arXiv 2303.06865, Table 2; the same figures are in the FlexGen README's benchmark table): generated
tokens/s, 32 new tokens per sequence. "c" = group-wise 4-bit compression of weights and KV cache.
Only the two OPT-30B fp16 rows are used for calibration; the others are validation. The T4 machine's disk
reads at its NVMe devices' rated 2.65 GB/s, not at FlexGen's 0.473 GB/s cost-model constant (at that rate
no placement reaches the measured OPT-175B throughput; solvers/placement_hosts.py).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalog.loader import load_catalog  # noqa: E402
from planner.errors import InfeasibleError  # noqa: E402
from solvers.placement import FLEXGEN_RUNTIME, place  # noqa: E402
from solvers.placement_model import OffloadRuntime  # noqa: E402

# (model, input_len, compressed, measured tok/s, role)
FLEXGEN_MEASURED = (
    ("opt-30b", 512, False, 7.32, "calibration"),
    ("opt-30b", 1024, False, 3.50, "calibration"),
    ("opt-6.7b", 512, False, 25.26, "validation"),
    ("opt-6.7b", 1024, False, 13.72, "validation"),
    ("opt-175b", 512, False, 0.69, "validation"),
    ("opt-175b", 1024, False, 0.35, "validation"),
    ("opt-6.7b", 512, True, 29.12, "validation"),
    ("opt-30b", 512, True, 8.38, "validation"),
    ("opt-175b", 512, True, 1.12, "validation"),
)

TIMING_CASES = (
    ("opt-6.7b", "t4", "flexgen-t4", 512, 32, "fp16"),
    ("opt-30b", "t4", "flexgen-t4", 512, 32, "fp16"),
    ("opt-30b", "t4", "flexgen-t4", 1024, 32, "fp16"),
    ("opt-175b", "t4", "flexgen-t4", 512, 32, "fp16"),
    ("opt-175b", "t4", "flexgen-t4", 512, 32, "int4"),
    ("llama-3.1-8b", "t4", "aws-g4dn-12xlarge", 1024, 256, "fp16"),
    ("llama-3.3-70b", "l4", "aws-g6-2xlarge", 512, 128, "int4"),
    ("llama-3.3-70b", "a10g", "aws-g5-4xlarge", 512, 128, "fp16"),
    ("mixtral-8x7b", "a10g", "aws-g5-4xlarge", 512, 128, "fp16"),
    ("llama-3.1-405b", "a100-80gb", "aws-p4de-24xlarge", 1024, 128, "fp16"),
    ("falcon-180b", "a100-40gb", "gcp-a2-highgpu-1g", 512, 64, "int4"),
    ("yi-34b", "a100-40gb", "gcp-a2-highgpu-1g", 2048, 256, "fp16"),
)


def flexgen_rows(runtime: OffloadRuntime) -> list[tuple[str, int, bool, float, float, str, str]]:
    cat = load_catalog()
    host, gpu = cat.hosts["flexgen-t4"], cat.gpus["t4"]
    rows = []
    for model, s, comp, measured, role in FLEXGEN_MEASURED:
        dt = "int4" if comp else "fp16"
        r = place(cat.models[model], gpu, host, s, 32, weights=dt, kv=dt, runtime=runtime)
        p = r.policy
        pol = (
            f"{p.gpu_batch_size}x{p.num_gpu_batches} w{p.weights.gpu * 100:.0f}/{p.weights.cpu * 100:.0f}"
            f"/{p.weights.disk * 100:.0f} kv{p.kv_cache.gpu * 100:.0f}/{p.kv_cache.cpu * 100:.0f}"
            f"/{p.kv_cache.disk * 100:.0f} {'cpu-attn' if p.cpu_attention else 'gpu-attn'}"
        )
        rows.append((model, s, comp, measured, r.cost.output_tokens_per_s, role, pol))
    return rows


def calibrate() -> float:
    """Golden-section search of overlap_efficiency minimising the squared log error on the 30B rows."""
    cat = load_catalog()
    host, gpu = cat.hosts["flexgen-t4"], cat.gpus["t4"]
    calib = [r for r in FLEXGEN_MEASURED if r[4] == "calibration"]

    def loss(eta: float) -> float:
        rt = replace(FLEXGEN_RUNTIME, overlap_efficiency=eta)
        err = 0.0
        for model, s, _, measured, _ in calib:
            pred = place(cat.models[model], gpu, host, s, 32, runtime=rt).cost.output_tokens_per_s
            err += math.log(pred / measured) ** 2
        return err

    lo, hi = 0.0, 1.0
    g = (math.sqrt(5) - 1) / 2
    a, b = hi - g * (hi - lo), lo + g * (hi - lo)
    fa, fb = loss(a), loss(b)
    for _ in range(25):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = hi - g * (hi - lo)
            fa = loss(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + g * (hi - lo)
            fb = loss(b)
    eta = (lo + hi) / 2
    print(f"overlap_efficiency = {eta:.4f}  (rms log error {math.sqrt(loss(eta) / len(calib)):.4f})")
    return eta


def timing() -> None:
    cat = load_catalog()
    print(
        f"{'model':15} {'gpu':10} {'host':22} {'in':>5} {'out':>4} {'w':5} {'tok/s':>9} {'LPs':>4} "
        f"{'search s':>8}  binding"
    )
    times = []
    for model, gpu, host, s, n, dt in TIMING_CASES:
        best = math.inf
        for _ in range(3):  # best of 3: the machine is shared
            t0 = time.perf_counter()
            try:
                r = place(cat.models[model], cat.gpus[gpu], cat.hosts[host], s, n, weights=dt)
                tps, lps, bind = f"{r.cost.output_tokens_per_s:9.3f}", r.lps_solved, r.binding_constraint
            except InfeasibleError as err:
                tps, lps, bind = "infeas.".rjust(9), 0, err.render()[:40]
            best = min(best, time.perf_counter() - t0)
        times.append(best)
        print(f"{model:15} {gpu:10} {host:22} {s:5} {n:4} {dt:5} {tps} {lps:4} {best:8.3f}  {bind}")
    print(
        f"search time: median {statistics.median(times):.3f} s, max {max(times):.3f} s over {len(times)} cases"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calibrate", action="store_true", help="refit overlap_efficiency on the OPT-30B rows")
    args = ap.parse_args()
    runtime = FLEXGEN_RUNTIME
    if args.calibrate:
        runtime = replace(FLEXGEN_RUNTIME, overlap_efficiency=calibrate())
    timing()
    print()
    print("FlexGen T4 machine (flexgen-t4), 32 new tokens: measured vs gpuplan place")
    print(
        f"{'model':9} {'in':>5} {'c':1} {'measured':>8} {'predicted':>9} {'ratio':>6}  {'role':11}  policy found"
    )
    ratios = []
    for model, s, comp, measured, pred, role, pol in flexgen_rows(runtime):
        ratios.append(pred / measured)
        print(
            f"{model:9} {s:5} {'c' if comp else ' '} {measured:8.2f} {pred:9.2f} {pred / measured:6.2f}  "
            f"{role:11}  {pol}"
        )
    median = statistics.median(abs(r - 1.0) for r in ratios)
    worst = max(max(ratios), 1.0 / min(ratios))
    met = "met" if median <= 0.25 and worst <= 2 else "MISSED"
    print(
        f"median |error| {median * 100:.0f} %, worst case off by {worst:.2f}x "
        f"(goal: median <= 25 %, every case within 2x: {met})"
    )


if __name__ == "__main__":
    main()
