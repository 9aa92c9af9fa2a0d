"""The catalog: GPUs, cloud offerings, model architectures and engine calibration, with sources.

`load_catalog()` parses the shipped data lazily (first call) and caches it; nothing is read at import.
"""

from catalog.hf import load_hf_config
from catalog.loader import get_gpu, get_offering, load_catalog, resolve_model, shipped_catalog
from catalog.skypilot import import_skypilot_csv
from catalog.types import Catalog, EngineProfile, Gpu, HostProfile, ModelArch, Offering

__all__ = [
    "Catalog",
    "EngineProfile",
    "Gpu",
    "HostProfile",
    "ModelArch",
    "Offering",
    "get_gpu",
    "get_offering",
    "import_skypilot_csv",
    "load_catalog",
    "load_hf_config",
    "resolve_model",
    "shipped_catalog",
]
