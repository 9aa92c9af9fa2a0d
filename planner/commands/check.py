"""`gpuplan check PLAN.json --baseline BASE.json`: fail CI when a plan regressed against its baseline.

Exit codes: 0 no regression beyond tolerance, 1 a regression (see planner.check for the rules),
2 bad input (missing or unreadable file, not JSON, not a plan envelope, another schema_version).
"""

from __future__ import annotations

from pathlib import Path

from common.files import read_json
from planner.check import CheckResult, compare, parse_plan_envelope
from planner.check_schedule import compare_schedules, envelope_command, parse_schedule_envelope, render_schedule_check
from planner.commands.flags import spelled_as_flags
from planner.errors import InputError
from planner.outcome import Outcome
from planner.report.check_report import render_check_markdown, render_check_table
from planner.result import Plan


def read_plan(path: Path, what: str) -> Plan:
    """Read a plan envelope written by `gpuplan plan --format json`; every problem is an InputError."""
    obj = read_json(path, what)
    return parse_plan_envelope(obj, str(path))


@spelled_as_flags
def execute(plan_json: Path, baseline: Path, cost_tolerance: float = 0.02) -> Outcome:
    """Compare the plan in `plan_json` with the one in `baseline`; exit code 1 on a regression.
    Two schedules (`gpuplan schedule --format json`) are compared as multi-period plans."""
    cur_obj, base_obj = read_json(plan_json, "plan"), read_json(baseline, "baseline")
    kinds = (envelope_command(cur_obj), envelope_command(base_obj))
    if "schedule" in kinds:
        if kinds != ("schedule", "schedule"):
            where = str(plan_json) if kinds[0] != "schedule" else str(baseline)
            raise InputError("a schedule is checked against a schedule (both from `gpuplan schedule`)", where=where)
        found = compare_schedules(
            parse_schedule_envelope(cur_obj, str(plan_json)),
            parse_schedule_envelope(base_obj, str(baseline)),
            cost_tolerance=cost_tolerance,
        )
        return Outcome(
            command="check",
            status="ok",
            data=found,
            renderers={
                "table": lambda: render_schedule_check(found),
                "md": lambda: render_schedule_check(found, markdown=True),
            },
            exit_code=0 if found.passed else 1,
        )
    current = parse_plan_envelope(cur_obj, str(plan_json))
    base = parse_plan_envelope(base_obj, str(baseline))
    result: CheckResult = compare(current, base, cost_tolerance=cost_tolerance)
    return Outcome(
        command="check",
        status="ok",
        data=result,
        renderers={"table": lambda: render_check_table(result), "md": lambda: render_check_markdown(result)},
        exit_code=0 if result.passed else 1,
    )
