"""`gpuplan estimate`: flags, load modes, JSON envelope, infeasible configurations, bad input, and an
answer (numbers or a reason) for every catalog model x GPU."""

from __future__ import annotations

import json
from typing import Any

import pytest

from catalog.loader import load_catalog
from planner.commands.estimate import execute
from planner.errors import CatalogError, InputError
from tests.support import Run, gpuplan

CAT = load_catalog()


def run(*args: str) -> Run:
    return gpuplan("estimate", *args, process=True)


def est(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(
        model="llama-3.1-8b",
        gpu="h100-sxm",
        tp=1,
        weights="bf16",
        kv="bf16",
        input_len=1000,
        output_len=200,
        concurrency=None,
        rate_rps=None,
        engine="vllm",
        gpu_memory_utilization=0.9,
    )
    args.update(kw)
    out = execute(**args)
    data: dict[str, Any] = out.data_dict()
    data["_status"], data["_exit"] = out.status, out.exit_code
    return data


def test_json_envelope_has_the_documented_fields() -> None:
    r = run(
        "--model",
        "llama-3.1-8b",
        "--gpu",
        "h100-sxm",
        "--input-len",
        "2000",
        "--output-len",
        "300",
        "--concurrency",
        "32",
        "--format",
        "json",
    )
    assert r.code == 0, r.err
    env = json.loads(r.out)
    assert env["status"] == "ok" and env["command"] == "estimate"
    d = env["data"]
    for key in (
        "ttft_ms",
        "tpot_ms",
        "output_tokens_per_s",
        "requests_per_s",
        "max_concurrency",
        "fits",
        "memory",
        "long_context",
    ):
        assert key in d
    for key in ("weights_gb", "kv_gb_per_request", "free_for_kv_gb"):
        assert key in d["memory"]
    assert d["fits"] is True and d["load"] == {"mode": "concurrency", "concurrency": 32, "rate_rps": None}
    assert d["memory"]["kv_gb_per_request"] == pytest.approx(2300 * 131072 / 1e9, rel=1e-3)


def test_table_output() -> None:
    r = run(
        "--model",
        "mixtral-8x7b",
        "--gpu",
        "h200",
        "--tp",
        "2",
        "--input-len",
        "500",
        "--output-len",
        "100",
        "--concurrency",
        "max",
        "--engine",
        "sglang",
    )
    assert r.code == 0, r.err
    assert "TTFT" in r.out and "weights per GPU" in r.out and "long context" in r.out


def test_infeasible_is_exit_1_with_reason() -> None:
    r = run(
        "--model",
        "llama-3.1-405b",
        "--gpu",
        "h100-sxm",
        "--tp",
        "8",
        "--input-len",
        "100",
        "--output-len",
        "100",
        "--format",
        "json",
    )
    assert r.code == 1
    env = json.loads(r.out)
    assert env["status"] == "infeasible" and env["data"]["fits"] is False
    assert "812 GB of weights" in env["data"]["reason"] and env["errors"]
    assert env["data"]["ttft_ms"] is None and env["data"]["memory"]["weights_gb"] > 100


def test_bad_flags_exit_2() -> None:
    r = run(
        "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--input-len", "10", "--output-len", "10", "--weights", "fp6"
    )
    assert r.code == 2 and "--weights" in r.err and "fp8" in r.err
    r = run("--model", "llama-3.1-8b", "--gpu", "h1000", "--input-len", "10", "--output-len", "10")
    assert r.code == 2 and "h100" in r.err


@pytest.mark.parametrize(
    ("kw", "where"),
    [
        ({"concurrency": "0"}, "--concurrency"),
        ({"concurrency": "lots"}, "--concurrency"),
        ({"concurrency": "4", "rate_rps": 1.0}, "--rate"),
        ({"rate_rps": -1.0}, "--rate"),
        ({"input_len": 0}, "--input-len"),
        ({"input_len": 200_000}, "--input-len"),
        ({"tp": 0}, "--tp"),
        ({"kv": "int3"}, "--kv"),
        ({"gpu_memory_utilization": 1.5}, "--gpu-memory-utilization"),
    ],
)
def test_input_errors_name_the_flag(kw: dict[str, Any], where: str) -> None:
    with pytest.raises(InputError) as exc:
        est(**kw)
    assert exc.value.where == where


def test_unknown_engine() -> None:
    with pytest.raises(CatalogError, match="unknown engine"):
        est(engine="tgi")


def test_load_modes() -> None:
    lone = est()
    conc = est(concurrency="16")
    full = est(concurrency="max")
    rate = est(rate_rps=2.0)
    over = est(rate_rps=1e4)
    assert lone["load"]["mode"] == "lone" and lone["concurrency"] == 1
    assert lone["tpot_ms"] < conc["tpot_ms"] < full["tpot_ms"]
    assert lone["output_tokens_per_s"] < conc["output_tokens_per_s"] < full["output_tokens_per_s"]
    assert rate["requests_per_s"] == pytest.approx(2.0) and not rate["saturated"]
    assert over["saturated"] and over["ttft_ms"] is None and over["_exit"] == 0
    assert full["concurrency"] == full["admission_limit"]


def test_long_context_block() -> None:
    d = est(model="llama-3.1-8b", gpu="h100-sxm", input_len=100_000, output_len=100)
    lc = d["long_context"]
    assert lc["kv_gb_per_request"] == pytest.approx(100_000 * 131072 / 1e9, rel=1e-3)
    assert lc["requests_that_fit"] == d["memory"]["max_tokens_in_kv"] // 100_000
    assert lc["prefill_s"] > 1.0  # 100k tokens of an 8B model take seconds
    # 13 GB over a 64 GB/s PCIe Gen5 link: about 0.2 s
    assert lc["kv_swap_s_per_request"] == pytest.approx(100_000 * 131072 / 64e9, rel=1e-3)


def test_every_catalog_model_and_gpu_answers() -> None:
    """Numbers or a clear reason, for every model x GPU (at the smallest tp that could hold it)."""
    for model in sorted(CAT.models):
        arch = CAT.models[model]
        for gpu in sorted(CAT.gpus):
            tp = 8 if arch.total_params > 30e9 and arch.heads % 8 == 0 else 1
            d = est(model=model, gpu=gpu, tp=tp, input_len=512, output_len=128)
            if d["fits"]:
                assert d["ttft_ms"] > 0 and d["tpot_ms"] > 0 and d["output_tokens_per_s"] > 0, (model, gpu)
                assert d["_status"] == "ok"
            else:
                assert d["reason"] and d["_status"] == "infeasible" and d["_exit"] == 1, (model, gpu)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--tp", "12"), "error: --tp: --tp 12 over instances of 8 GPUs must be a multiple of 8"),
        (("--tp", "16", "--pp", "2"), "error: --tp: a pipeline stage runs on one instance: --tp 16 exceeds the 8 GPUs"),
        (("--tp", "16", "--offering", "nope"), "error: --offering: unknown offering 'nope'"),
        (("--disagg", "foo"), "error: --disagg: must be PREFILL_GPU:TP,DECODE_GPU:TP"),
    ],
)
def test_shape_errors_name_the_flag(args: tuple[str, ...], message: str) -> None:
    """planner/estimate_shapes.py names arguments (ArgumentError); the command layer spells the flags."""
    r = gpuplan("estimate", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--input-len", "1000",
                "--output-len", "200", *args)
    assert r.code == 2 and r.err.startswith(message), r
