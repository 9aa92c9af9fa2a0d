"""The application's error vocabulary (defined in common.errors, the bottom layer, so that catalog/ can
raise the same errors the CLI catches once)."""

from common.errors import (
    ArgumentError,
    CatalogError,
    GpuplanError,
    InfeasibleError,
    InputError,
    SolverError,
    did_you_mean,
    unknown_id,
)

__all__ = [
    "ArgumentError",
    "CatalogError", "GpuplanError", "InfeasibleError", "InputError", "SolverError", "did_you_mean", "unknown_id"]
