"""Sweep reports: one row per swept value (cost, GPUs, chosen mix, SLO headroom) as a terminal table,
Markdown (with a mermaid line chart GitHub renders) or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from planner.report import _fmt as f
from planner.report.escape import md, md_code, mermaid
from planner.report.markdown import plain_table as md_table
from planner.sweep import SweepPoint, SweepResult

HEADERS = {"rate_rps": "Rate req/s", "tpot_ms": "TPOT SLO ms", "ttft_ms": "TTFT SLO ms"}
TITLES = {"rate_rps": "request rate", "tpot_ms": "TPOT SLO", "ttft_ms": "TTFT SLO"}


def mix_labels(result: SweepResult) -> dict[str, str]:
    """Short offering labels, unambiguous over the whole sweep."""
    return f.short_offering_labels(m.offering for p in result.points for m in p.mix)


def mix_text(point: SweepPoint, labels: dict[str, str]) -> str:
    """`4× g6.2xlarge + 2× g6e.xlarge spot`; `infeasible` when there is no plan."""
    if point.status == "infeasible":
        return "infeasible"
    return (
        " + ".join(f"{m.instances}× {labels.get(m.offering, m.offering)}{' spot' if m.spot else ''}" for m in point.mix)
        or "(none)"
    )


def _value(v: float) -> str:
    return f.num(v)


def _row(point: SweepPoint, labels: dict[str, str]) -> list[str]:
    return [
        _value(point.value),
        f.usd(point.total_cost_usd_per_hour),
        f.saving(point.total_cost_usd_per_hour, point.best_single_offering_cost_usd_per_hour),
        str(point.total_gpus),
        mix_text(point, labels),
        f.pct(point.worst_ttft_pct_of_slo, decimals=0)
        + " / "
        + f.pct(point.worst_tpot_pct_of_slo, decimals=0),
    ]


def _header(result: SweepResult) -> list[str]:
    return [
        HEADERS[result.swept],
        "Cost $/h",
        "Saves",
        "GPUs",
        "Mix (instances × offering)",
        "Worst TTFT/TPOT",
    ]


def _title(result: SweepResult) -> str:
    return f"Sweep of {TITLES[result.swept]} · {result.name or 'plan'} · {len(result.points)} plans"


def render_sweep_table(result: SweepResult) -> RenderableType:
    """The sweep for a terminal."""
    labels = mix_labels(result)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for i, name in enumerate(_header(result)):
        table.add_column(name, justify="left" if i == 4 else "right", no_wrap=i != 4)
    for p in result.points:
        style = "red" if p.status == "infeasible" else None
        table.add_row(*_row(p, labels), style=style)
    notes = [
        Text(
            f"{result.flag}: {result.method}; Saves = below the best single offering; "
            "Worst = tightest bucket's predicted latency as % of its SLO",
            style="dim",
        )
    ]
    notes += _reasons(result.points)
    return Group(Text(_title(result), style="bold"), Text(""), table, Text(""), *notes)


def _reasons(points: Sequence[SweepPoint]) -> list[Text]:
    out = []
    for p in points:
        if p.status == "infeasible" and p.infeasible_reasons:
            out.append(Text(f"infeasible at {_value(p.value)}: {p.infeasible_reasons[0]}", style="red"))
    return out


def _mermaid_number(v: float) -> str:
    return f"{v:.4g}"


def cost_chart(result: SweepResult) -> list[str]:
    """A mermaid xychart line of cost against the swept value (feasible points only)."""
    pts = [p for p in result.points if p.status != "infeasible" and p.total_cost_usd_per_hour is not None]
    if len(pts) < 2:
        return []
    top = max(p.total_cost_usd_per_hour or 0.0 for p in pts)
    return [
        "```mermaid",
        "xychart-beta",
        f'    title "Cost vs {mermaid(TITLES[result.swept])}"',
        f'    x-axis "{mermaid(HEADERS[result.swept])}" [{", ".join(_mermaid_number(p.value) for p in pts)}]',
        f'    y-axis "$/h" 0 --> {_mermaid_number(top * 1.1)}',
        f"    line [{', '.join(f'{p.total_cost_usd_per_hour:.2f}' for p in pts)}]",
        "```",
    ]


def render_sweep_markdown(result: SweepResult) -> str:
    """The sweep as Markdown: a table and a cost chart."""
    labels = mix_labels(result)
    out = [f"### gpuplan · {md(_title(result))}", ""]
    out += md_table(_header(result), [_row(p, labels) for p in result.points], "rrrrlr")
    out.append("")
    chart = cost_chart(result)
    if chart:
        out += chart + [""]
    out.append(f"{md_code(result.flag)}: {md(result.method)}. Catalog {md_code(result.catalog_version)}.")
    out += [
        f"- infeasible at {_value(p.value)}: {md(p.infeasible_reasons[0])}"
        for p in result.points
        if p.status == "infeasible" and p.infeasible_reasons
    ]
    out.append("")
    return "\n".join(out)


CSV_COLUMNS = (
    "value",
    "status",
    "total_cost_usd_per_hour",
    "total_gpus",
    "total_instances",
    "best_single_offering_cost_usd_per_hour",
    "saving_vs_best_single_pct",
    "worst_ttft_pct_of_slo",
    "worst_tpot_pct_of_slo",
    "mix",
)


def render_sweep_csv(result: SweepResult) -> str:
    """One row per value; the first column is named after the swept quantity (e.g. `rate_rps`)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([result.swept, *CSV_COLUMNS[1:]])
    for p in result.points:
        mix = ";".join(f"{m.offering}{'#spot' if m.spot else ''}={m.instances}" for m in p.mix)
        writer.writerow(
            [
                f"{p.value:g}",
                p.status,
                _csv_num(p.total_cost_usd_per_hour),
                p.total_gpus,
                p.total_instances,
                _csv_num(p.best_single_offering_cost_usd_per_hour),
                _csv_num(p.saving_vs_best_single_pct),
                _csv_num(p.worst_ttft_pct_of_slo),
                _csv_num(p.worst_tpot_pct_of_slo),
                mix,
            ]
        )
    return buf.getvalue()


def _csv_num(v: float | None) -> str:
    return "" if v is None else f"{v:.6g}"
