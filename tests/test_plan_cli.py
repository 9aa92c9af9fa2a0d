"""`gpuplan plan` and `validate` through the real console entry point."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT
from tests.support import Run, gpuplan


def run(*args: str, cwd: Path = ROOT) -> Run:
    return gpuplan(*args, process=True, cwd=cwd)


def test_plan_json_envelope() -> None:
    r = run("plan", str(EXAMPLES / "chat-llama-8b.yaml"), "--format", "json")
    assert r.code == 0, r.err
    env = json.loads(r.out)
    assert env["schema_version"] == "1" and env["command"] == "plan" and env["status"] == "ok"
    data = env["data"]
    for key in (
        "total_cost_usd_per_hour",
        "allocations",
        "routing",
        "baselines",
        "solver",
        "catalog_version",
        "spec_sha256",
    ):
        assert key in data
    for key in ("name", "status", "seconds", "gap", "variables", "constraints"):
        assert key in data["solver"]


def test_plan_table_and_markdown_and_output_file(tmp_path: Path) -> None:
    r = run("plan", str(EXAMPLES / "llama-70b-tp.yaml"))
    assert r.code == 0, r.err
    assert "$" in r.out
    out = tmp_path / "plan.md"
    r = run("plan", str(EXAMPLES / "llama-70b-tp.yaml"), "--format", "md", "-o", str(out))
    assert r.code == 0, r.err
    assert out.read_text().strip()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_validate_ok() -> None:
    r = run("validate", str(EXAMPLES / "shared-fleet.yaml"))
    assert r.code == 0, r.err


def test_bad_spec_exits_2_with_the_field_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "models:\n  - model: llama-3.1-8b\n    workload: {rate_rps: -3, histogram: []}\n"
        "    slo: {ttft_ms: 1000, tpot_ms: 50}\n"
    )
    r = run("plan", str(bad))
    assert r.code == 2
    assert "models[0].workload.rate_rps" in r.err
    assert "Traceback" not in r.err


def test_unknown_model_gets_did_you_mean(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "models:\n  - model: llama-3.1-8c\n    workload: {rate_rps: 3, histogram: "
        "[{input_len: 10, output_len: 10, share: 1}]}\n    slo: {ttft_ms: 1000, tpot_ms: 50}\n"
    )
    r = run("plan", str(bad))
    assert r.code == 2
    assert "models[0].model" in r.err and "llama-3.1-8b" in r.err


def test_missing_spec_file_exits_2() -> None:
    r = run("plan", "does-not-exist.yaml")
    assert r.code == 2
    assert "does-not-exist.yaml" in r.err and "Traceback" not in r.err


def test_infeasible_plan_exits_1(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "models:\n  - model: llama-3.1-405b\n    workload: {rate_rps: 1, histogram: "
        "[{input_len: 100, output_len: 100, share: 1}]}\n    slo: {ttft_ms: 1000, tpot_ms: 50}\n"
        "offerings: {gpus: [t4]}\n"
    )
    r = run("plan", str(spec), "--format", "json")
    assert r.code == 1
    env = json.loads(r.out)
    assert env["status"] == "infeasible" and env["errors"]
