"""Which engine profile (fitted efficiency factors) applies to an engine on a GPU, with fallbacks.

An (engine, family) without calibration rows copies the factors of the same engine on the nearest
calibrated family (FAMILY_NEIGHBOURS: closest architecture first); an engine without any calibrated
family uses its nearest sibling engine (SIBLING_ENGINES) the same way. The engine's documented
constants (scheduler limits, runtime reserve) are kept. The `fit` text of such a profile says where its
factors came from; without any calibrated profile an uncalibrated prior is used.
"""

from __future__ import annotations

from collections.abc import Mapping

from catalog.types import Catalog, EngineFactors, EngineProfile, Gpu
from planner.errors import CatalogError, did_you_mean

ENGINES = ("vllm", "trtllm", "sglang")

# Closest architectures first: same vendor and memory technology, then the next generation.
FAMILY_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "blackwell": ("hopper", "ampere", "ada"),
    "hopper": ("blackwell", "ampere", "ada"),
    "ampere": ("ada", "hopper", "blackwell"),
    "ada": ("ampere", "hopper", "blackwell"),
    "turing": ("ampere", "ada", "hopper"),
    "volta": ("ampere", "turing", "hopper"),
    "cdna3": ("hopper", "blackwell", "ampere"),
    "cdna2": ("ampere", "hopper", "cdna3"),
    "tpu": ("hopper", "ampere", "blackwell"),
}
DEFAULT_NEIGHBOURS = ("hopper", "ampere", "blackwell", "ada")

# Engines whose scheduler and runtime are most alike (Python schedulers with CUDA graphs).
SIBLING_ENGINES: dict[str, tuple[str, ...]] = {
    "vllm": ("sglang", "trtllm"),
    "sglang": ("vllm", "trtllm"),
    "trtllm": ("vllm", "sglang"),
    # engines that appear only in calibration data (no profile of their own): TurboMind is a C++ runtime
    # with its own kernels, like TensorRT-LLM's
    "lmdeploy": ("trtllm", "vllm"),
}

FITTED_EXTRA = ("kv_bandwidth_efficiency", "attention_efficiency", "allreduce_latency_us")

PRIOR = {"compute_efficiency": 0.5, "bandwidth_efficiency": 0.75, "step_overhead_ms": 2.0}


def profile_grade(fit_text: str) -> str:
    """The grade an engine profile's `fit` text states: calibrated (rows of this engine on this family),
    borrowed (factors from other rows) or extrapolated (no rows on the family); older wordings map too."""
    text = fit_text.lower()
    if text.startswith("calibrated") or text.startswith("least squares"):
        return "calibrated"
    if text.startswith("extrapolated") or text.startswith("uncalibrated"):
        return "extrapolated"
    return "borrowed"


def is_calibrated(profile: EngineProfile) -> bool:
    return profile_grade(profile.fit) == "calibrated"


def fallback_profile(
    table: Mapping[tuple[str, str], EngineProfile],
    engine: str,
    family: str,
    constants: Mapping[str, float] | None = None,
) -> EngineProfile | None:
    """A profile for (engine, family) copied from the nearest calibrated entry of `table` (module doc).

    `constants` replace the non-fitted `extra` values (the engine's own defaults); by default the
    source's are kept. Returns None when `table` holds no calibrated profile at all.
    """
    calibrated = {k: v for k, v in table.items() if is_calibrated(v)}
    families = (family, *FAMILY_NEIGHBOURS.get(family, DEFAULT_NEIGHBOURS))
    engines = (engine, *SIBLING_ENGINES.get(engine, ()))
    base = next((calibrated[(e, f)] for e in engines for f in families if (e, f) in calibrated), None)
    if base is None:
        return None
    extra = {k: v for k, v in base.extra.given().items() if not k.startswith("legacy_")}
    if constants is not None:
        extra = {k: v for k, v in extra.items() if k in FITTED_EXTRA}
        extra.update(constants)
    fit = (
        f"fallback: no calibration rows for {engine} on {family}; factors copied from {base.engine}/{base.family}, "
        f"the nearest calibrated {'family of the same engine' if base.engine == engine else 'sibling engine'}"
    )
    return EngineProfile(
        engine=engine,
        family=family,
        compute_efficiency=base.compute_efficiency,
        bandwidth_efficiency=base.bandwidth_efficiency,
        step_overhead_ms=base.step_overhead_ms,
        extra=EngineFactors.model_validate(extra),
        fit=fit,
        source=f"copied from the {base.engine}/{base.family} profile",
        as_of=base.as_of,
    )


def engine_profile(catalog: Catalog, engine: str, gpu: Gpu, where: str = "search.engine") -> EngineProfile:
    """The efficiency factors of `engine` on `gpu`'s family, or the documented fallback. `where` says who
    named the engine (the spec's field by default; the estimate command passes its flag)."""
    known = sorted(set(ENGINES) | {e.engine for e in catalog.engines} | set(SIBLING_ENGINES))
    if engine not in known:
        raise CatalogError(f"unknown engine {engine!r}; {did_you_mean(engine, known)}", where=where)
    table = {(e.engine, e.family): e for e in catalog.engines}
    exact = table.get((engine, gpu.family))
    if exact is not None:
        return exact
    composed = fallback_profile(table, engine, gpu.family)
    if composed is not None:
        return composed
    return EngineProfile(
        engine=engine,
        family=gpu.family,
        compute_efficiency=PRIOR["compute_efficiency"],
        bandwidth_efficiency=PRIOR["bandwidth_efficiency"],
        step_overhead_ms=PRIOR["step_overhead_ms"],
        fit="uncalibrated prior: no engine profiles in the catalog; typical published MFU/MBU values",
        source="gpuplan default",
        as_of="2025-01",
    )
