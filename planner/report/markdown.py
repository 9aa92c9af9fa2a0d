"""The Markdown view of a plan, for a pull-request comment or `$GITHUB_STEP_SUMMARY`.

GitHub-flavoured Markdown only: tables, a `<details>` block for the per-bucket routing, and a mermaid
pie chart of cost per offering (GitHub renders mermaid code blocks). Same content as the terminal view.
"""

from __future__ import annotations

from planner.report import _fmt as f
from planner.report.escape import md, md_code, mermaid
from planner.result import Baseline, Plan


def cell(text: object) -> str:
    """Escape what would break a Markdown table cell."""
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A GFM table; `align` has one letter per column: l(eft) or r(ight)."""
    marks = {"l": "---", "r": "--:"}
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return out


def cost_pie(plan: Plan, labels: dict[str, str]) -> list[str]:
    """A mermaid pie of $/h per offering (GitHub renders it); empty when there is nothing to chart."""
    slices = [(a, a.cost_usd_per_hour) for a in plan.allocations if a.cost_usd_per_hour > 0]
    if not slices:
        return []
    out = ["```mermaid", "pie showData", "    title Cost per offering ($/h)"]
    for a, cost in slices:
        out.append(f'    "{mermaid(f"{labels[a.offering]} ({a.instances}x {a.gpu})")}" : {cost:.2f}')
    out.append("```")
    return out


def plain_table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    """A GFM table whose cells are plain text (names, numbers): each cell escaped with `md`."""
    return table(header, [[md(c) for c in row] for row in rows], align)


def _mark(pred: float | None, slo: float, statistic: str = "mean") -> str:
    """✅/❌ for a mean target; a percentile target is judged by the simulation (the prediction alone)."""
    if statistic != "mean":
        return f.ms(pred)
    ok = f.within(pred, slo)
    if ok is None:
        return f.DASH
    return f"{f.ms(pred)} {'✅' if ok else '❌'}"


def _routing_section(plan: Plan, model: str, labels: dict[str, str], hh: str) -> list[str]:
    """Per model: a verdict line, traffic per serving target, and every bucket in a <details> block."""
    slices = f.model_slices(plan, model)
    ttft, tpot = f.worst_slo_ratios(plan, model)
    ok = all(
        (s.slo_ttft_statistic != "mean" or f.within(r.ttft_ms, s.slo_ttft_ms) is not False)
        and (s.slo_tpot_statistic != "mean" or f.within(r.tpot_ms, s.slo_tpot_ms) is not False)
        for s in slices
        for r in s.routes
    )
    rate = sum(s.rate_rps for s in slices)
    ref = slices[0]
    slo = f.slo_pair(ref.slo_ttft_ms, ref.slo_tpot_ms, ref.slo_ttft_statistic, ref.slo_tpot_statistic)
    verdict = "all buckets within SLO" if ok else "**SLO MISSED** in some buckets"
    if ttft is None and tpot is None:  # nothing predicted: every bucket is served by measured capacity
        summary = f"served by measured capacities; {slo}."
    else:
        mean = "mean " if f.has_percentiles(plan) else ""
        summary = (
            f"{slo}; {verdict}: worst predicted {mean}TTFT {f.pct(ttft, decimals=0)} and TPOT "
            f"{f.pct(tpot, decimals=0)} of SLO."
        )
    out = [f"{hh} Routing · {md(model)}", "", f"{f.num(round(rate, 3))} req/s in {len(slices)} buckets, {summary}", ""]
    targets = [
        [
            md(label),
            str(n),
            f.num(round(r, 3)),
            f.pct(share, decimals=0),
            f.pct(t, decimals=0),
            f.pct(p, decimals=0),
        ]
        for label, n, r, share, t, p in f.route_summary(plan, model, labels)
    ]
    out += table(
        ["Served by", "Buckets", "req/s", "Traffic", "Worst TTFT % SLO", "Worst TPOT % SLO"],
        targets,
        "lrrrrr",
    )
    shown, omitted, omitted_rps = f.select_buckets(slices, f.BUCKET_ROWS_MARKDOWN)
    rows = []
    for s in shown:
        for k, r in enumerate(s.routes):
            first = k == 0
            rows.append(
                [
                    f.length_range(s.input_len_range) if first else "",
                    f.length_range(s.output_len_range) if first else "",
                    f.num(s.rate_rps) if first else "",
                    md(f.candidate_label(plan, r.candidate, r.offering, labels, r)),
                    f.pct(100 * r.share, decimals=0),
                    f"{_mark(r.ttft_ms, s.slo_ttft_ms, s.slo_ttft_statistic)} / {f.slo_ms(s.slo_ttft_ms)}",
                    f"{_mark(r.tpot_ms, s.slo_tpot_ms, s.slo_tpot_statistic)} / {f.slo_ms(s.slo_tpot_ms)}",
                ]
            )
    out += ["", "<details>", f"<summary>Predicted latency per bucket ({len(shown)} buckets)</summary>", ""]
    out += table(
        ["Input tokens", "Output tokens", "req/s", "Served by", "Share", "TTFT ms / SLO", "TPOT ms / SLO"],
        rows,
        "rrrlrrr",
    )
    if omitted:
        out += [
            "",
            f"{omitted} smaller buckets ({f.num(round(omitted_rps, 3))} req/s) omitted; all are in the JSON.",
        ]
    out += ["", "</details>", ""]
    return out


def _slo_check_section(plan: Plan, hh: str) -> list[str]:
    """How the plan met its percentile targets in simulation (nothing when it has none)."""
    check = f.slo_check_lines(plan)
    if not check:
        return []
    head = [f"{hh} Percentile SLOs, simulated", "", md(check[0]) + ":", ""]
    return [*head, *[f"- {md(line)}" for line in check[1:]], ""]


def render_plan_markdown(plan: Plan, heading_level: int = 3) -> str:
    """The whole plan as Markdown: summary line, allocation, chart, routing, baselines, assumptions."""
    h = "#" * heading_level
    hh = "#" * (heading_level + 1)
    labels = f.short_offering_labels(f.offering_ids(plan))
    infeasible = plan.status == "infeasible"
    out: list[str] = []
    title = md(plan.name or "plan")
    if infeasible:
        out += [f"{h} gpuplan · {title} · ❌ infeasible", ""]
    else:
        out += [f"{h} gpuplan · {title} · {f.usd(plan.total_cost_usd_per_hour)}/h", ""]
    out += [f"**{md(f.headline(plan))}**", ""]

    if infeasible:
        out += [f"{hh} Why", ""]
        out += [f"- {md(r)}" for r in plan.infeasible_reasons] + [""]

    if plan.allocations:
        rows = []
        for a in plan.allocations:
            groups = [md(f.group_text(g)) for g in a.replicas]
            if a.idle_gpus:
                groups.append(f"{a.idle_gpus} idle GPU{'s' if a.idle_gpus != 1 else ''}")
            rows.append(
                [
                    md_code(a.offering) + (" spot" if a.spot else ""),
                    f"{a.gpus_per_instance}× {md(a.gpu)}",
                    str(a.instances),
                    f.flagged_price(a, markdown=True),
                    f.usd(a.cost_usd_per_hour),
                    "<br>".join(groups),
                ]
            )
        rows.append(
            [
                "**total**",
                "",
                f"**{plan.total_instances}**",
                "",
                f"**{f.usd(plan.total_cost_usd_per_hour)}**",
                f"{plan.total_gpus} GPUs",
            ]
        )
        out += [f"{hh} Allocation", ""]
        out += table(
            ["Offering", "GPU", "Instances", "$/h each", "$/h", "Replicas"],
            rows,
            "llrrrl",
        )
        out.append("")
        legend = f.price_legend(plan, markdown=True)
        if legend:
            out += [legend, ""]
        pie = cost_pie(plan, labels)
        if len(pie):
            out += pie + [""]

    if len(plan.models) > 1 or infeasible:
        out += [f"{hh} Models", ""]
        out += table(
            ["Model", "Catalog id", "req/s", "SLO TTFT ms", "SLO TPOT ms", "Replicas", "GPUs", "$/h"],
            [
                [
                    md(m.model),
                    md(m.model_id),
                    f.num(m.rate_rps),
                    f"{m.slo_ttft_statistic} {f.slo_ms(m.slo_ttft_ms)}",
                    f"{m.slo_tpot_statistic} {f.slo_ms(m.slo_tpot_ms)}",
                    str(m.replicas),
                    str(m.gpus),
                    f.DASH if infeasible else f.usd(m.cost_usd_per_hour),
                ]
                for m in plan.models
            ],
            "llrrrrrr",
        )
        out.append("")

    for model in f.routed_models(plan):
        out += _routing_section(plan, model, labels, hh)

    comparisons = f.comparison_rows(plan)
    if comparisons:
        out += [f"{hh} Aggregated vs disaggregated", "", "Each model planned alone, with one kind of serving only.", ""]
        out += plain_table(
            ["Model", "Plan serves it with", "Aggregated $/h", "Disaggregated $/h", "Verdict"],
            [list(row) for row in comparisons],
            "llrrl",
        )
        out.append("")

    if plan.baselines:
        total = plan.total_cost_usd_per_hour

        def baseline_rows(baselines: tuple[Baseline, ...]) -> list[str]:
            rows = []
            for b in baselines:
                saving = f.saving(total, b.cost_usd_per_hour)
                rows.append(
                    [md_code(b.offering), md(f.baseline_gpu(b)), str(b.instances), f.usd(b.cost_usd_per_hour), saving]
                )
            return table(["Offering", "GPU", "Instances", "$/h", "Plan saves"], rows, "llrrr")

        head, rest = plan.baselines[: f.BASELINE_ROWS], plan.baselines[f.BASELINE_ROWS :]
        out += [f"{hh} Best single offerings", "", "Same load and SLOs served by one offering only.", ""]
        out += baseline_rows(head) + [""]
        if rest:
            out += ["<details>", f"<summary>{len(rest)} more single-offering options</summary>", ""]
            out += baseline_rows(rest) + ["", "</details>", ""]

    out += _slo_check_section(plan, hh)
    out += [f"{hh} Assumptions", ""]
    out += [
        f"- {k}: {md_code(v)}" if k in ("catalog version", "spec sha256") else f"- {k}: {md(v)}"
        for k, v in f.assumption_lines(plan)
    ]
    out += [f"- solver: {md(f.solver_line(plan))}", f"- verification: {md(f.verification_line(plan))}", ""]
    return "\n".join(out)
