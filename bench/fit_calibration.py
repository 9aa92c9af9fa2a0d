"""Fit the estimator's calibrated parameters to the published measurements, cross-validate them by leaving
one source out at a time, and write catalog/data/engines.yaml and catalog/data/calibration-fit.yaml.

    python bench/fit_calibration.py              # fit, cross-validate, write both files
    python bench/fit_calibration.py --no-cv      # fit only (keeps the stored cross-validation; warns when
                                                 # those folds fitted other factors than this fit)
    python bench/fit_calibration.py --dry-run    # fit and print, write nothing
    python bench/fit_calibration.py --jobs 2     # cross-validation folds in 2 processes
    python bench/fit_calibration.py --jobs 2 --prior-weight 0.1   # another objective: fit, cross-validate,
                                                 # print the figures, write nothing (see Objective)

Objective: a robust (soft-L1, scale 0.2) weighted loss on log(predicted / measured) over the scored rows
of both calibration files (planner/perf/measured.py), each row weighted 1 / n_source^(1/4) so that a
source with many rows does not drown the others, plus a ridge pull of every parameter's z towards 0
(its prior; planner/perf/fitted.py). Minimised by Levenberg-Marquardt with a finite-difference
Jacobian (each parameter only moves the rows of its scope). Parameters no row moves stay at their prior.

The objective is not convex (roofline maxima, saturating efficiency curves, the CUDA-graph step), and LM
finds the minimum of the basin it starts in. So every fit runs twice, from the priors and from the
stored solution of the same fit in calibration-fit.yaml (the full fit's; a fold's own, fitted without
its held-out source, so the warm start carries nothing of that source), and keeps the lower objective.
`--cold` starts from the priors only. (When the CUDA-graph step was added, LM from the priors stopped
at an objective of 2.54; from the stored fit it reached 2.16.)

Cross-validation: for every source with scored rows, the same fit without that source's rows, started
from the priors, then that source's rows predicted. The residuals per regime (engine x load level x GPU
family x dense/MoE x TP bucket) become the error bands estimates report (planner/perf/uncertainty.py).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog.loader import DATA_DIR, load_catalog  # noqa: E402
from catalog.types import Catalog, EngineProfile, ModelArch  # noqa: E402
from planner.perf.calibration import (  # noqa: E402
    TARGET_REGIME_MEDIAN,
    by_regime,
    deployment_for,
    error_summary,
    load_level,
    predict_row,
    quantile,
    regime,
)
from planner.perf.fitted import (  # noqa: E402
    BORROWING_ENGINES,
    FACTOR,
    compose_profile,
    cross_validated,
    engine_constants,
    factor_value,
    optimism,
    parameter_names,
    parse_name,
    stale_factors,
)
from planner.perf.measured import FILES, MeasuredRow, load_rows  # noqa: E402
from planner.perf.memory import GRAPH_LIMITED_ENGINES  # noqa: E402
from planner.perf.profiles import ENGINES  # noqa: E402

ENGINES_YAML = DATA_DIR / "engines.yaml"
FIT_YAML = DATA_DIR / "calibration-fit.yaml"
COMMAND = "python bench/fit_calibration.py"
AS_OF = "2026-04"
SOURCE = "fit to catalog/data/measured-calibration.csv and measured-calibration-2.csv (18 publications; CALIBRATION.md)"
LOSSES = ("soft-l1", "cauchy")
FD_STEP = 1e-3
MISS = math.log(10.0)  # log error charged to a row the estimator cannot run (e.g. does not fit)
SENSITIVE = 0.01  # a row "pins" a parameter when a unit change of its z moves the row by >= 1 %


def row_engine(row: MeasuredRow) -> str:
    return BORROWING_ENGINES.get(row.engine, row.engine)


def affects(name: str, row: MeasuredRow, family: str, model: ModelArch) -> bool:
    """Whether parameter `name` can move `row`'s prediction (its scope covers the row; `model` is its
    catalog entry)."""
    scope, key, factor = parse_name(name)
    if scope == "family":
        return family == key
    if scope == "engine":
        return row_engine(row) == key
    if scope == "legacy":
        return row.legacy
    if scope == "early":
        return row.early_moe and not row.legacy
    if factor == "moe_imbalance":
        return row.ep > 1
    if factor == "block_fp8_gemm_efficiency":
        return row.weights == "fp8" and model.fp8_weight_block > 0
    if factor == "allreduce_bw_efficiency":
        return row.tp > 1 and not row.legacy
    if factor == "eager_kernel_us":
        # eager rows, and rows whose decode batch can pass the engine's largest CUDA graph
        return row.eager or row.cuda_graph_max_batch > 0 or row.engine in GRAPH_LIMITED_ENGINES
    return True


@dataclass(frozen=True)
class Objective:
    """What the fit minimises. The defaults are the shipped fit's; of the alternatives CALIBRATION.md lists,
    each cross-validated by one command (the flags of `main`), none did better on the median, the p90 and
    the regimes over 25 % together.

    prior_weight: ridge weight per parameter, in squared-z units against the weighted squared log errors.
    early_prior_weight: the same for the early-release factor, which describes only the rows of early
        releases' untuned MoE kernel (nuisance): a weaker pull to the prior lets it, rather than the shared
        kernel factors, take up what that kernel does differently.
    robust_scale, loss: soft-L1 is quadratic for log errors below ~scale and linear beyond; Cauchy's pull
        falls again for errors far beyond the scale.
    source_exponent: a row weighs n_source^-exponent, so that a source with many rows does not drown the
        others (0: every row alike; 1: every source alike).
    """

    prior_weight: float = 0.02
    early_prior_weight: float = 0.002
    robust_scale: float = 0.2
    loss: str = "soft-l1"
    source_exponent: float = 0.25

    def describe(self) -> str:
        loss = "soft-L1" if self.loss == "soft-l1" else "Cauchy"
        exponent = Fraction(self.source_exponent).limit_denominator(1000)
        return (
            f"{loss} (scale {self.robust_scale}) on log(predicted/measured), row weight n_source^-{exponent}, "
            f"ridge {self.prior_weight} x z^2 per parameter ({self.early_prior_weight} for the early-release factor); "
            "Levenberg-Marquardt"
        )


def robust(err: np.ndarray, objective: Objective) -> np.ndarray:
    """Residuals whose least squares is the robust loss: soft-L1 sums 2 s^2 (sqrt(1 + (e/s)^2) - 1), so a
    minority of rows the physics cannot follow (an engine's anomaly) pulls the shared parameters
    linearly, not quadratically; Cauchy sums s^2 log(1 + (e/s)^2), whose pull fades for such rows."""
    s = objective.robust_scale
    if objective.loss == "cauchy":
        cauchy: np.ndarray = np.sign(err) * s * np.sqrt(np.log1p((err / s) ** 2))
        return cauchy
    out: np.ndarray = np.sign(err) * s * np.sqrt(2.0 * (np.sqrt(1.0 + (err / s) ** 2) - 1.0))
    return out


class Problem:
    """Scored rows, their weights, and the parameters they can pin."""

    def __init__(self, rows: Sequence[MeasuredRow], catalog: Catalog, objective: Objective | None = None) -> None:
        self.objective = objective or Objective()
        self.rows = list(rows)
        self.catalog = catalog
        self.families = [catalog.gpus[r.gpu].family for r in self.rows]
        self.names = parameter_names(
            {r.engine for r in self.rows},
            set(self.families),
            any(r.legacy for r in self.rows),
            any(r.early_moe and not r.legacy for r in self.rows),
        )
        counts: dict[str, int] = defaultdict(int)
        for r in self.rows:
            counts[r.source] += 1
        self.weights = np.array([counts[r.source] ** -self.objective.source_exponent for r in self.rows])
        ob = self.objective
        self.ridge = np.sqrt(
            [ob.early_prior_weight if parse_name(n)[0] == "early" else ob.prior_weight for n in self.names]
        )
        self.members = [
            np.array(
                [
                    k
                    for k, (r, f) in enumerate(zip(self.rows, self.families, strict=True))
                    if affects(n, r, f, catalog.models[r.model])
                ]
            )
            for n in self.names
        ]

    def profile(self, z: dict[str, float], row: MeasuredRow, family: str) -> EngineProfile:
        return compose_profile(
            z, row.engine, family, engine_constants(row.engine, family), fit="fitting", source="", as_of="",
            legacy=row.legacy,
        )  # fmt: skip

    def log_errors(self, z: dict[str, float], idx: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        ks = range(len(self.rows)) if idx is None else idx
        cache: dict[tuple[str, str, bool], EngineProfile] = {}
        out = []
        for k in ks:
            row, fam = self.rows[int(k)], self.families[int(k)]
            key = (row.engine, fam, row.legacy)
            if key not in cache:
                cache[key] = self.profile(z, row, fam)
            try:
                pred = predict_row(row, deployment_for(row, self.catalog, cache[key]))
                err = math.log(pred / row.value) if pred > 0 and math.isfinite(pred) else MISS
            except Exception:  # noqa: BLE001 - a parameter set under which the row cannot run
                err = MISS
            out.append(max(min(err, MISS), -MISS))
        return np.asarray(out)

    def residuals(self, zvec: np.ndarray) -> np.ndarray:
        z = dict(zip(self.names, zvec, strict=True))
        return np.concatenate([self.weights * robust(self.log_errors(z), self.objective), self.ridge * zvec])

    def jacobian(self, zvec: np.ndarray, base: np.ndarray) -> np.ndarray:
        n_rows = len(self.rows)
        jac = np.zeros((n_rows + len(self.names), len(self.names)))
        for j, name in enumerate(self.names):
            idx = self.members[j]
            if idx.size:
                z = dict(zip(self.names, zvec, strict=True))
                z[name] += FD_STEP
                moved = self.weights[idx] * robust(self.log_errors(z, idx), self.objective)
                jac[idx, j] = (moved - base[idx]) / FD_STEP
            jac[n_rows + j, j] = self.ridge[j]
        return jac


def levenberg_marquardt(
    problem: Problem, z0: np.ndarray, *, iterations: int = 40, log: Callable[[str], None] | None = None
) -> tuple[np.ndarray, float]:
    """Minimise |residuals|^2 (deterministic: fixed steps, no randomness)."""
    z = z0.copy()
    r = problem.residuals(z)
    cost = float(r @ r)
    lam = 1e-2
    for it in range(iterations):
        jac = problem.jacobian(z, r)
        a = jac.T @ jac
        g = jac.T @ r
        improved = False
        while lam < 1e8:
            step = np.linalg.solve(a + lam * (np.diag(np.diag(a)) + 1e-9 * np.eye(len(z))), -g)
            z_new = z + step
            r_new = problem.residuals(z_new)
            c_new = float(r_new @ r_new)
            if c_new < cost:
                improved = True
                gain = cost - c_new
                z, r, cost = z_new, r_new, c_new
                lam = max(lam / 3.0, 1e-7)
                break
            lam *= 4.0
        if log:
            log(f"  iteration {it + 1}: cost {cost:.5f} (lambda {lam:.1e})")
        if not improved or gain < 1e-5 * cost:
            break
    return z, cost


def fit(
    rows: Sequence[MeasuredRow],
    catalog: Catalog,
    log: Callable[[str], None] | None = None,
    start: dict[str, float] | None = None,
    objective: Objective | None = None,
    warm: dict[str, float] | None = None,
) -> dict[str, float]:
    """The parameters minimising the objective over `rows`: LM from `start` (the priors when None) and, when
    given, from `warm` (a stored solution); the lower objective wins, the cold start on a tie."""
    problem = Problem(rows, catalog, objective)
    best: tuple[float, np.ndarray] | None = None
    for origin in (start or {}, *([warm] if warm else [])):
        z0 = np.array([origin.get(n, 0.0) for n in problem.names])
        z, cost = levenberg_marquardt(problem, z0, log=log)
        if best is None or cost < best[0]:
            best = (cost, z)
    assert best is not None
    return {n: round(float(v), 6) for n, v in zip(problem.names, best[1], strict=True)}


FoldTask = tuple[str, list[MeasuredRow], dict[str, float], Objective, dict[str, float] | None]


def _fold(args: FoldTask) -> tuple[str, dict[str, float]]:
    held_out, train, start, objective, warm = args
    # started from the priors and from this fold's own stored solution, never from the full fit: that
    # would carry what the held-out rows taught into parameters no remaining row pins (only the weak
    # ridge pulls them back)
    return held_out, fit(train, load_catalog(), start=start, objective=objective, warm=warm)


def cross_validate(
    rows: Sequence[MeasuredRow],
    catalog: Catalog,
    jobs: int,
    log: Callable[[str], None],
    start: dict[str, float],
    only: set[str] | None = None,
    objective: Objective | None = None,
    warm: dict[str, dict[str, float]] | None = None,
) -> dict[str, dict[str, float]]:
    """Leave-one-source-out: {held-out source: parameters fitted without it} (`only`: these sources;
    `warm`: each fold's stored solution, a second start)."""
    sources = sorted({r.source for r in rows if only is None or r.source in only})
    ob = objective or Objective()
    tasks: list[FoldTask] = [
        (s, [r for r in rows if r.source != s], start, ob, (warm or {}).get(s)) for s in sources
    ]
    out: dict[str, dict[str, float]] = {}
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for held_out, z in pool.map(_fold, tasks):
                out[held_out] = z
                log(f"cv: fitted without {held_out}")
    else:
        for task in tasks:
            held_out, z = _fold(task)
            out[held_out] = z
            log(f"cv: fitted without {held_out}")
    return out


def pinning(rows: Sequence[MeasuredRow], catalog: Catalog, z: dict[str, float]) -> dict[str, tuple[int, list[str]]]:
    """Per parameter: how many rows it moves by >= SENSITIVE per unit z, and their sources."""
    problem = Problem(rows, catalog)
    zvec = np.array([z.get(n, 0.0) for n in problem.names])
    base = problem.residuals(zvec)
    jac = problem.jacobian(zvec, base)[: len(problem.rows)] / problem.weights[:, None]
    out = {}
    for j, name in enumerate(problem.names):
        hit = np.abs(jac[:, j]) >= SENSITIVE
        out[name] = (int(hit.sum()), sorted({problem.rows[k].source for k in np.nonzero(hit)[0]}))
    return out


def profiles_from(z: dict[str, float], catalog: Catalog, rows: Sequence[MeasuredRow]) -> list[EngineProfile]:
    """One profile per engine x catalog family, with a `fit` text saying what calibrated it."""
    fams_with_rows: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        fams_with_rows[row_engine(r)].add(catalog.gpus[r.gpu].family)
    any_family = set().union(*fams_with_rows.values())
    families = sorted({g.family for g in catalog.gpus.values()} | any_family)
    out = []
    for engine in ENGINES:
        for family in families:
            own = [r for r in rows if row_engine(r) == engine and catalog.gpus[r.gpu].family == family]
            if own:
                lines = sorted(r.key for r in own)
                sources = ", ".join(sorted({r.source for r in own}))
                fit_text = (
                    f"calibrated: {len(own)} scored rows of {engine} on {family} ({sources}); "
                    "factors composed from family, engine and global parameters fitted jointly on all rows "
                    f"(calibration-fit.yaml); rows {_ranges(lines)}; command: {COMMAND}"
                )
            elif family in any_family:
                fit_text = (
                    f"borrowed: no rows of {engine} on {family}; {family} kernel factors fitted on other engines' "
                    f"rows, {engine} runtime factors on its rows on other families; command: {COMMAND}"
                )
            else:
                fit_text = (
                    f"extrapolated: no calibration rows on {family}; its kernel factors are the priors "
                    f"(typical published values), {engine} runtime factors fitted on other families; command: {COMMAND}"
                )
            legacy = engine == "trtllm"
            out.append(
                compose_profile(
                    z, engine, family, engine_constants(engine, family), fit=fit_text, source=SOURCE, as_of=AS_OF,
                    legacy=legacy,
                )  # fmt: skip
            )
    return out


def _ranges(keys: Sequence[str]) -> str:
    by_file: dict[str, list[int]] = defaultdict(list)
    for k in keys:
        f, line = k.split(":")
        by_file[f].append(int(line))
    parts = []
    for f in sorted(by_file):
        runs: list[str] = []
        for n in sorted(by_file[f]):
            if runs and runs[-1].split("-")[-1] == str(n - 1):
                runs[-1] = f"{runs[-1].split('-')[0]}-{n}"
            else:
                runs.append(str(n))
        parts.append(f"{FILES[int(f) - 1]} {','.join(runs)}")
    return "; ".join(parts)


def cv_errors(
    rows: Sequence[MeasuredRow], catalog: Catalog, folds: dict[str, dict[str, float]]
) -> dict[str, float]:
    """{row key: log error of the row predicted by the fold that did not see its source}."""
    out = {}
    for source, z in folds.items():
        held = [r for r in rows if r.source == source]
        errs = Problem(held, catalog).log_errors(z)
        out.update({r.key: float(e) for r, e in zip(held, errs, strict=True)})
    return out


def regime_bands(rows: Sequence[MeasuredRow], catalog: Catalog, errors: dict[str, float]) -> list[dict[str, Any]]:
    """Per regime (and coarser groupings, for regimes with few rows): CV error statistics."""
    groups: dict[tuple[str, str, str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in rows:
        e = (errors[r.key], optimism(r, errors[r.key]))
        eng, load, fam, arch, tpb = regime(r, catalog)
        for key in (
            (eng, load, fam, arch, tpb),
            (eng, load, fam, "*", "*"),
            (eng, load, "*", "*", "*"),
            (eng, "*", "*", "*", "*"),
            ("*", "*", "*", "*", "*"),
        ):
            groups[key].append(e)
    out = []
    for key in sorted(groups):
        logs = [e for e, _ in groups[key]]
        opt = [o for _, o in groups[key]]
        rel = [abs(math.expm1(x)) for x in logs]
        out.append(
            {
                "regime": "/".join(key),
                "rows": len(logs),
                "median_abs_error": round(quantile(rel, 0.5), 4),
                "p90_abs_error": round(quantile(rel, 0.9), 4),
                "median_log_error": round(quantile(logs, 0.5), 4),
                "optimism_p50": round(quantile(opt, 0.5), 4),
                "optimism_p90": round(quantile(opt, 0.9), 4),
            }
        )
    return out


def cv_summary(rows: Sequence[MeasuredRow], catalog: Catalog, folds: dict[str, dict[str, float]]) -> str:
    """The cross-validated figures of issue 12's target, from these folds: printed by the run that fitted
    them, so that they can never describe other folds (scored as bench/estimator_accuracy.py scores them)."""
    results = cross_validated(rows, catalog, folds)
    _, median, p90 = error_summary(results)["all"]
    regimes = by_regime(results, catalog)
    over = sum(1 for rs in regimes.values() if quantile([abs(r.rel_error) for r in rs], 0.5) > TARGET_REGIME_MEDIAN)
    return (
        f"cross-validated: median {median * 100:.1f} %, p90 {p90 * 100:.1f} %, "
        f"{over} of {len(regimes)} regimes with a median over {TARGET_REGIME_MEDIAN * 100:.0f} %"
    )


def write_engines(profiles: Sequence[EngineProfile], path: Path) -> None:
    header = (
        "# Engine factors per (engine, GPU family), composed from the parameters in calibration-fit.yaml.\n"
        f"# GENERATED by `{COMMAND}` from catalog/data/measured-calibration*.csv; do not edit by hand.\n"
        "# Each entry's `fit` says whether it is calibrated on its own rows, borrowed (its family or engine\n"
        "# calibrated on other rows) or extrapolated (no rows on its family). Non-fitted `extra` keys are\n"
        "# documented engine constants (CALIBRATION.md, planner/perf/deployment.py).\n"
    )
    doc = {"schema_version": 1, "engines": [p.model_dump(mode="json") for p in profiles]}
    path.write_text(header + yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True), encoding="utf-8")


def write_fit(
    path: Path,
    rows: Sequence[MeasuredRow],
    catalog: Catalog,
    z: dict[str, float],
    folds: dict[str, dict[str, float]],
    log: Callable[[str], None],
    objective: Objective,
) -> None:
    pins = pinning(rows, catalog, z)
    params = []
    for name, value in z.items():
        scope, key, factor = parse_name(name)
        f = FACTOR[factor]
        n, sources = pins[name]
        eng = key if scope == "engine" else ""
        shown = factor_value({name: value}, factor, eng, key if scope == "family" else "", early=scope == "early")
        params.append(
            {
                "name": name,
                "z": value,
                "value_alone": round(shown, 6),
                "range": [f.lo, f.hi],
                "prior": f.prior,
                "rows_pinning": n,
                "sources": sources,
                "meaning": f.why,
            }
        )
    errors = cv_errors(rows, catalog, folds) if folds else {}
    doc: dict[str, Any] = {
        "schema_version": 1,
        "generated_by": COMMAND,
        "as_of": AS_OF,
        "objective": objective.describe(),
        "rows_scored": len(rows),
        "parameters": params,
        "cv_folds": [{"held_out": s, "z": folds[s]} for s in sorted(folds)],
        "regimes": regime_bands(rows, catalog, errors) if errors else [],
    }
    path.write_text(
        "# GENERATED by `" + COMMAND + "`; the fitted parameters with the rows pinning each, the "
        "leave-one-source-out folds and the cross-validated error per regime.\n"
        + yaml.safe_dump(doc, sort_keys=False, width=120, allow_unicode=True),
        encoding="utf-8",
    )
    log(f"wrote {path} ({len(params)} parameters, {len(folds)} folds)")


def _nonnegative(text: str) -> float:
    value = float(text)
    if not value >= 0.0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: a finite number >= 0")
    return value


def _positive(text: str) -> float:
    value = _nonnegative(text)
    if value == 0.0:
        raise argparse.ArgumentTypeError(f"{text!r}: a number > 0")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--dry-run", action="store_true", help="fit and print, write nothing")
    ap.add_argument("--no-cv", action="store_true", help="skip cross-validation (keep the stored folds)")
    ap.add_argument("--jobs", type=int, default=1, help="processes for the cross-validation folds")
    ap.add_argument(
        "--folds",
        default="",
        help="comma-separated held-out sources: fit only these folds, print their CV errors, write nothing",
    )
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--cold", action="store_true", help="start every fit from the priors only (no stored solution)")
    default = Objective()
    meaning = {
        "prior_weight": "ridge weight pulling each parameter to its prior",
        "early_prior_weight": "ridge weight of the early-release factor",
        "robust_scale": "log error at which the robust loss stops being quadratic",
        "loss": "robust loss",
        "source_exponent": "a row weighs n_source^-x",
    }
    for f in fields(Objective):
        flag, value = "--" + f.name.replace("_", "-"), getattr(default, f.name)
        text = f"{meaning[f.name]} (default %(default)s; another value fits and prints, writes nothing)"
        if f.name == "loss":
            ap.add_argument(flag, choices=LOSSES, default=value, help=text)
        else:
            check = _positive if f.name == "robust_scale" else _nonnegative
            ap.add_argument(flag, type=check, default=value, help=text)
    args = ap.parse_args(argv)
    log = print
    objective = Objective(**{f.name: getattr(args, f.name) for f in fields(Objective)})
    # another objective is an experiment: its figures are printed, the shipped files keep the default's fit
    experiment = objective != default
    if experiment:
        log(f"objective: {objective.describe()} (not the shipped one: nothing is written)")
    catalog = load_catalog()
    rows = [r for r in load_rows() if r.scored]
    stored = yaml.safe_load(FIT_YAML.read_text(encoding="utf-8")) if FIT_YAML.exists() else {}
    warm_full = None if args.cold else {p["name"]: p["z"] for p in stored.get("parameters", [])}
    warm_folds = None if args.cold else {f["held_out"]: f["z"] for f in stored.get("cv_folds", [])}
    t0 = time.process_time()
    z = fit(rows, catalog, log=log if args.verbose else None, objective=objective, warm=warm_full)
    log(f"fit: {len(rows)} rows, {len(z)} parameters, {time.process_time() - t0:.1f} s CPU")
    errs = Problem(rows, catalog).log_errors(z)
    rel = np.abs(np.expm1(errs))
    log(f"in-sample: median {np.median(rel) * 100:.1f} %, p90 {np.quantile(rel, 0.9) * 100:.1f} %")
    for name, value in z.items():
        if abs(value) > 1e-4:
            scope, key, factor = parse_name(name)
            log(f"  {name:52s} z {value:+.3f}")
    if args.folds:
        chosen = set(args.folds.split(","))
        t1 = time.time()
        picked = cross_validate(rows, catalog, args.jobs, log, {}, only=chosen, objective=objective, warm=warm_folds)
        errors = cv_errors(rows, catalog, picked)
        for source in sorted(picked):
            rel = [abs(math.expm1(errors[r.key])) for r in rows if r.source == source]
            med, p90 = quantile(rel, 0.5) * 100, quantile(rel, 0.9) * 100
            log(f"cv {source:22s} rows {len(rel):3d}  median {med:5.1f} %  p90 {p90:5.1f} %")
        log(f"cv: {len(picked)} folds in {time.time() - t1:.0f} s")
        return 0
    if args.no_cv:
        folds = {f["held_out"]: f["z"] for f in stored.get("cv_folds", [])}
        stale = stale_factors(z, folds)
        if stale:
            log(
                f"WARNING: --no-cv keeps folds fitted without {', '.join(stale)} (or with them where this fit has "
                "none): their cross-validated figures are not this fit's; run without --no-cv before reading them"
            )
    else:
        t1 = time.time()
        folds = cross_validate(rows, catalog, args.jobs, log, {}, objective=objective, warm=warm_folds)
        log(f"cv: {len(folds)} folds in {time.time() - t1:.0f} s")
        log(cv_summary(rows, catalog, folds))
    if args.dry_run or experiment:
        return 0
    write_engines(profiles_from(z, catalog, rows), ENGINES_YAML)
    write_fit(FIT_YAML, rows, catalog, z, folds, log, objective)
    log(f"wrote {ENGINES_YAML}")
    _ = load_level  # imported for callers of this module's regime helpers
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
