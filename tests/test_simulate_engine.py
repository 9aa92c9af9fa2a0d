"""The simulated engine against closed forms and the estimator it takes its latencies from.

- a single-slot server (max_num_seqs = 1) is an M/G/1 queue: M/D/1 and M/M/1 waits and sojourn tails;
- at low load nothing queues and TTFT is the estimator's lone prefill;
- the KV cache fills exactly to the blocks the memory model gives, never beyond;
- Little's law holds on every run (the engine integrates requests in the system independently);
- mean TPOT under load agrees with the estimator's serving model (one performance model);
- SLO attainment does not improve when the rate rises (same arrivals, time-compressed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.loader import load_catalog
from catalog.types import Catalog, EngineFactors
from planner.perf import Deployment, engine_profile, memory_breakdown, predict
from planner.perf.roofline import coefficients, decode_step_s
from planner.simulate.replay import ReplayResult, replay
from planner.simulate.timing import IterationTimes, engine_limits

CATALOG: Catalog = load_catalog(())


def deployment(gpu: str = "h100-sxm", weights: str = "bf16", engine: str = "vllm", **extra: float) -> Deployment:
    g = CATALOG.gpus[gpu]
    prof = engine_profile(CATALOG, engine, g)
    if extra:
        prof = prof.model_copy(update={"extra": EngineFactors.model_validate({**prof.extra.given(), **extra})})
    return Deployment(CATALOG.models["llama-3.1-8b"], g, 1, weights, "bf16", prof)


def poisson(rate: float, n: int, seed: int) -> np.ndarray:
    return np.cumsum(np.random.default_rng(seed).exponential(1.0 / rate, n))


def littles_error(r: ReplayResult, arrivals: np.ndarray) -> float:
    sojourn = np.where(r.rejected, 0.0, r.e2e_s)
    return abs(r.area - float(sojourn.sum())) / float(sojourn.sum())


SINGLE_SLOT = deployment(max_num_seqs=1.0)


def test_md1_mean_wait_matches_the_closed_form() -> None:
    """One-token requests of one length on a single slot: deterministic service D, Wq = rho D / (2 (1 - rho))."""
    n, prompt = 40_000, 512  # the mean wait's standard error is about 2 % at this size
    service = float(replay(SINGLE_SLOT, np.array([0.0]), np.array([prompt]), np.array([1])).e2e_s[0])
    for rho, seed in ((0.3, 1), (0.6, 2)):
        arr = poisson(rho / service, n, seed)
        r = replay(SINGLE_SLOT, arr, np.full(n, prompt), np.ones(n, dtype=np.int64))
        assert np.allclose(r.e2e_s - r.queue_s, service, rtol=1e-9)  # every service takes exactly D
        wq = rho * service / (2 * (1 - rho))
        assert r.queue_s.mean() == pytest.approx(wq, rel=0.06)
        assert littles_error(r, arr) < 1e-9


def test_mm1_wait_and_sojourn_tail_match_the_closed_forms() -> None:
    """Geometric output lengths (mean 100) at batch 1 give near-exponential service: Wq = rho / (mu - lambda),
    sojourn ~ Exp(mu - lambda), so p90 = ln 10 / (mu - lambda) and p99 = ln 100 / (mu - lambda)."""
    n = 40_000
    outs = np.random.default_rng(105).geometric(1 / 100, n)  # a stream apart from the arrivals' seed
    ones = np.ones(n, dtype=np.int64)
    alone = replay(SINGLE_SLOT, np.arange(n) * 1e3, ones, outs)  # far apart: pure service times
    service = alone.e2e_s
    mu = 1.0 / service.mean()
    rho = 0.5
    lam = rho * mu
    r = replay(SINGLE_SLOT, poisson(lam, n, 6), ones, outs)
    assert r.queue_s.mean() == pytest.approx(rho / (mu - lam), rel=0.1)
    assert np.percentile(r.e2e_s, 90) == pytest.approx(math.log(10) / (mu - lam), rel=0.1)
    assert np.percentile(r.e2e_s, 99) == pytest.approx(math.log(100) / (mu - lam), rel=0.12)
    # Pollaczek-Khinchine with the actual service moments (exact in expectation for M/G/1)
    pk = lam * float(np.mean(service**2)) / (2 * (1 - rho))
    assert r.queue_s.mean() == pytest.approx(pk, rel=0.1)


def test_nothing_queues_at_low_load_and_ttft_is_the_lone_prefill() -> None:
    dep = deployment()
    n = 300
    rng = np.random.default_rng(3)
    ins, outs = rng.integers(10, 4000, n), rng.integers(2, 300, n)
    arr = np.arange(n) * 100.0  # every request finishes long before the next arrives
    r = replay(dep, arr, ins, outs)
    times = IterationTimes(dep, 5000)
    assert np.all(r.queue_s == 0.0)
    lone = np.asarray([times.lone_prefill_s(int(i)) for i in ins])
    assert np.allclose(r.ttft_s, lone, rtol=1e-12)
    # a lone decode: O - 1 steps at batch 1 with the context growing one token per step
    steps = np.asarray(
        [
            sum(float(decode_step_s(coefficients(dep), 1.0, i + j)) for j in range(o - 1))
            for i, o in zip(ins, outs, strict=True)
        ]
    )
    assert np.allclose(r.e2e_s - r.ttft_s, steps, rtol=2e-3)
    assert r.preemptions == 0


def test_decode_table_reproduces_the_estimator() -> None:
    dep = deployment()
    times = IterationTimes(dep, 20_000)
    c = coefficients(dep)
    rng = np.random.default_rng(0)
    for batch, ctx in zip(rng.integers(1, 300, 200), rng.uniform(0, 20_000, 200), strict=True):
        exact = float(decode_step_s(c, float(batch), float(ctx)))
        # linear interpolation across the kink where the step turns from memory- to compute-bound
        assert times.decode_step_s(int(batch), float(ctx)) == pytest.approx(exact, rel=2e-3)
    # a stretch is the sum of its steps (the context rising one token per step)
    exact_sum = sum(float(decode_step_s(c, 64.0, 1000.0 + j)) for j in range(500))
    assert times.decode_stretch_s(64, 1000.0, 500) == pytest.approx(exact_sum, rel=1e-4)


def test_kv_reserved_at_admission_admits_exactly_what_memory_holds() -> None:
    """Engines that reserve a request's whole KV (TensorRT-LLM) run exactly as many requests of I + O tokens
    as the memory model says fit, and never preempt."""
    dep = deployment("a10g", "fp8", "trtllm", max_num_seqs=4096.0)
    prompt, output = 1984, 64  # 2048 tokens: a whole number of 64-token blocks
    mem = memory_breakdown(dep, prompt + output)
    n = mem.max_requests + 50
    r = replay(dep, np.zeros(n), np.full(n, prompt), np.full(n, output))
    assert r.running_peak == mem.max_requests
    assert r.preemptions == 0
    assert not r.rejected.any()


def test_kv_blocks_fill_exactly_and_preemption_frees_them() -> None:
    """On-demand allocation (vLLM): a burst fills every block the memory model gives, no more; requests
    that no longer fit are preempted and still finish."""
    dep = deployment("a10g", "fp8", max_num_seqs=4096.0)
    limits = engine_limits(dep)
    n, prompt, output = 400, 1000, 600
    r = replay(dep, np.zeros(n), np.full(n, prompt), np.full(n, output))
    assert r.total_blocks == limits.kv_tokens // 16
    assert r.kv_peak_blocks == r.total_blocks
    assert r.preemptions > 0
    assert not r.rejected.any() and np.isfinite(r.e2e_s).all()
    swap = replay(dep, np.zeros(n), np.full(n, prompt), np.full(n, output), preemption="swap")
    assert swap.preemptions > 0 and np.isfinite(swap.e2e_s).all()
    assert littles_error(r, np.zeros(n)) < 1e-9 and littles_error(swap, np.zeros(n)) < 1e-9


def test_a_request_larger_than_the_cache_is_rejected() -> None:
    dep = deployment("a10g", "fp8")
    tokens = engine_limits(dep).kv_tokens
    r = replay(dep, np.array([0.0, 1.0]), np.array([100, tokens]), np.array([10, 10]))
    assert list(r.rejected) == [False, True]
    assert math.isinf(r.ttft_s[1])


@pytest.mark.parametrize("engine", ["vllm", "sglang", "trtllm"])
def test_mean_tpot_agrees_with_the_serving_model(engine: str) -> None:
    """The serving model (the planner's) and the simulation share the estimator; under load their mean TPOT
    and concurrency agree, for engines that batch prefill chunks with decodes and for SGLang's prefill
    passes of their own, which both gather the prompts that arrived during an iteration."""
    dep = deployment("h100-sxm", "fp8", engine)
    prompt, output, n = 1000, 200, 6000
    for rate in (8.0, 20.0):
        r = replay(dep, poisson(rate, n, 11), np.full(n, prompt), np.full(n, output))
        model = predict(dep, prompt, output, rate_rps=rate)
        tpot_ms = float(np.nanmean(r.tpot_s)) * 1e3
        assert tpot_ms == pytest.approx(model.tpot_ms, rel=0.08)
        assert r.area / r.end_s == pytest.approx(model.concurrency, rel=0.08)


def test_a_prefill_pass_pays_its_weight_read_and_fixed_costs_once() -> None:
    """SGLang runs the prompts it has read when it composes an iteration in one prefill pass: the pass pays
    the weight read and fixed costs once and each prompt its own work, so a pass of 32 short prompts takes
    about half of 32 lone prefills. At max load the simulation then serves what the serving model's closed
    loop (which gathers as many prompts per pass) says, where one pass per prompt served 0.55 of it."""
    dep = deployment(engine="sglang")
    times = IterationTimes(dep, 400)
    pass_s = times.idle_base_s(256) + 32 * times.prefill_chunk_s(256, 0)
    assert times.idle_base_s(256) > 0.0
    assert pass_s < 0.6 * 32 * times.lone_prefill_s(256)
    clients, n = 1024, 4000
    r = replay(dep, np.zeros(n), np.full(n, 256), np.full(n, 64), concurrency=clients)
    model = predict(dep, 256, 64, concurrency="max")
    assert model.concurrency == clients
    assert n / r.end_s == pytest.approx(model.requests_per_s, rel=0.1)


def _within(r: ReplayResult, ttft_s: float = 1.0, tpot_s: float = 0.05) -> float:
    return float(np.mean((r.ttft_s <= ttft_s) & ~(np.nan_to_num(r.tpot_s) > tpot_s)))


DEP_A100 = deployment("a100-80gb", "fp8")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.5, 8.0), st.floats(1.1, 2.0))
def test_attainment_does_not_improve_when_the_rate_rises(seed: int, rate: float, factor: float) -> None:
    """Same requests, arrivals compressed in time. One request's latency is not monotone in the rate (it may
    land just before an iteration boundary instead of just after), so the share may move by a request or two;
    beyond that it never rises."""
    rng = np.random.default_rng(seed)
    n = 300
    base = np.cumsum(rng.exponential(1.0, n))
    ins, outs = rng.integers(100, 3000, n), rng.integers(20, 400, n)
    slow = _within(replay(DEP_A100, base / rate, ins, outs))
    fast = _within(replay(DEP_A100, base / (rate * factor), ins, outs))
    assert fast <= slow + 2 / n


def test_attainment_falls_monotonically_over_a_rate_sweep() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    base = np.cumsum(rng.exponential(1.0, n))
    ins, outs = rng.integers(100, 3000, n), rng.integers(20, 400, n)
    shares = [_within(replay(DEP_A100, base / rate, ins, outs)) for rate in np.linspace(1.0, 8.0, 12)]
    assert shares == sorted(shares, reverse=True)
    assert shares[0] > 0.99 and shares[-1] < 0.01


@pytest.mark.parametrize(
    ("gpu", "model", "tp", "weights"),
    [
        ("h100-sxm", "llama-3.1-8b", 1, "fp8"),
        ("a10g", "llama-3.1-8b", 1, "bf16"),
        ("h100-sxm", "llama-3.3-70b", 4, "fp8"),
    ],
)
def test_iteration_times_are_the_estimators_published_ones(gpu: str, model: str, tp: int, weights: str) -> None:
    """The simulator's iteration latencies equal the estimator's per-iteration functions for a simulator
    (planner.perf.roofline.decode_step_time_s, prefill_chunk_time_s): one performance model."""
    from planner.perf.roofline import decode_step_time_s, prefill_chunk_time_s

    g = CATALOG.gpus[gpu]
    dep = Deployment(CATALOG.models[model], g, tp, weights, "bf16", engine_profile(CATALOG, "vllm", g))
    times = IterationTimes(dep, 20_000)
    for batch, ctx in ((1, 100.0), (64, 1500.0), (200, 5000.0)):
        assert times.decode_step_s(batch, ctx) == pytest.approx(decode_step_time_s(dep, batch, ctx), rel=1e-6)
    for n in (100, 2000, 4000):
        assert times.lone_prefill_s(n) == pytest.approx(prefill_chunk_time_s(dep, n, 0), rel=1e-9)
    chunk = times.idle_base_s(2000) + times.prefill_chunk_s(2000, 3000)
    assert chunk == pytest.approx(prefill_chunk_time_s(dep, 2000, 3000), rel=1e-4)


def test_overlap_scheduler_starts_a_prompt_one_decode_step_later() -> None:
    """SGLang's overlap scheduler composes each iteration while the one before runs: a prompt that arrives
    while another request decodes is prefilled after the step in progress and the step already launched,
    one decode step later than without it; a prompt that arrives at an idle replica is read at once."""
    on = deployment(engine="sglang")
    off = Deployment(on.model, on.gpu, on.tp, on.weights, on.kv, on.engine, overlap_schedule=False)
    arrivals, prompts, outputs = np.array([0.0, 0.5]), np.array([512, 512]), np.array([2000, 50])
    a, b = replay(on, arrivals, prompts, outputs), replay(off, arrivals, prompts, outputs)
    step = float(decode_step_s(coefficients(on), 1, 600))  # the first request's step when the second arrives
    assert a.ttft_s[0] == pytest.approx(b.ttft_s[0], rel=1e-12)  # arrived at an idle replica
    extra = float(a.ttft_s[1] - b.ttft_s[1])
    assert 0.5 * step < extra < 1.5 * step
    assert littles_error(a, arrivals) < 1e-9
