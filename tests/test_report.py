"""Plan reports: golden files (terminal, Markdown, JSON envelope, JSON Schema) and report properties.

Golden files live in tests/golden/; after an intended change run `python tests/update_golden.py`
and review the diff.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.commands.schema import PlanEnvelope, execute, plan_schema
from planner.errors import InputError
from planner.report import _fmt as f
from planner.report import render_plan_markdown, render_plan_text
from planner.result import Plan
from tests.support import load_script

GOLDEN = Path(__file__).resolve().parent / "golden"


UG = load_script("tests/update_golden.py")
PLAN_NAMES = sorted(UG.PLANS)


@pytest.fixture(scope="module")
def golden() -> dict[str, str]:
    files: dict[str, str] = UG.golden_files()
    return files


@pytest.mark.parametrize("name", sorted(UG.golden_files()))
def test_golden_file_matches(name: str, golden: dict[str, str]) -> None:
    path = GOLDEN / name
    assert path.exists(), f"missing {path}; run `python tests/update_golden.py`"
    assert path.read_text(encoding="utf-8") == golden[name], (
        f"{name} changed; if intended, run `python tests/update_golden.py` and review the diff"
    )


def _plan(name: str) -> Plan:
    env = json.loads((GOLDEN / f"{name}.plan.json").read_text(encoding="utf-8"))
    return Plan.model_validate(env["data"])


@pytest.mark.parametrize("name", PLAN_NAMES)
def test_plan_json_round_trips_with_stable_key_order(name: str) -> None:
    text = (GOLDEN / f"{name}.plan.json").read_text(encoding="utf-8")
    env = json.loads(text)
    assert list(env) == ["schema_version", "command", "status", "data", "errors"]
    assert list(env["data"]) == list(Plan.model_fields)
    plan = Plan.model_validate(env["data"])
    assert plan == UG.PLANS[name]()
    assert PlanEnvelope.model_validate(env).data == plan


@pytest.mark.parametrize("name", PLAN_NAMES)
def test_terminal_view_fits_100_columns(name: str) -> None:
    for line in render_plan_text(_plan(name)).splitlines():
        assert len(line) <= 100, line


def test_terminal_view_has_headline_allocation_routing_baselines_assumptions() -> None:
    text = render_plan_text(_plan("two_offering"))
    first = text.splitlines()[0]
    assert first == "chat-8b: $7.63/h for 6 GPUs on 6 instances"
    for needle in (
        "Allocation",
        "Routing llama-3.1-8b",
        "Best single offerings",
        "catalog version",
        UG.CATALOG_VERSION,
        "prices as of",
        "calibration",
        "g6e.xlarge tp1 bf16",
        "18.0% below the best single offering",
    ):
        assert needle in text, needle


def test_markdown_has_summary_tables_chart_and_assumptions() -> None:
    md = render_plan_markdown(_plan("two_offering"))
    assert md.startswith("### gpuplan · chat-8b · $7.63/h\n")
    assert "```mermaid\npie showData" in md
    assert '"g6.2xlarge (4x l4)" : 3.91' in md
    assert "<details>" in md and "</details>" in md
    assert "| `aws:us-east-1:g6e.xlarge` | l40s | 5 | $9.30 | 18.0% |" in md
    assert f"- catalog version: `{UG.CATALOG_VERSION}`" in md
    assert "- prices as of: 2025-06-01" in md


def test_markdown_tables_are_well_formed() -> None:
    """Every table row has as many cells as its header (escaped pipes do not split cells)."""
    for name in PLAN_NAMES:
        lines = render_plan_markdown(_plan(name)).splitlines()
        width = None
        for line in lines:
            if not line.startswith("|"):
                width = None
                continue
            cells = len(re.split(r"(?<!\\)\|", line)) - 2
            width = cells if width is None else width
            assert cells == width, (name, line)


def test_infeasible_report_leads_with_reasons() -> None:
    plan = _plan("infeasible")
    text = render_plan_text(plan)
    assert text.startswith("405b-on-l4: infeasible (2 reasons below)")
    assert "811 GB" in text
    md = render_plan_markdown(plan)
    assert "❌ infeasible" in md.splitlines()[0]
    assert "mermaid" not in md
    assert "- verification: not run (no plan)" in md


def test_multi_model_report_lists_each_model() -> None:
    text = render_plan_text(_plan("multi_model"))
    assert "Routing chat:" in text and "Routing assistant:" in text
    assert "gpu_2x_h100_sxm5 tp2 fp8" in text
    assert "(measured)" in text


def test_slo_miss_is_marked() -> None:
    plan = _plan("two_offering")
    s = plan.routing[0]
    bad = s.model_copy(update={"routes": (s.routes[0].model_copy(update={"ttft_ms": 2500.0}),)})
    plan = plan.model_copy(update={"routing": (bad, *plan.routing[1:])})
    assert "2,500 ✗" in render_plan_text(plan)
    md = render_plan_markdown(plan)
    assert "2,500 ❌ / 2,000" in md and "SLO MISSED" in md


def test_markdown_escapes_pipes_in_names() -> None:
    plan = _plan("two_offering").model_copy(update={"name": "a|b"})
    md = render_plan_markdown(plan)
    assert "gpuplan · a&#124;b" in md  # names are escaped everywhere (planner.report.escape.md)
    plan2 = _plan("two_offering")
    a = plan2.allocations[0]
    g = a.replicas[0].model_copy(update={"model": "x|y"})
    plan2 = plan2.model_copy(
        update={"allocations": (a.model_copy(update={"replicas": (g,)}), plan2.allocations[1])}
    )
    assert "x&#124;y" in render_plan_markdown(plan2)


# --- JSON Schema ----------------------------------------------------------------------------------


def test_schema_describes_the_envelope_with_plan_data() -> None:
    schema = plan_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert list(schema["properties"]) == ["schema_version", "command", "status", "data", "errors"]
    assert schema["properties"]["schema_version"]["const"] == "1"
    assert "Plan" in schema["$defs"]
    assert list(schema["$defs"]["Plan"]["properties"]) == list(Plan.model_fields)
    assert schema["$defs"]["Plan"]["additionalProperties"] is False


def test_schema_command_renders_json() -> None:
    out = execute("plan")
    assert json.loads(out.renderers["json-schema"]()) == plan_schema()
    with pytest.raises(InputError, match="valid: plan"):
        execute("plna")


def test_error_envelope_fits_the_schema() -> None:
    from planner.outcome import error_envelope

    env = PlanEnvelope.model_validate(error_envelope("plan", "spec.yaml: not found"))
    assert env.status == "error"


# --- formatting helpers ---------------------------------------------------------------------------


def test_short_offering_labels_are_unique_and_short() -> None:
    ids = [
        "aws:us-east-1:g6.xlarge",
        "aws:us-west-2:g6.xlarge",
        "gcp:us-central1:g2",
        "lambda:us-east-1:g2",
        "azure:eastus:nc",
    ]
    labels = f.short_offering_labels(ids)
    assert labels["azure:eastus:nc"] == "nc"
    assert labels["gcp:us-central1:g2"] == "gcp:g2"
    assert labels["aws:us-east-1:g6.xlarge"] == "aws:us-east-1:g6.xlarge"
    assert len(set(labels.values())) == len(ids)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.from_regex(r"[a-c]:[a-b]:[a-c]{1,2}", fullmatch=True), min_size=1, max_size=8))
def test_short_offering_labels_never_collide(ids: list[str]) -> None:
    labels = f.short_offering_labels(ids)
    assert set(labels) == set(ids)
    assert len(set(labels.values())) == len(set(ids))


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.9776, "$0.9776"), (55.04, "$55.04"), (1.861, "$1.861"), (16.0, "$16.00"), (None, "–")],
)
def test_price_format(value: float | None, text: str) -> None:
    assert f.price(value) == text


def test_ms_format() -> None:
    assert (f.ms(61.24), f.ms(118.4), f.ms(2000.0), f.ms(None)) == ("61.2", "118", "2,000", "–")


def _many_buckets(n: int) -> Plan:
    plan = _plan("two_offering")
    base = plan.routing[0]
    slices = []
    for k in range(n):
        r = base.routes[0].model_copy(update={"ttft_ms": 100.0 + k, "rate_rps": 0.01 * (k % 7 + 1)})
        slices.append(
            base.model_copy(
                update={
                    "slice": f"b{k}",
                    "input_len_range": (k + 1, k + 1),
                    "rate_rps": 0.01 * (k % 7 + 1),
                    "routes": (r,),
                }
            )
        )
    return plan.model_copy(update={"routing": tuple(slices)})


def test_terminal_shows_few_buckets_but_always_the_tightest() -> None:
    plan = _many_buckets(40)
    shown, omitted, omitted_rps = f.select_buckets(list(plan.routing), f.BUCKET_ROWS_TERMINAL)
    assert len(shown) == f.BUCKET_ROWS_TERMINAL and omitted == 40 - f.BUCKET_ROWS_TERMINAL
    assert plan.routing[-1] in shown  # highest TTFT
    assert omitted_rps == pytest.approx(
        sum(s.rate_rps for s in plan.routing) - sum(s.rate_rps for s in shown)
    )
    assert [s.slice for s in shown] == sorted(
        (s.slice for s in shown), key=lambda x: int(x[1:])
    )  # plan order
    text = render_plan_text(plan)
    assert "12 of 40 buckets shown (tightest and busiest); 28 more" in text
    assert "Served by" in text and "Buckets" in text  # per-target summary
    md = render_plan_markdown(plan)
    assert "Predicted latency per bucket (40 buckets)" in md


def test_route_summary_adds_up_to_the_model_rate() -> None:
    plan = _plan("two_offering")
    labels = f.short_offering_labels(f.offering_ids(plan))
    rows = f.route_summary(plan, "llama-3.1-8b", labels)
    assert [r[0] for r in rows] == ["g6.2xlarge tp1 bf16", "g6e.xlarge tp1 bf16"]
    assert sum(r[2] for r in rows) == pytest.approx(12.0, rel=1e-3)
    assert sum(r[3] for r in rows) == pytest.approx(100.0, rel=1e-3)
    assert rows[0][5] == pytest.approx(83.0)
