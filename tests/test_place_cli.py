"""`gpuplan place` end to end through the CLI: JSON envelope, defaults, overrides, errors, every model."""

from __future__ import annotations

import json

import pytest

from catalog.loader import load_catalog
from planner.commands.place import execute
from tests.support import Run, gpuplan


def _gpuplan(*args: str) -> Run:
    return gpuplan(*args, process=True)


def _place(model: str, gpu: str, **kw: object) -> dict[str, object]:
    args: dict[str, object] = dict(
        model=model,
        gpu=gpu,
        input_len=512,
        output_len=32,
        cpu_mem_gb=None,
        disk_gb=None,
        host_profile=None,
        weights="fp16",
        kv="fp16",
        max_latency_s=None,
        overlays=(),
    )
    args.update(kw)
    return execute(**args).data_dict()  # type: ignore[arg-type,no-any-return]


def test_json_envelope_has_the_documented_fields() -> None:
    out = _gpuplan(
        "place",
        "--model",
        "opt-30b",
        "--gpu",
        "t4",
        "--input-len",
        "512",
        "--output-len",
        "32",
        "--format",
        "json",
    )
    assert out.code == 0, out.err
    env = json.loads(out.out)
    assert env["command"] == "place" and env["status"] == "ok"
    d = env["data"]
    for key in (
        "output_tokens_per_s",
        "prefill_s",
        "decode_s",
        "policy",
        "peak_memory_gb",
        "binding_constraint",
    ):
        assert key in d
    for kind in ("weights", "kv_cache", "activations"):
        assert set(d["policy"][kind]) == {"gpu_pct", "cpu_pct", "disk_pct"}
        assert sum(d["policy"][kind].values()) == pytest.approx(100, abs=0.05)
    assert {"gpu_batch_size", "num_gpu_batches"} <= set(d["policy"])
    assert set(d["peak_memory_gb"]) == {"gpu", "cpu", "disk"}
    assert d["memory_recheck"] == "passed"
    assert any("flexgen-t4" in n for n in d["notes"])  # the default host is said


def test_table_output_and_size_override() -> None:
    out = _gpuplan(
        "place",
        "--model",
        "opt-6.7b",
        "--gpu",
        "t4",
        "--input-len",
        "256",
        "--output-len",
        "16",
        "--cpu-mem-gb",
        "48",
        "--disk-gb",
        "0",
    )
    assert out.code == 0, out.err
    assert "binding constraint" in out.out and "output tokens/s" in out.out
    d = _place("opt-6.7b", "t4", cpu_mem_gb=48.0, disk_gb=0.0, input_len=256, output_len=16)
    assert d["host"]["cpu_mem_gb"] == 48.0 and d["peak_memory_gb"]["disk"] == 0  # type: ignore[index]


def test_host_profile_by_offering_id_and_max_latency() -> None:
    d = _place("llama-3.1-8b", "a10g", host_profile="aws:us-east-1:g5.2xlarge", max_latency_s=30.0)
    assert d["host"]["id"] == "aws-g5-2xlarge"  # type: ignore[index]
    assert d["batch_latency_s"] <= 30.0  # type: ignore[operator]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "opt-3b", "--gpu", "t4"], "--model"),
        (["--model", "opt-30b", "--gpu", "t5"], "--gpu"),
        (["--model", "opt-30b", "--gpu", "t4", "--weights", "fp8"], "--weights"),
        (["--model", "opt-30b", "--gpu", "t4", "--host-profile", "flexgen"], "--host-profile"),
        # arguments the placement solver rejects by name; the command says which flag sets them
        (["--model", "opt-30b", "--gpu", "t4", "--kv", "int3"], "--kv"),
        (["--model", "opt-30b", "--gpu", "t4", "--input-len", "4000"], "--input-len"),
        (["--model", "opt-30b", "--gpu", "t4", "--max-latency-s", "-1"], "--max-latency-s"),
        (["--model", "opt-30b", "--gpu", "t4", "--disk-gb", "-1"], "--disk-gb"),
    ],
)
def test_bad_input_exits_2_with_the_flag_named(args: list[str], needle: str) -> None:
    lengths = [] if "--input-len" in args else ["--input-len", "512"]
    out = _gpuplan("place", *args, *lengths, "--output-len", "32")
    assert out.code == 2
    assert needle in out.err and "Traceback" not in out.err


def test_infeasible_exits_1_with_a_reason() -> None:
    out = _gpuplan(
        "place",
        "--model",
        "opt-175b",
        "--gpu",
        "t4",
        "--input-len",
        "512",
        "--output-len",
        "32",
        "--cpu-mem-gb",
        "32",
        "--disk-gb",
        "0",
        "--format",
        "json",
    )
    assert out.code == 1
    env = json.loads(out.out)
    assert env["status"] == "infeasible" and "GB" in env["data"]["reason"]
    assert "--cpu-mem-gb" in env["data"]["reason"]  # the solver says "host RAM"; the command names the flag


HOST_FOR_GPU = {
    "t4": "aws-g4dn-12xlarge",
    "l4": "aws-g6-2xlarge",
    "a10g": "aws-g5-4xlarge",
    "a100-40gb": "gcp-a2-highgpu-1g",
    "a100-80gb": "aws-p4de-24xlarge",
}


@pytest.mark.parametrize("model", sorted(load_catalog().models))
def test_every_catalog_model_gets_an_answer(model: str) -> None:
    """Each model on one of the T4/L4/A10G/A100 hosts (rotating), plus FlexGen's 1.5 TB machine with int4."""
    gpus = sorted(HOST_FOR_GPU)
    gpu = gpus[sorted(load_catalog().models).index(model) % len(gpus)]
    for host, dtype in ((HOST_FOR_GPU[gpu], "int4"), ("flexgen-t4", "int4")):
        res = execute(
            model=model,
            gpu=gpu,
            input_len=512,
            output_len=32,
            cpu_mem_gb=None,
            disk_gb=None,
            host_profile=host,
            weights=dtype,
            kv=dtype,
            max_latency_s=None,
            overlays=(),
        )
        if res.status == "ok":
            d = res.data_dict()
            assert d["memory_recheck"] == "passed" and d["output_tokens_per_s"] > 0
        else:
            assert res.status == "infeasible" and "GB" in res.data_dict()["reason"]
