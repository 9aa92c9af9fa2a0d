"""Fit the estimator's efficiency factors to the published measurements and write catalog/data/engines.yaml.

    python bench/fit_calibration.py            # fit, print the fit, write catalog/data/engines.yaml
    python bench/fit_calibration.py --dry-run  # fit and print only

For every (engine, GPU family) that has scored rows in catalog/data/measured-calibration.csv, a few
physical factors are fitted by Nelder-Mead on the mean squared log error log(predicted/measured), with a
weak pull towards typical values so that factors the rows cannot identify stay physical:

    compute_efficiency       achieved / peak TFLOPS of the linear layers (GEMMs)
    bandwidth_efficiency     achieved / peak HBM bandwidth streaming weights in decode
    kv_bandwidth_efficiency  achieved / peak HBM bandwidth of decode attention over the paged KV cache
    attention_efficiency     achieved / peak 16-bit TFLOPS of prefill attention kernels
    step_overhead_ms         fixed cost of every forward pass (scheduling, launches, sampling)
    allreduce_latency_us     latency of one small tensor-parallel all-reduce

Groups with few rows fit only what their rows identify and inherit the rest from a calibrated group
(FIT_PLAN says which). Every other (engine, family) pair in the catalog gets a fallback profile composed
by planner.perf.profiles.fallback_profile, so the file covers the whole catalog. Deterministic: fixed
starting points, no randomness.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog.loader import load_catalog  # noqa: E402
from catalog.types import Catalog, EngineProfile  # noqa: E402
from planner.perf.calibration import CalibrationRow, deployment_for, load_rows, predict_row  # noqa: E402
from planner.perf.profiles import ENGINES, fallback_profile  # noqa: E402

OUT = ROOT / "catalog" / "data" / "engines.yaml"
COMMAND = "python bench/fit_calibration.py"
AS_OF = "2025-09"  # newest source in measured-calibration.csv (TensorRT-LLM v1.0 docs, NIM 1.8.0)
SOURCE = (
    "fit to catalog/data/measured-calibration.csv (NVIDIA TensorRT-LLM perf docs v0.6.1 and v1.0, "
    "NVIDIA NIM 1.8.0 benchmarks, vLLM CI performance benchmark build 9515)"
)


@dataclass(frozen=True)
class Param:
    name: str
    lo: float
    hi: float
    prior: float  # typical value; the fit is pulled weakly towards it


PARAMS = {
    p.name: p
    for p in (
        Param("compute_efficiency", 0.05, 1.0, 0.5),
        Param("bandwidth_efficiency", 0.2, 1.0, 0.8),
        Param("kv_bandwidth_efficiency", 0.1, 1.0, 0.6),
        Param("attention_efficiency", 0.05, 1.0, 0.4),
        Param("step_overhead_ms", 0.0, 40.0, 2.0),
        Param("allreduce_latency_us", 1.0, 500.0, 15.0),
        # runtime factors of the legacy release rows (TensorRT-LLM v0.6.1): nuisance parameters
        Param("legacy_step_overhead_ms", 0.0, 40.0, 2.0),
        Param("legacy_allreduce_latency_us", 1.0, 500.0, 15.0),
        Param("legacy_gqa_kv_reload_share", 0.0, 1.0, 0.2),
        Param("legacy_allreduce_bw_efficiency", 0.05, 1.0, 0.6),
    )
}
CURRENT = (
    "compute_efficiency",
    "bandwidth_efficiency",
    "kv_bandwidth_efficiency",
    "attention_efficiency",
    "step_overhead_ms",
    "allreduce_latency_us",
)
KERNEL = CURRENT[:4]
LEGACY = (
    "legacy_step_overhead_ms",
    "legacy_allreduce_latency_us",
    "legacy_gqa_kv_reload_share",
    "legacy_allreduce_bw_efficiency",
)
REG_WEIGHT = 0.003  # weight of the pull towards the prior (in squared logit units) per parameter

# (engine, family): (free parameters, group to inherit the others from). Order matters: inherited groups
# are fitted first.
FIT_PLAN: dict[tuple[str, str], tuple[tuple[str, ...], tuple[str, str] | None]] = {
    ("trtllm", "hopper"): (CURRENT + LEGACY, None),
    # A100 rows all come from the legacy release: they identify the GPU's kernel factors; the runtime
    # factors (current and legacy: the same software on another GPU) come from Hopper.
    ("trtllm", "ampere"): (KERNEL, ("trtllm", "hopper")),
    # B200 rows are all tp=1: nothing identifies the all-reduce latency; prefill attention is a small
    # share of those runs, so it comes from Hopper too.
    ("trtllm", "blackwell"): (
        ("compute_efficiency", "bandwidth_efficiency", "kv_bandwidth_efficiency", "step_overhead_ms"),
        ("trtllm", "hopper"),
    ),
    # three scored vLLM rows (small batch decode): they identify the runtime costs only; the kernel
    # efficiencies on the same GPUs come from the TensorRT-LLM fit.
    ("vllm", "hopper"): (("step_overhead_ms", "allreduce_latency_us"), ("trtllm", "hopper")),
}

# Documented engine constants (not fitted). See planner/perf/deployment.py EXTRA_DEFAULTS for meaning.
BIG_MEMORY_FAMILIES = ("hopper", "blackwell", "cdna3")


def engine_constants(engine: str, family: str) -> dict[str, float]:
    """Scheduler and memory constants of an engine's defaults (documented in CALIBRATION.md)."""
    big = family in BIG_MEMORY_FAMILIES
    if engine == "trtllm":
        # trtllm-bench / trtllm-serve defaults: max_num_tokens 8192, large max batch, and the
        # GUARANTEED_NO_EVICT capacity scheduler (reserves a request's whole output at admission)
        return {
            "runtime_reserve_gb": 1.5,
            "max_num_batched_tokens": 8192.0,
            "max_num_seqs": 2048.0,
            "kv_reserve_output_fraction": 1.0,
            "allreduce_bw_efficiency": 0.75,
        }
    # vLLM V1 / SGLang: paged KV allocated on demand (preempting when full); default sequence limit 1024
    # on large-memory GPUs and 256 elsewhere; chunked prefill budget 8192 tokens
    return {
        "runtime_reserve_gb": 1.5,
        "max_num_batched_tokens": 8192.0,
        "max_num_seqs": 1024.0 if big else 256.0,
        "kv_reserve_output_fraction": 0.5,
        "allreduce_bw_efficiency": 0.75,
    }


def _to_z(p: Param, x: float) -> float:
    u = min(max((x - p.lo) / (p.hi - p.lo), 1e-6), 1 - 1e-6)
    return math.log(u / (1 - u))


def _from_z(p: Param, z: float) -> float:
    return p.lo + (p.hi - p.lo) / (1.0 + math.exp(-z))


def make_profile(engine: str, family: str, values: dict[str, float], fit: str, legacy: bool = False) -> EngineProfile:
    extra = engine_constants(engine, family)
    for k in ("kv_bandwidth_efficiency", "attention_efficiency", "allreduce_latency_us"):
        extra[k] = round(values[k], 4)
    if legacy:
        for k in LEGACY:
            extra[k] = round(values[k], 4)
    return EngineProfile(
        engine=engine,
        family=family,
        compute_efficiency=round(values["compute_efficiency"], 4),
        bandwidth_efficiency=round(values["bandwidth_efficiency"], 4),
        step_overhead_ms=round(values["step_overhead_ms"], 4),
        extra=dict(sorted(extra.items())),
        fit=fit,
        source=SOURCE,
        as_of=AS_OF,
    )


def log_errors(rows: Sequence[CalibrationRow], catalog: Catalog, profile: EngineProfile) -> np.ndarray:
    return np.array([math.log(predict_row(r, deployment_for(r, catalog, profile)) / r.value) for r in rows])


def nelder_mead(
    f: Callable[[np.ndarray], float], x0: np.ndarray, *, steps: int = 700, scale: float = 0.6
) -> tuple[np.ndarray, float]:
    """Plain Nelder-Mead (deterministic), enough for a handful of smooth-ish parameters."""
    n = x0.size
    simplex = [x0] + [x0 + scale * np.eye(n)[i] for i in range(n)]
    values = [f(x) for x in simplex]
    for _ in range(steps):
        order = np.argsort(values, kind="stable")
        simplex = [simplex[i] for i in order]
        values = [values[i] for i in order]
        if values[-1] - values[0] < 1e-7:
            break
        centroid = np.mean(simplex[:-1], axis=0)
        worst = simplex[-1]
        xr = centroid + (centroid - worst)
        fr = f(xr)
        if fr < values[0]:
            xe = centroid + 2.0 * (centroid - worst)
            fe = f(xe)
            simplex[-1], values[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = xr, fr
        else:
            xc = centroid + 0.5 * (worst - centroid) if fr >= values[-1] else centroid + 0.5 * (xr - centroid)
            fc = f(xc)
            if fc < min(fr, values[-1]):
                simplex[-1], values[-1] = xc, fc
            else:
                best = simplex[0]
                simplex = [best] + [best + 0.5 * (s - best) for s in simplex[1:]]
                values = [values[0]] + [f(s) for s in simplex[1:]]
    i = int(np.argmin(values))
    return simplex[i], values[i]


def fit_group(
    rows: Sequence[CalibrationRow],
    catalog: Catalog,
    engine: str,
    family: str,
    free: Sequence[str],
    base: dict[str, float],
) -> tuple[dict[str, float], float]:
    """Minimise mean squared log error over `rows` in the free parameters; others fixed at `base`."""
    params = [PARAMS[name] for name in free]

    def values_of(z: np.ndarray) -> dict[str, float]:
        vals = dict(base)
        vals.update({p.name: _from_z(p, float(zi)) for p, zi in zip(params, z, strict=True)})
        return vals

    legacy = any(r.legacy for r in rows)

    def objective(z: np.ndarray) -> float:
        prof = make_profile(engine, family, values_of(z), "fitting", legacy)
        try:
            err = log_errors(rows, catalog, prof)
        except Exception:  # a parameter set under which some row cannot run: reject it
            return 1e9
        reg = sum((zi - _to_z(p, p.prior)) ** 2 for p, zi in zip(params, z, strict=True))
        return float(np.mean(err**2) + REG_WEIGHT * reg)

    best: tuple[np.ndarray, float] | None = None
    starts = [
        np.array([_to_z(p, p.prior) for p in params]),
        np.array([_to_z(p, p.lo + 0.3 * (p.hi - p.lo)) for p in params]),
    ]
    for x0 in starts:
        z, val = nelder_mead(objective, x0)
        z, val = nelder_mead(objective, z, scale=0.2, steps=300)  # restart to escape a collapsed simplex
        if best is None or val < best[1]:
            best = (z, val)
    assert best is not None
    vals = values_of(best[0])
    return vals, float(np.mean(log_errors(rows, catalog, make_profile(engine, family, vals, "fit", legacy)) ** 2))


def _line_ranges(lines: Sequence[int]) -> str:
    out: list[str] = []
    for n in sorted(lines):
        if out and out[-1].split("-")[-1] == str(n - 1):
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ",".join(out)


def fit_all(catalog: Catalog, rows: Sequence[CalibrationRow], log: Callable[[str], None]) -> list[EngineProfile]:
    scored = [r for r in rows if r.scored]
    fitted: dict[tuple[str, str], EngineProfile] = {}
    fitted_values: dict[tuple[str, str], dict[str, float]] = {}
    for (engine, family), (free, parent) in FIT_PLAN.items():
        group = [r for r in scored if r.engine == engine and catalog.gpus[r.gpu].family == family]
        if not group:
            continue
        base = dict(fitted_values[parent]) if parent else {p.name: p.prior for p in PARAMS.values()}
        values, mse = fit_group(group, catalog, engine, family, free, base)
        legacy = any(r.legacy for r in group)
        errs = np.abs(np.expm1(log_errors(group, catalog, make_profile(engine, family, values, "x", legacy))))
        inherited = [p for p in CURRENT + (LEGACY if legacy else ()) if p not in free]
        fit = (
            f"least squares on log(predicted/measured) over {len(group)} scored rows of measured-calibration.csv "
            f"(data rows {_line_ranges([r.line for r in group])}); objective mean squared log error "
            f"{mse:.4f} (+{REG_WEIGHT} x squared logit distance to typical values); median |error| "
            f"{np.median(errs) * 100:.1f} %, max {errs.max() * 100:.0f} %; free: {', '.join(free)}"
            + (f"; inherited from {parent[0]}/{parent[1]}: {', '.join(inherited)}" if inherited and parent else "")
            + (
                "; legacy_* = runtime factors of the TensorRT-LLM v0.6.1 rows (nuisance parameters, not used for "
                "estimates)"
                if legacy
                else ""
            )
            + f"; command: {COMMAND}"
        )
        fitted[(engine, family)] = make_profile(engine, family, values, fit, legacy)
        fitted_values[(engine, family)] = values
        log(
            f"{engine}/{family}: {len(group)} rows, mse {mse:.4f}, median {np.median(errs) * 100:.1f} %, "
            + ", ".join(f"{k}={v:.4g}" for k, v in values.items() if k in CURRENT or legacy)
        )
    families = sorted({g.family for g in catalog.gpus.values()} | {f for _, f in fitted})
    out: list[EngineProfile] = []
    for engine in ENGINES:
        for family in families:
            if (engine, family) in fitted:
                out.append(fitted[(engine, family)])
                continue
            prof = fallback_profile(fitted, engine, family, engine_constants(engine, family))
            if prof is None:
                raise SystemExit("no calibrated group: cannot build fallbacks")
            out.append(prof.model_copy(update={"source": SOURCE + "; " + prof.source, "as_of": AS_OF}))
    return out


HEADER = """\
# Engine efficiency factors per (engine, GPU family), fitted to published measurements.
# GENERATED by `python bench/fit_calibration.py` from catalog/data/measured-calibration.csv; do not edit by
# hand, re-run the script. Each entry's `fit` says which rows and objective produced it, or which
# calibrated entries a fallback was composed from. Non-fitted `extra` keys are documented engine
# defaults (see catalog/data/CALIBRATION.md and planner/perf/deployment.py).
"""


def write_yaml(profiles: Sequence[EngineProfile], path: Path) -> None:
    doc = {"schema_version": 1, "engines": [p.model_dump(mode="json") for p in profiles]}
    text = HEADER + yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True)
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="fit and print, do not write engines.yaml")
    ap.add_argument("--output", type=Path, default=OUT)
    args = ap.parse_args(argv)
    catalog = load_catalog()
    rows = load_rows()
    profiles = fit_all(catalog, rows, print)
    if not args.dry_run:
        write_yaml(profiles, args.output)
        print(f"wrote {args.output} ({len(profiles)} profiles)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
