"""Plans with replicas spanning instances and with disaggregated prefill/decode pools: the three examples,
the aggregated-vs-disaggregated comparison in every report, and `estimate --pp/--disagg` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from planner.inputs import load_inputs
from planner.plan import make_plan
from planner.report import render_plan_markdown, render_plan_text
from planner.result import Plan
from tests.conftest import EXAMPLES, ROOT
from tests.support import gpuplan


@cache
def planned(name: str) -> Plan:
    return make_plan(load_inputs(EXAMPLES / f"{name}.yaml"))


def _groups(plan: Plan) -> list[tuple[str, object]]:
    return [(a.offering, g) for a in plan.allocations for g in a.replicas]


def test_405b_bf16_spans_two_h100_nodes_per_replica() -> None:
    plan = planned("llama-405b-multinode")
    assert plan.status == "optimal" and plan.verification.passed
    groups = [g for a in plan.allocations for g in a.replicas]
    assert groups and all(g.tp == 8 and g.pp == 2 and g.nodes == 2 for g in groups)
    for a in plan.allocations:
        assert a.instances == 2 * sum(g.replicas for g in a.replicas)  # whole instances, two per replica
    for s in plan.routing:
        for r in s.routes:
            assert r.ttft_ms is not None and r.ttft_ms <= s.slo_ttft_ms and r.tpot_ms is not None
            assert r.tpot_ms <= s.slo_tpot_ms
    c = plan.models[0].comparison
    # the disaggregated side has pipeline pools too (tp8pp2 prefill and decode, two nodes each)
    assert c is not None and c.disaggregated_usd_per_hour is not None and "pp2" in (c.disaggregated_shape or "")


def test_deepseek_v3_runs_expert_parallel_over_two_nodes() -> None:
    plan = planned("deepseek-v3-ep")
    assert plan.status == "optimal" and plan.verification.passed
    groups = [g for a in plan.allocations for g in a.replicas]
    assert groups and all(g.ep == 16 and g.tp == 16 and g.nodes == 2 for g in groups)
    assert all(g.engine_settings is not None and g.engine_settings.ep == 16 for g in groups)
    comparison = plan.models[0].comparison
    assert comparison is not None and comparison.aggregated_usd_per_hour == plan.total_cost_usd_per_hour


def test_long_prompts_split_prefill_and_decode_over_two_gpu_types() -> None:
    plan = planned("long-prompt-disagg")
    assert plan.status == "optimal" and plan.verification.passed
    roles: dict[str, set[str]] = {}
    for a in plan.allocations:
        for g in a.replicas:
            roles.setdefault(g.role, set()).add(a.gpu)
    assert roles.get("prefill") and roles.get("decode") and roles["prefill"] != roles["decode"]  # heterogeneous
    pair_routes = [r for s in plan.routing for r in s.routes if r.decode_candidate is not None]
    assert pair_routes and all(r.kv_transfer_ms is not None and r.kv_transfer_ms > 0 for r in pair_routes)
    for s in plan.routing:
        for r in s.routes:
            assert r.ttft_ms is not None and r.ttft_ms <= s.slo_ttft_ms
    # cheaper than any single offering and than serving it aggregated only
    assert plan.baselines and plan.total_cost_usd_per_hour is not None
    assert plan.total_cost_usd_per_hour < plan.baselines[0].cost_usd_per_hour
    # the best single offering splits prefill and decode within p5 (cheaper than aggregated alone), and says so
    assert plan.baselines[0].disaggregated and not all(b.disaggregated for b in plan.baselines)
    assert "with prefill/decode pools" in render_plan_text(plan).splitlines()[1]
    c = plan.models[0].comparison
    assert c is not None and c.saving_pct is not None and c.saving_pct > 0
    assert c.aggregated_usd_per_hour is not None and plan.total_cost_usd_per_hour < c.aggregated_usd_per_hour
    assert "disaggregated saves" in c.verdict and "prefill" in plan.models[0].shape


def test_every_report_compares_aggregated_with_disaggregated() -> None:
    plan = planned("long-prompt-disagg")
    text, md = render_plan_text(plan), render_plan_markdown(plan)
    c = plan.models[0].comparison
    assert c is not None and c.aggregated_usd_per_hour is not None and c.disaggregated_usd_per_hour is not None
    costs = (f"${c.aggregated_usd_per_hour:,.2f}", f"${c.disaggregated_usd_per_hour:,.2f}")
    for report in (text, md):
        assert "Aggregated vs disaggregated" in report and all(cost in report for cost in costs)
    assert "disaggregated saves" in " ".join(text.split()) and "disaggregated saves" in md
    assert "→" in text  # a pair route reads prefill → decode
    json_models = json.loads(plan.model_dump_json())["models"]
    assert c.saving_pct is not None and c.saving_pct > 0
    assert json_models[0]["comparison"]["saving_pct"] == c.saving_pct


def test_simulate_refuses_a_shape_it_has_no_model_for_in_one_line(tmp_path: Path) -> None:
    # a pipeline replica with experts split too (hand-edited: the planner plans no pipeline x expert replica)
    path = ROOT / "tests" / "golden" / "examples" / "llama-405b-multinode.plan.json"
    env = json.loads(path.read_text(encoding="utf-8"))
    env["data"]["allocations"][0]["replicas"][0]["ep"] = 2
    edited = tmp_path / "plan.json"
    edited.write_text(json.dumps(env), encoding="utf-8")
    run = gpuplan("simulate", edited, "--spec", EXAMPLES / "llama-405b-multinode.yaml", "--duration", "10")
    assert run.code == 2 and run.out == "" and run.err.count("\n") == 1, run
    assert "a replica of shape tp8 pp2 ep2 on 2 instance(s)" in run.err


def test_long_prompts_on_405b_split_over_pipeline_pools() -> None:
    """405B bf16 (two H100 nodes a replica at least) with long prompts (examples/llama-405b-long-prompts.yaml):
    the plan splits prefill and decode over pipeline pools, renting whole nodes, every route through a pair
    within its targets (the simulation of the same plan: tests/test_simulate_cli.py)."""
    plan = planned("llama-405b-long-prompts")
    assert plan.status == "optimal" and plan.verification.passed
    groups = [g for a in plan.allocations for g in a.replicas]
    assert {g.role for g in groups} == {"prefill", "decode"} and all(g.pp > 1 and g.nodes == g.pp for g in groups)
    for a in plan.allocations:
        assert a.instances == sum(g.replicas * g.nodes for g in a.replicas)
    for s in plan.routing:
        for r in s.routes:
            assert r.decode_candidate is not None and r.ttft_ms is not None and r.tpot_ms is not None
            assert r.ttft_ms <= s.slo_ttft_ms and r.tpot_ms <= s.slo_tpot_ms
    c = plan.models[0].comparison
    assert c is not None and c.saving_pct is not None and c.saving_pct > 0 and "pp" in c.disaggregated_shape


def test_percentile_targets_on_a_disaggregated_fleet_are_checked_by_simulation(tmp_path: Path) -> None:
    doc = yaml.safe_load((EXAMPLES / "long-prompt-disagg.yaml").read_text(encoding="utf-8"))
    doc["models"][0]["slo"]["ttft_ms"] = {"p99": 2500}
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(doc), encoding="utf-8")
    run = gpuplan("plan", spec, "-f", "json")
    assert run.code == 0, run
    plan = json.loads(run.out)["data"]
    assert any(r["role"] == "decode" for a in plan["allocations"] for r in a["replicas"])
    check = plan["slo_check"]
    assert check["met"] and [t["statistic"] for t in check["targets"]] == ["p99", "mean"]


def _spec(tmp_path: Path, **search: object) -> Path:
    doc = {
        "models": [
            {
                "model": "llama-3.1-8b",
                "workload": {"rate_rps": 4, "histogram": [{"input_len": 4000, "output_len": 100, "share": 1.0}]},
                "slo": {"ttft_ms": 1500, "tpot_ms": 50},
            }
        ],
        "offerings": {"clouds": ["aws"], "gpus": ["l4", "a10g", "h100-sxm"]},
        "search": {"tp": [1, 2], **search},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_compare_mode_keeps_the_plan_aggregated_and_reports_both(tmp_path: Path) -> None:
    plan = make_plan(load_inputs(_spec(tmp_path)))  # search.disaggregated defaults to compare
    assert plan.verification.passed
    assert all(g.role == "aggregated" for a in plan.allocations for g in a.replicas)
    assert plan.baselines and not any(b.disaggregated for b in plan.baselines)
    c = plan.models[0].comparison
    assert c is not None and c.aggregated_usd_per_hour == plan.total_cost_usd_per_hour
    assert c.verdict


def test_not_searching_disaggregation_says_so(tmp_path: Path) -> None:
    plan = make_plan(load_inputs(_spec(tmp_path, disaggregated=False)))
    c = plan.models[0].comparison
    assert c is not None and c.disaggregated_usd_per_hour is None and "not searched" in c.verdict


def estimate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner", "estimate", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_estimate_a_pipeline_over_two_nodes() -> None:
    run = estimate(
        "--model", "llama-3.1-405b", "--gpu", "h100-sxm", "--tp", "8", "--pp", "2",
        "--input-len", "2000", "--output-len", "200", "--rate", "0.3", "--format", "json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    d = json.loads(run.stdout)["data"]
    assert d["fits"] and d["pp"] == 2 and d["nodes"] == 2 and d["gpus"] == 16 and "efa" in d["network"]
    assert d["ttft_ms"] > 0 and d["tpot_ms"] > 0 and d["requests_per_s"] == 0.3


def test_estimate_a_disaggregated_pair() -> None:
    run = estimate(
        "--model", "llama-3.3-70b", "--gpu", "h100-sxm", "--disagg", "h100-sxm:4,a100-80gb:4",
        "--input-len", "8000", "--output-len", "128", "--rate", "1", "--format", "json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    d = json.loads(run.stdout)["data"]
    pair = d["disaggregated"]
    assert pair["prefill"]["gpu"] == "h100-sxm" and pair["decode"]["gpu"] == "a100-80gb"
    # TTFT = queueing + prefill + transfer
    p = pair["prefill"]
    assert pair["ttft_ms"] == pytest.approx(p["prefill_ms"] + p["queue_ms"] + pair["kv_transfer_ms"], abs=0.01)
    assert d["ttft_ms"] == pair["ttft_ms"] and d["tpot_ms"] == pair["decode"]["tpot_ms"] > 0
    assert pair["kv_mb_per_request"] == pytest.approx(8000 * 327680 / 1e6)


def test_estimate_a_disaggregated_pair_of_pipelines() -> None:
    common = ("--model", "llama-3.1-405b", "--gpu", "h100-sxm", "--tp", "8", "--input-len", "6000",
              "--output-len", "300", "--format", "json")  # fmt: skip
    run = estimate(*common, "--disagg", "h100-sxm:8x2,h100-sxm:8x4")
    assert run.returncode == 0, run.stderr
    d = json.loads(run.stdout)["data"]
    pair = d["disaggregated"]
    assert d["fits"] and d["gpus"] == 16 + 32
    assert (pair["prefill"]["pp"], pair["decode"]["pp"]) == (2, 4)
    # a lone prompt crosses both stages in turn: the aggregated pipeline's lone TTFT
    alone = json.loads(estimate(*common, "--pp", "2").stdout)["data"]
    assert pair["prefill"]["prefill_ms"] == pytest.approx(alone["ttft_ms"], rel=1e-3)
    assert pair["tpot_ms"] > 0


@pytest.mark.parametrize(
    ("args", "where"),
    [
        (["--disagg", "h100-sxm"], "--disagg"),
        (["--disagg", "h100-sxm:8x0,h100-sxm:8"], "--disagg"),
        (["--disagg", "h100-sxm:8x,h100-sxm:8"], "--disagg"),
        (["--disagg", "h100-sxm:16x2,h100-sxm:8x2"], "--offering"),
        (["--disagg", "h100-sxm:4,nope:4"], "--disagg"),
        (["--pp", "2", "--concurrency", "4"], "--concurrency"),
        (["--pp", "2", "--offering", "aws:us-east-1:p4d.24xlarge"], "--offering"),
    ],
)
def test_estimate_shape_flags_refuse_bad_values_in_one_line(args: list[str], where: str) -> None:
    run = estimate("--model", "llama-3.1-405b", "--gpu", "h100-sxm", "--tp", "8", "--input-len", "100",
                   "--output-len", "10", *args)  # fmt: skip
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.count("\n") == 1 and where in run.stderr and "Traceback" not in run.stderr


def test_the_joint_plans_part_is_each_models_cheapest_aggregated_plan_alone() -> None:
    """The shortcut of planner.compare (no second solve) agrees with solving the model alone."""
    from planner.capacity import model_capacity
    from planner.compare import compare_shapes
    from planner.inputs import load_model, offerings_for, without_dominated
    from planner.solve import solve_settings

    inputs = load_inputs(EXAMPLES / "shared-fleet.yaml")
    offerings = offerings_for(inputs)
    models = without_dominated(inputs.spec, [load_model(inputs, i, offerings) for i in range(len(inputs.spec.models))])
    caps = [model_capacity(m) for m in models]  # as make_plan does: dominated offerings left out
    solved = compare_shapes(inputs.spec, caps[:1], solve_settings(inputs.spec, None, None))  # solves alone
    plan = planned("shared-fleet")
    shortcut = next(m.comparison for m in plan.models if m.model == caps[0].label)
    assert shortcut is not None and solved[caps[0].label].aggregated_usd_per_hour is not None
    assert shortcut.aggregated_usd_per_hour == pytest.approx(solved[caps[0].label].aggregated_usd_per_hour)


def _coding(folder: Path, disaggregated: object) -> Path:
    """Splitwise's coding setting (examples/splitwise-coding.yaml): the Azure 2023 code trace's long prompts
    and short outputs, llama-3.3-70b on AWS H100 and A100 instances, p90 targets."""
    folder.mkdir()
    doc = yaml.safe_load((EXAMPLES / "splitwise-coding.yaml").read_text(encoding="utf-8"))
    doc["search"]["disaggregated"] = disaggregated
    doc["models"][0]["workload"]["trace"]["path"] = "code.csv"
    (folder / "code.csv").write_bytes((EXAMPLES / "traces" / "azure-2023-code-excerpt.csv").read_bytes())
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_percentile_targets_reach_the_comparison_and_the_plan_with_the_split(tmp_path: Path) -> None:
    """At p90 targets the interference of long prompts with decoding shows in the tail only: the aggregated
    fleet sized at the targets as means misses the p90 TPOT in simulation and is tightened (more replicas),
    while prefill/decode pools meet it as planned. Both sides of the comparison are checked that way, so the
    report's saving is the checked one, above the saving at the targets as means; and with
    search.disaggregated: true the plan itself is the cheaper split."""
    from planner.simulate.slo_check import plan_checked  # noqa: PLC0415 - as the plan command loads it

    agg = plan_checked(load_inputs(_coding(tmp_path / "compare", "compare")))
    assert agg.slo_check is not None and agg.slo_check.met and agg.slo_check.rounds > 1
    assert agg.slo_check.tightened  # the aggregated candidates missed their p90 TPOT first
    assert {g.role for _, g in _groups(agg)} == {"aggregated"}  # type: ignore[attr-defined]
    cmp = agg.models[0].comparison
    assert cmp is not None and cmp.aggregated_usd_per_hour == agg.total_cost_usd_per_hour
    assert cmp.disaggregated_usd_per_hour is not None and cmp.saving_pct is not None and cmp.saving_pct > 0
    assert "met in simulation" in cmp.verdict and "at least" not in cmp.verdict
    mean_only = make_plan(load_inputs(_coding(tmp_path / "mean", "compare")))  # no simulation: the mean view
    mean_cmp = mean_only.models[0].comparison
    assert mean_cmp is not None and mean_cmp.saving_pct is not None and mean_cmp.saving_pct < cmp.saving_pct

    # beside a second model (mean targets): the coding model's comparison is checked alone, as above; the
    # other keeps the mean view
    doc = yaml.safe_load((tmp_path / "compare" / "spec.yaml").read_text(encoding="utf-8"))
    chat = {"rate_rps": 2, "histogram": [{"input_len": 500, "output_len": 200, "share": 1}]}
    doc["models"].append({"model": "llama-3.1-8b", "workload": chat, "slo": {"ttft_ms": 1000, "tpot_ms": 50}})
    (tmp_path / "compare" / "two.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    two = plan_checked(load_inputs(tmp_path / "compare" / "two.yaml"))
    assert two.slo_check is not None and two.slo_check.met
    coding, other = two.models
    assert coding.comparison is not None and coding.comparison.saving_pct is not None
    # the pools, cheaper at the targets as means, are checked first; then aggregated cannot win ("at least"):
    # its cost is the one at the targets as means (a lower bound on the checked one), set beside the pools'
    # checked cost, so the saving is at most the one-model check's
    assert coding.comparison.aggregated_usd_per_hour == mean_cmp.aggregated_usd_per_hour
    assert coding.comparison.disaggregated_usd_per_hour == cmp.disaggregated_usd_per_hour
    assert coding.comparison.saving_pct <= cmp.saving_pct
    assert "at the percentile targets" in coding.comparison.verdict
    assert f"disaggregated ${cmp.disaggregated_usd_per_hour:,.2f}/h (met in simulation)" in coding.comparison.verdict
    assert other.comparison is not None and "percentile" not in other.comparison.verdict

    split = plan_checked(load_inputs(_coding(tmp_path / "split", True)))
    assert split.slo_check is not None and split.slo_check.met and split.verification.passed
    assert any(g.role != "aggregated" for _, g in _groups(split))  # type: ignore[attr-defined]
    assert split.total_cost_usd_per_hour is not None and agg.total_cost_usd_per_hour is not None
    assert split.total_cost_usd_per_hour < agg.total_cost_usd_per_hour
