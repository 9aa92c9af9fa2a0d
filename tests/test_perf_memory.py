"""Memory model: KV bytes per token against hand-computed values, weights, fit/does-not-fit reasons,
and the monotonicity properties (TP, precision)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from catalog.loader import load_catalog
from catalog.types import EngineProfile, Gpu, ModelArch
from planner.perf import Deployment, engine_profile, kv_bytes_per_token_per_gpu, memory_breakdown, predict
from planner.perf.memory import kv_admitted, kv_tokens_per_request, sequence_limit, weights_bytes_total

CAT = load_catalog()


def dep(model: str, gpu: str = "h100-sxm", tp: int = 1, weights: str = "bf16", kv: str = "bf16") -> Deployment:
    g = CAT.gpus[gpu]
    return Deployment(CAT.models[model], g, tp, weights, kv, engine_profile(CAT, "vllm", g))


def test_kv_gqa_llama_31_8b_by_hand() -> None:
    m = CAT.models["llama-3.1-8b"]  # 32 layers, 8 KV heads, head_dim 128
    assert kv_bytes_per_token_per_gpu(m, "bf16", 1) == 2 * 32 * 8 * 128 * 2 == 131072
    assert kv_bytes_per_token_per_gpu(m, "fp8", 1) == 65536
    # tp 2: each GPU stores 4 of the 8 KV heads
    assert kv_bytes_per_token_per_gpu(m, "bf16", 2) == 65536
    # tp 16 > 8 KV heads: one (replicated) head per GPU, so the replica stores 2x the unsharded cache
    assert kv_bytes_per_token_per_gpu(m, "bf16", 16) == 2 * 32 * 1 * 128 * 2
    mem = memory_breakdown(dep("llama-3.1-8b"), 1000)
    assert mem.kv_gb_per_token == pytest.approx(131072 / 1e9)
    assert mem.kv_gb_per_request == pytest.approx(1000 * 131072 / 1e9)


def test_kv_gqa_llama_70b_by_hand() -> None:
    m = CAT.models["llama-3.3-70b"]  # 80 layers, 8 KV heads, head_dim 128: 320 KiB per token in bf16
    assert kv_bytes_per_token_per_gpu(m, "bf16", 1) == 2 * 80 * 8 * 128 * 2 == 327680
    assert kv_bytes_per_token_per_gpu(m, "bf16", 8) == 327680 / 8


def test_kv_mla_deepseek_v3_by_hand() -> None:
    m = CAT.models["deepseek-v3"]  # MLA: 61 layers x (kv_lora_rank 512 + rope 64) latent
    assert m.is_mla
    assert kv_bytes_per_token_per_gpu(m, "bf16", 1) == 61 * (512 + 64) * 2 == 70272
    # the latent is not split over heads: every TP rank keeps all of it
    assert kv_bytes_per_token_per_gpu(m, "fp8", 8) == 61 * 576
    mem = memory_breakdown(dep("deepseek-v3", "h200", 8, "fp8", "fp8"), 4096)
    assert mem.kv_gb_per_token == pytest.approx(8 * 61 * 576 / 1e9)


def test_sliding_window_caps_kv() -> None:
    m = CAT.models["mistral-7b"]
    assert m.sliding_window == 4096
    assert kv_tokens_per_request(m, 32000) == 4096
    assert kv_tokens_per_request(m, 1000) == 1000


def test_kv_admission_by_hand() -> None:
    """What the KV cache admits: its tokens over prompt + the reserved half of the output (vLLM); a
    sliding window caps a request's share; I + O - 1 positions must fit the context window."""
    d = dep("llama-3.1-8b")
    kv = memory_breakdown(d).max_tokens_in_kv
    got = kv_admitted(d, np.array([1000.0, 100.0]), np.array([200.0, 1.0]))
    assert list(got) == [kv // 1100, kv // 100.5]
    window = d.context_window
    edge = kv_admitted(d, np.array([window, window]), np.array([1.0, 2.0]))
    assert edge[0] == kv // window and edge[1] == 0.0  # the first output token needs no new position
    w = dep("mistral-7b")
    assert kv_admitted(w, np.array([30000.0]), np.array([100.0]))[0] == memory_breakdown(w).max_tokens_in_kv // 4096


def test_weights_by_hand_and_quantised_embeddings_stay_16_bit() -> None:
    m = CAT.models["llama-3.1-8b"]
    assert weights_bytes_total(m, "bf16") == pytest.approx(m.total_params * 2)
    embed = m.vocab * m.hidden * 2  # input embedding + untied lm_head
    fp8 = weights_bytes_total(m, "fp8")
    assert fp8 == pytest.approx((m.total_params - embed - m.hidden) * 1 + (embed + m.hidden) * 2)


def test_moe_keeps_all_experts_resident() -> None:
    m = CAT.models["mixtral-8x7b"]
    mem = memory_breakdown(dep("mixtral-8x7b", "h100-sxm", 2))
    assert mem.weights_gb * 2 == pytest.approx(m.total_params * 2 / 1e9, rel=1e-6)
    assert m.total_params > 3 * m.active_params


def test_405b_bf16_on_8_h100_does_not_fit_with_numbers() -> None:
    mem = memory_breakdown(dep("llama-3.1-405b", "h100-sxm", 8))
    assert not mem.fits
    assert "812 GB of weights" in mem.reason and "616 GB usable" in mem.reason and "8 x h100-sxm" in mem.reason


def test_tp_must_divide_heads() -> None:
    mem = memory_breakdown(dep("llama-3.1-8b", "h100-sxm", 3))
    assert not mem.fits and "does not divide" in mem.reason and "32 attention heads" in mem.reason


def test_kv_too_small_for_one_request_is_explained() -> None:
    tight = memory_breakdown(dep("llama-3.1-8b", "l4", 1), 131000)
    assert not tight.fits and "request needs" in tight.reason


def test_every_catalog_model_and_gpu_gets_an_answer() -> None:
    for model in sorted(CAT.models):
        for gpu in sorted(CAT.gpus):
            for tp in (1, 8):
                mem = memory_breakdown(dep(model, gpu, tp))
                assert mem.fits or mem.reason, (model, gpu, tp)


MODELS = sorted(CAT.models)
GPUS = sorted(CAT.gpus)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MODELS), st.sampled_from(GPUS), st.sampled_from(["bf16", "fp8", "int4"]))
def test_memory_per_gpu_non_increasing_in_tp(model: str, gpu: str, weights: str) -> None:
    prev = None
    for tp in (1, 2, 4, 8):
        mem = memory_breakdown(dep(model, gpu, tp, weights))
        if mem.tp != tp or (mem.weights_gb == 0 and not mem.fits):
            continue  # invalid tp for this model
        per_gpu = (mem.weights_gb + mem.activation_gb, mem.kv_gb_per_token / tp)
        if prev is not None:
            assert per_gpu[0] <= prev[0] + 1e-12
            assert per_gpu[1] <= prev[1] + 1e-15
        prev = per_gpu


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(MODELS), st.sampled_from(GPUS), st.sampled_from([1, 2, 4, 8]))
def test_fp8_never_needs_more_memory_than_bf16(model: str, gpu: str, tp: int) -> None:
    bf16 = memory_breakdown(dep(model, gpu, tp, "bf16", "bf16"))
    fp8 = memory_breakdown(dep(model, gpu, tp, "fp8", "fp8"))
    assert fp8.weights_gb <= bf16.weights_gb
    assert fp8.kv_gb_per_token <= bf16.kv_gb_per_token
    assert fp8.free_for_kv_gb >= bf16.free_for_kv_gb
    assert fp8.max_tokens_in_kv >= bf16.max_tokens_in_kv
    assert fp8.fits or not bf16.fits


def test_memory_from_constructed_objects() -> None:
    """The estimator needs nothing but the typed objects (a HF config.json model works the same)."""
    gpu = Gpu(
        id="x",
        name="x",
        vendor="nvidia",
        family="hopper",
        memory_gb=80,
        mem_bandwidth_gb_per_s=3350,
        tflops={"bf16": 989},
        pcie_gb_per_s=64,
        source="test",
        as_of="2025",
    )
    model = ModelArch(
        id="tiny",
        architecture="LlamaForCausalLM",
        layers=2,
        hidden=256,
        heads=4,
        kv_heads=2,
        head_dim=64,
        intermediate=512,
        vocab=1000,
        max_position=4096,
        source="test",
        as_of="2025",
    )
    eng = EngineProfile(
        engine="vllm",
        family="hopper",
        compute_efficiency=0.5,
        bandwidth_efficiency=0.8,
        step_overhead_ms=1.0,
        fit="test",
        source="test",
        as_of="2025",
    )
    mem = memory_breakdown(Deployment(model, gpu, 1, "bf16", "bf16", eng))
    assert mem.fits
    assert mem.kv_gb_per_token == pytest.approx(2 * 2 * 2 * 64 * 2 / 1e9)


def test_engines_keep_their_default_sequence_limit_and_a_stated_one_wins() -> None:
    """One place (memory.sequence_limit) for the scheduler's limit, used by the serving, pipeline,
    disaggregated and simulated models alike."""
    h100 = CAT.gpus["h100-sxm"]
    base = dep("llama-3.1-8b")
    assert sequence_limit(base) == 1024
    assert sequence_limit(dep("llama-3.1-8b", "a10g")) == 256
    assert sequence_limit(replace(base, engine=engine_profile(CAT, "trtllm", h100))) == 2048
    assert sequence_limit(replace(base, engine=engine_profile(CAT, "sglang", h100))) == 1024
    stated = replace(base, max_num_seqs=64)
    assert sequence_limit(stated) == 64
    assert predict(stated, 100, 100, concurrency="max").admission_limit == 64
