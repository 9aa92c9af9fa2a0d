"""`gpuplan catalog refresh --skypilot DIR`: rebuild offerings from a SkyPilot catalog copy and print
what changed against the current catalog (shipped data plus any `--catalog` overlays).

The document (stdout) is the diff (catalog.refresh.RefreshResult): a per-cloud summary, the changed
offerings, the GPUs the catalog lacks and every skipped row. `--write FILE` also writes the refreshed
offerings as a catalog overlay that replaces those clouds (`gpuplan plan SPEC --catalog FILE`), atomically.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from catalog.loader import load_catalog
from catalog.refresh import overlay_document, refresh, result
from planner.outcome import Outcome, write_atomic
from planner.report.refresh_report import render_refresh_markdown, render_refresh_table


def execute(
    folder: Path,
    clouds: tuple[str, ...] = (),
    as_of: str | None = None,
    write: Path | None = None,
    overlays: tuple[Path, ...] = (),
) -> Outcome:
    """Refresh from `folder` against the current catalog; write the overlay to `write` when given."""
    catalog = load_catalog(overlays=overlays)
    refreshed = refresh(catalog, folder, clouds=clouds or None, as_of=as_of)
    if write is not None:
        header = (f"# Offerings refreshed by `gpuplan catalog refresh --skypilot {folder}`.\n"
                  f"# Replaces the offerings of: {', '.join(refreshed.clouds)}. Use: --catalog {write.name}\n")
        body = yaml.safe_dump(overlay_document(refreshed), sort_keys=False, allow_unicode=True, width=120)
        write_atomic(write, header + body, "--write")
    data = result(refreshed, write)
    return Outcome(
        command="catalog refresh",
        status="ok",
        data=data,
        renderers={"table": lambda: render_refresh_table(data), "md": lambda: render_refresh_markdown(data)},
    )
