"""`gpuplan plan` and `validate` through the real console entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner", *args], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_plan_json_envelope() -> None:
    r = run("plan", str(EXAMPLES / "chat-llama-8b.yaml"), "--format", "json")
    assert r.returncode == 0, r.stderr
    env = json.loads(r.stdout)
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
    assert r.returncode == 0, r.stderr
    assert "$" in r.stdout
    out = tmp_path / "plan.md"
    r = run("plan", str(EXAMPLES / "llama-70b-tp.yaml"), "--format", "md", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert out.read_text().strip()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_validate_ok() -> None:
    r = run("validate", str(EXAMPLES / "shared-fleet.yaml"))
    assert r.returncode == 0, r.stderr


def test_bad_spec_exits_2_with_the_field_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "models:\n  - model: llama-3.1-8b\n    workload: {rate_rps: -3, histogram: []}\n"
        "    slo: {ttft_ms: 1000, tpot_ms: 50}\n"
    )
    r = run("plan", str(bad))
    assert r.returncode == 2
    assert "models[0].workload.rate_rps" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_model_gets_did_you_mean(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "models:\n  - model: llama-3.1-8c\n    workload: {rate_rps: 3, histogram: "
        "[{input_len: 10, output_len: 10, share: 1}]}\n    slo: {ttft_ms: 1000, tpot_ms: 50}\n"
    )
    r = run("plan", str(bad))
    assert r.returncode == 2
    assert "models[0].model" in r.stderr and "llama-3.1-8b" in r.stderr


def test_missing_spec_file_exits_2() -> None:
    r = run("plan", "does-not-exist.yaml")
    assert r.returncode == 2
    assert "does-not-exist.yaml" in r.stderr and "Traceback" not in r.stderr


def test_infeasible_plan_exits_1(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "models:\n  - model: llama-3.1-405b\n    workload: {rate_rps: 1, histogram: "
        "[{input_len: 100, output_len: 100, share: 1}]}\n    slo: {ttft_ms: 1000, tpot_ms: 50}\n"
        "offerings: {gpus: [t4]}\n"
    )
    r = run("plan", str(spec), "--format", "json")
    assert r.returncode == 1
    env = json.loads(r.stdout)
    assert env["status"] == "infeasible" and env["errors"]
