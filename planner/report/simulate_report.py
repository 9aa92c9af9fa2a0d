"""The `gpuplan simulate` report: SLO attainment by the statistic each target names, latency percentiles,
replicas, the worst buckets and a timeline of load and KV occupancy.

Terminal (rich) and Markdown show the same rows; `plot_simulation` draws the timeline and latency CDFs
(matplotlib, the optional `plot` extra).
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from planner.report import _fmt as f
from planner.report.escape import md
from planner.report.markdown import plain_table as md_table
from planner.report.plot import _matplotlib, _save
from planner.report.table import bullets, to_text
from planner.simulate.result import (
    BucketSimulation,
    Latencies,
    ModelSimulation,
    SimulationResult,
    TargetAttainment,
)

BUCKET_ROWS = 10
SPARK = "▁▂▃▄▅▆▇█"


def headline(result: SimulationResult) -> str:
    s = result.settings
    name = result.name or "plan"
    verdict = "every SLO met" if result.slo_met else "SLO MISSED"
    return f"{name}: simulated {s.requests_simulated:,} requests over {f.num(round(s.duration_s, 1))} s; {verdict}"


def settings_line(result: SimulationResult) -> str:
    s = result.settings
    kinds = sorted(set(s.arrivals))
    arrivals = "/".join(kinds)
    if "gamma" in kinds and s.burstiness_cv is not None:
        arrivals += f" (CV {s.burstiness_cv:g})"
    rate = "the planned rate" if s.rate_factor == 1.0 else f"{s.rate_factor:g}x the planned rate"
    if s.recorded_pace:
        rate = "the trace's recorded pace" + ("" if kinds == ["trace"] else f" (others at {rate})")
    parts = [f"arrivals {arrivals} at {rate}", f"routing {s.routing}", f"seed {s.seed}"]
    if s.warmup_s:
        parts.append(f"warm-up {f.num(s.warmup_s)} s not counted")
    if s.preemption != "engine":
        parts.append(f"preemption {s.preemption}")
    if s.prefix_cache_hit:
        parts.append(f"prefix-cache hit {100 * s.prefix_cache_hit:g}% of prompt tokens")
    return ", ".join(parts)


def target_label(t: TargetAttainment) -> str:
    """`p99 TTFT`, `mean TPOT`: the statistic is always named."""
    return f"{t.statistic} {t.metric.upper()}"


def target_cells(t: TargetAttainment) -> list[str]:
    mark = "✓" if t.met else "✗"
    return [
        target_label(t),
        f"{f.ms(t.target_ms)} ms",
        f"{f.ms(t.achieved_ms)} ms {mark}",
        f.pct(100 * t.within_target_share),
    ]


def latency_rows(lat: Latencies) -> list[list[str]]:
    out = []
    for name, s in (("TTFT", lat.ttft), ("TPOT", lat.tpot), ("E2E", lat.e2e), ("Queue", lat.queue)):
        out.append([name, f.ms(s.mean_ms), f.ms(s.p50_ms), f.ms(s.p90_ms), f.ms(s.p99_ms), f.ms(s.max_ms)])
    return out


LAT_HEADER = ["Latency ms", "mean", "p50", "p90", "p99", "max"]
SLO_HEADER = ["Target", "SLO", "Simulated", "Within SLO"]
GROUP_HEADER = ["Replicas", "Requests", "Busy", "KV mean/peak", "Max run", "Preempt", "TTFT p99", "TPOT p99"]
BUCKET_HEADER = ["Input tok", "Output tok", "Requests", "TTFT p50/p99", "TPOT p50/p99", "Within SLO"]


def model_line(m: ModelSimulation) -> str:
    extra = []
    if m.rejected:
        extra.append(f"{m.rejected:,} rejected (cannot fit a replica)")
    if m.preemptions:
        extra.append(f"{m.preemptions:,} preemptions")
    if m.unplanned_requests:
        extra.append(f"{m.unplanned_requests:,} outside the planned buckets")
    tail = ("; " + ", ".join(extra)) if extra else ""
    return (
        f"{m.model}: {f.num(round(m.offered_rps, 3))} req/s offered, {m.requests:,} requests; goodput "
        f"{f.num(round(m.goodput_rps, 3))} req/s ({f.pct(100 * m.goodput_share)} within every target){tail}"
    )


def group_cells(result: SimulationResult) -> tuple[list[str], list[list[str]]]:
    labels = f.short_offering_labels(g.offering for g in result.groups)
    rows = []
    for g in result.groups:
        config = g.candidate.rsplit("/", 2)
        what = "/".join(config[-2:]) if len(config) >= 3 else g.candidate
        rows.append(
            [
                f"{g.replicas}x {labels[g.offering]} {what}",
                f"{g.requests:,}",
                f.pct(100 * g.utilisation, decimals=0),
                f"{f.pct(100 * g.kv_occupancy_mean, decimals=0)} / {f.pct(100 * g.kv_occupancy_peak, decimals=0)}",
                str(g.running_peak),
                f"{g.preemptions:,}",
                f.ms(g.latencies.ttft.p99_ms),
                f.ms(g.latencies.tpot.p99_ms),
            ]
        )
    return GROUP_HEADER, rows


def worst_buckets(result: SimulationResult, model: str) -> tuple[list[BucketSimulation], int]:
    """The buckets with the lowest within-SLO share (then the busiest), and how many are left out."""
    rows = [b for b in result.buckets if b.model == model and b.requests > 0]
    rows.sort(key=lambda b: (b.within_slo_share, -b.requests, b.slice))
    return rows[:BUCKET_ROWS], max(0, len(rows) - BUCKET_ROWS)


def bucket_cells(b: BucketSimulation) -> list[str]:
    return [
        f.length_range(b.input_len_range),
        f.length_range(b.output_len_range),
        f"{b.requests:,}",
        f"{f.ms(b.ttft_p50_ms)} / {f.ms(b.ttft_p99_ms)}",
        f"{f.ms(b.tpot_p50_ms)} / {f.ms(b.tpot_p99_ms)}",
        f.pct(100 * b.within_slo_share),
    ]


def sparkline(values: list[float], top: float = 1.0) -> str:
    """Unicode blocks, 0..top."""
    out = []
    for v in values:
        x = 0.0 if top <= 0 else min(max(v / top, 0.0), 1.0)
        out.append(SPARK[min(len(SPARK) - 1, int(x * (len(SPARK) - 1) + 0.5))])
    return "".join(out)


def timeline_lines(result: SimulationResult) -> list[str]:
    pts = result.timeline
    if not pts:
        return []
    peak_rate = max(p.arrivals for p in pts) or 1
    w = result.window_s
    return [
        f"Timeline, {len(pts)} windows of {f.num(round(w, 3))} s (0 to 100%):",
        f"  busy      {sparkline([p.utilisation for p in pts])}",
        f"  KV mean   {sparkline([p.kv_occupancy for p in pts])}",
        f"  arrivals  {sparkline([float(p.arrivals) for p in pts], float(peak_rate))}"
        f"  (peak {peak_rate / w:.3g} req/s)",
    ]


def littles_line(result: SimulationResult) -> str:
    ll = result.littles_law
    return (
        f"Little's law: {ll.mean_in_system:.3g} requests in the system on average = {ll.arrival_rate_rps:.4g} req/s x "
        f"{ll.mean_sojourn_s:.4g} s (relative error {ll.relative_error:.1e})"
    )


def _rich_table(header: list[str], rows: list[list[str]], left: int = 1, title: str | None = None) -> Table:
    t = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title, title_justify="left")
    for i, name in enumerate(header):
        t.add_column(
            name, justify="left" if i < left else "right", no_wrap=i >= left, min_width=12 if i < left else None
        )
    for r in rows:
        t.add_row(*r)
    return t


def render_simulation_table(result: SimulationResult) -> RenderableType:
    """The simulation for a terminal."""
    parts: list[RenderableType] = [
        Text(headline(result), style="bold" if result.slo_met else "bold red"),
        Text(settings_line(result), style="dim"),
    ]
    for m in result.models:
        parts += [Text(""), Text(model_line(m), style="bold")]
        parts.append(_rich_table(SLO_HEADER, [target_cells(t) for t in m.slo]))
        parts += [Text(""), _rich_table(LAT_HEADER, latency_rows(m.latencies))]
        shown, more = worst_buckets(result, m.model)
        if len(shown) > 1:
            title = "Buckets, least within SLO first, ms" + (f" ({more} more in --format json)" if more else "")
            parts += [Text(""), _rich_table(BUCKET_HEADER, [bucket_cells(b) for b in shown], left=0, title=title)]
    header, rows = group_cells(result)
    parts += [Text(""), _rich_table(header, rows, title="Replicas (busy: share of time running an iteration)")]
    parts += [Text("")] + [Text(line) for line in timeline_lines(result)]
    parts += [Text(""), Text(littles_line(result), style="dim")]
    for line in result.settings.scheduler:
        parts.append(Text(f"scheduler {line}", style="dim"))
    if result.notes:
        parts += [Text(""), bullets(result.notes)]
    return Group(*parts)


def render_simulation_text(result: SimulationResult) -> str:
    return to_text(render_simulation_table(result))


def render_simulation_markdown(result: SimulationResult) -> str:
    icon = "✅" if result.slo_met else "❌"
    out = [f"### {icon} gpuplan simulate", "", f"**{md(headline(result))}**", "", md(settings_line(result)), ""]
    for m in result.models:
        out += [f"#### {md(model_line(m))}", ""]
        out += md_table(SLO_HEADER, [target_cells(t) for t in m.slo], "lrrr")
        out.append("")
        out += md_table(LAT_HEADER, latency_rows(m.latencies), "lrrrrr")
        out.append("")
        shown, more = worst_buckets(result, m.model)
        if len(shown) > 1:
            out += ["<details><summary>Buckets, least within SLO first</summary>", ""]
            out += md_table(BUCKET_HEADER, [bucket_cells(b) for b in shown], "rrrrrr")
            if more:
                out += ["", f"{more} more buckets in `--format json`."]
            out += ["", "</details>", ""]
    header, rows = group_cells(result)
    out += md_table(header, rows, "l" + "r" * (len(header) - 1))
    out += ["", "```"] + timeline_lines(result) + ["```", "", littles_line(result), ""]
    out += [f"- scheduler {md(line)}" for line in result.settings.scheduler]
    out += [f"- {md(n)}" for n in result.notes]
    out.append("")
    return "\n".join(out)


def plot_simulation(result: SimulationResult, path: Path) -> None:
    """Utilisation, KV occupancy and arrivals over time (top), and per-model latency percentiles (bottom)."""
    plt = _matplotlib()
    pts = result.timeline
    with plt.rc_context({"svg.hashsalt": "gpuplan", "font.size": 9}):
        fig, (ax, bx) = plt.subplots(2, 1, figsize=(8, 6.5), dpi=120)
        try:
            x = [p.start_s for p in pts]
            ax.plot(x, [100 * p.utilisation for p in pts], label="busy %", color="#1f6feb")
            ax.plot(x, [100 * p.kv_occupancy for p in pts], label="KV mean %", color="#2da44e")
            ax.plot(x, [100 * p.kv_occupancy_peak for p in pts], label="KV peak %", color="#2da44e", linestyle=":")
            ax.set_ylim(0, 105)
            ax.set_xlabel("time s")
            ax.set_ylabel("% of the fleet")
            ax2 = ax.twinx()
            w = result.window_s
            ax2.plot(x, [p.arrivals / w for p in pts], label="arrivals req/s", color="#8b949e", alpha=0.6)
            ax2.set_ylabel("req/s")
            ax.legend(loc="upper left", fontsize=8)
            ax.set_title(headline(result))
            stats = ["p50", "p90", "p99"]
            for m in result.models:
                for metric, lat, style in (("TTFT", m.latencies.ttft, "-"), ("TPOT", m.latencies.tpot, "--")):
                    vals = [lat.p50_ms, lat.p90_ms, lat.p99_ms]
                    if any(v is None for v in vals):
                        continue
                    bx.plot(stats, vals, marker="o", linestyle=style, label=f"{m.model} {metric}")
                for t in m.slo:
                    if t.statistic in stats:
                        bx.scatter([t.statistic], [t.target_ms], marker="_", s=300, color="#cf222e")
            bx.set_yscale("log")
            bx.set_ylabel("ms (red: targets)")
            bx.legend(loc="best", fontsize=8)
            bx.grid(True, alpha=0.3)
            fig.tight_layout()
            _save(fig, path)
        finally:
            plt.close(fig)
