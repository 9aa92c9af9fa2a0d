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
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import numpy.typing as npt

try:
    import highspy
except ImportError as _exc:  # named, so `gpuplan place` can say what is missing; `plan` goes on without offloading
    raise ImportError(str(_exc) or "highspy cannot be imported", name="highspy") from _exc

from catalog.types import Gpu, HostProfile, ModelArch
from solvers.backend import new_highs, run_highs
from solvers.placement_model import (
    ACT_CPU,
    ACT_DISK,
    ACT_GPU,
    CHANNELS,
    COMPRESSIBLE,
    CONST,
    GB,
    KV_CPU,
    KV_DISK,
    KV_GPU,
    NX,
    W_CPU,
    W_DISK,
    W_GPU,
    Block,
    Case,
    CaseForms,
    Layer,
    OffloadRuntime,
    PassTimes,
    build_forms,
    evaluate_passes,
    weight_bytes_per_element,
)

Vec = npt.NDArray[np.float64]

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


# --------------------------------------------------------------------------------------------- results
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


# --------------------------------------------------------------------------------------------- LP
@dataclass(frozen=True)
class LpSolution:
    x: Vec
    objective_s: float
    duals: dict[str, float]  # constraint name -> |dual * rhs| (seconds of total time per 100% capacity)


class _Lp:
    """Builds and solves the block LP with one reusable HiGHS instance (a few hundred microseconds each)."""

    def __init__(self) -> None:
        self.h = new_highs(presolve="off")
        self.solved = 0

    def solve(self, forms: CaseForms, max_latency_s: float | None) -> LpSolution | None:
        passes = forms.passes
        n_t = len(passes)
        eta = forms.overlap_efficiency
        n_e = sum(len(pf.maxes) for pf in passes)
        m0 = NX + n_t + n_e  # M_p: the slowest channel of pass p
        n = m0 + n_t
        n_rows = 3 + sum(1 + sum(pf.active) + sum(len(f) for _, f in pf.maxes) for pf in passes) + 3
        n_rows += 1 if max_latency_s is not None else 0
        a = np.zeros((n_rows, n))
        inf = highspy.kHighsInf
        lo = np.full(n_rows, -inf)
        up = np.full(n_rows, inf)
        names: dict[str, int] = {}
        r = 0
        for idx in (W_GPU, KV_GPU, ACT_GPU):  # share_<kind>: fractions of one kind sum to 1
            a[r, idx : idx + 3] = 1.0
            lo[r] = up[r] = 1.0
            r += 1
        e = NX + n_t
        for p, pf in enumerate(passes):
            # pass_<p>: eta * M_p + (1 - eta) * sum_c channel_c <= T_p
            total = r
            a[total, NX + p] = -1.0
            a[total, m0 + p] = eta
            a[total, :NX] = (1.0 - eta) * pf.base[:, :NX].sum(axis=0)
            up[total] = -(1.0 - eta) * pf.base[:, CONST].sum()
            r += 1
            # slowest_<p>_<channel>: base_c(x) + its roofline variables <= M_p
            rows = {}
            for ci, act in enumerate(pf.active):
                if act:
                    a[r, :NX] = pf.base[ci, :NX]
                    a[r, m0 + p] = -1.0
                    up[r] = -pf.base[ci, CONST]
                    rows[ci] = r
                    r += 1
            for ci, forms_ in pf.maxes:  # roof_<q>_<i>: form_i(x) <= e_q
                a[rows[ci], e] = 1.0
                a[total, e] = 1.0 - eta
                k = len(forms_)
                a[r : r + k, :NX] = forms_[:, :NX]
                a[r : r + k, e] = -1.0
                up[r : r + k] = -forms_[:, CONST]
                r += k
                e += 1
        mem = forms.memory
        slack = mem.rounding_slack_bytes
        for name, f, cap in (
            ("gpu_memory", mem.gpu, mem.gpu_capacity_bytes),
            ("cpu_memory", mem.cpu, max(mem.cpu_capacity_bytes - slack, 0.0)),
            ("disk_capacity", mem.disk, max(mem.disk_capacity_bytes - slack, 0.0)),
        ):
            a[r, :NX] = f[:NX] / GB  # rows in GB keep the LP well conditioned
            up[r] = (cap - f[CONST]) / GB
            names[name] = r
            r += 1
        overhead = sum(pf.repeats * pf.overhead_s for pf in passes)
        repeats = np.array([pf.repeats for pf in passes])
        if max_latency_s is not None:
            a[r, NX : NX + n_t] = repeats
            up[r] = max_latency_s - overhead
            names["max_latency"] = r
            r += 1

        cost = np.zeros(n)
        cost[NX : NX + n_t] = repeats
        scale = float(sum(pf.repeats * pf.base[CHANNELS.index("gpu"), CONST] for pf in passes))
        # tie-break between equally fast placements: prefer the faster tier (changes the time by less
        # than 1e-6 relative, but makes the answer unique and physically sensible)
        eps = 1e-7 * max(scale, 1e-9)
        for idx in (W_GPU, KV_GPU, ACT_GPU):
            cost[idx + 1] = eps
            cost[idx + 2] = 2.0 * eps
        lp = highspy.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = n_rows
        lp.col_cost_ = cost
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.concatenate([np.ones(NX), np.full(n - NX, inf)])
        lp.row_lower_ = lo
        lp.row_upper_ = up
        nz = np.nonzero(a)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        counts = np.bincount(nz[0], minlength=n_rows)
        lp.a_matrix_.start_ = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        lp.a_matrix_.index_ = nz[1].astype(np.int32)
        lp.a_matrix_.value_ = a[nz]
        self.h.clearModel()
        self.h.passModel(lp)
        run_highs(self.h)
        self.solved += 1
        if self.h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = self.h.getSolution()
        x = np.clip(np.array(sol.col_value[:NX]), 0.0, 1.0)
        row_dual = sol.row_dual
        duals = {name: abs(float(row_dual[i]) * float(up[i])) for name, i in names.items()}
        t_pass = np.array(sol.col_value[NX : NX + n_t])
        objective = float(sum(pf.repeats * t for pf, t in zip(passes, t_pass, strict=True)))
        return LpSolution(x=x, objective_s=objective + overhead, duals=duals)


# --------------------------------------------------------------------------------------------- evaluation
def _cost(case: Case, forms: CaseForms, x: Vec, weight_buffer_bytes: float | None = None) -> PolicyCost:
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


def _policy(case: Case, x: Vec) -> Policy:
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
    return _cost(case, build_forms(case), policy.vector())


# --------------------------------------------------------------------------------------------- realisation
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
            (-t.elements, li, ti, t.elements)
            for li, layer in enumerate(layers)
            for ti, t in enumerate(layer.tensors)
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


# --------------------------------------------------------------------------------------------- search
@dataclass(frozen=True)
class _Eval:
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


class _Search:
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
        self.lp = _Lp()
        self.cache: dict[tuple[int, int, bool], _Eval | None] = {}

    def case(self, gbs: int, nb: int, deleg: bool) -> Case:
        m, g, h, s, n, w, kv, rt = self.args
        return Case(m, g, h, s, n, w, kv, rt, Block(gbs, nb), deleg)

    def eval(self, gbs: int, nb: int, deleg: bool) -> _Eval | None:
        key = (gbs, nb, deleg)
        if key in self.cache:
            return self.cache[key]
        result: _Eval | None = None
        if 1 <= gbs <= MAX_GPU_BATCH and 1 <= nb <= MAX_GPU_BATCHES:
            case = self.case(gbs, nb, deleg)
            forms = build_forms(case, self.segments)
            sol = self.lp.solve(forms, self.max_latency_s)
            if sol is not None and sol.objective_s > 0:
                tps = case.block.sequences * case.output_len / sol.objective_s
                result = _Eval(case, forms, sol, tps)
        self.cache[key] = result
        return result

    def best(self, evals: list[_Eval | None]) -> _Eval | None:
        found = [e for e in evals if e is not None]
        return min(found, key=_Eval.key) if found else None

    def run(self) -> list[_Eval]:
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
        ranked = sorted((e for e in self.cache.values() if e is not None), key=_Eval.key)
        seeds: list[_Eval] = []
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
        return sorted((e for e in self.cache.values() if e is not None), key=_Eval.key)

    def _scan_nb(self, gbs: int, deleg: bool, start: int) -> _Eval | None:
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

    def _pattern(self, seed: _Eval) -> None:
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


def _latency_blocks_growth(search: _Search, e: _Eval) -> bool:
    """A bigger block fits in memory but misses the latency target: the target is what binds."""
    g, b, deleg = e.case.block.gpu_batch_size, e.case.block.num_gpu_batches, e.case.cpu_attention
    for gg, bb in ((g, b + 1), (g + 1, b)):
        if search.eval(gg, bb, deleg) is None:
            case = search.case(gg, bb, deleg)
            if search.lp.solve(build_forms(case, search.segments), None) is not None:
                return True
    return False


def _binding(e: _Eval, cost: PolicyCost, max_latency_s: float | None, latency_blocks: bool = False) -> str:
    """What stops the throughput from being higher, in this order:
    the latency target if it is tight; else the memory constraint with the largest LP sensitivity
    (|dual| x capacity); else a memory nearly full at the chosen block (a bigger block would not fit);
    else the channel that dominates the time (the block is big enough, bandwidth or compute limits)."""
    duals = e.lp.duals
    scale = max(e.lp.objective_s, 1e-12)
    if max_latency_s is not None and (
        duals.get("max_latency", 0.0) > 1e-6 * scale
        or cost.total_s >= 0.999 * max_latency_s
        or latency_blocks
    ):
        return "max_latency"
    order = ("gpu_memory", "cpu_memory", "disk_capacity")
    top = max(order, key=lambda k: (duals.get(k, 0.0), -order.index(k)))
    if duals.get(top, 0.0) > 1e-6 * scale:
        return top
    use = {
        "gpu_memory": cost.peak_gpu_gb / max(cost.gpu_capacity_gb, 1e-12),
        "cpu_memory": cost.peak_cpu_gb / max(cost.cpu_capacity_gb, 1e-12),
        "disk_capacity": cost.peak_disk_gb / max(cost.disk_capacity_gb, 1e-12)
        if cost.disk_capacity_gb
        else 0.0,
    }
    fullest = max(order, key=lambda k: (use[k], -order.index(k)))
    if use[fullest] >= 0.95:
        return fullest
    return BOTTLENECK_NAMES[cost.bottleneck]


def validate_inputs(model: ModelArch, input_len: int, output_len: int, weights: str, kv: str) -> None:
    from planner.errors import InputError

    if input_len < 1:
        raise InputError(f"input length must be at least 1 token, got {input_len}", where="--input-len")
    if output_len < 1:
        raise InputError(f"output length must be at least 1 token, got {output_len}", where="--output-len")
    if input_len + output_len > model.max_position:
        raise InputError(
            f"input + output = {input_len + output_len} tokens exceeds {model.id}'s context "
            f"of {model.max_position}",
            where="--input-len",
        )
    for flag, value in (("--weights", weights), ("--kv", kv)):
        if value not in COMPRESSIBLE:
            raise InputError(
                f"{value!r} is not an offloading format; valid: {', '.join(COMPRESSIBLE)}", where=flag
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

    Raises InfeasibleError when no block fits (weights + one sequence's KV exceed GPU+CPU+disk) or the
    latency target cannot be met by any block.
    """
    from planner.errors import InfeasibleError, InputError

    validate_inputs(model, input_len, output_len, weights, kv)
    if max_latency_s is not None and not max_latency_s > 0:
        raise InputError(f"latency target must be positive, got {max_latency_s}", where="--max-latency-s")
    t0 = time.perf_counter()
    search = _Search(model, gpu, host, input_len, output_len, weights, kv, runtime, max_latency_s, segments)
    ranked = search.run()
    if not ranked:
        raise InfeasibleError(
            _infeasible_reason(model, gpu, host, input_len, output_len, weights, kv, runtime, max_latency_s)
        )
    chosen: tuple[_Eval, Policy, PolicyCost, int, int] | None = None
    realised = 0
    for e in ranked[:40]:
        real = _realise_checked(search, e)
        if real is None:
            continue
        realised += 1
        pol, cost, on_gpu, n_t = real
        if chosen is None or (cost.output_tokens_per_s > chosen[2].output_tokens_per_s * (1 + 1e-9)):
            chosen = (e, pol, cost, on_gpu, n_t)
        if realised >= realise_top:
            break
    if chosen is None:
        raise InfeasibleError("no realisable policy passed the memory re-check; try a larger host")
    e, pol, cost, on_gpu, n_t = chosen
    lp_cost = _cost(e.case, e.forms, e.lp.x)
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
        lp_policy=_policy(e.case, e.lp.x),
        lp_cost=lp_cost,
        binding_constraint=_binding(
            e, cost, max_latency_s, max_latency_s is not None and _latency_blocks_growth(search, e)
        ),
        max_latency_s=max_latency_s,
        blocks_evaluated=len(search.cache),
        lps_solved=search.lp.solved,
        search_s=time.perf_counter() - t0,
        weights_on_gpu_tensors=on_gpu,
        weights_tensors=n_t,
    )


def _realise_checked(search: _Search, e: _Eval) -> tuple[Policy, PolicyCost, int, int] | None:
    """Round to whole tensors/units and re-check memory; if the realised buffers overflow, re-solve the
    block with the GPU (or CPU) capacity reduced by the overflow and try again (a few rounds)."""
    forms = e.forms
    sol = e.lp
    for _ in range(4):
        xr, buffer, on_gpu, n_t = _realise(e.case, e.forms, sol.x)
        cost = _cost(e.case, e.forms, xr, buffer)  # always against the true capacities
        if search.max_latency_s is not None and cost.total_s > search.max_latency_s * (1 + 1e-9):
            return None
        if cost.fits:
            return _policy(e.case, xr), cost, on_gpu, n_t
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


def _infeasible_reason(
    model: ModelArch,
    gpu: Gpu,
    host: HostProfile,
    input_len: int,
    output_len: int,
    weights: str,
    kv: str,
    runtime: OffloadRuntime,
    max_latency_s: float | None,
) -> str:
    case = Case(model, gpu, host, input_len, output_len, weights, kv, runtime, Block(1, 1), False)
    forms = build_forms(case)
    total_cap = (
        forms.memory.gpu_capacity_bytes + forms.memory.cpu_capacity_bytes + forms.memory.disk_capacity_bytes
    ) / GB
    need = (forms.weights_bytes + forms.kv_bytes) / GB
    if need > total_cap:
        return (
            f"{model.id} needs {need:.1f} GB ({weights} weights + one sequence's KV) but GPU+CPU+disk offer "
            f"{total_cap:.1f} GB; give more --cpu-mem-gb/--disk-gb or use --weights int4"
        )
    sol = _Lp().solve(forms, None)
    if sol is not None and max_latency_s is not None:
        return (
            f"no block finishes within --max-latency-s {max_latency_s:g} (one sequence alone takes "
            f"{sol.objective_s:.1f} s); raise it or use a faster host"
        )
    # streamed weights need a double buffer on the GPU and, when some live on disk, staging in CPU RAM
    buffers = 2.0 * forms.memory.weight_buffer_lp_bytes / GB
    if need + buffers > total_cap:
        return (
            f"{model.id} needs {need:.1f} GB ({weights} weights + one sequence's KV) plus {buffers:.1f} GB of "
            f"buffers to stream its largest layer, but GPU+CPU+disk offer {total_cap:.1f} GB; give more "
            "--cpu-mem-gb/--disk-gb or use --weights int4"
        )
    return (
        f"no placement fits: the GPU's {forms.memory.gpu_capacity_bytes / GB:.1f} GB usable cannot hold the "
        "working buffers of one layer; try a GPU with more memory"
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
