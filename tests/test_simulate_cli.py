"""`gpuplan simulate` through the real entry point: every example plan, a trace with timestamps, routers,
the JSON envelope and its schema, determinism, percentile SLOs in the spec, and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.commands.schema import SimulateEnvelope
from planner.spec import parse_spec
from tests.support import Run, gpuplan

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NAMES = ("chat-llama-8b", "llama-70b-tp", "shared-fleet", "offline-offload", "chat-percentiles")
# Examples simulated from their golden plan (tests/test_golden_examples.py keeps it the real plan), to save
# planning them again here.
FROM_GOLDEN = (
    "deepseek-v3-ep",
    "llama-405b-multinode",
    "long-prompt-disagg",
    "burstgpt-week",
    "splitwise-coding",
    "llama-405b-long-prompts",
)
# burstgpt-week (its busiest hour) is simulated in tests/test_schedule.py
GOLDEN_PLANS = ROOT / "tests" / "golden" / "examples"


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("plans")
    paths = {}
    for name in NAMES:
        path = out / f"{name}.json"
        run = gpuplan("plan", EXAMPLES / f"{name}.yaml", "-f", "json", "-o", path)
        assert run.code == 0, run
        paths[name] = path
    return paths


def simulate(plan: Path, spec: Path, *args: str | Path) -> Run:
    return gpuplan("simulate", plan, "--spec", spec, *args)


def data(run: Run) -> dict[str, Any]:
    env = json.loads(run.out)
    SimulateEnvelope.model_validate(env)
    assert env["command"] == "simulate" and env["status"] == "ok"
    return dict(env["data"])


DURATION = {
    "chat-llama-8b": "60",
    "llama-70b-tp": "300",
    "shared-fleet": "60",
    "offline-offload": "1500",
    "chat-percentiles": "60",
}
STATISTICS = {"chat-percentiles": ["p99", "p90"]}


@pytest.mark.parametrize("name", NAMES)
def test_every_example_plan_simulates(plans: dict[str, Path], name: str) -> None:
    run = simulate(plans[name], EXAMPLES / f"{name}.yaml", "--duration", DURATION[name], "-f", "json")
    assert run.code in (0, 1), run
    d = data(run)
    assert d["littles_law"]["relative_error"] < 1e-9
    assert (run.code == 0) == d["slo_met"]
    for m in d["models"]:
        assert m["requests"] > 0 and m["rejected"] == 0
        assert [t["statistic"] for t in m["slo"]] == STATISTICS.get(name, ["mean", "mean"])
    assert sum(g["requests"] for g in d["groups"]) == sum(m["requests"] for m in d["models"])


def test_an_expert_parallel_replica_over_two_instances_simulates() -> None:
    """DeepSeek-V3 over 16 GPUs of two p5 instances (ep 16, attention data-parallel) is replayed with the
    deployment its candidate was estimated with."""
    name = FROM_GOLDEN[0]
    run = simulate(GOLDEN_PLANS / f"{name}.plan.json", EXAMPLES / f"{name}.yaml", "--duration", "120", "-f", "json")
    assert run.code == 0, run
    d = data(run)
    assert d["littles_law"]["relative_error"] < 1e-9
    [group] = d["groups"]
    assert group["candidate"].endswith("/tp16ep16/fp8-bf16") and group["requests"] > 500
    [model] = d["models"]
    assert model["rejected"] == 0 and model["slo_met"]


def planned_mean_ms(plan_path: Path, metric: str) -> float:
    """The plan's predicted mean `metric` ("ttft" or "tpot") over its requests: each route weighted by the
    req/s routed through it (a slice split over routes counts once)."""
    routing = json.loads(plan_path.read_text(encoding="utf-8"))["data"]["routing"]
    routes = [r for s in routing for r in s["routes"]]
    return float(sum(r[f"{metric}_ms"] * r["rate_rps"] for r in routes) / sum(r["rate_rps"] for r in routes))


def test_a_pipeline_replica_over_two_instances_simulates() -> None:
    """Llama-3.1-405B as tp8 x pp2 (one stage per p5.48xlarge) is replayed with the estimator's pipeline
    model; every target is reported, and the simulated TPOT is the plan's within 10 % at the planned rate."""
    name = "llama-405b-multinode"
    run = simulate(GOLDEN_PLANS / f"{name}.plan.json", EXAMPLES / f"{name}.yaml", "--duration", "120", "-f", "json")
    assert run.code in (0, 1), run
    d = data(run)
    assert d["littles_law"]["relative_error"] < 1e-9
    [group] = d["groups"]
    assert group["candidate"].endswith("/tp8pp2/bf16-bf16") and group["requests"] > 100
    [model] = d["models"]
    assert model["rejected"] == 0 and [t["statistic"] for t in model["slo"]] == ["mean", "mean"]
    assert all(t["achieved_ms"] is not None for t in model["slo"])
    planned_tpot = planned_mean_ms(GOLDEN_PLANS / f"{name}.plan.json", "tpot")
    assert model["latencies"]["tpot"]["mean_ms"] == pytest.approx(planned_tpot, rel=0.1)


def test_prefill_decode_pools_simulate() -> None:
    """long-prompt-disagg's pairs (H100 prefill pools, A100 decode pool, KV over EFA) are replayed: each
    paired request in a prefill pool's group and in its decode pool's; every target reported."""
    name = "long-prompt-disagg"
    plan = GOLDEN_PLANS / f"{name}.plan.json"
    run = simulate(plan, EXAMPLES / f"{name}.yaml", "--duration", "30", "-f", "json")
    assert run.code in (0, 1), run
    d = data(run)
    assert d["littles_law"]["relative_error"] < 1e-9
    [model] = d["models"]
    assert model["rejected"] == 0 and [t["statistic"] for t in model["slo"]] == ["mean", "mean"]
    assert all(t["achieved_ms"] is not None for t in model["slo"])
    decode = [g for g in d["groups"] if g["candidate"].endswith("/decode")]
    others = [g for g in d["groups"] if not g["candidate"].endswith("/decode")]
    prefill = [g for g in others if g["candidate"].endswith("/prefill")]
    assert decode and prefill and sum(g["requests"] for g in others) == model["requests"]
    assert sum(g["requests"] for g in decode) == sum(g["requests"] for g in prefill) > 0
    assert any("KV caches over efa" in n for n in d["notes"])
    other = simulate(plan, EXAMPLES / f"{name}.yaml", "--duration", "10", "--routing", "least-loaded")
    assert other.code == 2 and other.err.startswith("error: --routing: ") and "pools" in other.err, other


def test_a_fleet_of_pools_beside_aggregated_replicas_simulates_at_its_percentile_targets() -> None:
    """splitwise-coding's plan (at its p90 targets as means: the golden) holds H100 prefill/decode pools (and,
    under earlier fits, A100 aggregated replicas beside them); every request goes through a pool or an
    aggregated replica, and the p90 targets are reported.
    (tests/test_plan_shapes.py checks the plan that `gpuplan plan` makes of it, which simulation tightens.)"""
    name = "splitwise-coding"
    run = simulate(GOLDEN_PLANS / f"{name}.plan.json", EXAMPLES / f"{name}.yaml", "--duration", "60", "-f", "json")
    assert run.code in (0, 1), run
    d = data(run)
    assert d["littles_law"]["relative_error"] < 1e-9
    [model] = d["models"]
    assert model["rejected"] == 0 and [t["statistic"] for t in model["slo"]] == ["p90", "p90"]
    roles = {g["candidate"].rsplit("/", 1)[-1] for g in d["groups"]}
    assert {"prefill", "decode"} <= roles and len(roles) <= 3  # and any aggregated group (its dtype suffix)
    served = sum(g["requests"] for g in d["groups"] if not g["candidate"].endswith("/decode"))
    assert served == model["requests"] > 0


def test_pipeline_pools_simulate_as_estimated() -> None:
    """llama-405b-long-prompts's pipeline pools (tp8pp4 prefill, tp8pp2 decode, whole p5 nodes) are replayed
    (a prefill pool's stages work on different prompts at once; the decode pool iterates as its pipeline) and
    meet the plan's mean TTFT and TPOT within a fifth: replaying the whole pipeline per prefill iteration
    gave over twice the planned TTFT."""
    name = "llama-405b-long-prompts"
    path = GOLDEN_PLANS / f"{name}.plan.json"
    run = simulate(path, EXAMPLES / f"{name}.yaml", "--duration", "120", "-f", "json")
    assert run.code == 0, run
    d = data(run)
    roles = {g["candidate"].rsplit("/", 1)[-1] for g in d["groups"]}
    assert roles == {"prefill", "decode"}
    lat = d["models"][0]["latencies"]
    for metric in ("ttft", "tpot"):
        assert lat[metric]["mean_ms"] == pytest.approx(planned_mean_ms(path, metric), rel=0.2)


def test_every_example_is_simulated() -> None:
    """No example is left out silently: each is simulated by a test here (the golden plans are the real ones:
    tests/test_golden_examples.py)."""
    assert {p.stem for p in EXAMPLES.glob("*.yaml")} == set(NAMES) | set(FROM_GOLDEN)


def test_chat_replays_its_trace_timestamps_and_is_deterministic(plans: dict[str, Path]) -> None:
    spec = EXAMPLES / "chat-llama-8b.yaml"
    first = data(simulate(plans["chat-llama-8b"], spec, "-f", "json"))
    second = data(simulate(plans["chat-llama-8b"], spec, "-f", "json"))
    assert first["settings"]["arrivals"] == ["trace"]
    assert first["settings"]["requests_simulated"] == 2000  # the excerpt's 2,000 rows, once
    assert any("as fast as recorded" in n for n in first["notes"])
    first.pop("elapsed_s"), second.pop("elapsed_s")
    assert first == second
    assert first["settings"]["recorded_pace"] is False
    recorded = simulate(plans["chat-llama-8b"], spec, "--rate", "trace")
    assert recorded.code == 0, recorded
    assert "arrivals trace at the trace's recorded pace, routing plan" in recorded.out
    assert "as fast as recorded" not in recorded.out
    other = data(simulate(plans["chat-llama-8b"], spec, "--arrivals", "poisson", "--seed", "1", "-f", "json"))
    assert other["settings"]["arrivals"] == ["poisson"]


@pytest.mark.parametrize("routing", ["least-loaded", "round-robin"])
def test_routers(plans: dict[str, Path], routing: str) -> None:
    d = data(
        simulate(
            plans["shared-fleet"],
            EXAMPLES / "shared-fleet.yaml",
            "--routing",
            routing,
            "--duration",
            "30",
            "-f",
            "json",
        )
    )
    assert d["settings"]["routing"] == routing
    assert d["littles_law"]["relative_error"] < 1e-9
    assert all(g["requests"] > 0 for g in d["groups"])


def test_overload_misses_the_slo_and_exits_1(plans: dict[str, Path]) -> None:
    run = simulate(
        plans["chat-llama-8b"],
        EXAMPLES / "chat-llama-8b.yaml",
        "--arrivals",
        "gamma",
        "--burstiness",
        "3",
        "--rate-factor",
        "3",
        "--duration",
        "30",
        "-f",
        "json",
    )
    assert run.code == 1, run
    d = data(run)
    assert not d["slo_met"]
    assert d["settings"]["arrivals"] == ["gamma"] and d["settings"]["burstiness_cv"] == 3


def test_table_and_markdown_name_the_statistic(plans: dict[str, Path], tmp_path: Path) -> None:
    spec = tmp_path / "chat.yaml"
    raw = yaml.safe_load((EXAMPLES / "chat-llama-8b.yaml").read_text())
    raw["models"][0]["slo"] = {"ttft_ms": {"p99": 1000}, "tpot_ms": {"p90": 50}}
    (tmp_path / "traces").mkdir()  # the spec reads only inside its own folder: the trace travels with it
    shutil.copy(EXAMPLES / "traces" / "azure-2023-conv-excerpt.csv", tmp_path / "traces")
    spec.write_text(yaml.safe_dump(raw))
    plan = tmp_path / "plan.json"
    assert gpuplan("plan", spec, "-f", "json", "-o", plan).code == 0
    table = simulate(plan, spec, "--duration", "30")
    assert "p99 TTFT" in table.out and "p90 TPOT" in table.out, table
    md = simulate(plan, spec, "--duration", "30", "-f", "md")
    assert "| p99 TTFT |" in md.out
    d = data(simulate(plan, spec, "--duration", "30", "-f", "json"))
    assert [t["statistic"] for t in d["models"][0]["slo"]] == ["p99", "p90"]


def test_the_percentile_example_reports_its_simulated_attainment(plans: dict[str, Path]) -> None:
    plan = json.loads(plans["chat-percentiles"].read_text())["data"]
    check = plan["slo_check"]
    assert check["met"] and check["rounds"] >= 1
    assert [(t["statistic"], t["metric"]) for t in check["targets"]] == [("p99", "ttft"), ("p90", "tpot")]
    table = gpuplan("plan", EXAMPLES / "chat-percentiles.yaml")
    assert table.code == 0, table
    assert "Percentile SLOs, simulated" in table.out and "SLO p99 TTFT 1,000 / p90 TPOT 12.0 ms" in table.out
    assert "✗" not in table.out  # per-bucket means are not judged against percentile targets
    same = gpuplan("check", plans["chat-percentiles"], "--baseline", plans["chat-percentiles"])
    assert same.code == 0, same


def test_plot(plans: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "sim.svg"
    run = simulate(plans["llama-70b-tp"], EXAMPLES / "llama-70b-tp.yaml", "--duration", "60", "--plot", out)
    assert run.code == 0, run
    assert out.read_text().startswith("<?xml")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--burstiness", "-1"), "'--burstiness': must be a finite number > 0 and <= 100 (got '-1')"),
        (("--rate-factor", "0"), "'--rate-factor': must be a finite number > 0 and <= 1e+06"),
        (("--rate", "fast"), "--rate: must be a rate in req/s or 'trace'"),
        (("--rate", "5", "--rate-factor", "2"), "--rate: give --rate or --rate-factor, not both"),
        (("--duration", "10", "--warmup", "20"), "--warmup: the warm-up (20 s) must be shorter"),
        (("--prefix-cache-hit", "1.5"), "'--prefix-cache-hit': must be a finite number >= 0 and <= 1 (got '1.5')"),
        (("--prefix-cache-hit", "1"), "--prefix-cache-hit: must be a share in [0, 1)"),
        (("--arrivals", "gamma"), "--arrivals: gamma arrivals need --burstiness"),
        (("--rate", "1e7", "--duration", "100"), "--duration: 1e+07 req/s over 100 s is about 1e+09 requests"),
        (("--rate", "1e7", "--duration", "100"), "give a --duration of at most 0.2 s or a lower rate"),
    ],
)
def test_bad_flags(plans: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    run = simulate(plans["llama-70b-tp"], EXAMPLES / "llama-70b-tp.yaml", *args)
    assert run.code == 2, run
    assert message in run.err, run
    assert "Traceback" not in run.err


def test_a_plan_with_more_replicas_than_a_simulation_holds_is_refused(plans: dict[str, Path], tmp_path: Path) -> None:
    """A hand-edited plan with a million replicas: exit 2 at once, not minutes and gigabytes (then exit 3)."""
    doc = json.loads(plans["llama-70b-tp"].read_text())
    doc["data"]["allocations"][0]["replicas"][0]["replicas"] = 1_000_000
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    run = simulate(edited, EXAMPLES / "llama-70b-tp.yaml")
    assert run.code == 2 and "PLAN.json: the plan has 1,00" in run.err and "at most 100,000" in run.err, run


def test_trace_arrivals_need_timestamps(plans: dict[str, Path]) -> None:
    run = simulate(plans["llama-70b-tp"], EXAMPLES / "llama-70b-tp.yaml", "--arrivals", "trace")
    assert run.code == 2 and "has no trace with timestamps" in run.err, run
    assert run.err.startswith("error: --arrivals: ") and "use --arrivals poisson or gamma" in run.err, run


def test_the_spec_must_be_the_plans_own(plans: dict[str, Path]) -> None:
    run = simulate(plans["chat-llama-8b"], EXAMPLES / "llama-70b-tp.yaml")
    assert run.code == 2 and "--spec: is not the spec this plan was made from" in run.err, run
    missing = simulate(plans["chat-llama-8b"], EXAMPLES / "nope.yaml")
    assert missing.code == 2 and "spec not found" in missing.err, missing


def test_an_infeasible_plan_has_nothing_to_simulate(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "models:\n  - model: llama-3.1-8b\n    workload: {rate_rps: 1, histogram: [{input_len: 100, output_len: 100,"
        " share: 1}]}\n    slo: {ttft_ms: 1, tpot_ms: 0.5}\n"
    )
    plan = tmp_path / "p.json"
    assert gpuplan("plan", spec, "-f", "json", "-o", plan).code == 1
    run = simulate(plan, spec)
    assert run.code == 2 and "the plan is infeasible" in run.err, run


def test_percentile_slos_in_the_spec() -> None:
    base = {
        "model": "llama-3.1-8b",
        "workload": {"rate_rps": 1, "histogram": [{"input_len": 10, "output_len": 10, "share": 1}]},
    }
    spec = parse_spec({"models": [{**base, "slo": {"ttft_ms": {"p99": 2000}, "tpot_ms": 50}}]})
    slo = spec.models[0].slo
    assert (slo.ttft_ms, slo.ttft_statistic, slo.tpot_ms, slo.tpot_statistic) == (2000, "p99", 50, "mean")
    assert slo.label("ttft") == "p99 TTFT" and slo.has_percentiles
    for bad, message in (
        ({"ttft_ms": {"p98": 1}, "tpot_ms": 5}, "unknown statistic 'p98'"),
        ({"ttft_ms": {"p99": 1, "p50": 1}, "tpot_ms": 5}, "give one statistic per target"),
        ({"ttft_ms": {"p99": 0}, "tpot_ms": 5}, "models[0].slo.ttft_ms: Input should be greater than 0"),
    ):
        with pytest.raises(Exception, match=message.replace("[", r"\[").replace("]", r"\]")):
            parse_spec({"models": [{**base, "slo": bad}]})


def test_schema_simulate_prints_the_envelope_schema() -> None:
    run = gpuplan("schema", "simulate")
    assert run.code == 0
    schema = json.loads(run.out)
    assert schema["title"] == "gpuplan simulate output"
    assert "SimulationResult" in schema["$defs"]


def test_stdout_is_only_the_document(plans: dict[str, Path]) -> None:
    r = gpuplan(
        "simulate",
        plans["llama-70b-tp"],
        "--spec",
        EXAMPLES / "llama-70b-tp.yaml",
        "--duration",
        "60",
        "-f",
        "json",
        process=True,
    )
    assert r.code == 0, r.err
    json.loads(r.out)
