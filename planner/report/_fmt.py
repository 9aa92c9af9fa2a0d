"""Plan-derived labels shared by every report, so the terminal and Markdown agree.

Numbers are written by planner.report.numbers; its functions are re-exported here (`__all__`), so a
renderer reads every format as `f.<name>`.

Everything here is a pure function of a `Plan` (or a number); nothing prints.
"""

from __future__ import annotations

from collections.abc import Iterable

from planner.check import slo_ratio as slo_ratio
from planner.check import within as within  # re-exported for the renderers
from planner.check import worst_latency as worst_latency
from planner.check import worst_slo_ratios as worst_slo_ratios
from planner.report.numbers import (
    DASH,
    NO_BOUND_GAP,
    NO_SLO_MS,
    duration,
    gap_words,
    length_range,
    ms,
    num,
    pct,
    price,
    saving,
    slo_ms,
    slo_pair,
    usd,
)
from planner.result import Allocation, Baseline, Plan, ReplicaGroup, RouteShare, SliceRoute

__all__ = [  # the number formats, re-exported; everything defined below is public too
    "DASH",
    "NO_BOUND_GAP",
    "NO_SLO_MS",
    "duration",
    "gap_words",
    "length_range",
    "ms",
    "num",
    "pct",
    "price",
    "saving",
    "slo_ms",
    "slo_pair",
    "usd",
]


def _split(offering_id: str) -> tuple[str, str, str]:
    parts = offering_id.split(":")
    if len(parts) >= 3:
        return parts[0], ":".join(parts[1:-1]), parts[-1]
    return "", "", offering_id


def offering_ids(plan: Plan) -> tuple[str, ...]:
    """Every offering id a plan mentions, sorted."""
    ids: set[str] = {a.offering for a in plan.allocations}
    ids.update(b.offering for b in plan.baselines)
    ids.update(r.offering for s in plan.routing for r in s.routes)
    return tuple(sorted(ids))


def short_offering_labels(ids: Iterable[str]) -> dict[str, str]:
    """The shortest unambiguous label per offering id: `g6.2xlarge`, else `aws:g6.2xlarge`, else the id."""
    ids = sorted(set(ids))
    splits = {i: _split(i) for i in ids}
    labels: dict[str, str] = {}
    for with_cloud in (False, True):
        made = {
            i: (f"{splits[i][0]}:{splits[i][2]}" if with_cloud and splits[i][0] else splits[i][2])
            for i in ids
        }
        counts: dict[str, int] = {}
        for label in made.values():
            counts[label] = counts.get(label, 0) + 1
        for i in ids:
            if i not in labels and counts[made[i]] == 1:
                labels[i] = made[i]
    for i in ids:
        labels.setdefault(i, i)
    return labels


def replica_groups(plan: Plan) -> dict[str, ReplicaGroup]:
    """Candidate id -> its replica group (a candidate sits on exactly one offering)."""
    return {g.candidate: g for a in plan.allocations for g in a.replicas}


def precision(group: ReplicaGroup) -> str:
    """`bf16` when weights and KV cache agree, else `fp8/bf16` (weights/KV)."""
    return group.weights if group.weights == group.kv else f"{group.weights}/{group.kv}"


def shape(group: ReplicaGroup) -> str:
    """`tp8`, `tp8pp2`, `tp16ep16`: what one replica is."""
    return f"tp{group.tp}" + (f"pp{group.pp}" if group.pp > 1 else "") + (f"ep{group.ep}" if group.ep > 1 else "")


def candidate_label(
    plan: Plan, candidate: str, offering: str, labels: dict[str, str], route: RouteShare | None = None
) -> str:
    """How a route target reads in a report: `g6.2xlarge tp1 bf16`; a disaggregated pair:
    `p5.48xlarge tp2 bf16 → p4de.24xlarge tp4 (KV 12 ms)`."""
    groups = replica_groups(plan)
    if route is not None and route.decode_candidate is not None:
        pre = groups.get(candidate.split(">", 1)[0])
        dec = groups.get(route.decode_candidate)
        where_p = labels.get(offering, offering)
        where_d = labels.get(route.decode_offering or "", route.decode_offering or "")
        left = f"{where_p} {shape(pre)} {precision(pre)}" if pre is not None else where_p
        right = f"{where_d} {shape(dec)}" if dec is not None else where_d
        kv = f" (KV {ms(route.kv_transfer_ms)} ms)" if route.kv_transfer_ms is not None else ""
        return f"{left} → {right}{kv}"
    group = groups.get(candidate)
    where = labels.get(offering, offering)
    if group is None:
        return f"{where} {candidate}"
    return f"{where} {shape(group)} {precision(group)}"


def gpu_names(plan: Plan) -> dict[str, str]:
    """Offering id -> GPU id, from allocations and baselines."""
    out = {b.offering: b.gpu for b in plan.baselines}
    out.update({a.offering: a.gpu for a in plan.allocations})
    return out


def routed_models(plan: Plan) -> list[str]:
    """Models that have routed buckets, in the plan's model order (then order of first appearance)."""
    order = [m.model for m in plan.models] + [s.model for s in plan.routing]
    routed = {s.model for s in plan.routing}
    return [m for i, m in enumerate(order) if m in routed and m not in order[:i]]


def summary(plan: Plan) -> tuple[str, str]:
    """The plan at a glance: (cost, GPUs and instances; the saving against the best single offering)."""
    title = plan.name or "plan"
    if plan.status == "infeasible":
        n = len(plan.infeasible_reasons)
        what = "no plan" if plan.solver.status in ("not_solved", "unbounded") else "infeasible"
        return f"{title}: {what} ({n} reason{'s' if n != 1 else ''} below)", ""
    gpus = f"{plan.total_gpus} GPU{'s' if plan.total_gpus != 1 else ''}"
    inst = f"{plan.total_instances} instance{'s' if plan.total_instances != 1 else ''}"
    main = f"{title}: {usd(plan.total_cost_usd_per_hour)}/h for {gpus} on {inst}"
    if plan.status == "gap":
        main += f" (solver stopped early: {gap_words(plan.solver.gap)})"
    best = plan.baselines[0] if plan.baselines else None
    text = ""
    if best is not None and plan.total_cost_usd_per_hour is not None:
        label = short_offering_labels(offering_ids(plan))[best.offering]
        if best.disaggregated:
            label += " with prefill/decode pools"
        shown = saving(plan.total_cost_usd_per_hour, best.cost_usd_per_hour)
        if shown in ("0.0%", DASH):
            text = f"the same as the best single offering ({best.instances}× {label})"
        elif shown.startswith("-"):  # only when the solver stopped early
            text = (
                f"{shown[1:]} above the best single offering"
                f" ({best.instances}× {label} at {usd(best.cost_usd_per_hour)}/h)"
            )
        else:
            text = (
                f"{shown} below the best single offering"
                f" ({best.instances}× {label} at {usd(best.cost_usd_per_hour)}/h)"
            )
    return main, text


def baseline_gpu(b: Baseline) -> str:
    """A baseline's GPU cell: says when its plan splits prefill and decode into pools of the offering."""
    return f"{b.gpu} (prefill/decode pools)" if b.disaggregated else b.gpu


def headline(plan: Plan) -> str:
    """The summary as one line."""
    main, saving = summary(plan)
    return f"{main}, {saving}" if saving else main


def assumption_lines(plan: Plan) -> list[tuple[str, str]]:
    """(label, value) pairs: catalog version, spec hash, then the plan's assumptions in their order."""
    rows: list[tuple[str, str]] = [("catalog version", plan.catalog_version)]
    for key, value in plan.assumptions.items():
        if value == "":
            continue
        shown = ("yes" if value else "no") if isinstance(value, bool) else str(value)
        rows.append((key.replace("_", " "), shown))
    if plan.measured_profiles_used:
        rows.append(("measured profiles", ", ".join(plan.measured_profiles_used)))
    rows.append(("spec sha256", plan.spec_sha256[:12]))
    return rows


def solver_line(plan: Plan) -> str:
    s = plan.solver
    if s.status == "gap":
        gap = f", stopped early: {gap_words(s.gap)}"
    else:
        gap = "" if s.gap is None else f", gap {pct(100 * s.gap, decimals=2)}"
    return (
        f"{s.name} {s.status} in {s.seconds:.2f} s{gap}; "
        f"{s.variables:,} variables, {s.constraints:,} constraints"
    )


def verification_line(plan: Plan, verbose: bool = True) -> str:
    v = plan.verification
    if plan.status == "infeasible":
        return "not run (no plan)"
    if v.passed:
        if not v.checks:
            return "passed"
        return f"passed ({', '.join(v.checks)})" if verbose else f"passed ({len(v.checks)} checks)"
    return f"FAILED: {'; '.join(v.violations)}"


BUCKET_ROWS_TERMINAL = 12
BUCKET_ROWS_MARKDOWN = 100
BASELINE_ROWS = 5


def group_text(group: ReplicaGroup) -> str:
    """`4× llama-3.1-8b tp1 bf16, util 79%` (+ where the capacity came from when not estimated)."""
    util = pct(100 * group.utilisation, decimals=0)
    role = f"{group.role} " if group.role != "aggregated" else ""
    span = f" on {group.nodes} instances each" if group.nodes > 1 else ""
    text = f"{group.replicas}× {group.model} {role}{shape(group)} {precision(group)}{span}, util {util}"
    return text if group.capacity_source == "estimate" else f"{text} ({group.capacity_source})"


def comparison_rows(plan: Plan) -> list[tuple[str, str, str, str, str]]:
    """Per model: (model, how the plan serves it, cheapest aggregated $/h, cheapest disaggregated $/h,
    verdict) of the model planned alone."""
    rows = []
    for m in plan.models:
        c = m.comparison
        if c is None:
            continue
        rows.append(
            (
                m.model,
                m.shape or DASH,
                usd(c.aggregated_usd_per_hour) if c.aggregated_usd_per_hour is not None else DASH,
                usd(c.disaggregated_usd_per_hour) if c.disaggregated_usd_per_hour is not None else DASH,
                c.verdict
                + (f"; pools: {c.disaggregated_shape}" if c.disaggregated_shape and "disagg" not in m.shape else ""),
            )
        )
    return rows


def model_slices(plan: Plan, model: str) -> list[SliceRoute]:
    return [s for s in plan.routing if s.model == model]


def select_buckets(slices: list[SliceRoute], limit: int) -> tuple[list[SliceRoute], int, float]:
    """At most `limit` buckets worth showing, in plan order: every SLO miss, the tightest TTFT and TPOT
    buckets, then the busiest. Returns (shown, number omitted, req/s omitted)."""
    if len(slices) <= limit:
        return slices, 0, 0.0
    keep: set[int] = set()
    for k, s in enumerate(slices):
        t, p = worst_latency(s)
        if (s.slo_ttft_statistic == "mean" and within(t, s.slo_ttft_ms) is False) or (
            s.slo_tpot_statistic == "mean" and within(p, s.slo_tpot_ms) is False
        ):
            keep.add(k)

    def ratio(k: int, which: int) -> float:
        s = slices[k]
        r = slo_ratio(worst_latency(s)[which], s.slo_ttft_ms if which == 0 else s.slo_tpot_ms)
        return -1.0 if r is None else r

    keep.add(max(range(len(slices)), key=lambda k: (ratio(k, 0), -k)))
    keep.add(max(range(len(slices)), key=lambda k: (ratio(k, 1), -k)))
    for k in sorted(range(len(slices)), key=lambda k: (-slices[k].rate_rps, k)):
        if len(keep) >= limit:
            break
        keep.add(k)
    shown = [s for k, s in enumerate(slices) if k in keep]
    omitted = [s for k, s in enumerate(slices) if k not in keep]
    return shown, len(omitted), sum(s.rate_rps for s in omitted)


Target = tuple[str, int, float, float, "float | None", "float | None"]


def route_summary(plan: Plan, model: str, labels: dict[str, str]) -> list[Target]:
    """Per serving target of a model, busiest first: (label, buckets, req/s, % of the model's traffic,
    worst TTFT %, worst TPOT % of SLO)."""
    slices = model_slices(plan, model)
    total = sum(s.rate_rps for s in slices) or 1.0
    rate: dict[tuple[str, str], float] = {}
    count: dict[tuple[str, str], int] = {}
    ttft: dict[tuple[str, str], list[float]] = {}
    tpot: dict[tuple[str, str], list[float]] = {}
    sample: dict[tuple[str, str], RouteShare] = {}
    for s in slices:
        for r in s.routes:
            if r.share <= 0:
                continue
            key = (r.candidate, r.offering)
            sample.setdefault(key, r)
            rate[key] = rate.get(key, 0.0) + r.rate_rps
            count[key] = count.get(key, 0) + 1
            t, p = slo_ratio(r.ttft_ms, s.slo_ttft_ms), slo_ratio(r.tpot_ms, s.slo_tpot_ms)
            ttft.setdefault(key, []).extend([] if t is None else [t])
            tpot.setdefault(key, []).extend([] if p is None else [p])
    rows: list[Target] = [
        (
            candidate_label(plan, c, o, labels, sample[(c, o)] if sample[(c, o)].decode_candidate else None),
            count[(c, o)],
            rate[(c, o)],
            100 * rate[(c, o)] / total,
            max(ttft[(c, o)], default=None),
            max(tpot[(c, o)], default=None),
        )
        for c, o in rate
    ]
    return sorted(rows, key=lambda r: (-r[2], r[0]))


PRICE_MARKS = {"uncertain": "?", "suspect": "!", "overridden": "*"}
PRICE_LEGEND = {"?": "? uncertain in its source", "!": "! looks wrong, verify", "*": "* overridden by you"}


def flagged_price(a: Allocation, markdown: bool = False) -> str:
    """The price per instance with the marks of its flags: `$98.32 ?` (in Markdown as code, so `*` stays)."""
    mark = "".join(PRICE_MARKS[flag] for flag in PRICE_MARKS if flag in a.price_flags)
    if mark and markdown:
        mark = f"`{mark}`"
    return price(a.price_usd_per_hour) + (f" {mark}" if mark else "")


def price_legend(plan: Plan, markdown: bool = False) -> str:
    """What the marks next to prices mean (only those used), or '' when no price is flagged."""
    used = {PRICE_MARKS[flag] for a in plan.allocations for flag in a.price_flags}
    if not used:
        return ""
    parts = [f"`{mark}`{text[1:]}" if markdown else text for mark, text in PRICE_LEGEND.items() if mark in used]
    return "Price marks: " + "; ".join(parts) + " (see Assumptions: price trust)"


def slo_cell(ttft_ms: float, ttft_stat: str, tpot_ms: float, tpot_stat: str) -> str:
    """`mean 1,000 / p90 50.0` for a table cell whose header says TTFT/TPOT ms."""
    return f"{ttft_stat} {slo_ms(ttft_ms)} / {tpot_stat} {slo_ms(tpot_ms)}"


def has_percentiles(plan: Plan) -> bool:
    return any(m.slo_ttft_statistic != "mean" or m.slo_tpot_statistic != "mean" for m in plan.models)


def slo_check_lines(plan: Plan) -> list[str]:
    """How the plan met its percentile targets in simulation: a summary line, then one line per model."""
    c = plan.slo_check
    if c is None:
        return []
    verdict = "met" if c.met else "NOT met"
    head = (
        f"percentile SLOs {verdict} in a simulation of the fleet ({c.requests:,} requests, {c.arrivals}, "
        f"seed {c.seed}; {c.rounds} planning round{'s' if c.rounds != 1 else ''})"
    )
    lines = [head]
    models: dict[str, list[str]] = {}
    for t in c.targets:
        mark = "✓" if t.met else "✗"
        models.setdefault(t.model, []).append(
            f"{t.statistic} {t.metric.upper()} {ms(t.simulated_ms)} ms ≤ {ms(t.target_ms)} ms {mark}"
        )
    for model, parts in models.items():
        lines.append(f"{model}: " + ", ".join(parts))
    return lines
