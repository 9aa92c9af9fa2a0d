"""`gpuplan plan SPEC`: plan the spec (planner.plan) and render the Plan."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from planner import report  # its renderers load on first use (PEP 562): `-f json` never loads rich
from planner.commands.flags import spelled_as_flags
from planner.inputs import load_inputs, spec_errors
from planner.outcome import Outcome
from planner.result import Plan
from planner.simulate.slo_check import plan_checked

UNSOLVED = ("not_solved", "unbounded")


@spelled_as_flags
def execute(
    spec: Path, *, solver: str | None = None, time_limit_s: float | None = None, overlays: tuple[Path, ...] = ()
) -> Outcome:
    with spec_errors(spec):
        plan = plan_checked(load_inputs(spec, overlays), solver=solver, time_limit_s=time_limit_s)
    return outcome_of(plan)


@spelled_as_flags
def execute_melange(
    input_json: Path, *, solver: str | None = None, time_limit_s: float | None = None, as_of: str | None = None
) -> Outcome:
    """`gpuplan plan --melange INPUT.json`: plan a Mélange input directly (planner.melange.melange_inputs)."""
    from planner.melange import melange_inputs  # noqa: PLC0415 - only --melange needs the Mélange reader

    inputs, notices = melange_inputs(input_json, as_of=as_of or datetime.date.today().isoformat())
    outcome = outcome_of(plan_checked(inputs, solver=solver, time_limit_s=time_limit_s))
    return dataclasses.replace(outcome, notices=(*notices, *outcome.notices))


def outcome_of(plan: Plan) -> Outcome:
    """A plan as the command's result: status, exit code and errors follow the plan's own status."""
    feasible = plan.status != "infeasible"
    errors = plan.infeasible_reasons if not feasible else plan.verification.violations
    unsolved = plan.solver.status in UNSOLVED  # no plan, but not proven infeasible either
    return Outcome(
        command="plan",
        status="ok"
        if feasible and plan.verification.passed
        else ("infeasible" if not (feasible or unsolved) else "error"),
        data=plan,
        renderers={"table": lambda: report.render_plan_table(plan), "md": lambda: report.render_plan_markdown(plan)},
        exit_code=0 if feasible and plan.verification.passed else 1,
        errors=tuple(errors),
    )
