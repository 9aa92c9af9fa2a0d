"""Reports: the only place that formats results for people (terminal tables, Markdown, charts).

Each renderer is a pure function of a frozen result; the CLI prints what they return.
"""

from planner.report.check_report import render_check_markdown, render_check_table, render_check_text
from planner.report.markdown import render_plan_markdown
from planner.report.table import render_plan_table, render_plan_text, to_text

__all__ = [
    "render_check_markdown",
    "render_check_table",
    "render_check_text",
    "render_plan_markdown",
    "render_plan_table",
    "render_plan_text",
    "to_text",
]
