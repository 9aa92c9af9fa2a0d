"""The `gpuplan check` diff: a verdict line, what regressed, and a baseline-vs-plan table.

Terminal (rich) and Markdown (for the PR comment / step summary) show the same rows.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from planner.check import CheckResult, SliceDiff
from planner.report import _fmt as f
from planner.report.escape import md
from planner.report.markdown import plain_table as md_table
from planner.report.table import bullets, to_text

Row = tuple[str, str, str, str, str]  # metric, baseline, plan, change, status


def _signed_int(n: int) -> str:
    return f"{n:+d}" if n else "0"


def _verdict(result: CheckResult) -> str:
    names = f"{result.current_name or 'plan'} vs baseline {result.baseline_name or 'plan'}"
    if result.passed:
        return f"check passed: no regression beyond tolerance ({names})"
    n = len(result.regressions)
    return f"check FAILED: {n} regression{'s' if n != 1 else ''} ({names})"


def rows(result: CheckResult) -> list[Row]:
    """The diff table's rows, shared by both renderers."""
    out: list[Row] = []
    became_infeasible = result.baseline_status != "infeasible" and result.current_status == "infeasible"
    out.append(
        (
            "status",
            result.baseline_status,
            result.current_status,
            "",
            "FAIL" if became_infeasible else "",
        )
    )
    if not result.current_verified:
        out.append(("verification", "", "failed", "", "FAIL"))
    c = result.cost
    cost_status = (
        f"FAIL > {f.pct(c.tolerance_pct)}"
        if c.regression
        else ("" if c.change_pct is None else f"ok ≤ {f.pct(c.tolerance_pct)}")
    )
    out.append(
        (
            "cost $/h",
            f.usd(c.baseline_usd_per_hour),
            f.usd(c.current_usd_per_hour),
            f.pct(c.change_pct, signed=True, decimals=2),
            cost_status,
        )
    )
    out.append(
        ("GPUs", str(result.gpus.baseline), str(result.gpus.current), _signed_int(result.gpus.change), "")
    )
    out.append(
        (
            "instances",
            str(result.instances.baseline),
            str(result.instances.current),
            _signed_int(result.instances.change),
            "",
        )
    )
    labels = f.short_offering_labels(o.offering for o in result.offerings)
    for o in result.offerings:
        if o.baseline_instances != o.current_instances:
            out.append(
                (
                    f"  {labels[o.offering]} ({o.gpu})",
                    str(o.baseline_instances),
                    str(o.current_instances),
                    _signed_int(o.current_instances - o.baseline_instances),
                    "",
                )
            )
    many = len(result.models) > 1
    for m in result.models:
        if many:
            out.append(
                (
                    f"{m.model} $/h",
                    f.usd(m.baseline_cost_usd_per_hour),
                    f.usd(m.current_cost_usd_per_hour),
                    f.pct(_change(m.baseline_cost_usd_per_hour, m.current_cost_usd_per_hour), True),
                    "",
                )
            )
        for label, b, cur in (
            ("TTFT", m.baseline_worst_ttft_pct, m.current_worst_ttft_pct),
            ("TPOT", m.baseline_worst_tpot_pct, m.current_worst_tpot_pct),
        ):
            if b is None and cur is None:
                continue
            over = cur is not None and cur > 100 * (1 + 1e-9)
            out.append(
                (
                    f"{m.model}: worst {label}/SLO",
                    f.pct(b, decimals=0),
                    f.pct(cur, decimals=0),
                    "" if b is None or cur is None else f"{round(cur) - round(b):+d} pt",
                    "FAIL > SLO" if over else "",
                )
            )
    return out


def _change(base: float | None, cur: float | None) -> float | None:
    if base is None or cur is None or base == 0:
        return None
    return 100 * (cur - base) / base


def _notes(result: CheckResult) -> list[str]:
    notes = []
    if result.catalog_version_changed:
        notes.append("the catalog version differs between the two plans (prices or hardware data changed)")
    if result.spec_changed:
        notes.append("the spec differs between the two plans (spec_sha256)")
    return notes


MAX_CHANGED_ROWS = 10


def _flagged(result: CheckResult) -> tuple[list[SliceDiff], str]:
    """Buckets worth a row (every SLO miss; added/removed ones while few) and a line about the rest."""
    missed = [s for s in result.slices if s.status == "slo-missed"]
    changed = [s for s in result.slices if s.status in ("added", "removed")]
    if result.current_status == "infeasible":
        return missed, ""
    if len(changed) <= MAX_CHANGED_ROWS:
        return missed + changed, ""
    added = sum(s.status == "added" for s in changed)
    return (
        missed,
        f"{added} buckets added, {len(changed) - added} removed (the workload or its buckets changed)",
    )


def _slice_cells(s: SliceDiff) -> list[str]:
    return [
        s.model,
        f.length_range(s.input_len_range),
        f.length_range(s.output_len_range),
        f"{f.ms(s.baseline_worst_ttft_ms)} → {f.ms(s.current_worst_ttft_ms)} / {f.ms(s.slo_ttft_ms)}",
        f"{f.ms(s.baseline_worst_tpot_ms)} → {f.ms(s.current_worst_tpot_ms)} / {f.ms(s.slo_tpot_ms)}",
        s.status,
    ]


SLICE_HEADER = ["Model", "Input tok", "Output tok", "TTFT ms", "TPOT ms", "Status"]
SLICE_TITLE = "Buckets that missed an SLO, or were added or removed (ms: baseline → plan / SLO)"


def render_check_table(result: CheckResult) -> RenderableType:
    """The check verdict and diff for a terminal."""
    parts: list[RenderableType] = [
        Text(_verdict(result), style="bold green" if result.passed else "bold red")
    ]
    if result.regressions:
        parts.append(bullets(result.regressions))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name, justify in (  # the metric never wraps; the status column is short
        ("Metric", "left"),
        ("Baseline", "right"),
        ("Plan", "right"),
        ("Change", "right"),
        ("Status", "left"),
    ):
        table.add_column(name, justify=justify, no_wrap=name == "Metric")  # type: ignore[arg-type]
    for row in rows(result):
        table.add_row(*row[:4], Text(row[4], style="bold red" if row[4].startswith("FAIL") else "green"))
    parts += [Text(""), table]
    flagged, more = _flagged(result)
    if flagged:
        st = Table(
            box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=SLICE_TITLE, title_justify="left"
        )
        for i, name in enumerate(SLICE_HEADER):
            st.add_column(name, justify="right" if i in (1, 2, 3, 4) else "left", no_wrap=i > 0)
        for s in flagged:
            st.add_row(*_slice_cells(s))
        parts += [Text(""), st]
    if more:
        parts.append(Text(more))
    parts += [Text(f"note: {n}", style="yellow") for n in _notes(result)]
    return Group(*parts)


def render_check_text(result: CheckResult) -> str:
    return to_text(render_check_table(result))


def render_check_markdown(result: CheckResult) -> str:
    """The check verdict and diff as Markdown, for a PR comment or step summary."""
    icon = "✅" if result.passed else "❌"
    out = [f"### {icon} gpuplan check", "", f"**{md(_verdict(result))}**", ""]
    out += [f"- {md(r)}" for r in result.regressions]
    if result.regressions:
        out.append("")
    out += md_table(
        ["Metric", "Baseline", "Plan", "Change", "Status"],
        [[m, b, p, c, s] for m, b, p, c, s in rows(result)],
        "lrrrl",
    )
    out.append("")
    flagged, more = _flagged(result)
    if flagged:
        out += [SLICE_TITLE + ":", ""]
        out += md_table(SLICE_HEADER, [_slice_cells(s) for s in flagged], "lrrrrl")
        out.append("")
    if more:
        out += [md(more), ""]
    out += [f"> note: {md(n)}" for n in _notes(result)]
    if _notes(result):
        out.append("")
    return "\n".join(out)
