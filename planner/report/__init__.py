"""Reports: the only place that formats results for people (terminal tables, Markdown, charts).

Each renderer is a pure function of a frozen result; the CLI prints what they return. The renderers are
loaded on first use (PEP 562), so importing one report module (the escape helpers the CLI needs for
every message) does not load rich's tables and every other report: `gpuplan --help` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner.report.check_report import render_check_markdown, render_check_table, render_check_text
    from planner.report.markdown import render_plan_markdown
    from planner.report.table import render_plan_table, render_plan_text, to_text

_HOME = {
    "render_check_markdown": "planner.report.check_report",
    "render_check_table": "planner.report.check_report",
    "render_check_text": "planner.report.check_report",
    "render_plan_markdown": "planner.report.markdown",
    "render_plan_table": "planner.report.table",
    "render_plan_text": "planner.report.table",
    "to_text": "planner.report.table",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'planner.report' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


__all__ = [
    "render_check_markdown",
    "render_check_table",
    "render_check_text",
    "render_plan_markdown",
    "render_plan_table",
    "render_plan_text",
    "to_text",
]
