"""`gpuplan catalog gpus|offerings|models|commitments`: list what the catalog knows, filtered (planner.listing).

Rows carry every catalog field (with `source` and `as_of`) plus derived figures: per-GPU prices
for offerings, `total_params_b`/`active_params_b` for models. A filter value that matches nothing
in the catalog (e.g. `--gpu h1000`) is an input error with the closest valid values, not an empty list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from catalog.loader import load_catalog
from planner.commands.flags import spelled_as_flags
from planner.errors import InputError
from planner.listing import KINDS, active_filters, list_catalog
from planner.outcome import Outcome
from planner.report.catalog_report import render_catalog_csv, render_catalog_markdown, render_catalog_table


@spelled_as_flags
def execute(kind: str, filters: dict[str, Any], overlays: tuple[Path, ...] = ()) -> Outcome:
    """List catalog `kind` (gpus, offerings, models, commitments) matching `filters` (None values are ignored)."""
    if kind not in KINDS:
        raise InputError(f"unknown catalog listing {kind!r}; valid: {', '.join(KINDS)}", where="catalog")
    active_filters(kind, filters)  # a misplaced filter is reported before the catalog is read
    listing = list_catalog(load_catalog(overlays=overlays), kind, filters)
    return Outcome(
        command=f"catalog {kind}",
        status="ok",
        data=listing,
        renderers={
            "table": lambda: render_catalog_table(listing),
            "md": lambda: render_catalog_markdown(listing),
            "csv": lambda: render_catalog_csv(listing),
        },
    )
