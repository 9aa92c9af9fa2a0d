"""docs/ci-workflow.md stays runnable: its YAML parses and every gpuplan call in it uses real
subcommands and flags of this CLI."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import typer
import yaml

from planner.cli import app

DOC = Path(__file__).resolve().parent.parent / "docs" / "ci-workflow.md"


def _yaml_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)


def _gpuplan_calls(text: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", text)
    calls = []
    for line in joined.splitlines():
        line = line.strip()
        start = line.find("gpuplan ")
        if start < 0 or line.startswith(("#", "name:", "-")) or "::error::" in line:
            continue
        command = re.split(r"\s(?:\|\||>|&&)\s", line[start:])[0]
        calls.append(shlex.split(command))
    return calls


def _options(words: list[str]) -> tuple[str, set[str]]:
    root: Any = typer.main.get_command(app)
    cmd = root.commands[words[1]]
    return words[1], {o for p in cmd.params for o in getattr(p, "opts", [])}


def test_workflow_yaml_parses_and_has_the_steps() -> None:
    blocks = _yaml_blocks()
    workflow = yaml.safe_load(blocks[0])
    steps = workflow["jobs"]["plan"]["steps"]
    names = [s.get("name", "") for s in steps]
    assert "Compare with the base branch" in names and "Fail on a regression" in names
    assert workflow["permissions"]["pull-requests"] == "write"
    for block in blocks[1:]:
        assert yaml.safe_load(block)


def test_every_gpuplan_call_uses_known_flags() -> None:
    code = re.findall(r"```(?:yaml|bash)\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    calls = [c for block in code for c in _gpuplan_calls(block)]
    assert {c[1] for c in calls} >= {"plan", "check"}
    for call in calls:
        name, known = _options(call)
        used = {w for w in call[2:] if w.startswith("-")}
        assert used <= known, (name, used - known)
