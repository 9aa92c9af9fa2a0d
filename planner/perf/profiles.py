"""Which engine profile (fitted efficiency factors) applies to an engine on a GPU, with fallbacks.

A profile mixes two kinds of factors:

- kernel factors (compute, bandwidth, KV-bandwidth and attention efficiency) belong mostly to the GPU:
  every engine runs cuBLAS/CUTLASS GEMMs and FlashAttention-class kernels on it;
- runtime factors (per-step overhead, all-reduce latency) and scheduler constants belong to the engine.

An (engine, family) without calibration rows takes its kernel factors from the nearest calibrated
family (FAMILY_NEIGHBOURS order, same engine first, then any engine) and its runtime factors from the
same engine on the nearest calibrated family (or a sibling engine when the engine has no rows at all).
The `fit` text of such a profile says exactly where each part came from. Without any calibrated profile
an uncalibrated prior is used.
"""

from __future__ import annotations

from collections.abc import Mapping

from catalog.types import Catalog, EngineProfile, Gpu
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
}

KERNEL_EXTRA = ("kv_bandwidth_efficiency", "attention_efficiency")
RUNTIME_EXTRA = ("allreduce_latency_us",)

PRIOR = {"compute_efficiency": 0.5, "bandwidth_efficiency": 0.75, "step_overhead_ms": 2.0}


def is_calibrated(profile: EngineProfile) -> bool:
    return not profile.fit.startswith(("fallback", "uncalibrated"))


def fallback_profile(
    table: Mapping[tuple[str, str], EngineProfile],
    engine: str,
    family: str,
    constants: Mapping[str, float] | None = None,
) -> EngineProfile | None:
    """Compose a profile for (engine, family) from calibrated entries of `table` (see module doc).

    `constants` are the engine's documented non-fitted `extra` values; by default those of the
    runtime source are kept. Returns None when `table` holds no calibrated profile at all.
    """
    calibrated = {k: v for k, v in table.items() if is_calibrated(v)}
    families = (family, *FAMILY_NEIGHBOURS.get(family, DEFAULT_NEIGHBOURS))
    engines = (engine, *SIBLING_ENGINES.get(engine, ()))
    kernel = next((calibrated[(e, f)] for f in families for e in engines if (e, f) in calibrated), None)
    runtime = next((calibrated[(e, f)] for e in engines for f in families if (e, f) in calibrated), None)
    if kernel is None or runtime is None:
        return None
    extra = {k: v for k, v in runtime.extra.items() if k not in KERNEL_EXTRA}
    extra.update({k: v for k, v in kernel.extra.items() if k in KERNEL_EXTRA})
    if constants is not None:
        extra = {k: v for k, v in extra.items() if k in KERNEL_EXTRA + RUNTIME_EXTRA}
        extra.update(constants)
    fit = (
        f"fallback: no calibration rows for {engine} on {family}. Kernel factors (compute, bandwidth, KV bandwidth, "
        f"attention efficiency) from {kernel.engine}/{kernel.family}; runtime factors (step overhead, all-reduce "
        f"latency) from {runtime.engine}/{runtime.family} (nearest calibrated family/engine)."
    )
    return EngineProfile(
        engine=engine,
        family=family,
        compute_efficiency=kernel.compute_efficiency,
        bandwidth_efficiency=kernel.bandwidth_efficiency,
        step_overhead_ms=runtime.step_overhead_ms,
        extra=dict(sorted(extra.items())),
        fit=fit,
        source=f"derived from {kernel.engine}/{kernel.family} and {runtime.engine}/{runtime.family} profiles",
        as_of=max(kernel.as_of, runtime.as_of),
    )


def engine_profile(catalog: Catalog, engine: str, gpu: Gpu, where: str = "--engine") -> EngineProfile:
    """The efficiency factors of `engine` on `gpu`'s family, or the documented fallback."""
    known = sorted(set(ENGINES) | {e.engine for e in catalog.engines})
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
