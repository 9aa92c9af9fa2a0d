"""The catalog: GPUs, cloud offerings, model architectures and engine calibration, with sources."""

from catalog.types import Catalog, EngineProfile, Gpu, HostProfile, ModelArch, Offering

__all__ = ["Catalog", "EngineProfile", "Gpu", "HostProfile", "ModelArch", "Offering"]
