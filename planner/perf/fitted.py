"""The estimator's calibrated parameters: few, shared, and composed into one profile per (engine, GPU family).

Each factor of planner/perf/deployment.py EXTRA_DEFAULTS (and the three profile fields) is a value in a
physical range [lo, hi] reached through a logistic transform of an unbounded `z`:

    value = lo + (hi - lo) / (1 + exp(-(z_prior + sum of the z's of its scopes)))

Kernel efficiencies (compute, bandwidth, KV bandwidth, attention) depend on the GPU family (what the
chip reaches) and, for compute and bandwidth, on the engine (whose kernels): z = z_family + z_engine.
Engine runtime costs (step, per-sequence, per-layer and eager overheads, all-reduce latency, request
overhead, grouped-GEMM efficiency) depend on the engine; the per-sequence scheduler cost is a global base
plus an engine offset (z = z_global + z_engine), so an engine whose only modern source is held out still
gets what the other engines' rows say about it rather than the bare prior. Expert load imbalance and the per-sequence
attention cost are global. So a family with rows of one engine informs every engine on it, and an
engine's runtime is learnt from all its families; a held-out source is predicted from the others.

A family or engine without rows keeps z = 0 on its scope (the prior, or the other scope's fit): its
estimates are graded `borrowed` or `extrapolated` (planner/perf/uncertainty.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml

from catalog.loader import DATA_DIR
from catalog.types import Catalog, EngineFactors, EngineProfile
from planner.perf.calibration import (
    EARLY_FACTORS,
    LEGACY_FACTORS,
    LEGACY_PREFIX,
    MeasuredRow,
    RowResult,
    scored,
)

Scope = Literal["family", "engine", "global", "legacy", "early"]


@dataclass(frozen=True)
class Factor:
    """One physical factor: its range and typical value (the prior)."""

    name: str
    lo: float
    hi: float
    prior: float
    scopes: tuple[Scope, ...]
    why: str


FACTORS: tuple[Factor, ...] = (
    Factor("compute_efficiency", 0.05, 1.0, 0.55, ("family", "engine"), "dense GEMM share of peak FLOPs"),
    Factor("bandwidth_efficiency", 0.2, 1.0, 0.75, ("family", "engine"), "weight streaming share of peak HBM"),
    Factor("kv_bandwidth_efficiency", 0.1, 1.0, 0.6, ("family",), "decode attention share of peak HBM bandwidth"),
    Factor("attention_efficiency", 0.05, 1.0, 0.45, ("family",), "prefill attention share of the 16-bit peak"),
    Factor("step_overhead_ms", 0.0, 40.0, 2.0, ("engine",), "fixed cost per forward pass (scheduler, sampling)"),
    Factor("seq_overhead_us", 0.0, 400.0, 10.0, ("global", "engine"), "per sequence per decode step"),
    Factor("layer_overhead_us", 0.0, 300.0, 15.0, ("engine",), "per layer per pass: kernel launches and tails"),
    Factor("eager_kernel_us", 1.0, 200.0, 15.0, ("global",), "host cost per eager kernel launch (PyTorch)"),
    Factor("allreduce_latency_us", 1.0, 500.0, 15.0, ("engine",), "small-message all-reduce latency"),
    Factor("allreduce_bw_efficiency", 0.05, 1.0, 0.75, ("global",), "collectives' share of link bandwidth"),
    Factor("request_overhead_ms", 0.0, 200.0, 5.0, ("engine",), "per request before its first pass"),
    # global with engine offsets: vLLM and SGLang run one fused-MoE Triton kernel (SGLang's is adapted from
    # vLLM's), so a source held out is predicted from the other engine's rows, not from the prior.
    # `early`: one value, in place of the engine's, for rows whose engine release ran the untuned Triton
    # fused-MoE kernel (MeasuredRow.early_moe; which releases and why: measured_sources); a nuisance parameter
    # like the legacy ones: stored as legacy_moe_gemm_efficiency, never used for estimates
    Factor(
        "moe_gemm_efficiency",
        0.05,
        1.0,
        0.5,
        ("global", "engine", "early"),
        "grouped expert GEMM vs dense GEMM efficiency",
    ),
    Factor("block_fp8_gemm_efficiency", 0.1, 1.5, 0.8, ("global",), "block-scaled vs per-tensor FP8 GEMM efficiency"),
    Factor("moe_imbalance", 1.0, 3.0, 1.3, ("global",), "busiest expert-parallel rank's load / mean"),
    Factor("attn_seq_overhead_us", 0.0, 10.0, 0.3, ("engine",), "decode attention cost per sequence per layer"),
    Factor("gemm_half_tokens", 0.0, 4096.0, 64.0, ("global",), "tokens per GEMM at half prefill GEMM efficiency"),
    Factor("kv_context_half_tokens", 0.0, 4096.0, 64.0, ("global",), "context at half decode-attention efficiency"),
    # runtime factors of the TensorRT-LLM v0.5/v0.6 (2023) rows: nuisance parameters, never used for estimates
    Factor(LEGACY_PREFIX + "step_overhead_ms", 0.0, 40.0, 2.0, ("legacy",), "2023 runtime: step overhead"),
    Factor(LEGACY_PREFIX + "allreduce_latency_us", 1.0, 500.0, 15.0, ("legacy",), "2023 runtime: all-reduce latency"),
    Factor(LEGACY_PREFIX + "gqa_kv_reload_share", 0.0, 1.0, 0.2, ("legacy",), "2023 kernels: GQA KV re-reads"),
    Factor(LEGACY_PREFIX + "allreduce_bw_efficiency", 0.05, 1.0, 0.6, ("legacy",), "2023 runtime: all-reduce bw"),
)
FACTOR = {f.name: f for f in FACTORS}
PROFILE_FIELDS = ("compute_efficiency", "bandwidth_efficiency", "step_overhead_ms")

# Engines whose rows calibrate no parameters of their own: their profile borrows a sibling's (their
# rows are scored against it, as an out-of-engine check).
BORROWING_ENGINES = {"lmdeploy": "trtllm"}


def param_name(scope: Scope, key: str, factor: str) -> str:
    """`family:hopper:compute_efficiency`, `engine:vllm:seq_overhead_us`, `global::moe_imbalance`."""
    return f"{scope}:{key}:{factor}"


def parse_name(name: str) -> tuple[Scope, str, str]:
    scope, key, factor = name.split(":")
    return scope, key, factor  # type: ignore[return-value]


def to_value(factor: Factor, z: float) -> float:
    """The factor's value for a total z (z = 0 gives the prior)."""
    u0 = (factor.prior - factor.lo) / (factor.hi - factor.lo)
    u0 = min(max(u0, 1e-6), 1 - 1e-6)
    z0 = math.log(u0 / (1 - u0))
    return factor.lo + (factor.hi - factor.lo) / (1.0 + math.exp(-(z0 + z)))


def parameter_names(
    engines: Iterable[str], families: Iterable[str], legacy: bool, early: bool = False
) -> tuple[str, ...]:
    """Every parameter the rows of `engines` on `families` can pin, in a stable order (`legacy`: there
    are rows of the 2023 TensorRT-LLM runtime; `early`: rows of an early MoE release)."""
    names: list[str] = []
    fams = sorted(set(families))
    engs = sorted({BORROWING_ENGINES.get(e, e) for e in engines})
    for f in FACTORS:
        for scope in f.scopes:
            if scope == "family":
                names += [param_name("family", fam, f.name) for fam in fams]
            elif scope == "engine":
                names += [param_name("engine", e, f.name) for e in engs]
            elif scope == "global":
                names.append(param_name("global", "", f.name))
            elif scope == "early":
                names += [param_name("early", "", f.name)] if early else []
            elif legacy:
                names.append(param_name("legacy", "", f.name))
    return tuple(names)


def factor_value(z: Mapping[str, float], factor: str, engine: str, family: str, early: bool = False) -> float:
    """A factor's value for (engine, family) from the z's of its scopes (missing z's are 0); `early`: the
    early-release value, which replaces the others (rows of the early MoE kernel, whatever their engine)."""
    f = FACTOR[factor]
    if early and "early" in f.scopes:
        return to_value(f, z.get(param_name("early", "", f.name), 0.0))
    eng = BORROWING_ENGINES.get(engine, engine)
    total = 0.0
    for scope in f.scopes:
        if scope == "early":
            continue
        key = family if scope == "family" else eng if scope == "engine" else ""
        total += z.get(param_name(scope, key, f.name), 0.0)
    return to_value(f, total)


def compose_profile(
    z: Mapping[str, float],
    engine: str,
    family: str,
    constants: Mapping[str, float],
    *,
    fit: str,
    source: str,
    as_of: str,
    legacy: bool = False,
) -> EngineProfile:
    """The EngineProfile of (engine, family) under parameters `z`; `constants` are the engine's documented
    non-fitted extras; `legacy` adds the legacy_* nuisance factors (for scoring legacy rows); with an
    early-release value in `z`, every profile gets it as legacy_<factor> (for scoring early-MoE rows)."""
    extra = dict(constants)
    for f in FACTORS:
        if f.name in PROFILE_FIELDS or "legacy" in f.scopes:
            continue
        extra[f.name] = round(factor_value(z, f.name, engine, family), 6)
    if legacy:
        for name in LEGACY_FACTORS:
            extra[LEGACY_PREFIX + name] = round(factor_value(z, LEGACY_PREFIX + name, engine, family), 6)
    for name in EARLY_FACTORS:
        if param_name("early", "", name) in z:
            extra[LEGACY_PREFIX + name] = round(factor_value(z, name, engine, family, early=True), 6)
    return EngineProfile(
        engine=engine,
        family=family,
        compute_efficiency=round(factor_value(z, "compute_efficiency", engine, family), 6),
        bandwidth_efficiency=round(factor_value(z, "bandwidth_efficiency", engine, family), 6),
        step_overhead_ms=round(factor_value(z, "step_overhead_ms", engine, family), 6),
        extra=EngineFactors.model_validate(extra),
        fit=fit,
        source=source,
        as_of=as_of,
    )


# Documented engine constants (not fitted). See planner/perf/deployment.py EXTRA_DEFAULTS for meaning.
BIG_MEMORY_FAMILIES = ("hopper", "blackwell", "cdna3", "cdna4")


def engine_constants(engine: str, family: str) -> dict[str, float]:
    """Scheduler and memory constants of an engine's defaults (catalog/data/CALIBRATION.md)."""
    big = family in BIG_MEMORY_FAMILIES
    if engine in ("trtllm", "lmdeploy"):
        # trtllm-bench / trtllm-serve defaults: max_num_tokens 8192, large max batch, and the
        # GUARANTEED_NO_EVICT capacity scheduler (reserves a request's whole output at admission)
        return {
            "runtime_reserve_gb": 1.5,
            "max_num_batched_tokens": 8192.0,
            "max_num_seqs": 2048.0,
            "kv_reserve_output_fraction": 1.0,
        }
    # vLLM V1 / SGLang: paged KV allocated on demand (preempting when full); default sequence limit 1024
    # on large-memory GPUs and 256 elsewhere; chunked prefill budget 8192 tokens
    return {
        "runtime_reserve_gb": 1.5,
        "max_num_batched_tokens": 8192.0,
        "max_num_seqs": 1024.0 if big else 256.0,
        "kv_reserve_output_fraction": 0.5,
    }


# --- the stored fit (catalog/data/calibration-fit.yaml, written by bench/fit_calibration.py) ------------

FIT_FILE = "calibration-fit.yaml"


@dataclass(frozen=True)
class RegimeBand:
    """Cross-validated error of the estimator on one regime's rows (log errors: log(predicted/measured))."""

    regime: str  # engine/load/family/arch/tp, '*' where the band pools
    rows: int
    median_abs_error: float
    p90_abs_error: float
    median_log_error: float
    optimism_p50: float  # log over-promise: log(pred/meas) for throughput, log(meas/pred) for latency
    optimism_p90: float


LATENCY_METRICS = frozenset({"ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "batch_latency_ms"})


def optimism(row: MeasuredRow, log_error: float) -> float:
    """How much an error over-promises capacity: + for throughput over-predicted or latency under-predicted."""
    return -log_error if row.metric in LATENCY_METRICS else log_error


@dataclass(frozen=True)
class StoredFit:
    parameters: Mapping[str, float]
    folds: Mapping[str, Mapping[str, float]]  # held-out source -> parameters fitted without it
    bands: Mapping[str, RegimeBand]


def read_fit(path: Path | None = None) -> StoredFit:
    """The stored fit (read on use, cached; a missing file means no folds and no bands)."""
    return _read_fit(str(path) if path is not None else None)


@lru_cache(maxsize=4)
def _read_fit(path: str | None) -> StoredFit:
    file = Path(path) if path is not None else DATA_DIR / FIT_FILE
    if not file.exists():
        return StoredFit({}, {}, {})
    # shipped data, so the plain safe loader; libyaml's (when built) parses it ~8x faster, and every
    # `estimate` and plan reads this file
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(file.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506 - a safe loader
    params = {str(p["name"]): float(p["z"]) for p in doc.get("parameters", [])}
    folds = {
        str(f["held_out"]): {str(k): float(v) for k, v in (f.get("z") or {}).items()} for f in doc.get("cv_folds", [])
    }
    bands = {}
    for b in doc.get("regimes", []):
        band = RegimeBand(
            regime=str(b["regime"]),
            rows=int(b["rows"]),
            median_abs_error=float(b["median_abs_error"]),
            p90_abs_error=float(b["p90_abs_error"]),
            median_log_error=float(b["median_log_error"]),
            optimism_p50=float(b["optimism_p50"]),
            optimism_p90=float(b["optimism_p90"]),
        )
        bands[band.regime] = band
    return StoredFit(params, folds, bands)


def stale_factors(parameters: Mapping[str, float], folds: Mapping[str, Mapping[str, float]]) -> tuple[str, ...]:
    """Factors that the full fit and its cross-validation folds do not share: a factor fitted in the full
    fit and in no fold (or the reverse) means the folds were fitted with other physics (`fit_calibration.py
    --no-cv` after a change), and their cross-validated figures describe that physics, not this one.
    Compared by factor, not parameter: a fold legitimately lacks the parameters of a family or engine whose
    only source it holds out."""
    full = {parse_name(n)[2] for n in parameters}
    in_folds = {parse_name(n)[2] for z in folds.values() for n in z}
    return tuple(sorted(full ^ in_folds)) if folds else ()


def fold_profiles(z: Mapping[str, float], engine: str, family: str, legacy: bool) -> EngineProfile:
    """The profile a cross-validation fold predicts (engine, family) with."""
    return compose_profile(
        z, engine, family, engine_constants(engine, family), fit="cv fold", source="", as_of="", legacy=legacy
    )


def cross_validated(
    rows: Iterable[MeasuredRow], catalog: Catalog, folds: Mapping[str, Mapping[str, float]]
) -> tuple[RowResult, ...]:
    """Each row predicted by the fold fitted without its source (rows of sources without a fold are
    skipped)."""
    out = []
    for row in rows:
        z = folds.get(row.source)
        if z is None:
            continue
        family = catalog.gpus[row.gpu].family
        out.append(scored(row, catalog, fold_profiles(z, row.engine, family, row.legacy)))
    return tuple(out)
