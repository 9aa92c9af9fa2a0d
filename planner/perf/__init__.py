"""Performance estimator: memory, roofline latencies and the continuous-batching serving model.

The planner calls `memory_breakdown` (does a replica fit?) and `capacity_rps_many` (largest arrival rate
per request class meeting the SLOs); `estimate` calls `predict` for one operating point.
"""

from planner.perf.deployment import EXTRA_DEFAULTS, KV_DTYPES, WEIGHT_DTYPES, Deployment
from planner.perf.memory import (
    MemoryBreakdown,
    kv_bytes_per_token_per_gpu,
    memory_breakdown,
    weights_bytes_total,
)
from planner.perf.profiles import ENGINES, engine_profile
from planner.perf.serving import ServingPoint, capacity_rps, capacity_rps_many, predict

__all__ = [
    "ENGINES",
    "EXTRA_DEFAULTS",
    "KV_DTYPES",
    "WEIGHT_DTYPES",
    "Deployment",
    "MemoryBreakdown",
    "ServingPoint",
    "capacity_rps",
    "capacity_rps_many",
    "engine_profile",
    "kv_bytes_per_token_per_gpu",
    "memory_breakdown",
    "predict",
    "weights_bytes_total",
]
