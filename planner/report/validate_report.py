"""`gpuplan validate` for people: one table of the models, their slices and candidates."""

from __future__ import annotations

from rich.table import Table

from planner.validate import ValidationResult


def render_validation_table(r: ValidationResult) -> Table:
    t = Table(title=f"{r.spec}: valid ({r.offerings} offerings pass the filters)")
    for col in ("model", "slices", "candidates"):
        t.add_column(col)
    for m in r.models:
        t.add_row(m.model, str(m.slices), m.candidates)
    return t
