"""Reports of a multi-period plan (`gpuplan schedule`): terminal text and Markdown, one layout.

The fleet per period is a table with a bar per row (instances running: committed `#`, hourly `=`, spot
`~`), which is the chart: one line per period reads as the week's shape.
"""

from __future__ import annotations

from planner.report import _fmt as f
from planner.schedule_result import CommitmentOption, PeriodFleet, Schedule

BAR_WIDTH = 30


def _when(p: PeriodFleet, period_s: float) -> str:
    """`d2 14:00` for hourly-or-finer periods that start on the hour, else the offset in hours."""
    hours = p.start_s / 3600.0
    if period_s <= 3600 and float(hours).is_integer():
        return f"d{int(hours // 24)} {int(hours % 24):02d}:00"
    return f"+{hours:g} h"


def _bar(p: PeriodFleet, most: int) -> str:
    scale = BAR_WIDTH / most if most > BAR_WIDTH else 1.0
    parts = ((p.committed_instances, "#"), (p.on_demand_instances, "="), (p.spot_instances, "~"))
    return "".join(ch * round(n * scale) for n, ch in parts)


def _commit_line(c: CommitmentOption) -> str:
    used = f"; the plan keeps them {f.pct(100 * c.utilisation, decimals=0)} busy" if c.utilisation is not None else ""
    be = f.pct(100 * c.break_even_utilisation, decimals=0) if c.break_even_utilisation is not None else "n/a"
    return (
        f"{c.instances} x {c.offering} for {c.term} at ${c.price_usd_per_hour:.4g}/h each "
        f"(hourly ${c.on_demand_usd_per_hour:.4g}/h; break-even at {be} utilisation{used}) [{c.commitment}]"
    )


def _option_line(c: CommitmentOption) -> str:
    be = f.pct(100 * c.break_even_utilisation, decimals=0) if c.break_even_utilisation is not None else "n/a"
    return (
        f"{c.offering} {c.term}: ${c.price_usd_per_hour:.4g}/h vs ${c.on_demand_usd_per_hour:.4g}/h, "
        f"break-even {be} ({c.confidence}, {c.as_of})"
    )


def _summary(s: Schedule) -> list[str]:
    days = s.horizon_hours / 24
    status = "optimal" if s.status == "optimal" else f"within {f.pct(100 * (s.solver.gap or 0), decimals=2)} of optimal"
    lines = [
        f"{s.periods} periods of {f.duration(s.period_s)} ({days:g} days), {status}",
        f"Total {f.usd(s.total_cost_usd)} over the horizon ({f.usd(s.mean_cost_usd_per_hour)}/h on average)",
    ]
    for b in s.baselines:
        if b.cost_usd is None:
            lines.append(f"  vs {b.name.replace('_', ' ')}: not solved ({b.status})")
            continue
        gap = (
            ""
            if b.status == "optimal"
            else f"; baseline within {f.pct(100 * (b.gap or 0), decimals=2)} of its optimum: saves at least "
            f"{f.pct(b.saving_at_least_pct)}"
        )
        lines.append(
            f"  vs {b.name.replace('_', ' ')} {f.usd(b.cost_usd)}: saves {f.pct(b.saving_pct)} "
            f"(at most {b.max_instances} instances{gap})"
        )
    return lines


def _sections(s: Schedule) -> list[tuple[str, list[str]]]:
    """(heading, lines) in report order, shared by both formats."""
    if s.status == "infeasible":
        return [("No plan", [*s.infeasible_reasons])]
    out: list[tuple[str, list[str]]] = [("Summary", _summary(s))]
    chosen = [c for c in s.commitments if c.instances]
    out.append(("Commit", [_commit_line(c) for c in chosen] or ["nothing: no commitment pays on this demand"]))
    others = [c for c in s.commitments if not c.instances]
    if others:
        out.append(("Commitments considered, not bought", [_option_line(c) for c in others]))
    curves = [
        f"{c.model}: {c.source}, peak {c.peak_rps:g} req/s, mean {c.mean_rps:g} req/s, scale x{c.scale:.6g}"
        for c in s.curves
    ]
    out.append(("Demand", curves))
    leads = sorted({(t.lead_s, t.instance_start_s, t.model_load_s, t.load_gb_per_s) for t in s.lead_times})
    out.append(
        (
            "Scale-up lead time",
            [f"{lead:g} s = start {start:g} s + weights {load:g} s at {gb_per_s:g} GB/s"
             for lead, start, load, gb_per_s in leads],
        )
    )
    out.append(("Assumptions", list(s.assumptions)))
    v = s.verification
    verdict = "ok" if v.passed else f"{len(v.violations)} violation(s): " + "; ".join(v.violations[:3])
    out.append(
        (
            "Solver",
            [
                f"{s.solver.name} {s.solver.status}, {s.solver.seconds:.2f} s, {s.solver.variables} variables, "
                f"{s.solver.constraints} rows (arrays built in {s.build_seconds:.2f} s)",
                f"verified: {verdict}",
            ],
        )
    )
    return out


def _fleet_rows(s: Schedule) -> list[tuple[str, ...]]:
    most = max((sum(p.instances.values()) for p in s.fleet), default=1) or 1
    return [
        (
            str(p.period),
            _when(p, s.period_s),
            f"{p.rate_rps:.3g}",
            str(p.committed_instances),
            str(p.on_demand_instances),
            str(p.spot_instances),
            str(p.started_instances),
            f"{p.cost_usd:.2f}",
            _bar(p, most),
        )
        for p in s.fleet
    ]


FLEET_HEAD = (
    "Period", "Starts", "req/s", "Commit", "Hourly", "Spot", "Started", "$", "Fleet (# commit = hourly ~ spot)"
)


def render_schedule_text(s: Schedule) -> str:
    head = f"gpuplan schedule: {s.name}" if s.name else "gpuplan schedule"
    lines = [head, ""]
    for title, body in _sections(s):
        lines += [title, *(f"  {x}" for x in body), ""]
    if s.fleet:
        rows = [FLEET_HEAD, *_fleet_rows(s)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(FLEET_HEAD) - 1)]
        lines.append("Fleet per period")
        for r in rows:
            cells = [c.ljust(w) if i == 1 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=False))]
            lines.append("  " + "  ".join(cells) + "  " + r[-1])
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("*", "\\*").replace("_", "\\_")


def render_schedule_markdown(s: Schedule) -> str:
    lines = [f"# gpuplan schedule{': ' + _md(s.name) if s.name else ''}", ""]
    for title, body in _sections(s):
        lines += [f"## {title}", "", *(f"- {_md(x.strip())}" for x in body), ""]
    if s.fleet:
        lines += ["## Fleet per period", "", "| " + " | ".join(FLEET_HEAD) + " |", "|" + "---|" * len(FLEET_HEAD)]
        for r in _fleet_rows(s):
            lines.append("| " + " | ".join(_md(c) if i < len(r) - 1 else f"`{c}`" for i, c in enumerate(r)) + " |")
        lines.append("")
    return "\n".join(lines)
