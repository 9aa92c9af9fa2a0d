"""Estimator accuracy on published measurements: predicted vs measured per row, then the median and
p90 absolute relative error per metric.

    python bench/estimator_accuracy.py            # table + summary (uses catalog/data/engines.yaml)
    python bench/estimator_accuracy.py --check    # also exit 1 if the target is missed
    python bench/estimator_accuracy.py --engines other.yaml

Target (scored rows): median <= 15 %, p90 <= 35 %, overall and per metric. Rows marked "unscored" are
shown for information (see catalog/data/CALIBRATION.md for why).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog.loader import load_catalog  # noqa: E402
from planner.perf.calibration import RowResult, error_summary, evaluate, load_rows  # noqa: E402

TARGET_MEDIAN = 0.15
TARGET_P90 = 0.35


def render(results: Sequence[RowResult]) -> str:
    lines = [f"{'row':>4}  {'scenario':<62} {'metric':<28} {'measured':>10} {'predicted':>10} {'error':>7}"]
    for res in results:
        r = res.row
        flag = "" if r.scored else "  unscored"
        lines.append(
            f"{r.line:>4}  {r.label:<62} {r.metric:<28} {r.value:>10.4g} {res.predicted:>10.4g} "
            f"{res.rel_error * 100:>+6.0f}%{flag}"
        )
    lines.append("")
    lines.append(f"{'metric':<30} {'rows':>5} {'median':>8} {'p90':>8}")
    for metric, (n, med, p90) in error_summary(results).items():
        lines.append(f"{metric:<30} {n:>5} {med * 100:>7.1f}% {p90 * 100:>7.1f}%")
    return "\n".join(lines)


def meets_target(results: Sequence[RowResult]) -> bool:
    return all(med <= TARGET_MEDIAN and p90 <= TARGET_P90 for _, med, p90 in error_summary(results).values())


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the accuracy target is missed")
    ap.add_argument("--engines", type=Path, help="an engines.yaml to evaluate instead of the shipped one")
    args = ap.parse_args(argv)
    catalog = load_catalog(overlays=(args.engines,) if args.engines is not None else ())
    results = evaluate(load_rows(), catalog)
    print(render(results))
    ok = meets_target(results)
    print(
        f"\ntarget median <= {TARGET_MEDIAN:.0%}, p90 <= {TARGET_P90:.0%} (overall and per metric): "
        f"{'met' if ok else 'MISSED'}"
    )
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    raise SystemExit(main())
