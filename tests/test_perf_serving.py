"""Roofline and serving model: monotonicity in batch, context and load; capacity monotone in lengths
and SLOs (the planner relies on it); open/closed loop consistency; saturation when the KV cache is full."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.loader import load_catalog
from planner.errors import InfeasibleError
from planner.perf import Deployment, capacity_rps, capacity_rps_many, engine_profile, predict
from planner.perf.roofline import coefficients, decode_step_s, prefill_alone_s

CAT = load_catalog()

CONFIGS = [
    ("llama-3.1-8b", "h100-sxm", 1, "bf16", "bf16", "vllm"),
    ("llama-3.1-8b", "l4", 1, "fp8", "fp8", "vllm"),
    ("llama-3.3-70b", "h100-sxm", 4, "fp8", "fp8", "trtllm"),
    ("mixtral-8x7b", "h200", 2, "bf16", "bf16", "sglang"),
    ("mistral-7b", "a10g", 1, "int4", "bf16", "vllm"),
    ("deepseek-v3", "h200", 8, "fp8", "fp8", "vllm"),
    ("qwen2.5-7b", "a100-80gb", 1, "bf16", "bf16", "trtllm"),
]


def make(cfg: tuple[str, str, int, str, str, str]) -> Deployment:
    model, gpu, tp, w, kv, eng = cfg
    g = CAT.gpus[gpu]
    return Deployment(CAT.models[model], g, tp, w, kv, engine_profile(CAT, eng, g))


DEPS = [make(c) for c in CONFIGS]
# SGLang with a small CUDA-graph limit: decode steps past batch 24 run eager (a step up in t_d(N))
DEPS.append(replace(make(("llama-3.1-8b", "h100-sxm", 1, "bf16", "bf16", "sglang")), cuda_graph_max_batch=24))
dep_st = st.sampled_from(DEPS)
length_st = st.integers(min_value=1, max_value=16000)


@settings(max_examples=80, deadline=None)
@given(dep_st, st.integers(1, 512), st.integers(1, 512), st.integers(1, 30000), st.integers(1, 30000))
def test_decode_step_non_decreasing_in_batch_and_context(dep: Deployment, b1: int, b2: int, c1: int, c2: int) -> None:
    c = coefficients(dep)
    lo_b, hi_b = sorted((b1, b2))
    lo_c, hi_c = sorted((c1, c2))
    assert decode_step_s(c, lo_b, lo_c) <= decode_step_s(c, hi_b, lo_c)
    assert decode_step_s(c, lo_b, lo_c) <= decode_step_s(c, lo_b, hi_c)
    assert prefill_alone_s(c, min(c1, c2)) <= prefill_alone_s(c, max(c1, c2))


@settings(max_examples=40, deadline=None)
@given(dep_st, st.integers(1, 4000), st.integers(1, 1000), st.integers(1, 64), st.integers(1, 64))
def test_latency_non_decreasing_in_concurrency(dep: Deployment, i: int, o: int, n1: int, n2: int) -> None:
    lo, hi = sorted((n1, n2))
    a = predict(dep, i, o, concurrency=lo)
    b = predict(dep, i, o, concurrency=hi)
    assert a.tpot_ms <= b.tpot_ms * (1 + 1e-9)
    assert a.ttft_ms <= b.ttft_ms * (1 + 1e-9)
    # throughput grows with concurrency up to saturation (where it is flat within rounding of the model),
    # except across the CUDA-graph cliff, where it falls (test_perf_cuda_graph)
    if not lo <= coefficients(dep).graph_max_batch < hi:
        assert a.requests_per_s <= b.requests_per_s * (1 + 1e-3)


@settings(max_examples=40, deadline=None)
@given(dep_st, st.integers(1, 8000), st.integers(1, 8000), st.integers(2, 500))
def test_latency_non_decreasing_in_context(dep: Deployment, i1: int, i2: int, o: int) -> None:
    lo, hi = sorted((i1, i2))
    a = predict(dep, lo, o, concurrency=8)
    b = predict(dep, hi, o, concurrency=8)
    assert a.ttft_ms <= b.ttft_ms * (1 + 1e-9)
    assert a.tpot_ms <= b.tpot_ms * (1 + 1e-9)


@settings(max_examples=120, deadline=None)
@given(
    dep_st,
    st.lists(st.tuples(length_st, st.integers(1, 4000)), min_size=1, max_size=6),
    st.integers(0, 3000),
    st.integers(0, 3000),
    st.floats(50, 20000),
    st.floats(5, 300),
)
def test_capacity_monotone_in_lengths(
    dep: Deployment, lengths: list[tuple[int, int]], di: int, do: int, ttft: float, tpot: float
) -> None:
    base = capacity_rps_many(dep, lengths, ttft, tpot)
    longer_in = capacity_rps_many(dep, [(i + di, o) for i, o in lengths], ttft, tpot)
    longer_out = capacity_rps_many(dep, [(i, o + do) for i, o in lengths], ttft, tpot)
    for b, li, lo in zip(base, longer_in, longer_out, strict=True):
        assert li <= b and lo <= b
        assert b >= 0.0 and math.isfinite(b)


@settings(max_examples=120, deadline=None)
@given(
    dep_st,
    st.lists(st.tuples(length_st, st.integers(1, 4000)), min_size=1, max_size=6),
    st.floats(20, 20000),
    st.floats(1, 500),
    st.floats(1.0, 5.0),
    st.floats(1.0, 5.0),
)
def test_capacity_monotone_in_slos(
    dep: Deployment, lengths: list[tuple[int, int]], ttft: float, tpot: float, kt: float, kp: float
) -> None:
    base = capacity_rps_many(dep, lengths, ttft, tpot)
    for looser in (capacity_rps_many(dep, lengths, ttft * kt, tpot), capacity_rps_many(dep, lengths, ttft, tpot * kp)):
        for b, x in zip(base, looser, strict=True):
            assert x >= b


def test_capacity_many_equals_single() -> None:
    dep = DEPS[0]
    lengths = [(100, 50), (2000, 300), (8000, 1000)]
    many = capacity_rps_many(dep, lengths, 2000, 60)
    assert many == [capacity_rps(dep, i, o, 2000, 60) for i, o in lengths]
    assert capacity_rps_many(dep, [], 1, 1) == []


def test_capacity_zero_when_lone_request_misses_slo_or_does_not_fit() -> None:
    dep = DEPS[2]  # 70B on 4 x H100
    lone = predict(dep, 4000, 100)
    assert capacity_rps(dep, 4000, 100, lone.ttft_ms * 0.9, 1000) == 0.0
    assert capacity_rps(dep, 4000, 100, 10_000, lone.tpot_ms * 0.9) == 0.0
    assert capacity_rps(dep, 4000, 100, lone.ttft_ms * 3, lone.tpot_ms * 3) > 0.0
    g = CAT.gpus["l4"]
    no_fit = Deployment(CAT.models["llama-3.3-70b"], g, 1, "bf16", "bf16", engine_profile(CAT, "vllm", g))
    assert capacity_rps(no_fit, 100, 100, 1e6, 1e6) == 0.0
    # longer than the context window (llama-3.3-70b: 131072 tokens): never admitted
    assert capacity_rps(dep, 131_000, 100, 1e9, 1e9) == 0.0


def test_capacity_meets_slo_and_open_loop_agrees() -> None:
    dep = DEPS[0]
    cap = capacity_rps(dep, 1000, 200, 1000, 40)
    assert cap > 0
    at = predict(dep, 1000, 200, rate_rps=cap)
    assert at.ttft_ms <= 1000 * 1.001 and at.tpot_ms <= 40 * 1.001 and not at.saturated
    above = predict(dep, 1000, 200, rate_rps=cap * 1.05)
    assert above.ttft_ms > 1000 or above.tpot_ms > 40 or above.saturated


def test_open_loop_saturates_once_kv_is_full() -> None:
    dep = DEPS[1]  # 8B on a 24 GB L4: a small KV cache
    full = predict(dep, 3000, 500, concurrency="max")
    assert full.kv_limited and full.concurrency == full.admission_limit
    over = predict(dep, 3000, 500, rate_rps=full.requests_per_s * 2)
    assert over.saturated and math.isinf(over.ttft_ms)
    assert over.requests_per_s <= full.requests_per_s * 1.001
    under = predict(dep, 3000, 500, rate_rps=full.requests_per_s * 0.3)
    assert not under.saturated and math.isfinite(under.ttft_ms)
    # closed loop beyond the KV limit: the extra requests wait in the queue
    queued = predict(dep, 3000, 500, concurrency=int(full.admission_limit) * 3)
    assert queued.ttft_ms > full.ttft_ms * 2
    assert queued.requests_per_s == pytest.approx(full.requests_per_s)


def test_lone_request_by_hand() -> None:
    """Concurrency 1: TTFT is the request overhead and the prefill, TPOT one decode step, throughput one
    request's rate."""
    dep = DEPS[0]
    c = coefficients(dep)
    p = predict(dep, 500, 101)
    assert p.ttft_ms == pytest.approx((float(prefill_alone_s(c, 500)) + c.request_s) * 1e3)
    assert p.tpot_ms == pytest.approx(float(decode_step_s(c, 1, 500 + 101 / 2)) * 1e3)
    assert p.requests_per_s == pytest.approx(1e3 / (p.ttft_ms + 100 * p.tpot_ms))
    assert p == predict(dep, 500, 101, concurrency=1)


def test_moe_decode_reads_only_touched_experts() -> None:
    dep = DEPS[3]  # mixtral on 2 x H200
    c = coefficients(dep)
    one = float(decode_step_s(c, 1, 100))
    many = float(decode_step_s(c, 256, 100))
    all_weights_s = (c.dense_bytes + 8 * c.expert_bytes) / c.bw_bps
    assert one < 0.5 * all_weights_s + c.overhead_s + c.collectives_per_pass * c.collective_latency_s
    assert many > all_weights_s


def test_tp_allreduce_over_pcie_costs_more_than_nvlink() -> None:
    def tpot(gpu: str) -> float:
        g = CAT.gpus[gpu]
        d = Deployment(CAT.models["llama-3.1-8b"], g, 2, "bf16", "bf16", engine_profile(CAT, "vllm", g))
        c = coefficients(d)
        return c.collective_s_per_token

    assert tpot("h100-pcie") > tpot("h100-sxm")


def test_tp_allreduce_payload_by_hand() -> None:
    """Llama 3.3 70B on 4 x H100: two ring all-reduces per layer, each moving 2 (tp-1)/tp of a token's
    16-bit hidden state over NVLink (450 GB/s a direction) at the engine's all-reduce efficiency."""
    dep = DEPS[2]
    c = coefficients(dep)
    m = dep.model
    per_allreduce_s = 2 * 3 / 4 * m.hidden * 2 / (450e9 * dep.factor("allreduce_bw_efficiency"))
    assert c.collectives_per_pass == 2 * m.layers == 160
    assert c.collective_s_per_token == pytest.approx(2 * m.layers * per_allreduce_s)


def test_wide_ep_prefill_sends_a_token_once_per_node_and_gpu_by_hand() -> None:
    """DeepSeek-V3 at EP 32 over four 8 x H100 nodes (fp8 dispatch, 16-bit combine, 58 MoE layers). Decode
    (DeepEP's low-latency kernels) sends one message per routed expert: 8 x 24/32 leave the node and
    8 x 7/32 cross NVLink. Prefill (DeepEP's normal kernels) sends a token once to each other node that
    holds any of its 8 experts (64 of the 256 there: that node is missed with probability C(192, 8) / C(256, 8))
    and once to each other GPU holding any of them (8 experts each)."""
    g = CAT.gpus["h100-sxm"]
    dep = Deployment(
        CAT.models["deepseek-v3"], g, 32, "fp8", "bf16", engine_profile(CAT, "sglang", g), ep=32, dp_attention=True,
        nodes=4, scale_out_gb_per_s=50.0, gpus_per_node=8,
    )
    c = coefficients(dep)
    per_copy_bytes = 58 * 7168 * (1 + 2)
    eff = dep.factor("allreduce_bw_efficiency")
    decode = per_copy_bytes * 8 * (24 / 32 / 50e9 + 7 / 32 / 450e9) / eff / 32
    node_missed = math.comb(192, 8) / math.comb(256, 8)
    gpu_missed = math.comb(248, 8) / math.comb(256, 8)
    prefill = per_copy_bytes * (3 * (1 - node_missed) / 50e9 + 31 * (1 - gpu_missed) / 450e9) / eff / 32
    assert c.collective_s_per_token == pytest.approx(decode)
    assert c.prefill_collective_s_per_token == pytest.approx(prefill)
    # the deduplication more than halves what prefill sends over the scale-out network
    assert c.prefill_collective_s_per_token < 0.6 * c.collective_s_per_token


def test_block_scaled_fp8_gemms_run_at_their_own_share_of_the_fp8_rate() -> None:
    """DeepSeek-V3's FP8 checkpoint scales its weights per 128 x 128 block, and its GEMMs pay for it; its
    16-bit weights and a per-tensor FP8 Llama do not."""
    g = CAT.gpus["h200"]
    prof = engine_profile(CAT, "sglang", g)

    def gemm_flops(model: str, weights: str) -> float:
        return coefficients(Deployment(CAT.models[model], g, 8, weights, "bf16", prof)).gemm_flops

    block = Deployment(CAT.models["deepseek-v3"], g, 8, "fp8", "bf16", prof).factor("block_fp8_gemm_efficiency")
    assert block < 1.0
    per_tensor = g.peak_tflops("fp8") * 1e12 * prof.compute_efficiency
    assert gemm_flops("deepseek-v3", "fp8") == pytest.approx(per_tensor * block)
    assert gemm_flops("llama-3.3-70b", "fp8") == pytest.approx(per_tensor)
    assert gemm_flops("deepseek-v3", "bf16") == pytest.approx(g.peak_tflops("bf16") * 1e12 * prof.compute_efficiency)


def test_predict_infeasible_raises() -> None:
    g = CAT.gpus["t4"]
    d = Deployment(CAT.models["llama-3.3-70b"], g, 1, "bf16", "bf16", engine_profile(CAT, "vllm", g))
    with pytest.raises(InfeasibleError):
        predict(d, 100, 100)


def _with(dep: Deployment, **changes: object) -> Deployment:
    return replace(dep, **changes)  # type: ignore[arg-type]


def test_eager_host_time_overlaps_the_gpus_work() -> None:
    """Without CUDA graphs the host issues a step's kernels while the GPU runs them: the step is the
    longer of the two, so a GPU-bound step (a big model, a large batch) hardly pays for eager mode and a
    small one is host-bound."""
    big = _with(make(("llama-3.3-70b", "a100-80gb", 2, "bf16", "bf16", "vllm")), eager=True)
    small = _with(make(("llama-3.1-8b", "h100-sxm", 1, "fp8", "fp8", "vllm")), eager=True)
    for dep in (big, small):
        c, g = coefficients(dep), coefficients(_with(dep, eager=False))
        assert c.host_s > 0 and g.host_s == 0
        for batch in (1, 8, 64):
            eager, graphs = float(decode_step_s(c, batch, 1000)), float(decode_step_s(g, batch, 1000))
            assert graphs <= eager <= graphs + c.host_s + 1e-12
    c, g = coefficients(small), coefficients(_with(small, eager=False))
    assert float(decode_step_s(c, 1, 100)) > 1.5 * float(decode_step_s(g, 1, 100))  # host-bound
    # the serving model's fixed point uses the same step: a lone eager request's TPOT is one step
    p = predict(small, 500, 101)
    assert p.tpot_ms == pytest.approx(float(decode_step_s(c, 1, 500 + 101 / 2)) * 1e3)
    at = predict(small, 500, 101, rate_rps=p.requests_per_s * 3)
    assert not at.saturated and at.tpot_ms >= p.tpot_ms


def test_short_prefill_gemms_cost_more_per_token_and_moe_more_than_dense() -> None:
    """A prefill pass's GEMMs run at M / (M + gemm_half_tokens) of their efficiency; an expert sees only
    top_k / experts of the pass's tokens, so a short MoE prefill loses more than a dense one."""
    from planner.perf.roofline import prefill_compute_s  # noqa: PLC0415 - the function under test

    dense = coefficients(make(("llama-3.1-8b", "h100-sxm", 1, "bf16", "bf16", "vllm")))
    moe = coefficients(DEPS[5])  # deepseek-v3 on 8 x H200
    for c in (dense, moe):
        assert c.gemm_half_tokens > 0
        # the loss per token shrinks as the pass grows (attention, which grows with length, cancels out)
        loss = [float(prefill_compute_s(c, n, passes=1.0) - prefill_compute_s(c, n)) / n for n in (256, 8192)]
        assert loss[0] > loss[1] > 0
    loss = [float(prefill_compute_s(c, 512, passes=1.0)) / float(prefill_compute_s(c, 512)) for c in (dense, moe)]
    assert loss[1] > loss[0]


def test_decode_attention_efficiency_rises_with_context() -> None:
    """KV read time per sequence is (context + kv_context_half) x bytes / bandwidth: short contexts read
    at a lower effective bandwidth, long ones approach it."""
    from planner.perf.roofline import decode_parts  # noqa: PLC0415 - the function under test

    c = coefficients(DEPS[0])
    assert c.kv_context_half > 0
    mem_short, mem_long = (float(decode_parts(c, ctx)[0]) for ctx in (100.0, 10000.0))
    per_token_short, per_token_long = mem_short / 100.0, mem_long / 10000.0
    assert per_token_short > per_token_long
    assert mem_long - mem_short == pytest.approx(9900.0 * c.kv_read_per_token / c.kv_bw_bps)


def test_prompts_gathered_into_one_prefill_pass_share_its_weights_and_fixed_costs() -> None:
    """An engine that prefills in passes of its own (SGLang) runs the prompts that arrived during a decode
    step in one pass: per prompt, the weight read and fixed costs are divided among them, so max-load
    throughput with short prompts is higher than one pass per prompt would allow; an engine that mixes
    prompts into decode steps (vLLM) pays no pass of its own either way."""
    from planner.perf.roofline import prefill_marginal_s  # noqa: PLC0415 - the function under test

    sglang = coefficients(make(("llama-3.3-70b", "h200", 4, "bf16", "bf16", "sglang")))
    vllm = coefficients(make(("llama-3.3-70b", "h200", 4, "bf16", "bf16", "vllm")))
    assert sglang.separate_prefill and not vllm.separate_prefill
    shared = [float(prefill_marginal_s(sglang, 200, k)) for k in (1.0, 2.0, 8.0)]
    assert shared[0] > shared[1] > shared[2] > float(prefill_marginal_s(vllm, 200))
    assert float(prefill_marginal_s(vllm, 200, 8.0)) == float(prefill_marginal_s(vllm, 200))
    # at max load (1024 in flight, 200 output tokens) about five prompts share a pass
    dep = make(("llama-3.3-70b", "h200", 4, "bf16", "bf16", "sglang"))
    point = predict(dep, 200, 200, concurrency="max")
    lone_pass = point.concurrency / (point.decode_step_ms * 1e-3 * 199 + point.concurrency * shared[0])
    assert point.requests_per_s > lone_pass


def test_the_open_loop_gathers_the_prompts_that_arrive_during_an_iteration() -> None:
    """Under an arrival rate, an engine with prefill passes of its own runs the prompts that arrived during
    one iteration in one pass (serving._open_loop): near one at low rates, so the latencies equal one pass
    per prompt; at high rates several, so a short-prompt load that one pass per prompt would saturate is
    served. Under DP attention each rank gathers only the prompts sent to it."""
    from planner.perf import serving  # noqa: PLC0415 - the function under test
    from planner.perf.roofline import prefill_marginal_s  # noqa: PLC0415

    dep = make(("llama-3.1-8b", "h100-sxm", 1, "bf16", "bf16", "sglang"))
    c = coefficients(dep)
    i, o = np.asarray([256.0]), np.asarray([64.0])
    parts = serving._parts(c, i, o)

    def one_pass_each(rate: float) -> tuple[float, float, float]:
        lam, k = np.asarray([[rate]]), np.ones((1, 1))
        p = np.asarray(prefill_marginal_s(c, parts["i"], k), dtype=float)
        n, r = serving._fixed_point(c, lam, parts, p, k)
        ttft, tpot = serving._latencies(c, n, r, parts, p, k)
        return float(n.item()), float(ttft.item()), float(tpot.item())

    low = predict(dep, 256, 64, rate_rps=1.0)
    n1, ttft1, tpot1 = one_pass_each(1.0)
    assert low.tpot_ms == pytest.approx(tpot1 * 1e3, rel=0.01)
    assert low.ttft_ms == pytest.approx(ttft1 * 1e3, rel=0.02)
    assert low.ttft_ms >= ttft1 * 1e3  # the few prompts gathered wait for each other's work
    # a rate at which one pass per prompt has no stable batch
    top = predict(dep, 256, 64, concurrency="max").requests_per_s
    rate = next(x * top for x in (0.4, 0.5, 0.6, 0.7) if not math.isfinite(one_pass_each(x * top)[0]))
    busy = predict(dep, 256, 64, rate_rps=rate)
    assert not busy.saturated and math.isfinite(busy.ttft_ms)
    capacity = capacity_rps(dep, 256, 64, 1e9, 1e9)
    assert capacity > rate
    # DP attention: the rate is spread over tp schedulers, each gathering fewer prompts than one would
    dpa = replace(make(("deepseek-v3", "h200", 8, "fp8", "bf16", "sglang")), dp_attention=True)
    c8 = coefficients(dpa)
    assert c8.dp_ranks == 8 and coefficients(dep).dp_ranks == 1
    parts8 = serving._parts(c8, np.asarray([1024.0]), np.asarray([1024.0]))
    lam = np.asarray([[1.5]])
    per_rank = serving._open_loop(c8, lam, parts8)[3].item()
    as_one = serving._open_loop(replace(c8, dp_ranks=1), lam, parts8)[3].item()
    assert per_rank > as_one
