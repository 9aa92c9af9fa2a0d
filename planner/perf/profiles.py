"""Which engine profile (fitted efficiency factors) applies to an engine on a GPU, with fallbacks.

Rules, in order: the exact (engine, family) entry; the same engine on the nearest family that has an
entry (FAMILY_NEIGHBOURS: closest architecture first); a sibling engine (SIBLING_ENGINES) on the same,
then the nearest family; finally an uncalibrated prior. A fallback profile says where it came from in
its `fit` text, so reports can show which numbers are calibrated.
"""

from __future__ import annotations

from catalog.types import Catalog, EngineProfile, Gpu
from planner.errors import CatalogError, did_you_mean

ENGINES = ("vllm", "trtllm", "sglang")

# Closest architectures first: same vendor and memory technology, then the next generation.
FAMILY_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "blackwell": ("hopper", "ampere", "ada"),
    "hopper": ("blackwell", "ampere", "ada"),
    "ampere": ("hopper", "ada", "blackwell"),
    "ada": ("ampere", "hopper", "blackwell"),
    "turing": ("ampere", "ada", "hopper"),
    "volta": ("ampere", "turing", "hopper"),
    "cdna3": ("hopper", "blackwell", "ampere"),
    "cdna2": ("ampere", "hopper", "cdna3"),
}
DEFAULT_NEIGHBOURS = ("hopper", "ampere", "blackwell", "ada")

# Engines whose scheduler and kernels are most alike (Python schedulers on FlashInfer/FlashAttention).
SIBLING_ENGINES: dict[str, tuple[str, ...]] = {
    "vllm": ("sglang", "trtllm"),
    "sglang": ("vllm", "trtllm"),
    "trtllm": ("vllm", "sglang"),
}

PRIOR = {"compute_efficiency": 0.5, "bandwidth_efficiency": 0.75, "step_overhead_ms": 2.0}


def _lookup(catalog: Catalog) -> dict[tuple[str, str], EngineProfile]:
    return {(e.engine, e.family): e for e in catalog.engines}


def engine_profile(catalog: Catalog, engine: str, gpu: Gpu, where: str = "--engine") -> EngineProfile:
    """The efficiency factors of `engine` on `gpu`'s family, or the documented fallback."""
    known = sorted(set(ENGINES) | {e.engine for e in catalog.engines})
    if engine not in known:
        raise CatalogError(f"unknown engine {engine!r}; {did_you_mean(engine, known)}", where=where)
    table = _lookup(catalog)
    family = gpu.family
    exact = table.get((engine, family))
    if exact is not None:
        return exact
    families = (family, *FAMILY_NEIGHBOURS.get(family, DEFAULT_NEIGHBOURS))
    engines = (engine, *SIBLING_ENGINES.get(engine, ()))
    for eng in engines:
        for fam in families:
            base = table.get((eng, fam))
            if base is not None and base.fit and not base.fit.startswith("fallback"):
                return base.model_copy(
                    update={
                        "engine": engine,
                        "family": family,
                        "fit": f"fallback: no calibrated entry for {engine}/{family}; factors of {eng}/{fam} "
                        f"(nearest calibrated engine x family). Those were fitted as: {base.fit}",
                    }
                )
    return EngineProfile(
        engine=engine,
        family=family,
        compute_efficiency=PRIOR["compute_efficiency"],
        bandwidth_efficiency=PRIOR["bandwidth_efficiency"],
        step_overhead_ms=PRIOR["step_overhead_ms"],
        fit="uncalibrated prior: no engine profiles in the catalog; typical published MFU/MBU values",
        source="gpuplan default",
        as_of="2025-01",
    )
