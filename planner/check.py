"""Compare a plan with a baseline plan, for CI: did serving get more expensive or start missing an SLO?

What fails a check (a *regression*):
- the plan is infeasible while the baseline was feasible;
- total cost grew by more than `cost_tolerance` (relative, 0.02 = 2 %) over the baseline's;
- a bucket's worst predicted TTFT or TPOT (over the routes that carry its traffic) exceeds its SLO;
- the plan failed its independent verification (planner.verify).

GPU and instance counts are compared and shown but do not fail a check on their own: a plan that
uses more, cheaper GPUs is cheaper, and cost is what the tolerance guards. Buckets are matched by
(model, slice id); buckets only in one plan are listed as added/removed.

`parse_plan_envelope` turns the JSON a user hands in into a `Plan` or an `InputError` (exit 2). It is
strict, so that a regression cannot hide behind malformed input: the envelope must match the published
schema (`gpuplan schema plan`) exactly (no string for a number, no unknown key), every number must be
finite (NaN and Infinity, which JSON parsers accept, are refused), counts, costs, rates and latencies
must not be negative, and a feasible plan (optimal or gap) must have a cost.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from planner.errors import ArgumentError, InputError
from planner.outcome import SCHEMA_VERSION
from planner.result import Plan, SliceRoute

MAX_COST_TOLERANCE = 10.0  # +1000 %: a larger tolerance would let any cost pass
SliceStatus = Literal["ok", "slo-missed", "added", "removed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CostDiff(_Frozen):
    baseline_usd_per_hour: float | None
    current_usd_per_hour: float | None
    change_pct: float | None = Field(description="relative change, percent; None when either is unknown")
    tolerance_pct: float
    regression: bool


class CountDiff(_Frozen):
    baseline: int
    current: int
    change: int


class OfferingDiff(_Frozen):
    offering: str
    gpu: str
    baseline_instances: int
    current_instances: int


class SliceDiff(_Frozen):
    model: str
    slice: str
    input_len_range: tuple[int, int]
    output_len_range: tuple[int, int]
    slo_ttft_ms: float
    slo_tpot_ms: float
    baseline_worst_ttft_ms: float | None
    current_worst_ttft_ms: float | None
    baseline_worst_tpot_ms: float | None
    current_worst_tpot_ms: float | None
    status: SliceStatus
    slo_ttft_statistic: str = "mean"
    slo_tpot_statistic: str = "mean"


class ModelSloDiff(_Frozen):
    """The tightest bucket of a model, as a percentage of its SLO (100 % = at the limit)."""

    model: str
    baseline_worst_ttft_pct: float | None
    current_worst_ttft_pct: float | None
    baseline_worst_tpot_pct: float | None
    current_worst_tpot_pct: float | None
    baseline_cost_usd_per_hour: float | None
    current_cost_usd_per_hour: float | None


class CheckResult(_Frozen):
    """The verdict and every compared figure; `regressions` says in words what failed."""

    passed: bool
    regressions: tuple[str, ...]
    current_name: str | None
    baseline_name: str | None
    current_status: str
    baseline_status: str
    cost: CostDiff
    gpus: CountDiff
    instances: CountDiff
    offerings: tuple[OfferingDiff, ...]
    models: tuple[ModelSloDiff, ...]
    slices: tuple[SliceDiff, ...]
    current_verified: bool = Field(
        description="the plan passed planner.verify (infeasible plans count as passed)"
    )
    catalog_version_changed: bool
    spec_changed: bool


def worst_latency(route: SliceRoute) -> tuple[float | None, float | None]:
    """The worst predicted (TTFT, TPOT) over the routes that carry traffic; None when none predicts."""
    ttfts = [r.ttft_ms for r in route.routes if r.share > 0 and r.ttft_ms is not None]
    tpots = [r.tpot_ms for r in route.routes if r.share > 0 and r.tpot_ms is not None]
    return (max(ttfts) if ttfts else None, max(tpots) if tpots else None)


def slo_ratio(pred: float | None, slo: float) -> float | None:
    """Predicted latency as a percentage of its SLO (100% = at the limit)."""
    if pred is None or slo <= 0:
        return None
    return 100.0 * pred / slo


def worst_slo_ratios(plan: Plan, model: str | None = None) -> tuple[float | None, float | None]:
    """The highest TTFT and TPOT percentage of SLO over all (or one model's) buckets."""
    ttft: list[float] = []
    tpot: list[float] = []
    for s in plan.routing:
        if model is not None and s.model != model:
            continue
        t, p = worst_latency(s)
        rt, rp = slo_ratio(t, s.slo_ttft_ms), slo_ratio(p, s.slo_tpot_ms)
        if rt is not None:
            ttft.append(rt)
        if rp is not None:
            tpot.append(rp)
    return (max(ttft) if ttft else None, max(tpot) if tpot else None)


def within(pred: float | None, slo: float) -> bool | None:
    """Whether a prediction meets its SLO (a relative 1e-9 slack absorbs float noise); None if unknown."""
    if pred is None:
        return None
    return pred <= slo * (1 + 1e-9)


def parse_plan_envelope(obj: Any, source: str) -> Plan:
    """A `gpuplan plan --format json` envelope -> its Plan; anything else is an InputError naming `source`."""
    if not isinstance(obj, dict):
        raise InputError(f"not a gpuplan JSON envelope (top level is {type(obj).__name__})", where=source)
    version = obj.get("schema_version")
    if version is None or "data" not in obj or "command" not in obj:
        raise InputError("not a gpuplan JSON envelope (needs schema_version, command and data)", where=source)
    if str(version) != SCHEMA_VERSION:
        raise InputError(
            f"schema_version {version!r} is not supported by this gpuplan (it reads {SCHEMA_VERSION!r}); "
            "re-create the file with this version's `gpuplan plan --format json`",
            where=source,
        )
    if obj.get("command") != "plan":
        raise InputError(f"not a plan: the envelope is from `gpuplan {obj.get('command')}`", where=source)
    if obj.get("status") == "error" and not obj.get("data"):
        errors = obj.get("errors") or []
        first = f": {errors[0]}" if errors and isinstance(errors[0], str) else ""
        raise InputError(f"the plan run failed, there is no plan to compare{first}", where=source)
    _check_numbers(obj["data"], "data", source)
    try:  # JSON mode, strict: what the published schema allows, nothing coerced
        plan = Plan.model_validate_json(json.dumps(obj["data"]), strict=True)
    except ValidationError as err:
        e = err.errors()[0]
        loc = _json_path(("data", *e["loc"]))
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise InputError(f"not a valid plan: {loc}: {e['msg']}{more}", where=source) from None
    if plan.status in ("optimal", "gap") and plan.total_cost_usd_per_hour is None:
        raise InputError(
            f"not a valid plan: data.total_cost_usd_per_hour: a plan with status {plan.status!r} must have a cost",
            where=source,
        )
    return plan


_NON_NEGATIVE_SUFFIXES = ("_usd_per_hour", "_ms", "_rps", "_s")
_NON_NEGATIVE_KEYS = frozenset(
    {"total_gpus", "total_instances", "instances", "gpus", "replicas", "gpus_per_instance", "idle_gpus"}
    | {"share", "seconds", "gap", "variables", "constraints"}
)


def _json_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _check_numbers(data: Any, root: str, source: str) -> None:
    """Every number finite; costs, counts, rates and latencies not negative (iterative: no recursion)."""
    stack: list[tuple[Any, str, str]] = [(data, root, "")]
    while stack:
        node, path, key = stack.pop()
        if isinstance(node, dict):
            stack.extend((v, f"{path}.{k}", str(k)) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]", key) for i, v in enumerate(node))
        elif isinstance(node, float) and not math.isfinite(node):
            raise InputError(f"not a valid plan: {path}: must be a finite number (got {node!r})", where=source)
        elif (
            isinstance(node, int | float)
            and not isinstance(node, bool)
            and node < 0
            and (key in _NON_NEGATIVE_KEYS or key.endswith(_NON_NEGATIVE_SUFFIXES))
        ):
            raise InputError(f"not a valid plan: {path}: must not be negative (got {node!r})", where=source)


def _range(bounds: tuple[int, int]) -> str:
    return f"{bounds[0]}-{bounds[1]}"


def _pct_change(base: float | None, cur: float | None) -> float | None:
    if base is None or cur is None:
        return None
    if base == 0:
        return 0.0 if cur == 0 else None
    return 100.0 * (cur - base) / base


def _cost_regression(base: float | None, cur: float | None, tolerance: float) -> bool:
    if base is None or cur is None:
        return False
    return cur > base * (1.0 + tolerance) + 1e-9


def cost_diff(
    what: str, base: float | None, cur: float | None, cost_tolerance: float, compared: bool
) -> tuple[CostDiff, str | None]:
    """The cost diff of two runs (plans or schedules; `compared`: both feasible) and, when the current cost
    is above the tolerance, the regression line naming `what` ("cost", "mean cost")."""
    regression = compared and _cost_regression(base, cur, cost_tolerance)
    change = _pct_change(base, cur) if compared else None
    line = None
    if regression:
        shown = f"{change:+.2f}%" if change is not None else "from $0"
        line = f"{what} ${base:,.2f}/h -> ${cur:,.2f}/h ({shown}), above the {100 * cost_tolerance:.2f}% tolerance"
    diff = CostDiff(
        baseline_usd_per_hour=base,
        current_usd_per_hour=cur,
        change_pct=change,
        tolerance_pct=100 * cost_tolerance,
        regression=regression,
    )
    return diff, line


def _pct_of_slo(values: list[tuple[float | None, float]]) -> float | None:
    ratios = [100.0 * v / slo for v, slo in values if v is not None and slo > 0]
    return max(ratios) if ratios else None


def _model_diff(model: str, base: Plan, cur: Plan) -> ModelSloDiff:
    def worst(plan: Plan, which: int) -> float | None:
        pairs = []
        for s in plan.routing:
            if s.model == model:
                pred = worst_latency(s)[which]
                pairs.append((pred, s.slo_ttft_ms if which == 0 else s.slo_tpot_ms))
        return _pct_of_slo(pairs)

    def cost(plan: Plan) -> float | None:
        return next(
            (m.cost_usd_per_hour for m in plan.models if m.model == model and plan.status != "infeasible"),
            None,
        )

    return ModelSloDiff(
        model=model,
        baseline_worst_ttft_pct=worst(base, 0),
        current_worst_ttft_pct=worst(cur, 0),
        baseline_worst_tpot_pct=worst(base, 1),
        current_worst_tpot_pct=worst(cur, 1),
        baseline_cost_usd_per_hour=cost(base),
        current_cost_usd_per_hour=cost(cur),
    )


def _slice_diffs(baseline: Plan, current: Plan) -> list[SliceDiff]:
    """Each bucket of either plan (the current plan's order, then buckets only the baseline has)."""
    base_slices = {(s.model, s.slice): s for s in baseline.routing}
    cur_slices = {(s.model, s.slice): s for s in current.routing}
    slices: list[SliceDiff] = []
    for key in [k for k in cur_slices] + [k for k in base_slices if k not in cur_slices]:
        b, c = base_slices.get(key), cur_slices.get(key)
        ref = c if c is not None else b
        if ref is None:  # cannot happen: every key comes from one of the two maps
            continue
        bt, bp = worst_latency(b) if b is not None else (None, None)
        ct, cp = worst_latency(c) if c is not None else (None, None)
        status: SliceStatus
        if c is None:
            status = "removed"
        elif (c.slo_ttft_statistic == "mean" and within(ct, c.slo_ttft_ms) is False) or (
            c.slo_tpot_statistic == "mean" and within(cp, c.slo_tpot_ms) is False
        ):
            status = "slo-missed"  # percentile targets are judged by the plan's simulation (slo_check) above
        elif b is None:
            status = "added"
        else:
            status = "ok"
        slices.append(
            SliceDiff(
                model=key[0],
                slice=key[1],
                input_len_range=ref.input_len_range,
                output_len_range=ref.output_len_range,
                slo_ttft_ms=ref.slo_ttft_ms,
                slo_tpot_ms=ref.slo_tpot_ms,
                baseline_worst_ttft_ms=bt,
                current_worst_ttft_ms=ct,
                baseline_worst_tpot_ms=bp,
                current_worst_tpot_ms=cp,
                status=status,
                slo_ttft_statistic=ref.slo_ttft_statistic,
                slo_tpot_statistic=ref.slo_tpot_statistic,
            )
        )
    return slices


def check_cost_tolerance(cost_tolerance: float) -> None:
    """The cost tolerance is a finite fraction from 0 to MAX_COST_TOLERANCE (plans and schedules alike)."""
    if not (math.isfinite(cost_tolerance) and 0 <= cost_tolerance <= MAX_COST_TOLERANCE):
        raise ArgumentError(
            "cost_tolerance", f"must be a finite number from 0 to 10 (a fraction: 0.02 = 2%), got {cost_tolerance}"
        )


def compare(current: Plan, baseline: Plan, cost_tolerance: float = 0.02) -> CheckResult:
    """The check verdict of `current` against `baseline` (pure; see the module docstring for the rules)."""
    check_cost_tolerance(cost_tolerance)
    regressions: list[str] = []
    base_ok, cur_ok = baseline.status != "infeasible", current.status != "infeasible"
    if base_ok and not cur_ok:
        regressions.append("the plan is infeasible; the baseline was feasible")
    if cur_ok and not current.verification.passed:
        regressions.append("the plan failed verification: " + "; ".join(current.verification.violations))
    if cur_ok and current.slo_check is not None and not current.slo_check.met:
        missed = [
            f"{t.model} {t.statistic} {t.metric.upper()} "
            + ("inf" if t.simulated_ms is None else f"{t.simulated_ms:,.1f}")
            + f" ms > {t.target_ms:,.0f} ms"
            for t in current.slo_check.targets
            if not t.met
        ]
        regressions.append("percentile SLO missed in the plan's simulation: " + "; ".join(missed))

    cost, cost_line = cost_diff(
        "cost", baseline.total_cost_usd_per_hour, current.total_cost_usd_per_hour, cost_tolerance, base_ok and cur_ok
    )
    if cost_line:
        regressions.append(cost_line)

    slices = _slice_diffs(baseline, current)
    for s in slices:
        if s.status == "slo-missed":
            what = []
            if s.slo_ttft_statistic == "mean" and within(s.current_worst_ttft_ms, s.slo_ttft_ms) is False:
                what.append(f"TTFT {s.current_worst_ttft_ms:,.1f} ms > SLO {s.slo_ttft_ms:,.0f} ms")
            if s.slo_tpot_statistic == "mean" and within(s.current_worst_tpot_ms, s.slo_tpot_ms) is False:
                what.append(f"TPOT {s.current_worst_tpot_ms:,.1f} ms > SLO {s.slo_tpot_ms:,.0f} ms")
            bucket = f"input {_range(s.input_len_range)} x output {_range(s.output_len_range)} tokens"
            regressions.append(f"{s.model} bucket {bucket}: predicted {' and '.join(what)}")

    offerings: dict[str, OfferingDiff] = {}
    for plan, is_base in ((baseline, True), (current, False)):
        for a in plan.allocations:
            prev = offerings.get(a.offering) or OfferingDiff(
                offering=a.offering, gpu=a.gpu, baseline_instances=0, current_instances=0
            )
            field = "baseline_instances" if is_base else "current_instances"
            offerings[a.offering] = prev.model_copy(update={field: getattr(prev, field) + a.instances})

    model_names = [m.model for m in current.models] + [m.model for m in baseline.models]
    models = [
        _model_diff(m, baseline, current) for i, m in enumerate(model_names) if m not in model_names[:i]
    ]
    return CheckResult(
        passed=not regressions,
        regressions=tuple(regressions),
        current_name=current.name,
        baseline_name=baseline.name,
        current_status=current.status,
        baseline_status=baseline.status,
        cost=cost,
        gpus=CountDiff(
            baseline=baseline.total_gpus,
            current=current.total_gpus,
            change=current.total_gpus - baseline.total_gpus,
        ),
        instances=CountDiff(
            baseline=baseline.total_instances,
            current=current.total_instances,
            change=current.total_instances - baseline.total_instances,
        ),
        offerings=tuple(sorted(offerings.values(), key=lambda o: o.offering)),
        models=tuple(models),
        slices=tuple(slices),
        current_verified=current.verification.passed or not cur_ok,
        catalog_version_changed=current.catalog_version != baseline.catalog_version,
        spec_changed=current.spec_sha256 != baseline.spec_sha256,
    )
