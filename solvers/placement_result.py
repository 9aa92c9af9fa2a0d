"""What the placement optimiser answers: a policy (where weights, KV cache and activations live, and the
block), its cost as the cost model evaluates it, and the search's result; `policy_cost` evaluates one."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from solvers.placement_model import (
    ACT_GPU,
    CHANNELS,
    GB,
    KV_GPU,
    W_GPU,
    Case,
    CaseForms,
    PassTimes,
    evaluate_passes,
)

Vec = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Placement:
    """Shares (0..1) of one kind of data on GPU, CPU RAM and disk."""

    gpu: float
    cpu: float
    disk: float

    def pct(self) -> dict[str, float]:
        return {
            "gpu_pct": round(100.0 * self.gpu, 2),
            "cpu_pct": round(100.0 * self.cpu, 2),
            "disk_pct": round(100.0 * self.disk, 2),
        }


@dataclass(frozen=True)
class Policy:
    gpu_batch_size: int
    num_gpu_batches: int
    weights: Placement
    kv_cache: Placement
    activations: Placement
    cpu_attention: bool

    @property
    def block_size(self) -> int:
        return self.gpu_batch_size * self.num_gpu_batches

    def vector(self) -> Vec:
        w, k, a = self.weights, self.kv_cache, self.activations
        return np.array([w.gpu, w.cpu, w.disk, k.gpu, k.cpu, k.disk, a.gpu, a.cpu, a.disk], dtype=float)


@dataclass(frozen=True)
class PolicyCost:
    """Times and peak memory of one policy, evaluated by the cost model."""

    prefill_s: float
    decode_s: float
    output_tokens_per_s: float
    peak_gpu_gb: float
    peak_cpu_gb: float
    peak_disk_gb: float
    gpu_capacity_gb: float
    cpu_capacity_gb: float
    disk_capacity_gb: float
    bottleneck: str
    passes: tuple[PassTimes, ...]

    @property
    def total_s(self) -> float:
        return self.prefill_s + self.decode_s

    @property
    def fits(self) -> bool:
        tol = 1e-6 * GB
        return (
            self.peak_gpu_gb * GB <= self.gpu_capacity_gb * GB + tol
            and self.peak_cpu_gb * GB <= self.cpu_capacity_gb * GB + tol
            and self.peak_disk_gb * GB <= self.disk_capacity_gb * GB + tol
        )


@dataclass(frozen=True)
class PlacementResult:
    """The realised (runtime-placeable) policy, its re-evaluated cost, and the LP optimum it came from."""

    model: str
    gpu: str
    host: str
    input_len: int
    output_len: int
    weights_dtype: str
    kv_dtype: str
    policy: Policy
    cost: PolicyCost
    lp_policy: Policy
    lp_cost: PolicyCost
    binding_constraint: str
    max_latency_s: float | None
    blocks_evaluated: int
    lps_solved: int
    search_s: float
    weights_on_gpu_tensors: int
    weights_tensors: int


@dataclass(frozen=True)
class OffloadResult:
    """What the fleet planner needs for an offline (batch) workload served with offloading."""

    output_tokens_per_s: float
    requests_per_s: float
    batch_latency_s: float
    sequences_per_batch: int
    policy: Policy
    binding_constraint: str


def policy_cost(case: Case, forms: CaseForms, x: Vec, weight_buffer_bytes: float | None = None) -> PolicyCost:
    """Times from the shared forms; memory from the forms with the realised weight double buffer."""
    passes = evaluate_passes(forms, x)
    prefill = passes[0].seconds * passes[0].repeats
    decode = sum(p.seconds * p.repeats for p in passes[1:])
    xc = np.append(x, 1.0)
    mem = forms.memory
    gpu = float(mem.gpu @ xc)
    if weight_buffer_bytes is not None:
        gpu += weight_buffer_bytes - (1.0 - x[W_GPU]) * mem.weight_buffer_lp_bytes
    total = prefill + decode
    tokens = case.block.sequences * case.output_len
    share: dict[str, float] = dict.fromkeys(CHANNELS, 0.0)
    for p in passes:
        for c in CHANNELS:
            share[c] += p.channels[c] * p.repeats
    bottleneck = max(sorted(share), key=lambda c: share[c])
    return PolicyCost(
        prefill_s=prefill,
        decode_s=decode,
        output_tokens_per_s=tokens / total if total > 0 else 0.0,
        peak_gpu_gb=gpu / GB,
        peak_cpu_gb=float(mem.cpu @ xc) / GB,
        peak_disk_gb=float(mem.disk @ xc) / GB,
        gpu_capacity_gb=mem.gpu_capacity_bytes / GB,
        cpu_capacity_gb=mem.cpu_capacity_bytes / GB,
        disk_capacity_gb=mem.disk_capacity_bytes / GB,
        bottleneck=bottleneck,
        passes=passes,
    )


def policy_of(case: Case, x: Vec) -> Policy:
    def pl(i: int) -> Placement:
        return Placement(float(x[i]), float(x[i + 1]), float(x[i + 2]))

    return Policy(
        gpu_batch_size=case.block.gpu_batch_size,
        num_gpu_batches=case.block.num_gpu_batches,
        weights=pl(W_GPU),
        kv_cache=pl(KV_GPU),
        activations=pl(ACT_GPU),
        cpu_attention=case.cpu_attention,
    )
