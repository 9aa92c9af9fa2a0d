"""Rebuild every golden file in tests/golden/: real plans of the examples, and report renders.

    python tests/update_golden.py          # rewrite every golden file
    python tests/update_golden.py --check  # exit 1 if any golden file is stale (what the tests assert)

tests/golden/examples/: every spec in examples/ (and the infeasible tests/data/specs/*.yaml) planned by
the real planner, as its JSON envelope, terminal table (100 columns) and Markdown, with the one field
that reports elapsed time (solver.seconds) set to 0 and price ages counted to a fixed day (GOLDEN_DAY,
through SOURCE_DATE_EPOCH: ages counted to today would change every golden at midnight). A change of
candidate ids, verifier checks, catalog data or estimates shows up here as a diff to review.

The report goldens below are built from plans constructed by hand (prices from the shipped catalog's
sources: SkyPilot catalog v8 AWS/Lambda on-demand rows) with consistent totals, so the reports can be
reviewed without running the planner. Each plan is written as its JSON envelope (`<name>.plan.json`,
also a valid input to `gpuplan check`) and rendered as the terminal table (`<name>.table.txt`, 100 columns) and Markdown
(`<name>.md`). The check and sweep reports and the published JSON Schema have golden files too.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from planner.result import (  # noqa: E402
    Allocation,
    Baseline,
    ModelSummary,
    Plan,
    ReplicaGroup,
    RouteShare,
    SliceRoute,
    SolverStats,
    Verification,
)
from planner.sweep import MixItem, SweepPoint, SweepResult  # noqa: E402
from planner.verify import VERIFY_CHECKS  # noqa: E402

GOLDEN = ROOT / "tests" / "golden"
CATALOG_VERSION = "2025.06.01+0d1e2f3a"  # the loader's format: data release + content hash
CHECKS = VERIFY_CHECKS  # what the planner's verifier reports
ASSUMPTIONS: dict[str, str | float | int | bool] = {
    "prices_as_of": "2025-06-01",
    "price_age": "at most 549 days old on 2026-12-02",
    "price_trust": "no flagged price used; prices uncertain in their source left out "
    "(offerings.include_uncertain: false)",
    "price_kind": "on-demand",
    "engine": "vllm",
    "calibration": "engines.yaml vllm factors per GPU family (fitted to measured-calibration rows)",
    "target_utilisation": 0.8,
    "gpu_memory_utilization": 0.9,
}


OVERRIDE = "price replaced by the spec's price_overrides or a catalog overlay"


def _cand(model: str, offering: str, tp: int, weights: str, kv: str) -> str:
    return f"{model}|{offering}|tp{tp}|{weights}|{kv}|vllm"


def _group(
    model: str,
    offering: str,
    tp: int,
    weights: str,
    kv: str,
    replicas: int,
    util: float,
    source: str = "estimate",
) -> ReplicaGroup:
    return ReplicaGroup(
        candidate=_cand(model, offering, tp, weights, kv),
        model=model,
        tp=tp,
        weights=weights,
        kv=kv,
        engine="vllm",
        replicas=replicas,
        gpus=tp * replicas,
        utilisation=util,
        capacity_source=source,  # type: ignore[arg-type]
    )


def _alloc(
    offering: str,
    gpu: str,
    gpus_per_instance: int,
    price: float,
    instances: int,
    groups: tuple[ReplicaGroup, ...],
    flags: tuple[str, ...] = (),
    notes: tuple[str, ...] = (),
) -> Allocation:
    cloud, region, itype = offering.split(":")
    used = sum(g.gpus for g in groups)
    return Allocation(
        offering=offering,
        cloud=cloud,
        region=region,
        instance_type=itype,
        gpu=gpu,
        gpus_per_instance=gpus_per_instance,
        spot=False,
        instances=instances,
        price_usd_per_hour=price,
        cost_usd_per_hour=round(price * instances, 6),
        replicas=groups,
        idle_gpus=gpus_per_instance * instances - used,
        price_flags=flags,  # type: ignore[arg-type]
        price_notes=notes,
        price_as_of="2025-06-01",
        price_age_days=549,
    )


def _route(
    cand: str, offering: str, share: float, rate: float, ttft: float | None, tpot: float | None
) -> RouteShare:
    return RouteShare(
        candidate=cand,
        offering=offering,
        share=share,
        rate_rps=round(share * rate, 6),
        ttft_ms=ttft,
        tpot_ms=tpot,
    )


def _slice(
    model: str,
    i_rng: tuple[int, int],
    o_rng: tuple[int, int],
    rate: float,
    slo: tuple[float, float],
    routes: tuple[RouteShare, ...],
) -> SliceRoute:
    return SliceRoute(
        slice=f"{model}/in{i_rng[1]}/out{o_rng[1]}",
        model=model,
        input_len=i_rng[1],
        output_len=o_rng[1],
        input_len_range=i_rng,
        output_len_range=o_rng,
        rate_rps=rate,
        slo_ttft_ms=slo[0],
        slo_tpot_ms=slo[1],
        routes=routes,
    )


def _finish(
    name: str,
    allocations: tuple[Allocation, ...],
    routing: tuple[SliceRoute, ...],
    models: tuple[ModelSummary, ...],
    baselines: tuple[Baseline, ...],
    solver: SolverStats,
    sha: str,
    assumptions: dict[str, str | float | int | bool] | None = None,
    **extra: object,
) -> Plan:
    total = round(sum(a.cost_usd_per_hour for a in allocations), 6)
    best = baselines[0].cost_usd_per_hour if baselines else None
    return Plan(
        name=name,
        status="optimal",
        total_cost_usd_per_hour=total,
        total_gpus=sum(a.gpus_per_instance * a.instances for a in allocations),
        total_instances=sum(a.instances for a in allocations),
        allocations=allocations,
        routing=routing,
        models=models,
        baselines=baselines,
        best_single_offering_cost_usd_per_hour=best,
        saving_vs_best_single_pct=None if best is None else round(100 * (best - total) / best, 4),
        assumptions=ASSUMPTIONS if assumptions is None else assumptions,
        solver=solver,
        verification=Verification(passed=True, checks=CHECKS),
        catalog_version=CATALOG_VERSION,
        spec_sha256=sha,
        **extra,  # type: ignore[arg-type]
    )


def two_offering_plan() -> Plan:
    """llama-3.1-8b chat at 12 req/s: short prompts on L4 (g6.2xlarge), long prompts on L40S (g6e.xlarge)."""
    m, slo = "llama-3.1-8b", (2000.0, 100.0)
    l4, l40s = "aws:us-east-1:g6.2xlarge", "aws:us-east-1:g6e.xlarge"
    c_l4, c_l40s = _cand(m, l4, 1, "bf16", "bf16"), _cand(m, l40s, 1, "bf16", "bf16")
    routing = (
        _slice(m, (1, 256), (1, 128), 3.6, slo, (_route(c_l4, l4, 1.0, 3.6, 118.4, 61.2),)),
        _slice(m, (1, 256), (129, 512), 2.4, slo, (_route(c_l4, l4, 1.0, 2.4, 121.0, 68.9),)),
        _slice(m, (257, 1024), (1, 128), 2.2, slo, (_route(c_l4, l4, 1.0, 2.2, 402.7, 71.5),)),
        _slice(
            m,
            (257, 1024),
            (129, 512),
            1.8,
            slo,
            (_route(c_l4, l4, 0.4444, 1.8, 431.9, 83.0), _route(c_l40s, l40s, 0.5556, 1.8, 141.2, 27.4)),
        ),
        _slice(m, (1025, 4096), (1, 128), 1.2, slo, (_route(c_l40s, l40s, 1.0, 1.2, 611.5, 29.8),)),
        _slice(m, (1025, 4096), (129, 512), 0.8, slo, (_route(c_l40s, l40s, 1.0, 0.8, 640.3, 33.1),)),
    )
    allocations = (
        _alloc(l4, "l4", 1, 0.9776, 4, (_group(m, l4, 1, "bf16", "bf16", 4, 0.79),)),
        _alloc(l40s, "l40s", 1, 1.861, 2, (_group(m, l40s, 1, "bf16", "bf16", 2, 0.74),)),
    )
    models = (
        ModelSummary(
            model=m,
            model_id=m,
            rate_rps=12.0,
            slo_ttft_ms=2000.0,
            slo_tpot_ms=100.0,
            slices=6,
            replicas=6,
            gpus=6,
            cost_usd_per_hour=7.6324,
        ),
    )
    baselines = (
        Baseline(offering=l40s, gpu="l40s", instances=5, cost_usd_per_hour=9.305),
        Baseline(offering=l4, gpu="l4", instances=10, cost_usd_per_hour=9.776),
        Baseline(offering="aws:us-east-1:p5.4xlarge", gpu="h100-sxm", instances=2, cost_usd_per_hour=13.76),
    )
    solver = SolverStats(name="highs", status="optimal", seconds=0.04, gap=0.0, variables=31, constraints=27)
    return _finish("chat-8b", allocations, routing, models, baselines, solver, "3f5a0c1e9b7d" + "0" * 52)


def infeasible_plan() -> Plan:
    """llama-3.1-405b restricted to L4 instances: the bf16 weights cannot fit the largest L4 node."""
    return Plan(
        name="405b-on-l4",
        status="infeasible",
        total_cost_usd_per_hour=None,
        total_gpus=0,
        total_instances=0,
        allocations=(),
        routing=(),
        models=(
            ModelSummary(
                model="llama-3.1-405b",
                model_id="llama-3.1-405b",
                rate_rps=1.0,
                slo_ttft_ms=5000.0,
                slo_tpot_ms=150.0,
                slices=4,
                replicas=0,
                gpus=0,
                cost_usd_per_hour=0.0,
            ),
        ),
        baselines=(),
        best_single_offering_cost_usd_per_hour=None,
        saving_vs_best_single_pct=None,
        infeasible_reasons=(
            "llama-3.1-405b: no candidate fits in GPU memory: its bf16 weights need 811 GB, the largest "
            "allowed replica (aws:us-east-1:g6.48xlarge, tp8 x L4 24 GB, gpu_memory_utilization 0.9) "
            "holds 173 GB",
            "even int4 weights (203 GB) exceed 8x L4; allow larger GPUs in offerings.gpus "
            "(e.g. h100-sxm, h200, mi300x)",
        ),
        assumptions=ASSUMPTIONS,
        solver=SolverStats(
            name="highs", status="not solved", seconds=0.0, gap=None, variables=0, constraints=0
        ),
        verification=Verification(passed=True, checks=()),
        catalog_version=CATALOG_VERSION,
        spec_sha256="9c1d27aa40be" + "1" * 52,
    )


def multi_model_plan() -> Plan:
    """A chat model and a 70B assistant sharing one Lambda account; the 70B runs fp8 at tp2 on H100s."""
    chat, big = "chat", "assistant"
    a10, h1, h2 = (
        "lambda:us-east-1:gpu_1x_a10",
        "lambda:us-east-1:gpu_1x_h100_sxm5",
        "lambda:us-east-1:gpu_2x_h100_sxm5",
    )
    s_chat, s_big = (1000.0, 50.0), (3000.0, 80.0)
    c_a10, c_h1 = _cand(chat, a10, 1, "bf16", "bf16"), _cand(chat, h1, 1, "bf16", "bf16")
    c_h2 = _cand(big, h2, 2, "fp8", "fp8")
    routing = (
        _slice(chat, (1, 512), (1, 256), 14.0, s_chat, (_route(c_a10, a10, 1.0, 14.0, 96.2, 38.7),)),
        _slice(
            chat,
            (513, 4096),
            (1, 256),
            6.0,
            s_chat,
            (_route(c_a10, a10, 0.25, 6.0, 702.9, 46.1), _route(c_h1, h1, 0.75, 6.0, 188.4, 14.6)),
        ),
        _slice(big, (1, 2048), (1, 1024), 2.1, s_big, (_route(c_h2, h2, 1.0, 2.1, 512.0, 41.3),)),
        _slice(big, (2049, 8192), (1, 1024), 0.9, s_big, (_route(c_h2, h2, 1.0, 0.9, 1780.6, 47.9),)),
    )
    allocations = (
        _alloc(a10, "a10", 1, 1.29, 3, (_group(chat, a10, 1, "bf16", "bf16", 3, 0.8, "measured"),)),
        _alloc(h1, "h100-sxm", 1, 4.29, 1, (_group(chat, h1, 1, "bf16", "bf16", 1, 0.62),)),
        _alloc(h2, "h100-sxm", 2, 8.38, 2, (_group(big, h2, 2, "fp8", "fp8", 2, 0.77),), ("overridden",), (OVERRIDE,)),
    )
    models = (
        ModelSummary(
            model=chat,
            model_id="llama-3.1-8b",
            rate_rps=20.0,
            slo_ttft_ms=1000.0,
            slo_tpot_ms=50.0,
            slices=2,
            replicas=4,
            gpus=4,
            cost_usd_per_hour=8.16,
        ),
        ModelSummary(
            model=big,
            model_id="llama-3.3-70b",
            rate_rps=3.0,
            slo_ttft_ms=3000.0,
            slo_tpot_ms=80.0,
            slices=2,
            replicas=2,
            gpus=4,
            cost_usd_per_hour=16.76,
        ),
    )
    baselines = (
        Baseline(
            offering="lambda:us-east-1:gpu_8x_h100_sxm5", gpu="h100-sxm", instances=1, cost_usd_per_hour=31.92
        ),
        Baseline(offering=h2, gpu="h100-sxm", instances=4, cost_usd_per_hour=33.52),
        Baseline(
            offering="lambda:us-east-1:gpu_8x_a100_80gb_sxm4",
            gpu="a100-80gb",
            instances=2,
            cost_usd_per_hour=44.64,
        ),
    )
    solver = SolverStats(name="highs", status="optimal", seconds=0.11, gap=0.0, variables=58, constraints=44)
    return _finish(
        "chat-and-assistant",
        allocations,
        routing,
        models,
        baselines,
        solver,
        "b04e6d2f7a91" + "2" * 52,
        {**ASSUMPTIONS, "price_trust": f"flagged prices used: {h2} * ({OVERRIDE})"},
        measured_profiles_used=("chat: profiles/a10-vllm-bench.json",),
    )


PLANS: dict[str, Callable[[], Plan]] = {
    "two_offering": two_offering_plan,
    "infeasible": infeasible_plan,
    "multi_model": multi_model_plan,
}


def golden_files() -> dict[str, str]:
    """File name in tests/golden -> its expected content."""
    from planner.commands.schema import execute as schema
    from planner.outcome import Outcome, envelope, to_json
    from planner.report import render_plan_markdown, render_plan_text

    files: dict[str, str] = {}
    for name, build in PLANS.items():
        plan = build()
        outcome = Outcome(
            command="plan", status="infeasible" if plan.status == "infeasible" else "ok", data=plan
        )
        files[f"{name}.plan.json"] = to_json(envelope(outcome))
        files[f"{name}.table.txt"] = render_plan_text(plan)
        files[f"{name}.md"] = render_plan_markdown(plan)
    files.update(_check_goldens())
    files.update(_sweep_goldens())
    files["plan.schema.json"] = str(schema("plan").renderers["json-schema"]())
    return files


def _check_goldens() -> dict[str, str]:
    from planner.check import compare
    from planner.report import render_check_markdown, render_check_text

    base = two_offering_plan()
    # A regression: the L40S bucket moved back to L4, costing one more instance, and one bucket misses TPOT.
    routing = list(base.routing)
    s = routing[5]
    routing[5] = s.model_copy(update={"routes": (s.routes[0].model_copy(update={"tpot_ms": 104.5}),)})
    allocations = (
        base.allocations[0].model_copy(update={"instances": 5, "cost_usd_per_hour": 4.888}),
        base.allocations[1],
    )
    worse = base.model_copy(
        update={
            "allocations": allocations,
            "routing": tuple(routing),
            "total_cost_usd_per_hour": 8.6100,
            "total_gpus": 7,
            "total_instances": 7,
            "saving_vs_best_single_pct": 7.4691,
        }
    )
    result = compare(worse, base, cost_tolerance=0.02)
    same = compare(base, base, cost_tolerance=0.02)
    return {
        "check_regression.table.txt": render_check_text(result),
        "check_regression.md": render_check_markdown(result),
        "check_pass.table.txt": render_check_text(same),
    }


def sweep_result() -> SweepResult:
    """A rate sweep of the chat-8b plan: L4 only at low rates, then L4 + L40S, then 8-GPU L4 nodes."""
    l4, l40s, l4x8 = "aws:us-east-1:g6.2xlarge", "aws:us-east-1:g6e.xlarge", "aws:us-east-1:g6.48xlarge"

    def point(
        value: float, mix: tuple[tuple[str, str, int], ...], best: float, ttft: float, tpot: float
    ) -> SweepPoint:
        prices = {l4: 0.9776, l40s: 1.861, l4x8: 13.3504}
        gpus = {l4: 1, l40s: 1, l4x8: 8}
        cost = round(sum(prices[o] * n for o, _, n in mix), 6)
        return SweepPoint(
            value=value,
            status="optimal",
            total_cost_usd_per_hour=cost,
            total_gpus=sum(gpus[o] * n for o, _, n in mix),
            total_instances=sum(n for _, _, n in mix),
            mix=tuple(MixItem(offering=o, gpu=g, instances=n) for o, g, n in mix),
            best_single_offering_cost_usd_per_hour=best,
            saving_vs_best_single_pct=round(100 * (best - cost) / best, 2),
            worst_ttft_pct_of_slo=ttft,
            worst_tpot_pct_of_slo=tpot,
        )

    points = (
        point(2.0, ((l4, "l4", 1),), 0.9776, 9.8, 71.0),
        point(6.0, ((l4, "l4", 2), (l40s, "l40s", 1)), 3.9104, 21.4, 80.5),
        point(12.0, ((l4, "l4", 4), (l40s, "l40s", 2)), 9.305, 32.0, 83.0),
        point(48.0, ((l4x8, "l4", 2), (l40s, "l40s", 6)), 39.081, 35.2, 86.1),
        SweepPoint(
            value=400.0,
            status="infeasible",
            total_cost_usd_per_hour=None,
            total_gpus=0,
            total_instances=0,
            mix=(),
            best_single_offering_cost_usd_per_hour=None,
            saving_vs_best_single_pct=None,
            worst_ttft_pct_of_slo=None,
            worst_tpot_pct_of_slo=None,
            infeasible_reasons=("aws:us-east-1:g6e.xlarge: needs 45 instances, available 40",),
        ),
    )
    return SweepResult(
        name="chat-8b",
        swept="rate_rps",
        flag="--rate",
        unit="req/s",
        points=points,
        catalog_version=CATALOG_VERSION,
        spec_sha256="3f5a0c1e9b7d" + "0" * 52,
        method="every model's rate_rps scaled proportionally so that the total equals the value",
    )


def _sweep_goldens() -> dict[str, str]:
    from planner.report.sweep_report import render_sweep_csv, render_sweep_markdown, render_sweep_table
    from planner.report.table import to_text

    result = sweep_result()
    return {
        "sweep.table.txt": to_text(render_sweep_table(result)),
        "sweep.md": render_sweep_markdown(result),
        "sweep.csv": render_sweep_csv(result),
    }


EXAMPLE_SPECS = (*sorted((ROOT / "examples").glob("*.yaml")), *sorted((ROOT / "tests/data/specs").glob("*.yaml")))
"""The specs whose real plans are kept as goldens (tests/golden/examples/<stem>.*)."""


def masked(plan: Plan) -> Plan:
    """The plan with the fields that report elapsed time set to 0 (the only ones allowed to differ)."""
    return plan.model_copy(update={"solver": plan.solver.model_copy(update={"seconds": 0.0})})


GOLDEN_DAY = datetime.date(2026, 12, 1)
"""The day the example goldens count price ages to (`price_age_days`, the assumptions' oldest price)."""


@contextmanager
def golden_day() -> Iterator[None]:
    """Count ages to GOLDEN_DAY, as `SOURCE_DATE_EPOCH` tells catalog.trust.reference_date."""
    before = os.environ.get("SOURCE_DATE_EPOCH")
    midnight = datetime.datetime.combine(GOLDEN_DAY, datetime.time(), tzinfo=datetime.timezone.utc)
    os.environ["SOURCE_DATE_EPOCH"] = str(int(midnight.timestamp()))
    try:
        yield
    finally:
        if before is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = before


def example_golden_files(spec: Path) -> dict[str, str]:
    """File name in tests/golden -> expected content, for one spec planned as `gpuplan plan` plans it
    (percentile targets checked and tightened by simulation)."""
    from planner.commands.plan import outcome_of
    from planner.inputs import load_inputs
    from planner.outcome import envelope, to_json
    from planner.report import render_plan_markdown, render_plan_text
    from planner.simulate.slo_check import plan_checked

    with golden_day():
        plan = masked(plan_checked(load_inputs(spec)))
        name = f"examples/{spec.stem}"
        return {
            f"{name}.plan.json": to_json(envelope(outcome_of(plan))),
            f"{name}.table.txt": render_plan_text(plan),
            f"{name}.md": render_plan_markdown(plan),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    args = parser.parse_args(argv)
    stale = []
    files = golden_files()
    for spec in EXAMPLE_SPECS:
        files.update(example_golden_files(spec))
    for name, text in sorted(files.items()):
        path = GOLDEN / name
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(name)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "stale" if args.check else "updated"
    print(f"{verb}: {', '.join(stale)}" if stale else "golden files are up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
