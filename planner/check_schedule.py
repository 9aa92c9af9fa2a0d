"""`gpuplan check` for multi-period plans: a schedule against a baseline schedule.

What fails it (a *regression*): the schedule is infeasible while the baseline was feasible; its mean
cost per hour over the horizon grew by more than `cost_tolerance` over the baseline's; it failed its
independent verification (planner.verify_periods). Commitments, periods and peak instances are compared
and shown but do not fail a check on their own. The mean per hour is compared (not the total), so a
baseline of another horizon (a day against a week) still compares like with like.

`parse_schedule_envelope` reads the JSON of `gpuplan schedule --format json` as strictly as
`planner.check.parse_plan_envelope` reads a plan.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import ValidationError

from planner.check import CostDiff, CountDiff, _check_numbers, _Frozen, _json_path, check_cost_tolerance, cost_diff
from planner.errors import InputError
from planner.outcome import SCHEMA_VERSION
from planner.schedule_result import Schedule


class CommitmentDiff(_Frozen):
    offering: str
    term: str
    baseline_instances: int
    current_instances: int


class ScheduleCheckResult(_Frozen):
    """The verdict of a schedule against a baseline schedule; `regressions` says in words what failed."""

    kind: Literal["schedule"] = "schedule"
    passed: bool
    regressions: tuple[str, ...]
    current_name: str | None
    baseline_name: str | None
    current_status: str
    baseline_status: str
    cost: CostDiff
    baseline_total_usd: float | None
    current_total_usd: float | None
    baseline_periods: int
    current_periods: int
    max_instances: CountDiff
    commitments: tuple[CommitmentDiff, ...]
    current_verified: bool
    catalog_version_changed: bool
    spec_changed: bool


def envelope_command(obj: Any) -> str | None:
    """The `command` of a gpuplan JSON envelope, None when `obj` is not one."""
    return obj.get("command") if isinstance(obj, dict) and isinstance(obj.get("command"), str) else None


def parse_schedule_envelope(obj: Any, source: str) -> Schedule:
    """A `gpuplan schedule --format json` envelope -> its Schedule; anything else is an InputError."""
    if not isinstance(obj, dict) or "data" not in obj or "schema_version" not in obj:
        raise InputError("not a gpuplan JSON envelope (needs schema_version, command and data)", where=source)
    if str(obj["schema_version"]) != SCHEMA_VERSION:
        raise InputError(
            f"schema_version {obj['schema_version']!r} is not supported by this gpuplan (it reads "
            f"{SCHEMA_VERSION!r}); re-create the file with this version's `gpuplan schedule --format json`",
            where=source,
        )
    if obj.get("status") == "error" and not obj.get("data"):
        raise InputError("the schedule run failed, there is no schedule to compare", where=source)
    _check_numbers(obj["data"], "data", source)
    try:
        schedule = Schedule.model_validate_json(json.dumps(obj["data"]), strict=True)
    except ValidationError as err:
        e = err.errors()[0]
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        where = _json_path(("data", *e["loc"]))
        raise InputError(f"not a valid schedule: {where}: {e['msg']}{more}", where=source) from None
    if schedule.status != "infeasible" and schedule.mean_cost_usd_per_hour is None:
        msg = "not a valid schedule: data.mean_cost_usd_per_hour: a feasible schedule has a cost"
        raise InputError(msg, where=source)
    return schedule


def _max_instances(s: Schedule) -> int:
    return max((sum(p.instances.values()) for p in s.fleet), default=0)


def compare_schedules(current: Schedule, baseline: Schedule, cost_tolerance: float = 0.02) -> ScheduleCheckResult:
    """The check verdict of `current` against `baseline` (pure; see the module docstring)."""
    check_cost_tolerance(cost_tolerance)
    regressions: list[str] = []
    base_ok, cur_ok = baseline.status != "infeasible", current.status != "infeasible"
    if base_ok and not cur_ok:
        regressions.append("the schedule is infeasible; the baseline was feasible")
    if cur_ok and not current.verification.passed:
        regressions.append("the schedule failed verification: " + "; ".join(current.verification.violations[:3]))
    cost, cost_line = cost_diff(
        "mean cost",
        baseline.mean_cost_usd_per_hour,
        current.mean_cost_usd_per_hour,
        cost_tolerance,
        base_ok and cur_ok,
    )
    if cost_line:
        regressions.append(cost_line)
    terms: dict[tuple[str, str], list[int]] = {}
    for s, i in ((baseline, 0), (current, 1)):
        for c in s.commitments:
            if c.instances:
                terms.setdefault((c.offering, c.term), [0, 0])[i] += c.instances
    return ScheduleCheckResult(
        passed=not regressions,
        regressions=tuple(regressions),
        current_name=current.name,
        baseline_name=baseline.name,
        current_status=current.status,
        baseline_status=baseline.status,
        cost=cost,
        baseline_total_usd=baseline.total_cost_usd,
        current_total_usd=current.total_cost_usd,
        baseline_periods=baseline.periods,
        current_periods=current.periods,
        max_instances=CountDiff(
            baseline=_max_instances(baseline),
            current=_max_instances(current),
            change=_max_instances(current) - _max_instances(baseline),
        ),
        commitments=tuple(
            CommitmentDiff(offering=o, term=t, baseline_instances=b, current_instances=c)
            for (o, t), (b, c) in sorted(terms.items())
        ),
        current_verified=current.verification.passed or not cur_ok,
        catalog_version_changed=current.catalog_version != baseline.catalog_version,
        spec_changed=current.spec_sha256 != baseline.spec_sha256,
    )


def render_schedule_check(result: ScheduleCheckResult, markdown: bool = False) -> str:
    """The verdict, the cost and what changed, as text (or Markdown)."""
    head = "check passed" if result.passed else "check FAILED"
    c = result.cost
    change = f"{c.change_pct:+.2f}%" if c.change_pct is not None else "n/a"
    base = f"${c.baseline_usd_per_hour:,.2f}/h" if c.baseline_usd_per_hour is not None else "-"
    cur = f"${c.current_usd_per_hour:,.2f}/h" if c.current_usd_per_hour is not None else "-"
    lines = [
        f"{'### ' if markdown else ''}{head}: schedule {result.current_name or ''} "
        f"against {result.baseline_name or ''}",
        "",
        f"mean cost {base} -> {cur} ({change}; tolerance {c.tolerance_pct:.2f}%)",
        f"periods {result.baseline_periods} -> {result.current_periods}; most instances in a period "
        f"{result.max_instances.baseline} -> {result.max_instances.current}",
    ]
    for d in result.commitments:
        lines.append(f"commit {d.offering} {d.term}: {d.baseline_instances} -> {d.current_instances}")
    lines += [f"regression: {r}" for r in result.regressions]
    bullet = "- " if markdown else ""
    return "\n".join(lines[:2] + [bullet + x for x in lines[2:]]) + "\n"
