"""`gpuplan schedule SPEC`: plan the spec over its periods (planner.schedule) and render the Schedule."""

from __future__ import annotations

from pathlib import Path

from planner.commands.flags import spelled_as_flags
from planner.inputs import load_inputs, spec_errors
from planner.outcome import Outcome
from planner.report.schedule_report import render_schedule_markdown, render_schedule_text
from planner.schedule import make_schedule
from planner.schedule_result import Schedule


@spelled_as_flags
def execute(
    spec: Path, *, solver: str | None = None, time_limit_s: float | None = None, overlays: tuple[Path, ...] = ()
) -> Outcome:
    with spec_errors(spec):
        schedule = make_schedule(load_inputs(spec, overlays), solver=solver, time_limit_s=time_limit_s)
    return outcome_of(schedule)


def outcome_of(s: Schedule) -> Outcome:
    """Status and exit code follow the plan: infeasible (or not solved) or failing verification exit 1."""
    feasible = s.status != "infeasible"
    ok = feasible and s.verification.passed
    unsolved = s.solver.status in ("not_solved", "unbounded")
    return Outcome(
        command="schedule",
        status="ok" if ok else ("infeasible" if not (feasible or unsolved) else "error"),
        data=s,
        renderers={"table": lambda: render_schedule_text(s), "md": lambda: render_schedule_markdown(s)},
        exit_code=0 if ok else 1,
        errors=s.infeasible_reasons if not feasible else s.verification.violations,
    )
