"""Every estimate says how far to trust it (grade and cross-validated band); expert parallelism and DP
attention as deployment options; the per-iteration latencies a request-level simulator uses."""

from __future__ import annotations

import json
from typing import Any

from catalog.loader import load_catalog
from planner.perf import Deployment, decode_step_time_s, engine_profile, memory_breakdown, prefill_chunk_time_s
from planner.perf.uncertainty import uncertainty
from tests.support import gpuplan

CAT = load_catalog()


def est(*args: str) -> dict[str, Any]:
    run = gpuplan("estimate", *args, "--format", "json")
    assert run.code == 0, run
    data: dict[str, Any] = json.loads(run.out)["data"]
    return data


def dep(model: str, gpu: str, tp: int, w: str, kv: str, engine: str, **kw: Any) -> Deployment:
    g = CAT.gpus[gpu]
    return Deployment(CAT.models[model], g, tp, w, kv, engine_profile(CAT, engine, g), **kw)


def test_estimates_carry_grade_and_band() -> None:
    hopper = est("--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--engine", "trtllm", "--weights", "fp8",
                 "--kv", "fp8", "--input-len", "1000", "--output-len", "1000", "--concurrency", "max")  # fmt: skip
    u = hopper["uncertainty"]
    assert u["grade"] == "calibrated" and u["regime"] == "trtllm/high/hopper/dense/tp1"
    assert u["cv_rows"] >= 5 and 0 < u["cv_median_abs_error"] <= u["cv_p90_abs_error"]
    assert 0 < u["throughput_low_factor"] <= 1
    ada = est("--model", "llama-3.1-8b", "--gpu", "l40s", "--input-len", "500", "--output-len", "100")
    assert ada["uncertainty"]["grade"] == "extrapolated" and "ada" in ada["uncertainty"]["why"]


def test_regime_without_rows_is_not_called_calibrated() -> None:
    d = dep("llama-3.1-8b", "h100-sxm", 1, "bf16", "bf16", "trtllm")
    assert uncertainty(d, "high").grade == "calibrated"
    moe = dep("mixtral-8x7b", "h100-sxm", 8, "bf16", "bf16", "trtllm")  # no TRT-LLM MoE rows at all
    u = uncertainty(moe, "online")
    assert u.grade != "calibrated" and u.band_regime != u.regime


def test_dp_attention_keeps_one_copy_of_mla_kv_and_ep_splits_experts() -> None:
    plain = memory_breakdown(dep("deepseek-v3", "h200", 8, "fp8", "bf16", "sglang"))
    dpa = memory_breakdown(dep("deepseek-v3", "h200", 8, "fp8", "bf16", "sglang", dp_attention=True, ep=8))
    assert plain.fits and dpa.fits
    # MLA's latent is replicated on every TP rank; under DP attention each request lives on one GPU
    assert dpa.max_tokens_in_kv > 6 * plain.max_tokens_in_kv
    data = est("--model", "deepseek-v3", "--gpu", "h200", "--tp", "8", "--weights", "fp8", "--ep", "8",
               "--dp-attention", "--engine", "sglang", "--input-len", "1000", "--output-len", "1000",
               "--concurrency", "64")  # fmt: skip
    assert data["parallelism"] == {"tp": 8, "ep": 8, "dp_attention": True}
    assert data["tpot_ms"] > 0
    dense = gpuplan("estimate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--tp", "2", "--ep", "2",
                    "--input-len", "9", "--output-len", "9")  # fmt: skip
    assert dense.code == 2 and "--ep" in dense.err and "dense" in dense.err


def test_per_iteration_latencies_for_a_simulator() -> None:
    d = dep("llama-3.1-70b", "h100-sxm", 4, "bf16", "bf16", "vllm")
    steps = [decode_step_time_s(d, b, 1000) for b in (1, 8, 64, 256)]
    assert all(a < b for a, b in zip(steps, steps[1:], strict=False))
    assert decode_step_time_s(d, 8, 500) < decode_step_time_s(d, 8, 8000)
    chunks = [prefill_chunk_time_s(d, n) for n in (128, 1024, 8192)]
    assert all(a < b for a, b in zip(chunks, chunks[1:], strict=False))
    # a chunk attends to the tokens already cached: later chunks of a long prompt cost more
    assert prefill_chunk_time_s(d, 2048, 0) < prefill_chunk_time_s(d, 2048, 30000)


def _plan(tmp_path: Any, margin: object, name: str) -> dict[str, Any]:
    from tests.support import spec_with, write_spec

    changes: dict[str, Any] = {
        "offerings.gpus": ["h100-sxm", "l4"],
        "models[0].workload.rate_rps": 40,
    }
    if margin is not None:
        changes["search.capacity_margin"] = margin
    spec = write_spec(tmp_path, spec_with(changes), name)
    run = gpuplan("plan", spec, "--format", "json")
    assert run.code == 0, run
    plan: dict[str, Any] = json.loads(run.out)["data"]
    return plan


def test_capacity_margin_holds_back_capacity_and_says_where(tmp_path: Any) -> None:
    base = _plan(tmp_path, None, "none.yaml")
    fixed = _plan(tmp_path, 0.4, "fixed.yaml")
    auto = _plan(tmp_path, "auto", "auto.yaml")
    groups = [g for a in base["allocations"] for g in a["replicas"]]
    assert all(g["capacity_margin"] == 0.0 and g["capacity_grade"] for g in groups)
    assert "capacity_margin" not in base["assumptions"]
    fixed_groups = [g for a in fixed["allocations"] for g in a["replicas"]]
    assert all(g["capacity_margin"] == 0.4 for g in fixed_groups)
    # holding back 40 % of every capacity needs at least as many GPUs, usually more
    assert fixed["total_gpus"] >= base["total_gpus"]
    assert fixed["total_cost_usd_per_hour"] > base["total_cost_usd_per_hour"]
    assert "0.4" in fixed["assumptions"]["capacity_margin"]
    auto_groups = [g for a in auto["allocations"] for g in a["replicas"]]
    assert all(0.0 <= g["capacity_margin"] <= 0.5 for g in auto_groups)
    note = auto["assumptions"]["capacity_margin"]
    assert note.startswith("auto") and all(g["candidate"] in note for g in auto_groups)


def test_capacity_margin_is_validated(tmp_path: Any) -> None:
    from tests.support import spec_with, write_spec

    spec = write_spec(tmp_path, spec_with({"search.capacity_margin": 1.5}))
    run = gpuplan("validate", spec)
    assert run.code == 2 and "capacity_margin" in run.err
