"""The simulator against published latency percentiles (set-up and assumptions: planner/simulate/published.py).

    python bench/simulate_published.py

Prints, for MLPerf v5.0 Server (Llama-2-70B, MI325X per replica), the simulated percentiles at the load where
the median TPOT matches the published one, beside the published percentiles and their ratios to the median;
and for InferenceX (DeepSeek-R1, 8x H200, SGLang, closed loop) the mean TPOT and TPOT p99 / mean per
concurrency, simulated and published.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from catalog.loader import load_catalog  # noqa: E402
from planner.simulate.published import inferencex_tpot, mlperf_shape  # noqa: E402

DATA = ROOT / "tests" / "data" / "simulate" / "published_percentiles.csv"


def rows(model: str, where: str = "") -> dict[str, float]:
    with DATA.open(newline="") as fh:
        return {
            r["metric"]: float(r["value"])
            for r in csv.DictReader(fh)
            if r["model"] == model and where in r["batch_or_concurrency"]
        }


def main() -> None:
    catalog = load_catalog(())
    m = rows("llama-2-70b")
    rate, s = mlperf_shape(catalog, m["tpot_p50"])
    per_replica = m["completed_samples_per_s"] / 8
    print("MLPerf v5.0 Server, Llama-2-70B, one MI325X per replica")
    print(f"  published: {per_replica:.2f} req/s per replica; simulated median TPOT matches at {rate:.2f} req/s")
    print(f"  {'':10s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'p90/p50':>8s} {'p99/p50':>8s}")
    for metric, sim in (("ttft", (s.ttft_p50, s.ttft_p90, s.ttft_p99)), ("tpot", (s.tpot_p50, s.tpot_p90, s.tpot_p99))):
        pub = (m[f"{metric}_p50"], m[f"{metric}_p90"], m[f"{metric}_p99"])
        for label, v in (("published", pub), ("simulated", sim)):
            ratios = f"{v[1] / v[0]:8.3f} {v[2] / v[0]:8.3f}"
            print(f"  {metric.upper()} {label:9s} {v[0]:8.1f} {v[1]:8.1f} {v[2]:8.1f} {ratios}")
    print("\nInferenceX, DeepSeek-R1 FP8 on 8x H200, SGLang, TP8, closed loop")
    print(f"  {'concurrency':>11s} {'TPOT mean pub':>13s} {'sim':>7s} {'p99/mean pub':>12s} {'sim':>6s}")
    for c in (8, 16, 32, 64):
        p = rows("deepseek-r1", f"max concurrency {c}")
        mean_ms, spread = inferencex_tpot(catalog, c)
        print(f"  {c:11d} {p['tpot_mean']:13.1f} {mean_ms:7.1f} {p['tpot_p99'] / p['tpot_mean']:12.3f} {spread:6.3f}")


if __name__ == "__main__":
    main()
