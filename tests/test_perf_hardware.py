"""Memory as the device reports it, each engine's memory semantics, the context window and the precisions
each engine runs on each GPU family (issue 12's examples, each with a test)."""

from __future__ import annotations

import json

import pytest

from catalog.loader import load_catalog
from planner.perf import Deployment, engine_profile, memory_breakdown, predict
from planner.perf.precision import resolve_precision
from tests.support import Run, gpuplan

CAT = load_catalog()
MIB = 2**20


def dep(model: str, gpu: str, tp: int, weights: str, kv: str, engine: str, **kw: object) -> Deployment:
    g = CAT.gpus[gpu]
    return Deployment(CAT.models[model], g, tp, weights, kv, engine_profile(CAT, engine, g), **kw)  # type: ignore[arg-type]


def run(*args: str) -> Run:
    return gpuplan("estimate", *args)


def test_every_shipped_gpu_says_what_the_device_reports() -> None:
    for g in CAT.gpus.values():
        assert g.memory_bytes is not None, g.id
        # what the device reports is within a few % of the vendor's label read as GiB, never the decimal GB
        assert 0.93 * g.memory_gb * 2**30 <= g.memory_bytes <= 1.0001 * g.memory_gb * 2**30, g.id
    assert CAT.gpus["h100-sxm"].device_memory_bytes == 81559 * MIB  # ~85.5e9 bytes, not 80e9
    assert CAT.gpus["h200"].device_memory_bytes == 143771 * MIB
    # without an explicit figure, the label is read as GiB
    assert CAT.gpus["t4"].model_copy(update={"memory_bytes": None}).device_memory_bytes == 16 * 2**30


def test_70b_bf16_on_two_h100_fits_with_vllm() -> None:
    mem = memory_breakdown(dep("llama-3.3-70b", "h100-sxm", 2, "bf16", "bf16", "vllm"))
    assert mem.fits, mem.reason
    assert mem.semantics == "total"
    # 0.9 x 85.5 GB, less 70.6 GB of weights and the workspace, leaves a few GB per GPU for KV
    assert 2.0 < mem.free_for_kv_gb_per_gpu < 5.0
    assert mem.usable_gb_per_gpu == pytest.approx(0.9 * 81559 * MIB / 1e9)


def test_70b_fp8_on_one_h100_fits_with_trtllm_fraction_of_free_memory() -> None:
    d = dep("llama-3.3-70b", "h100-sxm", 1, "fp8", "fp8", "trtllm")
    mem = memory_breakdown(d)
    assert mem.fits, mem.reason
    assert mem.semantics == "free"
    free = mem.device_gb_per_gpu - mem.weights_gb - mem.activation_gb - mem.reserve_gb
    assert mem.free_for_kv_gb == pytest.approx(0.9 * free)
    # the old reading (0.9 of all memory must hold weights, workspace and KV) leaves far less
    assert mem.free_for_kv_gb > 0.9 * mem.device_gb_per_gpu - mem.weights_gb - mem.activation_gb - mem.reserve_gb + 5
    point = predict(d, 1000, 200, concurrency="max")
    assert point.requests_per_s > 0 and point.admission_limit >= 30


def test_sglang_static_fraction_holds_weights_and_kv() -> None:
    mem = memory_breakdown(dep("llama-3.1-8b", "h100-sxm", 1, "bf16", "bf16", "sglang"))
    assert mem.semantics == "static"
    assert mem.free_for_kv_gb == pytest.approx(0.9 * mem.device_gb_per_gpu - mem.weights_gb)


def test_2048_prompt_plus_one_token_is_allowed_on_a_2048_token_model() -> None:
    assert CAT.models["opt-6.7b"].max_position == 2048
    d = dep("opt-6.7b", "a100-80gb", 1, "fp16", "fp16", "vllm")
    assert predict(d, 2048, 1).ttft_ms > 0
    with pytest.raises(Exception, match="2049 positions"):
        predict(d, 2048, 2)
    longer = dep("opt-6.7b", "a100-80gb", 1, "fp16", "fp16", "vllm", max_model_len=4096)
    assert predict(longer, 2048, 2).ttft_ms > 0


def test_estimate_context_window_and_max_model_len_override() -> None:
    base = ("--model", "opt-6.7b", "--gpu", "a100-80gb", "--weights", "fp16", "--kv", "fp16", "--format", "json")
    ok = run(*base, "--input-len", "2048", "--output-len", "1")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["data"]["max_model_len"] == 2048
    over = run(*base, "--input-len", "2048", "--output-len", "2")
    assert over.code == 2 and "2049 positions" in over.err and "--max-model-len" in over.err
    told = run(*base, "--input-len", "2048", "--output-len", "2", "--max-model-len", "4096")
    assert told.code == 0, told.err
    assert json.loads(told.out)["data"]["max_model_len"] == 4096


def test_turing_and_volta_have_no_bf16_so_fp16_is_substituted_and_said() -> None:
    for gpu in ("t4", "v100"):
        p = resolve_precision(CAT.gpus[gpu], "vllm", "bf16", "bf16")
        assert p.supported and (p.weights, p.kv, p.gemm_dtype) == ("fp16", "fp16", "fp16")
        assert any("no bf16" in n for n in p.notes)
    out = run("--model", "llama-3.2-1b", "--gpu", "t4", "--input-len", "500", "--output-len", "100", "--format", "json")
    assert out.code == 0, out.err
    data = json.loads(out.out)["data"]
    assert (data["weights"], data["kv"]) == ("fp16", "fp16")
    assert any("t4 (turing) has no bf16" in n for n in data["precision"]["substituted"])


def test_fp8_only_where_the_hardware_and_engine_have_it() -> None:
    for gpu in ("h100-sxm", "l40s", "b200", "mi300x"):
        p = resolve_precision(CAT.gpus[gpu], "vllm", "fp8", "fp8")
        assert p.supported and p.gemm_dtype == "fp8" and not p.weight_only, gpu
    # Ampere: vLLM/SGLang run fp8 weights weight-only (Marlin, 16-bit compute); TensorRT-LLM has no fp8 there
    amp = resolve_precision(CAT.gpus["a100-80gb"], "vllm", "fp8", "bf16")
    assert amp.supported and amp.weight_only and amp.gemm_dtype == "bf16" and amp.notes
    assert not resolve_precision(CAT.gpus["a100-80gb"], "trtllm", "fp8", "bf16").supported
    for gpu in ("v100", "t4", "tpu-v5e"):
        assert not resolve_precision(CAT.gpus[gpu], "vllm", "fp8", "bf16").supported, gpu
        assert not resolve_precision(CAT.gpus[gpu], "vllm", "bf16", "fp8").supported, gpu
    refused = run(
        "--model", "llama-3.1-8b", "--gpu", "v100", "--weights", "fp8", "--input-len", "9", "--output-len", "9"
    )
    assert refused.code == 2 and "--weights" in refused.err and "volta" in refused.err


def test_fp4_only_on_blackwell_and_int4_weight_only() -> None:
    assert resolve_precision(CAT.gpus["b200"], "trtllm", "fp4", "fp8").gemm_dtype == "fp4"
    assert not resolve_precision(CAT.gpus["h100-sxm"], "trtllm", "fp4", "fp8").supported
    w4 = resolve_precision(CAT.gpus["a10g"], "vllm", "int4", "fp16")
    assert w4.supported and w4.weight_only and w4.gemm_dtype == "bf16" and not w4.notes


def test_tpu_rules_and_engines_that_do_not_run_there() -> None:
    tpu = CAT.gpus["tpu-v5e"]
    p = resolve_precision(tpu, "vllm", "fp16", "fp16")
    assert (p.weights, p.kv) == ("bf16", "bf16") and p.notes
    assert not resolve_precision(tpu, "trtllm", "bf16", "bf16").supported
    assert not resolve_precision(tpu, "sglang", "bf16", "bf16").supported
    assert not resolve_precision(CAT.gpus["mi300x"], "trtllm", "bf16", "bf16").supported
    out = run(
        "--model", "llama-3.1-8b", "--gpu", "mi300x", "--engine", "trtllm", "--input-len", "9", "--output-len", "9"
    )
    assert out.code == 2 and "--engine" in out.err and "trtllm does not run on mi300x" in out.err


def test_plan_candidates_use_what_each_family_runs_and_say_so() -> None:
    from planner.candidates import make_candidates, precision_notes
    from planner.offerings import select_offerings
    from planner.spec import OfferingFilter, Search

    offerings = select_offerings(CAT, OfferingFilter(gpus=("t4", "tpu-v6e")))
    assert {po.gpu.id for po in offerings} == {"t4", "tpu-v6e"}
    search = Search(tp=(1,), weights=("bf16", "fp8"), kv=("bf16",), engine="vllm")
    cands = make_candidates(CAT, "m", CAT.models["llama-3.2-1b"], offerings, search)
    by_gpu = {(c.priced.gpu.id, c.deployment.weights, c.deployment.kv) for c in cands if c.deployment}
    assert ("t4", "fp16", "fp16") in by_gpu and not any(g == "t4" and w == "bf16" for g, w, _ in by_gpu)
    assert not any(g in ("t4", "tpu-v6e") and w == "fp8" for g, w, _ in by_gpu)  # no fp8 kernels there
    assert ("tpu-v6e", "bf16", "bf16") in by_gpu
    notes = "; ".join(precision_notes(offerings, search))
    assert "t4 (turing) has no bf16" in notes and "no fp8 weight kernels on t4" in notes
    trt = Search(tp=(1,), weights=("bf16",), kv=("bf16",), engine="trtllm")
    trt_cands = make_candidates(CAT, "m", CAT.models["llama-3.2-1b"], offerings, trt)
    assert trt_cands == ()  # TensorRT-LLM runs on neither Turing nor TPUs
    trt_notes = "; ".join(precision_notes(offerings, trt))
    assert "trtllm does not run on tpu-v6e" in trt_notes and "trtllm does not run on t4" in trt_notes
