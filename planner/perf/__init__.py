"""Performance estimator: memory, roofline latencies and the continuous-batching serving model.

The planner calls `memory_breakdown` (does a replica fit?) and `capacity_rps_many` (largest arrival rate
per request class meeting the SLOs); `estimate` calls `predict` for one operating point;
`uncertainty` grades an estimate and gives its cross-validated error band. A request-level simulator
uses the per-iteration latencies `decode_step_time_s(dep, batch, context)` and
`prefill_chunk_time_s(dep, tokens, context)`.
"""

from planner.perf.deployment import EXTRA_DEFAULTS, KV_DTYPES, WEIGHT_DTYPES, Deployment
from planner.perf.memory import (
    MemoryBreakdown,
    kv_bytes_per_token_per_gpu,
    memory_breakdown,
    weights_bytes_total,
)
from planner.perf.precision import resolve_precision
from planner.perf.profiles import ENGINES, engine_profile
from planner.perf.roofline import decode_step_time_s, prefill_chunk_time_s
from planner.perf.serving import ServingPoint, capacity_rps, capacity_rps_many, predict
from planner.perf.uncertainty import Uncertainty, uncertainty

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
    "decode_step_time_s",
    "engine_profile",
    "kv_bytes_per_token_per_gpu",
    "memory_breakdown",
    "predict",
    "prefill_chunk_time_s",
    "resolve_precision",
    "uncertainty",
    "Uncertainty",
    "weights_bytes_total",
]
