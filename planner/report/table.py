"""The terminal view of a plan: the same content as the Markdown report, laid out for 100 columns.

`render_plan_table` returns a rich renderable (the CLI prints it); `render_plan_text` renders it to
plain text at a fixed width, which is what golden tests and `-o FILE` compare and store.
"""

from __future__ import annotations

import io

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from planner.report import _fmt as f
from planner.report.escape import console as report_console
from planner.result import Plan, SliceRoute

WIDTH = 100


def _mark(pred: float | None, slo: float, statistic: str = "mean") -> Text:
    """A predicted mean against its target: ✓/✗ for a mean target; a percentile target is judged by the
    simulation, not by one bucket's mean, so its cell shows the prediction alone."""
    if statistic != "mean":
        return Text(f.ms(pred), style="dim") if pred is not None else Text(f.DASH, style="dim")
    ok = f.within(pred, slo)
    if ok is None:
        return Text(f.DASH, style="dim")
    return Text(f"{f.ms(pred)} ✓" if ok else f"{f.ms(pred)} ✗", style="green" if ok else "bold red")


def bullets(lines: tuple[str, ...] | list[str]) -> Table:
    """A bulleted list whose wrapped lines hang under their text."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for line in lines:
        grid.add_row(" •", line)
    return grid


def _heading(text: str) -> Text:
    return Text(text, style="bold cyan")


def _allocation_table(plan: Plan, labels: dict[str, str]) -> Table:
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, show_footer=True, title_justify="left"
    )
    table.add_column("Offering", footer="total", no_wrap=True)
    table.add_column("GPU", no_wrap=True)
    table.add_column("Inst", justify="right", footer=str(plan.total_instances))
    table.add_column("$/h each", justify="right")
    table.add_column("$/h", justify="right", footer=f.usd(plan.total_cost_usd_per_hour))
    table.add_column("Replicas", ratio=1)
    for a in plan.allocations:
        groups = [f.group_text(g) for g in a.replicas]
        if a.idle_gpus:
            groups.append(f"{a.idle_gpus} idle GPU{'s' if a.idle_gpus != 1 else ''}")
        spot = " spot" if a.spot else ""
        table.add_row(
            labels[a.offering] + spot,
            f"{a.gpus_per_instance}× {a.gpu}",
            str(a.instances),
            f.flagged_price(a),
            f.usd(a.cost_usd_per_hour),
            "\n".join(groups),
        )
    return table


def _models_table(plan: Plan) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, justify in (
        ("Model", "left"),
        ("Catalog id", "left"),
        ("req/s", "right"),
        ("SLO TTFT/TPOT ms", "right"),
        ("Replicas", "right"),
        ("GPUs", "right"),
        ("$/h", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for m in plan.models:
        table.add_row(
            m.model,
            m.model_id,
            f.num(m.rate_rps),
            f.slo_cell(m.slo_ttft_ms, m.slo_ttft_statistic, m.slo_tpot_ms, m.slo_tpot_statistic),
            str(m.replicas),
            str(m.gpus),
            f.DASH if plan.status == "infeasible" else f.usd(m.cost_usd_per_hour),
        )
    return table


def _routing_table(plan: Plan, slices: list[SliceRoute], labels: dict[str, str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Input tok", justify="right", no_wrap=True)
    table.add_column("Output tok", justify="right", no_wrap=True)
    table.add_column("req/s", justify="right")
    table.add_column("Served by")
    table.add_column("Share", justify="right")
    table.add_column("TTFT ms", justify="right", no_wrap=True)
    table.add_column("TPOT ms", justify="right", no_wrap=True)
    for s in slices:
        for k, r in enumerate(s.routes):
            first = k == 0
            table.add_row(
                f.length_range(s.input_len_range) if first else "",
                f.length_range(s.output_len_range) if first else "",
                f.num(s.rate_rps) if first else "",
                f.candidate_label(plan, r.candidate, r.offering, labels, r),
                f.pct(100 * r.share, decimals=0),
                _mark(r.ttft_ms, s.slo_ttft_ms, s.slo_ttft_statistic),
                _mark(r.tpot_ms, s.slo_tpot_ms, s.slo_tpot_statistic),
            )
    return table


def _targets_table(rows: list[f.Target]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Served by")
    for name in ("Buckets", "req/s", "Traffic", "Worst TTFT", "Worst TPOT"):
        table.add_column(name, justify="right", no_wrap=True)
    for label, n, rate, share, ttft, tpot in rows:
        table.add_row(
            label,
            str(n),
            f.num(round(rate, 3)),
            f.pct(share, decimals=0),
            f"{f.pct(ttft, decimals=0)} of SLO",
            f"{f.pct(tpot, decimals=0)} of SLO",
        )
    return table


def _baselines_table(plan: Plan, labels: dict[str, str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Offering")
    table.add_column("GPU")
    table.add_column("Inst", justify="right")
    table.add_column("$/h", justify="right")
    table.add_column("Plan saves", justify="right")
    total = plan.total_cost_usd_per_hour
    for b in plan.baselines[: f.BASELINE_ROWS]:
        saving = f.saving(total, b.cost_usd_per_hour)
        table.add_row(labels[b.offering], f.baseline_gpu(b), str(b.instances), f.usd(b.cost_usd_per_hour), saving)
    return table


def _comparison_table(rows: list[tuple[str, str, str, str, str]]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Model")
    table.add_column("Plan serves it with", ratio=1)
    table.add_column("Aggregated", justify="right", no_wrap=True)
    table.add_column("Disaggregated", justify="right", no_wrap=True)
    table.add_column("Verdict", ratio=2)
    for model, shape, agg, dis, verdict in rows:
        table.add_row(model, shape, agg, dis, verdict)
    return table


def _model_routing_title(plan: Plan, model: str, slices: list[SliceRoute]) -> str:
    summary = next((m for m in plan.models if m.model == model), None)
    rate = sum(s.rate_rps for s in slices)
    ttft, tpot = f.worst_slo_ratios(plan, model)
    ref = summary if summary is not None else slices[0]
    slo = f.slo_pair(ref.slo_ttft_ms, ref.slo_tpot_ms, ref.slo_ttft_statistic, ref.slo_tpot_statistic)
    if ttft is None and tpot is None:  # nothing predicted: every bucket is served by measured capacity
        return f"Routing {model}: {f.num(rate)} req/s, {slo}"
    return (
        f"Routing {model}: {f.num(rate)} req/s, {slo}; "
        f"worst {'predicted mean ' if f.has_percentiles(plan) else ''}"
        f"{f.pct(ttft, decimals=0)} / {f.pct(tpot, decimals=0)} of SLO"
    )


def render_plan_table(plan: Plan) -> RenderableType:
    """The whole plan for a terminal: headline, allocation, routing per model, baselines, assumptions."""
    labels = f.short_offering_labels(f.offering_ids(plan))
    parts: list[RenderableType] = []
    infeasible = plan.status == "infeasible"
    main, saving = f.summary(plan)
    parts.append(Text(main, style="bold red" if infeasible else "bold"))
    if saving:
        parts.append(Text(saving[0].upper() + saving[1:]))
    if infeasible:
        parts += [Text(""), _heading("Why"), bullets(plan.infeasible_reasons)]
    if plan.allocations:
        parts += [Text(""), _heading("Allocation"), _allocation_table(plan, labels)]
        legend = f.price_legend(plan)
        if legend:
            parts.append(Text(legend, style="yellow"))
    if len(plan.models) > 1 or infeasible:
        parts += [Text(""), _heading("Models"), _models_table(plan)]
    for model in f.routed_models(plan):
        slices = f.model_slices(plan, model)
        shown, omitted, omitted_rps = f.select_buckets(slices, f.BUCKET_ROWS_TERMINAL)
        parts += [Text(""), _heading(_model_routing_title(plan, model, slices))]
        if omitted:
            parts += [_targets_table(f.route_summary(plan, model, labels)), Text("")]
        parts.append(_routing_table(plan, shown, labels))
        if omitted:
            parts.append(
                Text(
                    f"{len(shown)} of {len(slices)} buckets shown (tightest and busiest); {omitted} more "
                    f"carry {f.num(round(omitted_rps, 3))} req/s (all in --format md or json).",
                    style="dim",
                )
            )
    comparisons = f.comparison_rows(plan)
    if comparisons:
        title = "Aggregated vs disaggregated (each model planned alone)"
        parts += [Text(""), _heading(title), _comparison_table(comparisons)]
    if plan.baselines:
        more = len(plan.baselines) - f.BASELINE_ROWS
        parts += [
            Text(""),
            _heading("Best single offerings (same load and SLOs, one offering only)"),
            _baselines_table(plan, labels),
        ]
        if more > 0:
            parts.append(
                Text(f"{more} more single-offering options, dearer; all in --format json.", style="dim")
            )
    check = f.slo_check_lines(plan)
    if check:
        met = plan.slo_check is not None and plan.slo_check.met
        parts += [
            Text(""),
            _heading("Percentile SLOs, simulated"),
            Text(check[0], style="green" if met else "bold red"),
        ]
        parts += [Text(f"  {line}") for line in check[1:]]
    parts.append(Text(""))
    parts.append(_heading("Assumptions"))
    foot = Table.grid(padding=(0, 2))
    foot.add_column(style="dim", no_wrap=True)
    foot.add_column()
    for key, value in f.assumption_lines(plan):
        foot.add_row(key, value)
    foot.add_row("solver", f.solver_line(plan))
    ver = f.verification_line(plan, verbose=False)
    foot.add_row("verification", Text(ver, style="green" if plan.verification.passed else "bold red"))
    parts.append(foot)
    return Group(*parts)


def to_text(renderable: RenderableType, width: int = WIDTH) -> str:
    """Plain text of a renderable at a fixed width, without colour: stable across terminals."""
    console = report_console(width=width, record=True, color_system=None, force_terminal=False, file=io.StringIO())
    console.print(renderable)
    lines = console.export_text(styles=False).splitlines()
    return "\n".join(line.rstrip() for line in lines) + "\n"


def render_plan_text(plan: Plan, width: int = WIDTH) -> str:
    """The terminal view as plain text (golden files, `-o FILE`)."""
    return to_text(render_plan_table(plan), width)
