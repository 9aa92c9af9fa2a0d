"""The assumptions a plan states: the search space, where prices and engine factors come from, and what was
left out or substituted, as the flat `assumptions` mapping of the Plan."""

from __future__ import annotations

from collections.abc import Sequence

from catalog.loader import shipped_catalog
from catalog.trust import Flag, age_days, marks, price_flags, price_overridden, price_reasons, reference_date
from planner.candidates import precision_notes
from planner.capacity import ModelCapacity
from planner.inputs import PlanInputs
from planner.offerings import PricedOffering, select_offerings
from planner.perf import engine_profile
from planner.perf.profiles import profile_grade
from planner.result import Allocation


def assumptions(
    inputs: PlanInputs, models: Sequence[ModelCapacity], used: Sequence[PricedOffering], solver_note: str = ""
) -> dict[str, str | float | int | bool]:
    """What a reader of the plan must know about how it was made: search space, prices' dates, engine
    calibration, precision substitutions, trace rows skipped, solver notes, what was left out."""
    s = inputs.spec.search
    as_of = sorted({po.offering.as_of for po in used})
    out: dict[str, str | float | int | bool] = {
        "engine": s.engine,
        "target_utilisation": s.target_utilisation,
        "gpu_memory_utilization": s.gpu_memory_utilization,
        "tp_degrees": ",".join(str(t) for t in s.tp),
        "weights": ",".join(s.weights),
        "kv_cache": ",".join(s.kv),
        "routing_mode": inputs.spec.solver.mode,
        "prices_as_of": " .. ".join([as_of[0], as_of[-1]]) if len(as_of) > 1 else (as_of[0] if as_of else ""),
        "price_age": _price_age(used),
        "price_trust": _price_trust(inputs, used),
        "spot_allowed": inputs.spec.offerings.spot,
    }
    dropped = _dropped_note(models)
    if dropped:
        out["offerings_dropped"] = dropped
    calibration = _calibration_note(inputs, used)
    if calibration:
        out["calibration"] = calibration
    precision = "; ".join(precision_notes(select_offerings(inputs.catalog, inputs.spec.offerings), s))
    if precision:
        out["precision"] = precision
    skipped = _trace_rows_skipped(models)
    if skipped:
        out["trace_rows_skipped"] = skipped
    if solver_note:
        out["solver_note"] = solver_note
    notes = "; ".join(n for m in models for n in m.notes)
    if notes:
        out["notes"] = notes
    return out


def margin_note(inputs: PlanInputs, allocations: Sequence[Allocation]) -> dict[str, str | float | int | bool]:
    """Which share of its estimated capacity each planned candidate held back (search.capacity_margin)."""
    policy = inputs.spec.search.capacity_margin
    if policy is None:
        return {}
    groups = sorted({(g.candidate, g.capacity_margin, g.capacity_grade) for a in allocations for g in a.replicas})
    per = ", ".join(f"{cid} {m * 100:.0f} % ({grade})" for cid, m, grade in groups)
    how = "auto: the p90 edge of the cross-validated error of each candidate's regime" if policy == "auto" else policy
    return {"capacity_margin": f"{how}; {per}" if per else str(how)}


def price_trust(inputs: PlanInputs, po: PricedOffering) -> tuple[tuple[Flag, ...], tuple[str, ...]]:
    """(flags, reasons) of the price the plan pays for `po`."""
    shipped = shipped_catalog().offerings.get(po.offering.id)
    over = po.id in inputs.spec.offerings.price_overrides or price_overridden(po.offering, shipped, spot=po.spot)
    return (
        price_flags(po.offering, spot=po.spot, overridden=over),
        price_reasons(po.offering, spot=po.spot, overridden=over),
    )


def _price_age(used: Sequence[PricedOffering]) -> str:
    """How old the plan's prices are at most, counted to today (or SOURCE_DATE_EPOCH)."""
    if not used:
        return ""
    today = reference_date()
    ages = [age_days(po.offering.as_of, today) for po in used]
    known = [a for a in ages if a is not None]
    undated = sorted({po.offering.id for po, a in zip(used, ages, strict=True) if a is None})
    parts = [f"at most {max(known)} days old on {today.isoformat()}"] if known else []
    if undated:
        parts.append("undated: " + ", ".join(undated))
    return "; ".join(parts)


def _price_trust(inputs: PlanInputs, used: Sequence[PricedOffering]) -> str:
    """Every flagged price the plan pays, with its mark and reason; what the filters left out."""
    parts = []
    for po in used:
        flags, reasons = price_trust(inputs, po)
        if flags:
            parts.append(f"{po.id} {marks(flags)} ({'; '.join(reasons)})")
    text = "flagged prices used: " + ", ".join(parts) if parts else "no flagged price used"
    if not inputs.spec.offerings.include_uncertain:
        text += "; prices uncertain in their source left out (offerings.include_uncertain: false)"
    return text


def _dropped_note(models: Sequence[ModelCapacity]) -> str:
    """How many offerings other ones stood in for (same shape at no higher price)."""
    if not models or not models[0].model.dropped:
        return ""
    dropped = models[0].model.dropped
    kept = len(models[0].model.offerings)
    return (
        f"{len(dropped)} of {kept + len(dropped)} offerings passing the filters left out: another of the "
        "same GPU and shape costs no more (same-price ones: equivalent_offerings in --format json)"
    )


def _calibration_note(inputs: PlanInputs, used: Sequence[PricedOffering]) -> str:
    """Which engine profile priced each GPU family of the plan, and its calibration grade: calibrated on
    rows of that engine and family, borrowed from other rows, or extrapolated (no rows on the family)."""
    parts = []
    for family in sorted({po.gpu.family for po in used}):
        gpu = next(po.gpu for po in used if po.gpu.family == family)
        prof = engine_profile(inputs.catalog, inputs.spec.search.engine, gpu)
        grade = profile_grade(prof.fit)
        how = grade if grade == "calibrated" else f"{grade} ({prof.fit.split(';', 1)[0].split(':', 1)[-1].strip()})"
        parts.append(f"{prof.engine}/{family}: {how}")
    return "; ".join(parts)


def _trace_rows_skipped(models: Sequence[ModelCapacity]) -> str:
    """Per model reading a trace with skip_bad_rows (or with rows always dropped): how many, and why."""
    parts = []
    for m in models:
        summary = m.model.workload.summary
        trace = m.spec.workload.trace
        if summary.source != "trace" or trace is None:
            continue
        if not summary.rows_skipped and not trace.skip_bad_rows:
            continue
        total = summary.rows_skipped_total
        read = (summary.requests_read or 0) + total
        why = ", ".join(f"{reason} x{count}" for reason, count in summary.rows_skipped)
        parts.append(f"{m.label}: {total} of {read} rows" + (f" ({why})" if why else ""))
    return "; ".join(parts)
