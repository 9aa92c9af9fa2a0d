"""Placement optimiser for memory-poor GPUs: where weights, KV cache and activations live, and the block size.

FlexGen (Sheng et al., ICML 2023, arXiv 2303.06865) formulated this as an LP per block; this module keeps
the idea and fixes its flaws (see `solvers.placement_model` for the cost model itself):

* any catalog model (GQA, gated MLP, MoE, sliding window), any GPU, any host profile;
* the GPU memory-bandwidth (roofline) term, so a model that fits is not predicted 2.4x too fast;
* peak GPU memory as the max of working buffers, not their sum;
* group-wise int4 compression of weights and/or KV with its metadata bytes and dequantisation traffic;
* an optional latency target (the whole block must finish within it);
* a deterministic block search (coarse doubling scan, then an integer pattern search, explicit tie-breaks);
* realisation: the continuous fractions are rounded to what a runtime can place (whole weight tensors,
  KV per layer and sequence, activations per sequence), then re-evaluated and memory re-checked.

LP for a fixed block (gpu batch size, number of GPU batches) and attention placement (GPU or CPU):

    variables  x = (w_g, w_c, w_d, kv_g, kv_c, kv_d, a_g, a_c, a_d) in [0, 1]; T_p >= 0 per pass p
               (prefill, decode segments); e_q >= 0 per max-group q (roofline of an op)
    minimise   sum_p repeats_p * T_p
    s.t.       share_<kind>:       w_g + w_c + w_d = 1 (likewise kv, act)
               pass_<p>_<channel>: channel_p(x, e) <= T_p   for every concurrent channel
               roof_<q>_<i>:       form_qi(x) <= e_q
               mem_gpu, mem_cpu, mem_disk: peak memory <= capacity
               latency:            sum_p repeats_p * (T_p + overhead_p) <= max_latency_s   (optional)

Modules: `placement_result` (policies, costs, results), `placement_lp` (the block LP), `placement_search`
(block search and realisation); this one holds the entry points. Errors name arguments (`input_len`,
`max_latency_s`), never flags: `SolverArgumentError`, `PlacementInfeasible`.
"""

from __future__ import annotations

import time

from catalog.types import Gpu, HostProfile, ModelArch
from solvers.backend import require_highspy
from solvers.errors import PlacementInfeasible, SolverArgumentError
from solvers.placement_lp import BlockLp, LpSolution
from solvers.placement_model import COMPRESSIBLE, GB, Block, Case, CaseForms, OffloadRuntime, build_forms
from solvers.placement_result import (
    OffloadResult,
    Placement,
    PlacementResult,
    Policy,
    PolicyCost,
    policy_cost,
    policy_of,
)
from solvers.placement_search import (
    BlockSearch,
    Evaluated,
    binding_constraint,
    latency_blocks_growth,
    realise_checked,
    realise_weights,
)

require_highspy()  # the block LP needs HiGHS: fail on import, so `gpuplan place` can say what is missing

FLEXGEN_RUNTIME = OffloadRuntime(
    gemm_efficiency=21.24 / 65.0,
    hbm_efficiency=0.80,
    cpu_attention_efficiency=12.3 / 128.0,
    overlap_efficiency=0.2438,
    kv_store_d2h_efficiency=0.97 / 4.82,
    kv_store_disk_efficiency=0.746 / 2.015,
    layer_overhead_s=0.0,
    gpu_reserve_gb=1.0,
    cpu_reserve_gb=4.0,
    source="FlexGen (arXiv 2303.06865) runtime on its GCP T4 machine",
    fit="gemm_efficiency = FlexGen's measured T4 prefill GEMM rate 21.24 TFLOPS / 65 peak; "
    "cpu_attention_efficiency = FlexGen's measured CPU attention rate 12.3 GFLOPS (~12.3 GB/s of fp16 KV) / "
    "128 GB/s DRAM; hbm_efficiency 0.8 assumed; overlap_efficiency fitted to FlexGen's two OPT-30B T4 "
    "measurements (512/1024 prompt, 32 new tokens: 7.32 and 3.50 tok/s) by "
    "`bench/placement_search.py --calibrate` (rms log error 0.019)",
)
"""A FlexGen-like PyTorch runtime. The two KV-store ratios are FlexGen's own measurements on its T4 host
(KV GPU->CPU 0.97 vs activations 4.82 GB/s; KV CPU->disk 0.746 vs activations 2.015 GB/s)."""

MAX_GPU_BATCH = 4096
MAX_GPU_BATCHES = 4096


def evaluate_policy(
    model: ModelArch,
    gpu: Gpu,
    host: HostProfile,
    policy: Policy,
    input_len: int,
    output_len: int,
    *,
    weights: str = "fp16",
    kv: str = "fp16",
    runtime: OffloadRuntime = FLEXGEN_RUNTIME,
) -> PolicyCost:
    """Cost of a given policy (e.g. a published FlexGen policy), weights split per tensor as FlexGen's
    continuous model assumes; use `realise_weights` for the whole-tensor buffer."""
    case = Case(
        model,
        gpu,
        host,
        input_len,
        output_len,
        weights,
        kv,
        runtime,
        Block(policy.gpu_batch_size, policy.num_gpu_batches),
        policy.cpu_attention,
    )
    return policy_cost(case, build_forms(case), policy.vector())


def validate_inputs(model: ModelArch, input_len: int, output_len: int, weights: str, kv: str) -> None:
    """SolverArgumentError naming the argument (`input_len`, `output_len`, `weights`, `kv`) when one is out
    of range; lengths beyond the model's context count against `input_len`."""
    if input_len < 1:
        raise SolverArgumentError("input_len", f"input length must be at least 1 token, got {input_len}")
    if output_len < 1:
        raise SolverArgumentError("output_len", f"output length must be at least 1 token, got {output_len}")
    if input_len + output_len > model.max_position:
        raise SolverArgumentError(
            "input_len",
            f"input + output = {input_len + output_len} tokens exceeds {model.id}'s context of {model.max_position}",
        )
    for argument, value in (("weights", weights), ("kv", kv)):
        if value not in COMPRESSIBLE:
            raise SolverArgumentError(
                argument, f"{value!r} is not an offloading format; valid: {', '.join(COMPRESSIBLE)}"
            )


def place(
    model: ModelArch,
    gpu: Gpu,
    host: HostProfile,
    input_len: int,
    output_len: int,
    *,
    weights: str = "fp16",
    kv: str = "fp16",
    max_latency_s: float | None = None,
    runtime: OffloadRuntime = FLEXGEN_RUNTIME,
    segments: int = 4,
    realise_top: int = 3,
) -> PlacementResult:
    """Best offloading policy for one GPU: LP per block, block search, realisation, re-check.

    Raises PlacementInfeasible when no block fits (weights + one sequence's KV exceed GPU+CPU+disk) or the
    latency target cannot be met by any block; SolverArgumentError for an argument out of range.
    """
    validate_inputs(model, input_len, output_len, weights, kv)
    if max_latency_s is not None and not max_latency_s > 0:
        raise SolverArgumentError("max_latency_s", f"latency target must be positive, got {max_latency_s}")
    t0 = time.perf_counter()
    search = BlockSearch(model, gpu, host, input_len, output_len, weights, kv, runtime, max_latency_s, segments)
    ranked = search.run()
    smallest = Case(model, gpu, host, input_len, output_len, weights, kv, runtime, Block(1, 1), False)
    if not ranked:
        raise _infeasible(smallest, max_latency_s)
    chosen: tuple[Evaluated, Policy, PolicyCost, int, int] | None = None
    realised = 0
    for e in ranked[:40]:
        real = realise_checked(search, e)
        if real is None:
            continue
        realised += 1
        pol, cost, on_gpu, n_t = real
        if chosen is None or (cost.output_tokens_per_s > chosen[2].output_tokens_per_s * (1 + 1e-9)):
            chosen = (e, pol, cost, on_gpu, n_t)
        if realised >= realise_top:
            break
    if chosen is None:
        # the LP found blocks, but none survived rounding to whole tensors: the fit is too tight to realise
        _, need, total_cap = _memory_gb(smallest)
        raise PlacementInfeasible(
            f"{model.id} needs {need:.1f} GB ({weights} weights + one sequence's KV) of the {total_cap:.1f} GB "
            "GPU+CPU+disk offer, but no policy rounded to whole tensors passed the memory re-check; give the "
            "host more CPU memory or disk",
            "memory",
        )
    e, pol, cost, on_gpu, n_t = chosen
    lp_cost = policy_cost(e.case, e.forms, e.lp.x)
    return PlacementResult(
        model=model.id,
        gpu=gpu.id,
        host=host.id,
        input_len=input_len,
        output_len=output_len,
        weights_dtype=weights,
        kv_dtype=kv,
        policy=pol,
        cost=cost,
        lp_policy=policy_of(e.case, e.lp.x),
        lp_cost=lp_cost,
        binding_constraint=binding_constraint(
            e, cost, max_latency_s, max_latency_s is not None and latency_blocks_growth(search, e)
        ),
        max_latency_s=max_latency_s,
        blocks_evaluated=len(search.cache),
        lps_solved=search.lp.solved,
        search_s=time.perf_counter() - t0,
        weights_on_gpu_tensors=on_gpu,
        weights_tensors=n_t,
    )


def _memory_gb(case: Case) -> tuple[CaseForms, float, float]:
    """(forms of `case`, GB the weights and one sequence's KV need, GB GPU+CPU+disk offer)."""
    forms = build_forms(case)
    total_cap = (
        forms.memory.gpu_capacity_bytes + forms.memory.cpu_capacity_bytes + forms.memory.disk_capacity_bytes
    ) / GB
    return forms, (forms.weights_bytes + forms.kv_bytes) / GB, total_cap


def _infeasible(case: Case, max_latency_s: float | None) -> PlacementInfeasible:
    """What binds when no block fits (`case`: the smallest block), in domain words (the caller adds how to
    change it)."""
    model, weights = case.model, case.weights_dtype
    forms, need, total_cap = _memory_gb(case)
    if need > total_cap:
        return PlacementInfeasible(
            f"{model.id} needs {need:.1f} GB ({weights} weights + one sequence's KV) but GPU+CPU+disk offer "
            f"{total_cap:.1f} GB; give the host more CPU memory or disk, or use int4 weights",
            "memory",
        )
    sol = BlockLp().solve(forms, None)
    if sol is not None and max_latency_s is not None:
        return PlacementInfeasible(
            f"no block finishes within the latency target of {max_latency_s:g} s (one sequence alone takes "
            f"{sol.objective_s:.1f} s); raise it or use a faster host",
            "latency",
        )
    # streamed weights need a double buffer on the GPU and, when some live on disk, staging in CPU RAM
    buffers = 2.0 * forms.memory.weight_buffer_lp_bytes / GB
    if need + buffers > total_cap:
        return PlacementInfeasible(
            f"{model.id} needs {need:.1f} GB ({weights} weights + one sequence's KV) plus {buffers:.1f} GB of "
            f"buffers to stream its largest layer, but GPU+CPU+disk offer {total_cap:.1f} GB; give the host "
            "more CPU memory or disk, or use int4 weights",
            "memory",
        )
    return PlacementInfeasible(
        f"no placement fits: the GPU's {forms.memory.gpu_capacity_bytes / GB:.1f} GB usable cannot hold the "
        "working buffers of one layer; try a GPU with more memory",
        "gpu_memory",
    )


def offload_capacity(
    model: ModelArch,
    gpu: Gpu,
    host: HostProfile,
    input_len: int,
    output_len: int,
    *,
    weights: str = "fp16",
    kv: str = "fp16",
    max_latency_s: float | None = None,
    runtime: OffloadRuntime = FLEXGEN_RUNTIME,
) -> OffloadResult:
    """Throughput of one GPU serving batch work with offloading, for the fleet planner's offline candidates.

    requests_per_s = sequences per block / block latency; every request of a block finishes at the end of
    the block, so batch_latency_s is the worst-case time a request waits once its block starts.
    """
    r = place(
        model,
        gpu,
        host,
        input_len,
        output_len,
        weights=weights,
        kv=kv,
        max_latency_s=max_latency_s,
        runtime=runtime,
    )
    return OffloadResult(
        output_tokens_per_s=r.cost.output_tokens_per_s,
        requests_per_s=r.policy.block_size / r.cost.total_s,
        batch_latency_s=r.cost.total_s,
        sequences_per_batch=r.policy.block_size,
        policy=r.policy,
        binding_constraint=r.binding_constraint,
    )


__all__ = [
    "FLEXGEN_RUNTIME",
    "BlockLp",
    "LpSolution",
    "OffloadResult",
    "Placement",
    "PlacementResult",
    "Policy",
    "PolicyCost",
    "evaluate_policy",
    "offload_capacity",
    "place",
    "realise_weights",
    "validate_inputs",
]
