"""`gpuplan catalog refresh --skypilot DIR`: rebuild offerings from a SkyPilot catalog copy and print
what changed against the current catalog (shipped data plus any `--catalog` overlays).

The document (stdout) is the diff: a per-cloud summary, the changed offerings, the GPUs the catalog
lacks and every skipped row. `--write FILE` also writes the refreshed offerings as a catalog overlay
that replaces those clouds (`gpuplan plan SPEC --catalog FILE`), atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from catalog.loader import load_catalog
from catalog.refresh import Change, Refresh, overlay_document, refresh
from planner.outcome import Outcome, write_atomic

SHOWN = 40
"""Changes listed in the table and Markdown views (all of them are in --format json)."""


def _value(field: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and "price" in field:
        return f"{value:.4g}"
    return str(value) if value != "" else "''"


def _describe(c: Change) -> str:
    o = c.offering
    if c.kind == "added" and o is not None:
        spot = "" if o.spot_price_usd_per_hour is None else f", spot ${o.spot_price_usd_per_hour:.4g}/h"
        kind = " preemptible" if o.preemptible else ""
        return f"new{kind}: {o.gpu} x{o.gpus_per_instance}, ${o.price_usd_per_hour:.4g}/h{spot}"
    if c.kind == "removed" and o is not None:
        return f"gone: {o.gpu} x{o.gpus_per_instance}, was ${o.price_usd_per_hour:.4g}/h"
    parts = []
    for f, old, new in c.fields:
        text = f"{f} {_value(f, old)} -> {_value(f, new)}"
        if f.endswith("usd_per_hour") and isinstance(old, float) and isinstance(new, float) and old > 0:
            text += f" ({100 * (new / old - 1):+.1f}%)"
        parts.append(text)
    return "; ".join(parts)


_MARK = {"added": "+", "removed": "-", "changed": "~"}


def _data(result: Refresh, written: Path | None) -> dict[str, Any]:
    return {
        "folder": result.folder,
        "clouds": list(result.clouds),
        "summary": [vars(s) for s in result.summaries],
        "changes": [
            {"id": c.id, "change": c.kind, "fields": {f: [a, b] for f, a, b in c.fields}, "description": _describe(c)}
            for c in result.changes
        ],
        "unknown_gpus": result.unknown_accelerators(),
        "skipped_rows": [
            {"cloud": r.cloud, "line": r.line, "instance_type": r.instance_type, "region": r.region,
             "accelerator": r.accelerator, "reason": r.reason}
            for rep in result.reports.values() for r in rep.rows if r.status == "skipped"
        ],
        "offerings_written": len(result.offerings) if written else 0,
        "written": str(written) if written else None,
    }


def _summary_rows(result: Refresh) -> tuple[list[str], list[list[str]]]:
    headers = ["cloud", "rows", "before", "after", "added", "removed", "changed", "folded", "skipped"]
    cells = [[s.cloud, str(s.rows), str(s.before), str(s.after), str(s.added), str(s.removed), str(s.changed),
              str(s.folded_rows), str(s.skipped_rows)] for s in result.summaries]
    return headers, cells


def _lines(result: Refresh, written: Path | None) -> list[str]:
    """The text after the summary: changes, unknown GPUs, where the overlay went."""
    out: list[str] = []
    n = len(result.changes)
    if n:
        out.append(f"Changes ({n}{'' if n <= SHOWN else f', first {SHOWN}; all in --format json'}):")
        out += [f"  {_MARK[c.kind]} {c.id}  {_describe(c)}" for c in result.changes[:SHOWN]]
    else:
        out.append("No changes: the catalog already has these offerings at these prices.")
    unknown = result.unknown_accelerators()
    if unknown:
        listed = ", ".join(f"{name} ({rows} row{'s' if rows > 1 else ''})" for name, rows in unknown.items())
        out.append(f"GPUs not in the catalog (rows skipped; add them with a gpus: overlay): {listed}")
    other = sum(s.skipped_rows for s in result.summaries) - sum(unknown.values())
    if other:
        out.append(f"{other} more skipped row(s) with other reasons: see skipped_rows in --format json")
    out.append(f"Written: {written} (use: gpuplan plan SPEC --catalog {written})" if written
               else "Nothing written; --write FILE saves these offerings as a catalog overlay.")
    return out


def _table(result: Refresh, written: Path | None) -> Group:
    headers, cells = _summary_rows(result)
    table = Table(title=f"SkyPilot refresh from {result.folder}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, show_edge=False, collapse_padding=True)
    for h in headers:
        table.add_column(h, justify="left" if h == "cloud" else "right", no_wrap=True)
    for row in cells:
        table.add_row(*row)
    return Group(table, *(Text(line) for line in _lines(result, written)))


def _markdown(result: Refresh, written: Path | None) -> str:
    headers, cells = _summary_rows(result)
    lines = [f"**SkyPilot refresh** from `{result.folder}`", "", "| " + " | ".join(headers) + " |",
             "| " + " | ".join(["---"] + ["---:"] * (len(headers) - 1)) + " |"]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join([*lines, "", *_lines(result, written), ""])


def execute(
    folder: Path,
    clouds: tuple[str, ...] = (),
    as_of: str | None = None,
    write: Path | None = None,
    overlays: tuple[Path, ...] = (),
) -> Outcome:
    """Refresh from `folder` against the current catalog; write the overlay to `write` when given."""
    catalog = load_catalog(overlays=overlays)
    result = refresh(catalog, folder, clouds=clouds or None, as_of=as_of)
    if write is not None:
        header = (f"# Offerings refreshed by `gpuplan catalog refresh --skypilot {folder}`.\n"
                  f"# Replaces the offerings of: {', '.join(result.clouds)}. Use: --catalog {write.name}\n")
        body = yaml.safe_dump(overlay_document(result), sort_keys=False, allow_unicode=True, width=120)
        write_atomic(write, header + body)
    return Outcome(
        command="catalog refresh",
        status="ok",
        data=_data(result, write),
        renderers={"table": lambda: _table(result, write), "md": lambda: _markdown(result, write)},
    )
