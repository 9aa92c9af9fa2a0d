"""Disaggregated serving and replicas spanning instances against published results.

The papers' gains are about SLO attainment: DistServe's goodput is the highest request rate per GPU at which
at least 90 % of requests meet both their TTFT and their TPOT target; Splitwise's SLOs are percentiles of
the slowdown over a lone request. A mean-value serving model cannot see that (it has no tail and no
interference beyond its mean share), so parts 1 and 2 replay the requests in gpuplan's event-driven
simulator (planner/simulate: chunked prefill riding the decode iterations of an aggregated replica, or
prefill-only and decode-only pools joined by the KV transfer, planner.simulate.pools.replay_pools) and
search the highest Poisson rate meeting the percentile targets (bisection on a log scale, common random
numbers). Aggregated: every tp that fits, as many replicas as the GPU budget holds (round-robin, like a
plan's router), under vLLM V1's scheduler (chunked prefill, mixed batches) and under separate prefill and
decode batches (the prefill-first scheduler of the 2023 vLLM the papers measured against). Disaggregated:
every (prefill tp, decode tp) and replica counts m, n <= MAX_POOL within the budget. The mean-value
model's gain (planner.perf, targets as bounds on the mean, as before) is printed beside it.

1a. DistServe's Figure 1 (section 2): OPT-13B on one A100, 512/64 tokens, P90 TTFT 0.4 s and P90 TPOT 0.04 s:
   the colocated replica's goodput against a prefill-only and a decode-only one (paper: 1.6, 5.6 and 10 req/s),
   i.e. the size of the interference, and the per-GPU gain of 2 prefill + 1 decode GPUs (paper: 3.3, 2.1x).
   FROM MEMORY: these Figure 1 numbers (setting, SLOs, 1.6 / 5.6 / 10 req/s, 3.3 and 2.1x) were written
   from memory of the paper, which could not be re-read here (no network): check them against arXiv
   2401.09670, Figure 1, before quoting them. The printed table marks them with *.
1. DistServe (Zhong et al., OSDI 2024, arXiv 2401.09670, section 6.2, Figure 8): OPT-13B/66B/175B chatbots
   (ShareGPT), OPT-66B code completion (HumanEval) and OPT-66B summarisation (LongBench) on A100-80GB, fp16,
   KV over NVLink inside a node (DistServe's placement keeps each pair's transfer within a node), budget two
   8-GPU nodes (four for OPT-175B, whose replica takes a whole node), so the ratio of prefill to decode
   replicas has room to balance the phases. Their SLOs (TTFT / TPOT, 90 %
   attainment of both): chatbot 13B 0.25 s / 0.1 s, 66B 2.5 s / 0.15 s, 175B 4.0 s / 0.2 s; code completion
   0.125 s / 0.2 s; summarisation 15 s / 0.15 s. The paper reports 2.0-4.6x (chatbot), 5.7x (code
   completion) and 4.3x (summarisation) higher per-GPU goodput than vLLM. Lengths here are each dataset's
   representative means (fixed per case): the datasets are not part of this project.
2. Splitwise (Patel et al., ISCA 2024, arXiv 2311.18677, abstract and section 6): Llama-2-70B (bf16) on
   DGX-H100 and DGX-A100 with the coding and conversation traces of the Azure LLM inference trace 2023
   (Splitwise's own; the project's excerpts tests/data/traces/azure-2023-code-excerpt.csv and
   examples/traces/azure-2023-conv-excerpt.csv give the lengths, request by request). Splitwise-HA
   (prefill on H100, decode on A100) gives 1.4x the throughput of an H100 baseline at 20 % lower cost
   (1.75x per dollar); Splitwise-HH (H100 pools) 2.35x the throughput at the same cost. Here: AWS
   p5.48xlarge (H100) and p4de.24xlarge (A100-80GB) at catalog prices, KV over the instances' EFA (catalog
   networks), budget two 8-GPU instances per side; goodput per dollar against the best aggregated H100 fleet.
   SLOs in Splitwise's form, the slowdown of each request over itself alone on the reference machine (here
   the A100, tp8): 90 % of requests within 3x their lone TTFT and 1.5x their lone TPOT (FROM MEMORY: this
   form, P90 at 3x TTFT and 1.5x TBT over a lone request on DGX-A100, was written from memory of the paper
   and not re-read here: check it against arXiv 2311.18677, section 6, before quoting it; printed with *).
   Llama-2's context is 4,096 tokens: longer prompts of the traces are cut to fit (the share is printed).
   2b. The same traces through `gpuplan plan` at p90 targets (plan_checked: simulated, tightened where they
   miss): the plan with aggregated replicas only against the plan that may use prefill/decode pools, on
   llama-3.3-70b (Llama-2-70B's layers, width and GQA, a 128k context so that no prompt is cut), 20 req/s.
3. The multi-node measurements of catalog/data/measured-calibration-2.csv (DeepSeek-V3 at TP16 over two
   H200 nodes; prefill-only EP32 and decode-only EP72 H100 nodes of SGLang's disaggregated deployment):
   measured against estimated, with the estimator's default network and with the catalog network of an
   InfiniBand NDR H100/H200 cluster (Azure ND H100 v5, 3200 Gbit/s per 8-GPU node: the same 400 Gbit/s per
   GPU the rows state).

    .venv/bin/python bench/disagg_validation.py            # all parts (a few minutes of CPU)
    .venv/bin/python bench/disagg_validation.py --quick    # fewer requests per point, coarser search
"""

from __future__ import annotations

import argparse
import csv
import math
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import yaml

from catalog.loader import load_catalog
from catalog.types import Catalog, ModelArch
from planner.capacity.disaggregated import pool_links
from planner.perf import Deployment, capacity_rps_many, engine_profile, memory_breakdown, predict
from planner.perf.calibration import deployment_for, predict_row
from planner.perf.disagg import decode_capacity_rps_many, kv_transfer_s, prefill_capacity_rps_many
from planner.perf.measured import load_rows
from planner.perf.network import NETWORK_EFFICIENCY, Link, between
from planner.simulate.pools import replay_pools
from planner.simulate.replay import replay
from planner.simulate.timing import IterationTimes

ROOT = Path(__file__).resolve().parent.parent
TPS = (1, 2, 4, 8)
MAX_POOL = 8  # replicas per pool searched (m, n <= MAX_POOL)
ATTAINMENT = 0.9  # DistServe's: 90 % of requests within both targets
WARMUP_SHARE = 0.1  # the requests of the first tenth of a point's span are left out (warm-up) ...
WARMUP_LIVES = 5.0  # ... or of its first 5 lone-request lifetimes, whichever is longer
HORIZONS = 25.0  # a point replays at least 25 lone-request lifetimes of arrivals
MAX_REQUESTS = 30_000
TTFT_SLOWDOWN = 3.0  # Splitwise-form SLOs: a request's latency over its own lone latency on the reference machine
TPOT_SLOWDOWN = 1.5
SLO_SCALES = (0.5, 0.25)  # DistServe's SLO-scale axis, for the OPT-13B chatbot
JOINT = 3  # pool shapes replayed in full (both phases, both targets), best by the phase-wise estimate
SCHEDULERS = ("vllm", "sglang")  # chunked prefill in mixed batches; separate prefill and decode batches


@dataclass(frozen=True)
class Load:
    """Requests of a replay: unit-rate Poisson arrivals (scaled by 1 / rate per point) and their lengths.

    A point at rate r replays the first max(min_requests, r x HORIZONS x e2e) requests (at most all), so that
    every point covers HORIZONS lone-request lifetimes of `lone_e2e_s` in steady state, and leaves out those
    arriving in the first WARMUP_SHARE of its span or the first WARMUP_LIVES lifetimes, whichever is longer."""

    unit_arrival_s: npt.NDArray[np.float64]
    input_len: npt.NDArray[np.int64]
    output_len: npt.NDArray[np.int64]
    min_requests: int
    lone_e2e_s: float

    @staticmethod
    def make(min_requests: int, lengths: Sequence[tuple[int, int]], lone_e2e_s: float, seed: int = 0) -> Load:
        """Arrivals for up to MAX_REQUESTS requests; the lengths cycle through `lengths` in order."""
        arr = np.cumsum(np.random.default_rng(seed).exponential(1.0, MAX_REQUESTS))
        idx = np.arange(MAX_REQUESTS) % len(lengths)
        table = np.asarray(lengths, dtype=np.int64)
        return Load(arr, table[idx, 0], table[idx, 1], min_requests, lone_e2e_s)

    def at(self, rate: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(arrival s, input, output) of the requests a point at `rate` replays."""
        n = min(MAX_REQUESTS, max(self.min_requests, math.ceil(rate * HORIZONS * self.lone_e2e_s)))
        return self.unit_arrival_s[:n] / rate, self.input_len[:n], self.output_len[:n]

    def counted(self, arrival_s: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """The requests a point's statistics count: those after the warm-up."""
        warm = max(WARMUP_SHARE * float(arrival_s[-1]), WARMUP_LIVES * self.lone_e2e_s)
        return np.asarray(arrival_s >= warm, dtype=bool)


@dataclass(frozen=True)
class Targets:
    """TTFT and TPOT targets, one for all requests (float) or one per request of the load (array)."""

    ttft_s: float | npt.NDArray[np.float64]
    tpot_s: float | npt.NDArray[np.float64]
    check_ttft: bool = True
    check_tpot: bool = True

    def within(self, ttft_s: npt.NDArray[np.float64], tpot_s: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Requests meeting both targets (a one-token output has no TPOT)."""
        n = ttft_s.size
        ok = np.ones(n, dtype=bool)
        if self.check_ttft:
            ok &= ttft_s <= (self.ttft_s[:n] if isinstance(self.ttft_s, np.ndarray) else self.ttft_s)
        if self.check_tpot:
            limit = self.tpot_s[:n] if isinstance(self.tpot_s, np.ndarray) else self.tpot_s
            ok &= (tpot_s <= limit) | np.isnan(tpot_s)
        return ok

    def ratio(self, ttft_s: npt.NDArray[np.float64], tpot_s: npt.NDArray[np.float64]) -> tuple[float, float]:
        """p90 of latency / target over requests (TTFT, TPOT)."""
        n = ttft_s.size
        t = ttft_s / (self.ttft_s[:n] if isinstance(self.ttft_s, np.ndarray) else self.ttft_s)
        p = tpot_s / (self.tpot_s[:n] if isinstance(self.tpot_s, np.ndarray) else self.tpot_s)
        p = p[~np.isnan(p)]
        return float(np.percentile(t, 90)), float(np.percentile(p, 90)) if p.size else 0.0


@dataclass(frozen=True)
class Point:
    rate_rps: float  # the fleet's goodput
    gpus: int
    usd_per_hour: float
    shape: str
    ttft_ratio: float  # p90 of TTFT / target at the goodput
    tpot_ratio: float

    @property
    def per_gpu(self) -> float:
        return self.rate_rps / self.gpus

    @property
    def per_usd(self) -> float:
        return self.rate_rps / self.usd_per_hour


NONE = Point(0.0, 1, 1.0, "-", math.inf, math.inf)


def max_rate(ok: Callable[[float], bool], start: float, rel_tol: float) -> float:
    """Largest rate with ok(rate) (assumed monotone), by doubling then bisection on a log scale; 0 if none."""
    lo = hi = start
    if ok(lo):
        while hi < 1e5 and ok(hi * 2.0):
            hi *= 2.0
        lo, hi = hi, hi * 2.0
    else:
        while not ok(lo):
            lo /= 2.0
            if lo < start * 1e-3:
                return 0.0
        hi = lo * 2.0
    while hi / lo > 1.0 + rel_tol:
        mid = math.sqrt(lo * hi)
        if ok(mid):
            lo = mid
        else:
            hi = mid
    return lo


Run = Callable[[float], tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]]


def goodput(run: Run, targets: Targets, gpus: int, usd: float, shape: str, start: float, tol: float) -> Point:
    """The highest rate at which `run` (rate -> per-request TTFT, TPOT, counted) keeps ATTAINMENT of its
    counted requests within both targets, with the p90 latencies there."""

    def ok(rate: float) -> bool:
        ttft, tpot, counted = run(rate)
        return float(targets.within(ttft, tpot)[counted].mean()) >= ATTAINMENT

    rate = max_rate(ok, max(start, 1e-3), tol)
    if rate <= 0.0:
        return replace(NONE, gpus=gpus, usd_per_hour=usd, shape=shape)
    ttft, tpot, counted = run(rate)
    n = ttft.size
    full = replace(targets, ttft_s=_take(targets.ttft_s, n, counted), tpot_s=_take(targets.tpot_s, n, counted))
    return Point(rate, gpus, usd, shape, *full.ratio(ttft[counted], tpot[counted]))


def _take(x: float | npt.NDArray[np.float64], n: int, sel: npt.NDArray[np.bool_]) -> float | npt.NDArray[np.float64]:
    return x[:n][sel] if isinstance(x, np.ndarray) else x


def aggregated_run(dep: Deployment, replicas: int, load: Load, scheduler: str) -> Run:
    """Replicas of `dep` behind a round-robin router."""

    def run(rate: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        arr, ins, outs = load.at(rate)
        ttft = np.empty(arr.size)
        tpot = np.empty(arr.size)
        for j in range(replicas):
            sel = slice(j, None, replicas)
            r = replay(dep, arr[sel], ins[sel], outs[sel], engine=scheduler)
            ttft[sel], tpot[sel] = r.ttft_s, r.tpot_s
        return ttft, tpot, load.counted(arr)

    return run


def pools_run(p: Deployment, d: Deployment, m: int, n: int, link: Link, load: Load, prefill_only: bool = False) -> Run:
    """m prefill replicas of `p` and n decode replicas of `d`; `prefill_only`: the prefill phase alone (every
    request one output token, TTFT with the KV transfer)."""

    def run(rate: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        arr, ins, outs = load.at(rate)
        if prefill_only:
            outs = np.ones_like(outs)
        r = replay_pools(p, d, m, n, link, arr, ins, outs)
        ttft = r.ttft_s
        if prefill_only:
            ttft = ttft + kv_transfer_s(p.model, p.kv, ins.astype(float), link)
        return ttft, r.tpot_s, load.counted(arr)

    return run


@dataclass(frozen=True)
class Side:
    """A GPU type a fleet may use: its deployments by tp, $/h per GPU, and the link a pool's KV takes."""

    deps: dict[int, Deployment]
    usd_per_gpu_hour: float
    link: Callable[[int], Link]  # by the pool's tp
    label: str


def best_aggregated(side: Side, budget: int, load: Load, targets: Targets, scheduler: str, tol: float) -> Point:
    """The best tp for goodput per dollar, `budget // tp` replicas of it behind a round-robin router."""
    best = NONE
    for tp, dep in side.deps.items():
        k = max(1, budget // tp)
        pt = goodput(
            aggregated_run(dep, k, load, scheduler),
            targets,
            k * tp,
            k * tp * side.usd_per_gpu_hour,
            f"{k}x tp{tp}{side.label}",
            _mean_capacity(dep, load) * k,
            tol,
        )
        if pt.per_usd > best.per_usd:
            best = pt
    return best


def best_pools(prefill: Side, decode: Side, budget: int, load: Load, targets: Targets, tol: float) -> Point:
    """The best pools by goodput per dollar (per GPU on one GPU type), searched as DistServe does: each
    phase's goodput per replica first (the prefill phase alone against the TTFT target, the transfer
    included; the decode phase behind ample prefill replicas against the TPOT target), then the replica
    counts m, n <= MAX_POOL within the budget that balance them; the JOINT best of those (both targets,
    both phases) are replayed in full."""
    pre_rate: dict[int, float] = {}
    dec_rate: dict[int, float] = {}
    any_d = next(iter(decode.deps.values()))
    for tp, p in prefill.deps.items():
        link = between(prefill.link(tp), decode.link(any_d.tp))
        only_ttft = replace(targets, check_tpot=False)
        pre_rate[tp] = goodput(
            pools_run(p, any_d, 1, 1, link, load, prefill_only=True),
            only_ttft,
            1,
            1.0,
            "",
            _mean_capacity(p, load),
            tol,
        ).rate_rps
    fastest = max(prefill.deps.values(), key=lambda p: pre_rate[p.tp] / p.tp)
    for tp, d in decode.deps.items():
        link = between(prefill.link(fastest.tp), decode.link(tp))
        only_tpot = replace(targets, check_ttft=False)
        dec_rate[tp] = goodput(
            pools_run(fastest, d, 4 * MAX_POOL, 1, link, load), only_tpot, 1, 1.0, "", _mean_capacity(d, load), tol
        ).rate_rps
    shapes = []
    for tp_p in prefill.deps:
        for tp_d in decode.deps:
            for m in range(1, MAX_POOL + 1):
                for n in range(1, MAX_POOL + 1):
                    if m * tp_p > budget or n * tp_d > budget or (prefill is decode and m * tp_p + n * tp_d > budget):
                        continue
                    usd = m * tp_p * prefill.usd_per_gpu_hour + n * tp_d * decode.usd_per_gpu_hour
                    rate = min(m * pre_rate[tp_p], n * dec_rate[tp_d])
                    shapes.append((rate / usd, rate, tp_p, tp_d, m, n, usd))
    shapes.sort(reverse=True)
    best = NONE
    for _, rate, tp_p, tp_d, m, n, usd in shapes[:JOINT]:
        p, d = prefill.deps[tp_p], decode.deps[tp_d]
        pt = goodput(
            pools_run(p, d, m, n, between(prefill.link(tp_p), decode.link(tp_d)), load),
            targets,
            m * tp_p + n * tp_d,
            usd,
            f"{m}x tp{tp_p}{prefill.label} -> {n}x tp{tp_d}{decode.label}",
            rate,
            tol,
        )
        if pt.per_usd > best.per_usd:
            best = pt
    return best


def lone_e2e_s(deps: dict[int, Deployment], i: int, o: int) -> float:
    """A lone request's end-to-end latency on the slowest (smallest) deployment."""
    p = predict(deps[min(deps)], i, max(o, 2))
    return (p.ttft_ms + (o - 1) * p.tpot_ms) / 1e3


def _mean_capacity(dep: Deployment, load: Load) -> float:
    """The mean-value model's saturation rate of one replica for the load's mean lengths (a starting point)."""
    i, o = int(load.input_len.mean()), max(1, int(load.output_len.mean()))
    (cap,) = capacity_rps_many(dep, [(i, o)], 1e12, 1e12)
    return max(cap, 1e-3)


def opt(catalog: Catalog, name: str, layers: int, hidden: int, heads: int) -> ModelArch:
    """OPT-13B / OPT-66B from Table 1 of the OPT paper (arXiv 2205.01068): FFN 4 x d_model, head dim 128,
    vocabulary and context of the other OPT models (as opt-30b in the catalog)."""
    base = catalog.models["opt-30b"].model_dump()
    base.update(
        id=name,
        hf_repo=f"facebook/{name}",
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=heads,
        head_dim=hidden // heads,
        intermediate=4 * hidden,
        source="OPT paper (arXiv 2205.01068) Table 1",
    )
    return ModelArch.model_validate(base)


def _deps(catalog: Catalog, model: ModelArch, gpu_id: str, dtype: str) -> dict[int, Deployment]:
    gpu = catalog.gpus[gpu_id]
    out = {}
    for tp in TPS:
        dep = Deployment(model, gpu, tp, dtype, dtype, engine_profile(catalog, "vllm", gpu))
        if memory_breakdown(dep).fits:
            out[tp] = dep
    return out


def mean_value_gain(deps: dict[int, Deployment], i: int, o: int, ttft_ms: float, tpot_ms: float, link: Link) -> float:
    """The serving model's gain (targets as bounds on the mean): best pair per GPU / best aggregated per GPU."""
    agg = max(capacity_rps_many(d, [(i, o)], ttft_ms, tpot_ms)[0] / tp for tp, d in deps.items())
    pair = 0.0
    for p in deps.values():
        (pre,) = prefill_capacity_rps_many(
            p, [i], ttft_ms, replace(link, bytes_per_s=link.bytes_per_s * p.tp), math.inf
        )
        for d in deps.values():
            (dec,) = decode_capacity_rps_many(d, [(i, o)], tpot_ms, math.inf)
            if pre > 0 and dec > 0:
                pair = max(pair, 1.0 / (p.tp / pre + d.tp / dec))
    return pair / agg if agg > 0 else math.inf


def prefill_ceiling(deps: dict[int, Deployment], i: int) -> float:
    """Req/s per GPU of prompts of `i` tokens prefilled back to back, with no target and no decode work at all
    (the serving model's saturation rate of one-token requests, best tp): an upper bound on any shape's
    goodput per GPU, disaggregated or not."""
    return max(capacity_rps_many(d, [(i, 1)], 1e12, 1e12)[0] / tp for tp, d in deps.items())


def _binds(pt: Point) -> str:
    """How close each target is at the goodput: p90 of latency / target, TTFT/TPOT."""
    return f"{pt.ttft_ratio:.2f}/{pt.tpot_ratio:.2f}"


def distserve_figure1(catalog: Catalog, requests: int, tol: float) -> None:
    """DistServe's Figure 1 (section 2): OPT-13B on one A100 (512 in / 64 out, P90 TTFT 0.4 s, P90 TPOT
    0.04 s): the paper measured 1.6 req/s for the colocated (vLLM) replica, 5.6 req/s for a prefill-only and
    10 req/s for a decode-only one (so two prefill GPUs and one decode GPU give 3.3 req/s per GPU, 2.1x).
    The colocated rate over the prefill-only one is the size of the interference the gain comes from.
    The paper's figures here are written from memory (module doc, 1a): the column says "paper*"."""
    model = opt(catalog, "opt-13b", 40, 5120, 40)
    deps = _deps(catalog, model, "a100-80gb", "fp16")
    dep = deps[1]
    gpu = catalog.gpus["a100-80gb"]
    link = Link((gpu.interconnect_gb_per_s or gpu.pcie_gb_per_s) * 1e9 * NETWORK_EFFICIENCY, 5e-6, "nvlink")
    load = Load.make(requests, [(512, 64)], lone_e2e_s(deps, 512, 64))
    targets = Targets(0.4, 0.04)
    start = _mean_capacity(dep, load)
    colocated = {s: goodput(aggregated_run(dep, 1, load, s), targets, 1, 1.0, "", start, tol) for s in SCHEDULERS}
    only_ttft, only_tpot = replace(targets, check_tpot=False), replace(targets, check_ttft=False)
    pre = goodput(pools_run(dep, dep, 1, 1, link, load, prefill_only=True), only_ttft, 1, 1.0, "", start, tol)
    dec = goodput(pools_run(dep, dep, 4 * MAX_POOL, 1, link, load), only_tpot, 1, 1.0, "", start, tol)
    best = max(colocated.values(), key=lambda pt: pt.rate_rps)
    per_gpu = max(min(m * pre.rate_rps, n * dec.rate_rps) / (m + n) for m in range(1, 9) for n in range(1, 9))
    print("1a. DistServe Figure 1: OPT-13B, one A100, 512/64 tokens, P90 TTFT 0.4 s, P90 TPOT 0.04 s (req/s)")
    print(f"{'':<34} {'paper*':>7} {'gpuplan':>8}")
    print(f"{'colocated, chunked (vLLM V1)':<34} {'1.6':>7} {colocated['vllm'].rate_rps:>8.2f}")
    print(f"{'colocated, separate prefill':<34} {'1.6':>7} {colocated['sglang'].rate_rps:>8.2f}")
    print(f"{'prefill-only':<34} {'5.6':>7} {pre.rate_rps:>8.2f}")
    print(f"{'decode-only':<34} {'10':>7} {dec.rate_rps:>8.2f}")
    print(f"{'colocated / prefill-only':<34} {'0.29':>7} {best.rate_rps / pre.rate_rps:>8.2f}")
    print(f"{'disaggregated per GPU (best m:n)':<34} {'3.3':>7} {per_gpu:>8.2f}")
    print(f"{'gain per GPU':<34} {'2.1x':>7} {per_gpu / best.rate_rps:>7.2f}x")
    print(f"{'ceiling (prefill back to back)':<34} {'':>7} {prefill_ceiling(deps, 512):>8.2f}")
    print("* written from memory of DistServe's Figure 1 (arXiv 2401.09670), not re-read: check before quoting")
    print()


def distserve(catalog: Catalog, requests: int, tol: float) -> None:
    print("1. DistServe (OSDI 2024): per-GPU goodput (90% of requests within both targets), A100-80GB fp16")
    m13, m66 = opt(catalog, "opt-13b", 40, 5120, 40), opt(catalog, "opt-66b", 64, 9216, 72)
    m175 = catalog.models["opt-175b"]
    cases = [
        ("chatbot", m13, 750, 200, 250, 100, 16, "2.0-4.6x"),
        ("chatbot", m66, 750, 200, 2500, 150, 16, "2.0-4.6x"),
        ("chatbot", m175, 750, 200, 4000, 200, 32, "2.0-4.6x"),
        ("code completion", m66, 150, 100, 125, 200, 16, "5.7x"),
        ("summarisation", m66, 1800, 100, 15000, 150, 16, "4.3x"),
    ]
    head = (
        f"{'application':<15} {'model':<8} {'in/out':>8} {'SLO ms':>10} {'slack':>9} | {'agg chunked':>17} "
        f"{'agg separate':>17} {'disaggregated':>26} | {'agg p90':>9} {'dis p90':>9} | {'gain':>5} "
        f"{'mean-model':>10} {'ceiling':>7} {'paper':>8} {'agrees':>6}"
    )
    print(head)
    print("-" * len(head))
    for app, model, i, o, ttft, tpot, budget, paper in cases:
        for scale in (1.0, *(SLO_SCALES if model is m13 else ())):
            label, claim = (app, paper) if scale == 1.0 else (f"{app} x{scale:g}", "-")
            distserve_row(catalog, label, model, i, o, ttft * scale, tpot * scale, budget, claim, requests, tol)
    print(
        "req/s per GPU; agg chunked = vLLM V1 scheduler, agg separate = separate prefill batches (2023 vLLM); "
        "slack = target / a lone request's latency on the best aggregated shape (TTFT/TPOT); p90/SLO = p90 of "
        "latency / target at the goodput (TTFT/TPOT); gain = disaggregated / the better aggregated; mean-model = "
        "the serving model's gain (targets as bounds on the mean); ceiling = prompts prefilled back to back with "
        "no decode and no target, per GPU, over the better aggregated: no shape can gain more; agrees = gain > "
        "1.05. Rows with scaled SLOs: "
        "DistServe's SLO-scale axis (Figure 8), both targets times the scale"
    )
    print()


def distserve_row(
    catalog: Catalog,
    app: str,
    model: ModelArch,
    i: int,
    o: int,
    ttft: float,
    tpot: float,
    budget: int,
    paper: str,
    requests: int,
    tol: float,
) -> None:
    gpu = catalog.gpus["a100-80gb"]
    nvlink = Link((gpu.interconnect_gb_per_s or gpu.pcie_gb_per_s) * 1e9 * NETWORK_EFFICIENCY, 5e-6, "nvlink")
    deps = _deps(catalog, model, "a100-80gb", "fp16")
    # a pool's KV leaves its tp GPUs in parallel, each over its own NVLink share
    side = Side(deps, 1.0, lambda tp: replace(nvlink, bytes_per_s=nvlink.bytes_per_s * tp), "")
    load = Load.make(requests, [(i, o)], lone_e2e_s(deps, i, o))
    targets = Targets(ttft / 1e3, tpot / 1e3)
    aggs = [best_aggregated(side, budget, load, targets, s, tol) for s in SCHEDULERS]
    agg = max(aggs, key=lambda pt: pt.per_gpu)
    dis = best_pools(side, side, budget, load, targets, tol)
    gain = dis.per_gpu / agg.per_gpu if agg.per_gpu > 0 else math.inf
    mv = mean_value_gain(deps, i, o, ttft, tpot, nvlink)
    ceiling = prefill_ceiling(deps, i) / agg.per_gpu if agg.per_gpu > 0 else math.inf
    agg_tp = int(agg.shape.split("tp")[1].split()[0]) if "tp" in agg.shape else min(deps)
    lone = predict(deps[agg_tp], i, o)
    slack = f"{ttft / lone.ttft_ms:.1f}/{tpot / lone.tpot_ms:.1f}"
    print(
        f"{app:<15} {model.id:<8} {f'{i}/{o}':>8} {f'{ttft:g}/{tpot:g}':>10} {slack:>9} | "
        f"{f'{aggs[0].per_gpu:.2f} {aggs[0].shape.strip()}':>17} "
        f"{f'{aggs[1].per_gpu:.2f} {aggs[1].shape.strip()}':>17} "
        f"{f'{dis.per_gpu:.2f} {dis.shape}':>26} | {_binds(agg):>9} {_binds(dis):>9} | "
        f"{gain:>4.2f}x {mv:>9.2f}x {ceiling:>6.2f}x {paper:>8} "
        f"{('yes' if gain > 1.05 else 'no') if paper != '-' else '':>6}"
    )


def lone_latencies(dep: Deployment, load: Load) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(TTFT s, TPOT s) of each request of `load` alone on `dep`, from the simulator's iteration times: its
    prompt prefilled on an idle replica (in one iteration: the traces' prompts fit the token budget), then
    decode steps of a batch of one at its mean context."""
    ins, outs = load.input_len, load.output_len
    times = IterationTimes(dep, int((ins + outs).max()))
    times.prime(ins)
    pairs = {(int(i), int(o)) for i, o in zip(ins.tolist(), outs.tolist(), strict=True)}
    lone = {(i, o): (times.lone_prefill_s(i), times.decode_step_s(1, i + 0.5 * o)) for i, o in pairs}
    ttft = np.asarray([lone[(int(i), int(o))][0] for i, o in zip(ins, outs, strict=True)])
    tpot = np.asarray([lone[(int(i), int(o))][1] for i, o in zip(ins, outs, strict=True)])
    return ttft, tpot


def trace_lengths(path: Path) -> list[tuple[int, int]]:
    """(prompt, output) tokens per request of an Azure LLM inference trace file, in file order."""
    with path.open(encoding="utf-8") as f:
        return [(max(1, int(r["ContextTokens"])), max(1, int(r["GeneratedTokens"]))) for r in csv.DictReader(f)]


def splitwise(catalog: Catalog, requests: int, tol: float) -> None:
    print("2. Splitwise (ISCA 2024): Llama-2-70B bf16, goodput per dollar against the best aggregated H100 fleet")
    model = catalog.models["llama-2-70b"]
    offers = {"h100": "aws:us-east-1:p5.48xlarge", "a100": "aws:us-east-1:p4de.24xlarge"}
    sides = {}
    for key, oid in offers.items():
        off = catalog.offerings[oid]
        net = catalog.network(off)
        assert net is not None
        g = off.gpus_per_instance

        def link(tp: int, net: object = net, g: int = g) -> Link:
            return pool_links(net, g, tp, False)[0]  # type: ignore[arg-type]

        sides[key] = Side(_deps(catalog, model, off.gpu, "bf16"), off.price_usd_per_hour / g, link, f" {key.upper()}")
    traces = {
        "coding": ROOT / "tests/data/traces/azure-2023-code-excerpt.csv",
        "conversation": ROOT / "examples/traces/azure-2023-conv-excerpt.csv",
    }
    papers = {"HH": "2.35x", "HA": "1.75x"}
    head = (
        f"{'trace':<13} {'fleet':<15} {'SLO slowdown':>12} {'req/s':>7} {'$/h':>8} {'req/s per $/h':>13} "
        f"{'p90/SLO':>9} {'gain':>6} {'paper':>6} {'agrees':>6}  shape"
    )
    print(head)
    print("-" * len(head))
    for trace, path in traces.items():
        raw = trace_lengths(path)
        ctx = model.max_position
        lengths = [(min(i, ctx - min(o, ctx // 2)), min(o, ctx // 2)) for i, o in raw]
        cut = sum(1 for x, y in zip(raw, lengths, strict=True) if x != y) / len(raw)
        i = int(np.median([x for x, _ in lengths]))
        o = int(np.median([y for _, y in lengths]))
        load = Load.make(requests, lengths, max(lone_e2e_s(side.deps, i, o) for side in sides.values()))
        ref = sides["a100"].deps[max(sides["a100"].deps)]
        lone_ttft, lone_tpot = lone_latencies(ref, load)
        targets = Targets(TTFT_SLOWDOWN * lone_ttft, TPOT_SLOWDOWN * lone_tpot)
        slo = f"{TTFT_SLOWDOWN:g}x/{TPOT_SLOWDOWN:g}x"
        base = max(
            (best_aggregated(sides["h100"], 16, load, targets, s, tol) for s in SCHEDULERS), key=lambda pt: pt.per_usd
        )
        rows = [
            ("Baseline-H100", base, "", ""),
            ("Baseline-A100", best_aggregated(sides["a100"], 16, load, targets, "vllm", tol), "", ""),
            ("Splitwise-HH", best_pools(sides["h100"], sides["h100"], 16, load, targets, tol), papers["HH"], ""),
            ("Splitwise-HA", best_pools(sides["h100"], sides["a100"], 16, load, targets, tol), papers["HA"], ""),
        ]
        print(f"{trace}: {len(raw)} requests of the excerpt, {cut:.0%} cut to Llama-2's {ctx:,}-token context")
        for name, pt, paper, _ in rows:
            gain = pt.per_usd / base.per_usd if base.per_usd > 0 else math.inf
            agrees = ("yes" if gain > 1.05 else "no") if paper else ""
            print(
                f"{trace:<13} {name:<15} {slo:>12} {pt.rate_rps:>7.2f} {pt.usd_per_hour:>8.2f} {pt.per_usd:>13.4f} "
                f"{_binds(pt):>9} {gain:>5.2f}x {paper:>6} {agrees:>6}  {pt.shape}"
            )
    print(
        "paper: Splitwise-HA 1.4x throughput at 20% lower cost (1.75x per dollar); Splitwise-HH 2.35x throughput at "
        "equal cost; SLO here*: 90% of requests within 3x their lone TTFT and 1.5x their lone TPOT on the A100 (tp8)\n"
        "* the SLO form is written from memory of Splitwise (arXiv 2311.18677, section 6), not re-read: check it "
        "before quoting"
    )
    print()


def splitwise_plans(catalog: Catalog) -> None:
    """Part 2b: the same two traces through `gpuplan plan` itself (plan_checked: planned, simulated and
    tightened at p90 targets), aggregated only against with prefill/decode pools."""
    from planner.inputs import load_inputs  # noqa: PLC0415 - only this part plans
    from planner.plan import make_plan  # noqa: PLC0415 - as above
    from planner.simulate.slo_check import plan_checked  # noqa: PLC0415 - as the plan command loads it

    print("2b. Splitwise's traces through `gpuplan plan` at p90 targets (llama-3.3-70b: Llama-2-70B's layers,")
    print("    width and GQA with a 128k context, so no prompt is cut), AWS p5.48xlarge + p4de.24xlarge, 20 req/s")
    ref = _deps(catalog, catalog.models["llama-3.3-70b"], "a100-80gb", "bf16")[8]
    head = (
        f"{'trace':<13} {'p90 SLO ms':>11} {'aggregated $/h':>15} {'rounds':>6} {'with pools $/h':>15} {'rounds':>6} "
        f"{'gain per $':>10} {'mean view':>9}  plan with pools"
    )
    print(head)
    print("-" * len(head))
    traces = {
        "coding": ROOT / "tests/data/traces/azure-2023-code-excerpt.csv",
        "conversation": ROOT / "examples/traces/azure-2023-conv-excerpt.csv",
    }
    for trace, path in traces.items():
        lengths = trace_lengths(path)
        i90 = int(np.percentile([x for x, _ in lengths], 90))
        i50, o50 = (int(np.median([x[k] for x in lengths])) for k in (0, 1))
        ttft = round(TTFT_SLOWDOWN * predict(ref, i90, 2).ttft_ms)
        tpot = round(TPOT_SLOWDOWN * predict(ref, i50, max(o50, 2)).tpot_ms)
        costs = {}
        means: dict[object, float | None] = {}
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "trace.csv").write_bytes(path.read_bytes())
            for mode in ("compare", True):
                doc = {
                    "models": [
                        {
                            "model": "llama-3.3-70b",
                            "workload": {"rate_rps": 20, "trace": {"path": "trace.csv", "format": "azure-2023"}},
                            "slo": {"ttft_ms": {"p90": ttft}, "tpot_ms": {"p90": tpot}},
                        }
                    ],
                    "offerings": {"include": ["aws:us-east-1:p5.48xlarge", "aws:us-east-1:p4de.24xlarge"]},
                    "search": {"tp": [2, 4, 8], "weights": ["bf16"], "disaggregated": mode},
                }
                spec = Path(tmp) / "spec.yaml"
                spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
                costs[mode] = plan_checked(load_inputs(spec))
                means[mode] = make_plan(load_inputs(spec)).total_cost_usd_per_hour  # the targets as means
        agg, split = costs["compare"], costs[True]
        a, d = agg.total_cost_usd_per_hour, split.total_cost_usd_per_hour
        if a is None or d is None or agg.slo_check is None or split.slo_check is None:
            print(f"{trace:<13} no plan")
            continue
        ma, md = means["compare"], means[True]
        mean = f"{ma / md:.2f}x" if ma and md else "-"
        print(
            f"{trace:<13} {f'{ttft}/{tpot}':>11} {a:>15,.2f} {agg.slo_check.rounds:>6} {d:>15,.2f} "
            f"{split.slo_check.rounds:>6} {a / d:>9.2f}x {mean:>9}  {split.models[0].shape}"
        )
    print(
        "targets: p90 TTFT 3x a lone p90 prompt's, p90 TPOT 1.5x a lone median request's, on the A100 (tp8; "
        "Splitwise's SLO form as written from memory, see part 2); mean view = the same two plans at the targets "
        "as bounds on the mean (no simulation)"
    )
    print()


def multinode(catalog: Catalog) -> None:
    print("3. Multi-node rows of measured-calibration-2.csv: measured against estimated")
    rows = [r for r in load_rows() if r.nodes > 1]
    net = catalog.networks["azure:Standard_ND96isr_H100_v5"]
    head = (
        f"{'row':<7} {'scenario':<58} {'metric':<30} {'measured':>10} {'default net':>11} {'catalog IB':>10} {'err':>6}"
    )
    print(head)
    print("-" * len(head))
    for row in rows:
        gpu = catalog.gpus[row.gpu]
        profile = engine_profile(catalog, row.engine, gpu)
        dep = deployment_for(row, catalog, profile)
        default = predict_row(row, dep)
        ib = predict_row(
            row,
            replace(
                dep,
                scale_out_gb_per_s=net.bandwidth_gbit_s / 8.0 / 8,
                scale_out_latency_us=net.latency_us,
                gpus_per_node=8,
            ),
        )
        err = ib / row.value - 1.0
        metric = f"{row.metric} ({row.stat})"
        print(
            f"{row.key:<7} {row.label[:58]:<58} {metric[:30]:<30} {row.value:>10.4g} {default:>11.4g} {ib:>10.4g} "
            f"{err:>+6.0%}"
        )
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="600 requests per point, 10%% rate tolerance")
    ap.add_argument("--part", type=int, choices=(1, 2, 3), action="append", help="only these parts (repeatable)")
    args = ap.parse_args()
    requests, tol = (600, 0.10) if args.quick else (2000, 0.03)
    parts = set(args.part or (1, 2, 3))
    catalog = load_catalog()
    if 1 in parts:
        distserve_figure1(catalog, requests, tol)
        distserve(catalog, requests, tol)
    if 2 in parts:
        splitwise(catalog, requests, tol)
        splitwise_plans(catalog)
    if 3 in parts:
        multinode(catalog)


if __name__ == "__main__":
    main()
