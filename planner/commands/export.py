"""`gpuplan export PLAN.json --to TARGET [-o DIR]`: the files that launch a plan (see planner.export).

Exit codes: 0 exported; 2 bad input — an unreadable plan, a bad flag, or a plan export refuses because
it cannot be launched exactly as planned (the message names the replica group and the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from catalog.loader import load_catalog
from planner.commands.check import read_plan
from planner.errors import InputError
from planner.export import TARGETS, export_plan
from planner.export.export import Target
from planner.outcome import Outcome
from planner.report.export_report import render_export_text


def parse_checkpoints(values: Sequence[str]) -> dict[str, str]:
    """`--checkpoint MODEL=ORG/REPO` flags -> {model: repo}."""
    out: dict[str, str] = {}
    for v in values:
        model, sep, repo = v.partition("=")
        if not sep or not model.strip() or not repo.strip():
            raise InputError(f"expected MODEL=ORG/REPO, got {v!r}", where="--checkpoint")
        out[model.strip()] = repo.strip()
    return out


def execute(plan_json: Path, target: str, checkpoints: Sequence[str] = ()) -> Outcome:
    if target not in TARGETS:
        raise InputError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}", where="--to")
    plan = read_plan(plan_json, "plan")
    chosen: Target = next(t for t in TARGETS if t == target)
    result = export_plan(
        plan, chosen, load_catalog(), source=str(plan_json), checkpoints=parse_checkpoints(checkpoints)
    )
    return Outcome(command="export", status="ok", data=result, renderers={"text": lambda: render_export_text(result)})
