"""`gpuplan catalog refresh` for people: the per-cloud summary, the changes, the GPUs the catalog lacks."""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from catalog.refresh import RefreshResult

SHOWN = 40
"""Changes listed in the table and Markdown views (all of them are in --format json)."""
_MARK = {"added": "+", "removed": "-", "changed": "~"}
_HEADERS = ["cloud", "rows", "before", "after", "added", "removed", "changed", "folded", "skipped"]


def _cells(r: RefreshResult) -> list[list[str]]:
    return [[s.cloud, str(s.rows), str(s.before), str(s.after), str(s.added), str(s.removed), str(s.changed),
             str(s.folded_rows), str(s.skipped_rows)] for s in r.summary]


def _lines(r: RefreshResult) -> list[str]:
    """The text after the summary: changes, unknown GPUs, where the overlay went."""
    out: list[str] = []
    n = len(r.changes)
    if n:
        out.append(f"Changes ({n}{'' if n <= SHOWN else f', first {SHOWN}; all in --format json'}):")
        out += [f"  {_MARK[c.change]} {c.id}  {c.description}" for c in r.changes[:SHOWN]]
    else:
        out.append("No changes: the catalog already has these offerings at these prices.")
    if r.unknown_gpus:
        listed = ", ".join(f"{name} ({rows} row{'s' if rows > 1 else ''})" for name, rows in r.unknown_gpus.items())
        out.append(f"GPUs not in the catalog (rows skipped; add them with a gpus: overlay): {listed}")
    other = len(r.skipped_rows) - sum(r.unknown_gpus.values())
    if other:
        out.append(f"{other} more skipped row(s) with other reasons: see skipped_rows in --format json")
    out.append(f"Written: {r.written} (use: gpuplan plan SPEC --catalog {r.written})" if r.written
               else "Nothing written; --write FILE saves these offerings as a catalog overlay.")
    return out


def render_refresh_table(r: RefreshResult) -> Group:
    table = Table(title=f"SkyPilot refresh from {r.folder}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, show_edge=False, collapse_padding=True)
    for h in _HEADERS:
        table.add_column(h, justify="left" if h == "cloud" else "right", no_wrap=True)
    for row in _cells(r):
        table.add_row(*row)
    return Group(table, *(Text(line) for line in _lines(r)))


def render_refresh_markdown(r: RefreshResult) -> str:
    lines = [f"**SkyPilot refresh** from `{r.folder}`", "", "| " + " | ".join(_HEADERS) + " |",
             "| " + " | ".join(["---"] + ["---:"] * (len(_HEADERS) - 1)) + " |"]
    lines += ["| " + " | ".join(c) + " |" for c in _cells(r)]
    return "\n".join([*lines, "", *_lines(r), ""])
