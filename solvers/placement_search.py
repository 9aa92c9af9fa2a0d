"""The placement optimiser's search: blocks (GPU batch size x number of GPU batches) scanned and refined
with one block LP each, and realisation of an LP answer into what a runtime can place (whole tensors,
KV per layer and sequence, activations per sequence), re-evaluated and memory re-checked."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from catalog.types import Gpu, HostProfile, ModelArch
from solvers.placement_lp import BlockLp, LpSolution
from solvers.placement_model import (
    ACT_CPU,
    ACT_DISK,
    ACT_GPU,
    GB,
    KV_CPU,
    KV_DISK,
    KV_GPU,
    W_CPU,
    W_DISK,
    W_GPU,
    Block,
    Case,
    CaseForms,
    Layer,
    OffloadRuntime,
    build_forms,
    weight_bytes_per_element,
)
from solvers.placement_result import Policy, PolicyCost, Vec, policy_cost, policy_of

MAX_GPU_BATCH = 4096
MAX_GPU_BATCHES = 4096


def _split(total_units: int, fracs: tuple[float, float, float]) -> tuple[int, int, int]:
    """Whole units per tier: GPU and GPU+CPU rounded down (never more than the LP asked for), rest disk."""
    g = math.floor(fracs[0] * total_units + 1e-9)
    gc = max(g, math.floor((fracs[0] + fracs[1]) * total_units + 1e-9))
    return g, gc - g, total_units - gc


@lru_cache(maxsize=64)
def _sorted_units(layers: tuple[Layer, ...]) -> tuple[tuple[int, int, int, int], ...]:
    """Weight tensors largest first, then by layer and position (a deterministic first-fit order)."""
    return tuple(
        sorted(
            (-t.elements, li, ti, t.elements) for li, layer in enumerate(layers) for ti, t in enumerate(layer.tensors)
        )
    )


def realise_weights(
    layers: tuple[Layer, ...], w: tuple[float, float, float], bytes_per_el: float
) -> tuple[tuple[float, float, float], float, int, int]:
    """Whole tensors to devices: first-fit decreasing into the GPU share, then the CPU share, rest to disk.

    Returns realised fractions, the double buffer for streamed weights (2 x the most any one layer streams),
    the number of tensors on GPU and the number of tensors.
    """
    units = _sorted_units(layers)
    total = float(sum(u[3] for u in units))
    gpu_target = w[0] * total
    cpu_target = (w[0] + w[1]) * total
    on_gpu: set[tuple[int, int]] = set()
    on_cpu: set[tuple[int, int]] = set()
    used = 0.0
    for _, li, ti, el in units:
        if used + el <= gpu_target + 1e-6:
            on_gpu.add((li, ti))
            used += el
    gpu_el = used
    for _, li, ti, el in units:
        if (li, ti) not in on_gpu and used + el <= cpu_target + 1e-6:
            on_cpu.add((li, ti))
            used += el
    cpu_el = used - gpu_el
    if w[2] <= 1e-9 and used < total:
        # the LP put nothing on disk: rounding must not invent disk use, so the rest goes to CPU
        for _, li, ti, el in units:
            if (li, ti) not in on_gpu and (li, ti) not in on_cpu:
                on_cpu.add((li, ti))
                cpu_el += el
    streamed = [
        sum(t.elements for ti, t in enumerate(layer.tensors) if (li, ti) not in on_gpu)
        for li, layer in enumerate(layers)
    ]
    buffer = 2.0 * max(streamed) * bytes_per_el
    fr = (gpu_el / total, cpu_el / total, max(0.0, 1.0 - (gpu_el + cpu_el) / total))
    return fr, buffer, len(on_gpu), len(units)


def _realise(case: Case, forms: CaseForms, x: Vec) -> tuple[Vec, float, int, int]:
    wfr, buffer, on_gpu, n_tensors = realise_weights(
        forms.layers,
        (x[W_GPU], x[W_CPU], x[W_DISK]),
        weight_bytes_per_element(case.weights_dtype, case.runtime),
    )
    kv_units = case.model.layers * case.block.sequences  # KV of one layer of one sequence
    act_units = case.block.sequences  # hidden state of one sequence
    k = _split(kv_units, (x[KV_GPU], x[KV_CPU], x[KV_DISK]))
    a = _split(act_units, (x[ACT_GPU], x[ACT_CPU], x[ACT_DISK]))
    xr = np.array([*wfr, *(v / kv_units for v in k), *(v / act_units for v in a)], dtype=float)
    return xr, buffer, on_gpu, n_tensors


@dataclass(frozen=True)
class Evaluated:
    case: Case
    forms: CaseForms
    lp: LpSolution
    tokens_per_s: float

    def key(self) -> tuple[float, int, int, int]:
        """Higher throughput first (1e-9 relative), then smaller block, smaller GPU batch, GPU attention."""
        b = self.case.block
        return (
            -round(self.tokens_per_s, 9 - int(math.log10(max(self.tokens_per_s, 1e-12)))),
            b.sequences,
            b.gpu_batch_size,
            int(self.case.cpu_attention),
        )


class BlockSearch:
    def __init__(
        self,
        model: ModelArch,
        gpu: Gpu,
        host: HostProfile,
        input_len: int,
        output_len: int,
        weights: str,
        kv: str,
        runtime: OffloadRuntime,
        max_latency_s: float | None,
        segments: int,
    ) -> None:
        self.args = (model, gpu, host, input_len, output_len, weights, kv, runtime)
        self.max_latency_s = max_latency_s
        self.segments = segments
        self.lp = BlockLp()
        self.cache: dict[tuple[int, int, bool], Evaluated | None] = {}

    def case(self, gbs: int, nb: int, deleg: bool) -> Case:
        m, g, h, s, n, w, kv, rt = self.args
        return Case(m, g, h, s, n, w, kv, rt, Block(gbs, nb), deleg)

    def eval(self, gbs: int, nb: int, deleg: bool) -> Evaluated | None:
        key = (gbs, nb, deleg)
        if key in self.cache:
            return self.cache[key]
        result: Evaluated | None = None
        if 1 <= gbs <= MAX_GPU_BATCH and 1 <= nb <= MAX_GPU_BATCHES:
            case = self.case(gbs, nb, deleg)
            forms = build_forms(case, self.segments)
            sol = self.lp.solve(forms, self.max_latency_s)
            if sol is not None and sol.objective_s > 0:
                tps = case.block.sequences * case.output_len / sol.objective_s
                result = Evaluated(case, forms, sol, tps)
        self.cache[key] = result
        return result

    def best(self, evals: list[Evaluated | None]) -> Evaluated | None:
        found = [e for e in evals if e is not None]
        return min(found, key=Evaluated.key) if found else None

    def run(self) -> list[Evaluated]:
        """Coarse scan over GPU batch sizes in powers of two, each with a warm-started climb over the
        number of GPU batches (also powers of two), then an integer pattern search around the best."""
        delegs = [False]
        rt = self.args[7]
        if rt.cpu_attention_with_compressed_kv or self.args[6] != "int4":
            delegs.append(True)
        for deleg in delegs:
            gbs, start, misses = 1, 1, 0
            while gbs <= MAX_GPU_BATCH and misses < 2:
                row_best = self._scan_nb(gbs, deleg, start)
                if row_best is None:
                    misses += 1
                else:
                    misses = 0
                    start = max(1, row_best.case.block.num_gpu_batches // 2)  # about the same block size
                gbs *= 2
        ranked = sorted((e for e in self.cache.values() if e is not None), key=Evaluated.key)
        seeds: list[Evaluated] = []
        for e in ranked:  # the best of each attention placement, if within 10% of the best overall
            if not seeds or (
                all(e.case.cpu_attention != s.case.cpu_attention for s in seeds)
                and e.tokens_per_s >= 0.9 * seeds[0].tokens_per_s
            ):
                seeds.append(e)
            if len(seeds) == 2:
                break
        for seed in seeds:
            self._pattern(seed)
        return sorted((e for e in self.cache.values() if e is not None), key=Evaluated.key)

    def _scan_nb(self, gbs: int, deleg: bool, start: int) -> Evaluated | None:
        """Best number of GPU batches (powers of two times `start`) for one GPU batch size: climb up
        while it improves, else down; an infeasible block ends the climb."""
        best = self.eval(gbs, start, deleg)
        nb = start
        while best is None and nb > 1:  # start too big to fit: come down until something fits
            nb //= 2
            best = self.eval(gbs, nb, deleg)
        if best is None:
            return None
        for step in (2.0, 0.5):
            nb = best.case.block.num_gpu_batches
            moved = False
            while True:
                nb = int(nb * step)
                e = self.eval(gbs, nb, deleg) if nb >= 1 else None
                if e is None or e.key() >= best.key():
                    break
                best, moved = e, True
            if moved:
                break
        return best

    def _pattern(self, seed: Evaluated) -> None:
        g, b = seed.case.block.gpu_batch_size, seed.case.block.num_gpu_batches
        deleg = seed.case.cpu_attention
        cur = seed
        sg, sb = max(1, g // 2), max(1, b // 2)
        while True:
            cand = [
                self.eval(g + sg, b, deleg),
                self.eval(g - sg, b, deleg),
                self.eval(g, b + sb, deleg),
                self.eval(g, b - sb, deleg),
            ]
            nxt = self.best([cur, *cand])
            assert nxt is not None
            if nxt is not cur:
                cur = nxt
                g, b = cur.case.block.gpu_batch_size, cur.case.block.num_gpu_batches
                continue
            if sg == 1 and sb == 1:
                break
            sg, sb = max(1, sg // 2), max(1, sb // 2)


BOTTLENECK_NAMES = {
    "cpu_to_gpu": "cpu_to_gpu_bandwidth",
    "gpu_to_cpu": "gpu_to_cpu_bandwidth",
    "disk_read": "disk_read_bandwidth",
    "disk_write": "disk_write_bandwidth",
    "gpu": "gpu_compute",
    "cpu": "cpu_attention",
}


def latency_blocks_growth(search: BlockSearch, e: Evaluated) -> bool:
    """A bigger block fits in memory but misses the latency target: the target is what binds."""
    g, b, deleg = e.case.block.gpu_batch_size, e.case.block.num_gpu_batches, e.case.cpu_attention
    for gg, bb in ((g, b + 1), (g + 1, b)):
        if search.eval(gg, bb, deleg) is None:
            case = search.case(gg, bb, deleg)
            if search.lp.solve(build_forms(case, search.segments), None) is not None:
                return True
    return False


def binding_constraint(
    e: Evaluated, cost: PolicyCost, max_latency_s: float | None, latency_blocks: bool = False
) -> str:
    """What stops the throughput from being higher, in this order:
    the latency target if it is tight; else the memory constraint with the largest LP sensitivity
    (|dual| x capacity); else a memory nearly full at the chosen block (a bigger block would not fit);
    else the channel that dominates the time (the block is big enough, bandwidth or compute limits)."""
    duals = e.lp.duals
    scale = max(e.lp.objective_s, 1e-12)
    if max_latency_s is not None and (
        duals.get("max_latency", 0.0) > 1e-6 * scale or cost.total_s >= 0.999 * max_latency_s or latency_blocks
    ):
        return "max_latency"
    order = ("gpu_memory", "cpu_memory", "disk_capacity")
    top = max(order, key=lambda k: (duals.get(k, 0.0), -order.index(k)))
    if duals.get(top, 0.0) > 1e-6 * scale:
        return top
    use = {
        "gpu_memory": cost.peak_gpu_gb / max(cost.gpu_capacity_gb, 1e-12),
        "cpu_memory": cost.peak_cpu_gb / max(cost.cpu_capacity_gb, 1e-12),
        "disk_capacity": cost.peak_disk_gb / max(cost.disk_capacity_gb, 1e-12) if cost.disk_capacity_gb else 0.0,
    }
    fullest = max(order, key=lambda k: (use[k], -order.index(k)))
    if use[fullest] >= 0.95:
        return fullest
    return BOTTLENECK_NAMES[cost.bottleneck]


def realise_checked(search: BlockSearch, e: Evaluated) -> tuple[Policy, PolicyCost, int, int] | None:
    """Round to whole tensors/units and re-check memory; if the realised buffers overflow, re-solve the
    block with the GPU (or CPU) capacity reduced by the overflow and try again (a few rounds)."""
    forms = e.forms
    sol = e.lp
    for _ in range(4):
        xr, buffer, on_gpu, n_t = _realise(e.case, e.forms, sol.x)
        cost = policy_cost(e.case, e.forms, xr, buffer)  # always against the true capacities
        if search.max_latency_s is not None and cost.total_s > search.max_latency_s * (1 + 1e-9):
            return None
        if cost.fits:
            return policy_of(e.case, xr), cost, on_gpu, n_t
        over_gpu = max(0.0, cost.peak_gpu_gb - cost.gpu_capacity_gb) * GB
        over_cpu = max(0.0, cost.peak_cpu_gb - cost.cpu_capacity_gb) * GB
        over_disk = max(0.0, cost.peak_disk_gb - cost.disk_capacity_gb) * GB
        mem = replace(
            forms.memory,
            gpu_capacity_bytes=forms.memory.gpu_capacity_bytes - over_gpu * 1.001 - 1e6,
            cpu_capacity_bytes=forms.memory.cpu_capacity_bytes - over_cpu * 1.001 - 1e6,
            disk_capacity_bytes=forms.memory.disk_capacity_bytes - over_disk * 1.001 - 1e6,
        )
        tighter = replace(forms, memory=mem)
        new = search.lp.solve(tighter, search.max_latency_s)
        if new is None:
            return None
        sol = new
    return None
