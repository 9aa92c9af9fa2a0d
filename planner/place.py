"""The best offloading placement (GPU / CPU RAM / disk) of one model on one GPU and host, as a typed result.

Wraps the placement optimiser (solvers.placement): an infeasible placement is a `PlaceInfeasible` result,
not an exception; the figures are rounded for reporting and carry their units in their names.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from catalog.types import Gpu, HostProfile, ModelArch
from planner.errors import GpuplanError
from solvers.errors import PlacementInfeasible

if TYPE_CHECKING:
    from solvers.placement import Placement, PlacementResult, Policy


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Shares(_Frozen):
    """Where a kind of tensor lives, in percent."""

    gpu_pct: float
    cpu_pct: float
    disk_pct: float


class PolicyReport(_Frozen):
    weights: Shares
    kv_cache: Shares
    activations: Shares
    gpu_batch_size: int
    num_gpu_batches: int
    sequences_per_block: int
    attention_on_cpu: bool


class HostReport(_Frozen):
    id: str
    cpu_mem_gb: float
    disk_gb: float
    cpu_to_gpu_gb_per_s: float
    gpu_to_cpu_gb_per_s: float
    disk_to_cpu_gb_per_s: float
    cpu_to_disk_gb_per_s: float
    source: str


class Tiers(_Frozen):
    gpu: float
    cpu: float
    disk: float


class LpRelaxation(_Frozen):
    output_tokens_per_s: float
    policy: PolicyReport


class RuntimeReport(_Frozen):
    source: str
    fit: str


class SearchReport(_Frozen):
    blocks_evaluated: int
    lps_solved: int
    seconds: float


class PlaceResult(_Frozen):
    """What `gpuplan place` reports for a placement that fits."""

    model: str
    gpu: str
    host: HostReport
    input_len: int
    output_len: int
    weights_dtype: str
    kv_dtype: str
    max_latency_s: float | None
    output_tokens_per_s: float
    prefill_s: float
    decode_s: float
    batch_latency_s: float
    policy: PolicyReport
    weights_tensors_on_gpu: int
    weights_tensors: int
    peak_memory_gb: Tiers
    capacity_gb: Tiers
    memory_recheck: str
    binding_constraint: str
    bottleneck: str
    lp_relaxation: LpRelaxation
    runtime: RuntimeReport
    notes: tuple[str, ...]
    search: SearchReport


class HostId(_Frozen):
    id: str


class PlaceInfeasible(_Frozen):
    """What `gpuplan place` reports when no placement fits (or meets the latency target)."""

    model: str
    gpu: str
    host: HostId
    reason: str
    notes: tuple[str, ...]


def placement_module() -> ModuleType:
    """`solvers.placement`, imported on use: its LP needs highspy, and without it `place` should say so
    (exit 2) rather than fail with an internal error."""
    try:
        import solvers.placement as placement  # noqa: PLC0415 - needs highspy, optional until `place` runs
    except ImportError as exc:
        if exc.name != "highspy":
            raise
        raise GpuplanError("gpuplan place needs highspy for its LP (pip install highspy)") from None
    return placement


def _shares(p: Placement) -> Shares:
    return Shares.model_validate(p.pct())


def _policy(p: Policy) -> PolicyReport:
    return PolicyReport(
        weights=_shares(p.weights),
        kv_cache=_shares(p.kv_cache),
        activations=_shares(p.activations),
        gpu_batch_size=p.gpu_batch_size,
        num_gpu_batches=p.num_gpu_batches,
        sequences_per_block=p.block_size,
        attention_on_cpu=p.cpu_attention,
    )


def _report(r: PlacementResult, host: HostProfile, notes: tuple[str, ...]) -> PlaceResult:
    runtime = placement_module().FLEXGEN_RUNTIME
    c = r.cost
    return PlaceResult(
        model=r.model,
        gpu=r.gpu,
        host=HostReport(
            id=host.id,
            cpu_mem_gb=host.cpu_mem_gb,
            disk_gb=host.disk_gb,
            cpu_to_gpu_gb_per_s=host.cpu_to_gpu_gb_per_s,
            gpu_to_cpu_gb_per_s=host.gpu_to_cpu_gb_per_s,
            disk_to_cpu_gb_per_s=host.disk_to_cpu_gb_per_s,
            cpu_to_disk_gb_per_s=host.cpu_to_disk_gb_per_s,
            source=host.source,
        ),
        input_len=r.input_len,
        output_len=r.output_len,
        weights_dtype=r.weights_dtype,
        kv_dtype=r.kv_dtype,
        max_latency_s=r.max_latency_s,
        output_tokens_per_s=round(c.output_tokens_per_s, 4),
        prefill_s=round(c.prefill_s, 3),
        decode_s=round(c.decode_s, 3),
        batch_latency_s=round(c.total_s, 3),
        policy=_policy(r.policy),
        weights_tensors_on_gpu=r.weights_on_gpu_tensors,
        weights_tensors=r.weights_tensors,
        peak_memory_gb=Tiers(gpu=round(c.peak_gpu_gb, 3), cpu=round(c.peak_cpu_gb, 3), disk=round(c.peak_disk_gb, 3)),
        capacity_gb=Tiers(
            gpu=round(c.gpu_capacity_gb, 3), cpu=round(c.cpu_capacity_gb, 3), disk=round(c.disk_capacity_gb, 3)
        ),
        memory_recheck="passed" if c.fits else "failed",
        binding_constraint=r.binding_constraint,
        bottleneck=c.bottleneck,
        lp_relaxation=LpRelaxation(
            output_tokens_per_s=round(r.lp_cost.output_tokens_per_s, 4), policy=_policy(r.lp_policy)
        ),
        runtime=RuntimeReport(source=runtime.source, fit=runtime.fit),
        notes=notes,
        search=SearchReport(blocks_evaluated=r.blocks_evaluated, lps_solved=r.lps_solved, seconds=r.search_s),
    )


def place(
    arch: ModelArch,
    gpu: Gpu,
    host: HostProfile,
    input_len: int,
    output_len: int,
    *,
    weights: str,
    kv: str,
    max_latency_s: float | None,
    notes: tuple[str, ...] = (),
    hints: Mapping[str, str] | None = None,
) -> PlaceResult | PlaceInfeasible:
    """Run the placement optimiser; `notes` (about the host) are passed through to the result, and an
    infeasible placement's reason ends with `hints[binding]` (what to change, in the caller's words).
    Arguments the solver rejects raise its SolverArgumentError (naming the argument)."""
    placement = placement_module()
    try:
        r: PlacementResult = placement.place(
            arch, gpu, host, input_len, output_len, weights=weights, kv=kv, max_latency_s=max_latency_s
        )
    except PlacementInfeasible as err:
        reason = err.message + (hints or {}).get(err.binding, "")
        return PlaceInfeasible(model=arch.id, gpu=gpu.id, host=HostId(id=host.id), reason=reason, notes=notes)
    if r.policy.weights.gpu >= 1.0 and r.policy.kv_cache.gpu >= 1.0 and r.policy.activations.gpu >= 1.0:
        notes = (
            *notes,
            "everything fits on the GPU: no offloading needed (a serving engine will do better; "
            "see `gpuplan estimate`)",
        )
    return _report(r, host, notes)
