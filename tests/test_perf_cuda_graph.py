"""The CUDA-graph cliff: SGLang captures decode steps in CUDA graphs up to a largest batch and runs larger
batches eager, kernel by kernel from Python (memory.graph_batch_limit). The decode step steps up there,
the serving model's fixed point finds the batch past it, and the fluid model of runs past saturation
sees throughput fall across it."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from catalog.loader import load_catalog
from planner.perf import Deployment, engine_profile, predict
from planner.perf.calibration import finite_run
from planner.perf.measured import load_rows
from planner.perf.memory import graph_batch_limit
from planner.perf.roofline import coefficients, decode_step_s

CAT = load_catalog()


def _dep(model: str, gpu: str, tp: int, engine: str, **kw: object) -> Deployment:
    g = CAT.gpus[gpu]
    return Deployment(CAT.models[model], g, tp, "bf16", "bf16", engine_profile(CAT, engine, g), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gpu", "tp", "expected"),
    [
        ("t4", 1, 8),  # under 20 GiB
        ("l4", 1, 48),  # under 35 GiB
        ("l4", 4, 160),
        ("a100-40gb", 1, 32),  # under 60 GiB
        ("a100-40gb", 4, 160),
        ("h100-sxm", 1, 256),  # under 90 GiB
        ("h100-sxm", 4, 512),
        ("h200", 2, 256),  # under 160 GiB
        ("h200", 8, 512),
        ("b200", 1, 512),  # 160 GiB and more
        ("mi300x", 1, 512),
    ],
)
def test_sglang_default_graph_batch_follows_device_memory_and_tp(gpu: str, tp: int, expected: int) -> None:
    assert graph_batch_limit(_dep("llama-3.1-8b", gpu, tp, "sglang")) == expected


def test_other_engines_have_no_cliff_and_a_stated_limit_wins() -> None:
    for engine in ("vllm", "trtllm"):
        dep = _dep("llama-3.1-8b", "h100-sxm", 1, engine)
        assert math.isinf(graph_batch_limit(dep))
        assert graph_batch_limit(replace(dep, cuda_graph_max_batch=64)) == 64
    assert graph_batch_limit(_dep("llama-3.1-8b", "h100-sxm", 1, "sglang", cuda_graph_max_batch=160)) == 160


def test_decode_step_steps_up_to_the_eager_host_time_past_the_limit() -> None:
    """Inside the graph the step is the GPU's work; one request more and the host issues every kernel,
    which the GPU's work overlaps: the step is the longer of the two."""
    dep = _dep("llama-3.1-8b", "h100-sxm", 1, "sglang", cuda_graph_max_batch=16)
    c = coefficients(dep)
    free = coefficients(replace(dep, cuda_graph_max_batch=10**6))
    assert c.eager_host_s > 0 and c.host_s == 0 and c.graph_max_batch == 16
    inside, past = float(decode_step_s(c, 16, 500)), float(decode_step_s(c, 17, 500))
    assert inside == float(decode_step_s(free, 16, 500))
    assert past > 1.5 * inside  # an 8B model's step at batch 17 is host-bound when eager
    assert past >= c.eager_host_s + c.overhead_s
    # an eager deployment pays the host time at every batch
    eager = coefficients(replace(dep, eager=True))
    assert float(decode_step_s(eager, 1, 500)) >= eager.eager_host_s


def test_dp_attention_compares_each_ranks_share_of_the_batch() -> None:
    g = CAT.gpus["h200"]
    dep = Deployment(
        CAT.models["deepseek-v3"], g, 8, "fp8", "fp8", engine_profile(CAT, "sglang", g), ep=8, dp_attention=True
    )
    assert coefficients(dep).graph_max_batch == 8 * graph_batch_limit(dep)


def test_open_loop_batch_crosses_the_cliff_and_keeps_littles_law() -> None:
    """Below the rate whose batch reaches the limit the capped replica is the uncapped one; past it the
    batch is the fixed point of the eager step (larger, slower), and Little's law holds on both sides:
    N = rate x (TTFT - request overhead + (O - 1) TPOT)."""
    capped = _dep("llama-3.1-8b", "h100-sxm", 1, "sglang", cuda_graph_max_batch=16)
    free = replace(capped, cuda_graph_max_batch=10**6)
    i, o = 300, 300
    request_s = coefficients(capped).request_s
    crossed = 0
    for rate in (0.5, 1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0):
        a, b = predict(capped, i, o, rate_rps=rate), predict(free, i, o, rate_rps=rate)
        if b.concurrency <= 16:
            assert a == b
            continue
        crossed += 1
        if a.saturated:
            continue
        assert a.concurrency > b.concurrency and a.tpot_ms > b.tpot_ms
        little = rate * ((a.ttft_ms + (o - 1) * a.tpot_ms) * 1e-3 - request_s)
        assert a.concurrency == pytest.approx(little, rel=1e-9)
    assert crossed >= 2


def test_throughput_falls_across_the_cliff_and_the_fluid_run_sees_it() -> None:
    """A closed loop one request past the limit serves fewer requests per second than at the limit (the
    collapse SGLang's release notes describe for a too-small --cuda-graph-max-bs), and a finite run past
    saturation, whose batch grows through the cliff, serves less than the uncapped replica."""
    capped = _dep("llama-3.1-8b", "h100-sxm", 1, "sglang", cuda_graph_max_batch=16)
    at, past = predict(capped, 300, 300, concurrency=16), predict(capped, 300, 300, concurrency=17)
    assert past.requests_per_s < at.requests_per_s
    free = replace(capped, cuda_graph_max_batch=10**6)
    full = predict(free, 300, 300, concurrency="max")
    rate = 2.0 * full.requests_per_s
    slow = finite_run(capped, 300, 300, rate, 2000, full.admission_limit)
    fast = finite_run(free, 300, 300, rate, 2000, full.admission_limit)
    assert slow.requests_per_s < fast.requests_per_s
    assert slow.tpot_median_s > fast.tpot_median_s


def test_sglang_0_3_and_0_4_rows_carry_their_releases_limit() -> None:
    """SGLang 0.3.0 to 0.4.x captured decode batches up to 160; the calibration rows of those releases
    say so, and no vLLM row does."""
    rows = load_rows()
    for source in ("datacrunch-h200", "sglang-vs-vllm-0.6"):
        mine = [r for r in rows if r.source == source]
        assert mine
        for r in mine:
            assert r.cuda_graph_max_batch == (160 if r.engine == "sglang" else 0)


def test_overlap_scheduler_makes_an_arriving_prompt_wait_one_step_more() -> None:
    """SGLang's overlap scheduler launches the next decode step before it reads new requests, so a prompt
    arriving during decode waits for that step too: TTFT grows by about one decode step under load, not
    at all for a lone request or single-token requests, and TPOT does not change."""
    from planner.perf.memory import overlap_schedule  # noqa: PLC0415 - grouped with the overlap tests

    on = _dep("llama-3.1-8b", "h100-sxm", 1, "sglang")
    off = replace(on, overlap_schedule=False)
    assert overlap_schedule(on) and not overlap_schedule(off)
    assert not overlap_schedule(_dep("llama-3.1-8b", "h100-sxm", 1, "vllm"))
    assert overlap_schedule(_dep("llama-3.1-8b", "h100-sxm", 1, "vllm", overlap_schedule=True))
    a, b = predict(on, 500, 200, concurrency=32), predict(off, 500, 200, concurrency=32)
    assert a.ttft_ms - b.ttft_ms == pytest.approx(a.decode_step_ms, rel=0.2)
    assert a.tpot_ms == pytest.approx(b.tpot_ms, rel=0.02)
    assert predict(on, 500, 200).ttft_ms == predict(off, 500, 200).ttft_ms  # alone: nothing launched ahead
    assert predict(on, 500, 1, concurrency=32).ttft_ms == predict(off, 500, 1, concurrency=32).ttft_ms
    # the open loop's Little's law carries the longer wait: more requests in flight at the same rate
    rate = 0.5 * predict(off, 500, 200, concurrency="max").requests_per_s
    assert predict(on, 500, 200, rate_rps=rate).concurrency > predict(off, 500, 200, rate_rps=rate).concurrency


def test_sglang_0_3_and_dp_attention_0_4_rows_run_without_the_overlap_scheduler() -> None:
    rows = load_rows()
    for r in rows:
        if r.source == "sglang-vs-vllm-0.6" and r.engine == "sglang":
            assert r.overlap_schedule is False
        elif r.source == "sglang-dsv3-h200":
            assert r.overlap_schedule is (False if r.dp_attention else None)
        else:
            assert r.overlap_schedule is None
