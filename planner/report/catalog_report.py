"""`gpuplan catalog gpus|offerings|models|commitments` for people: a compact table, Markdown or CSV of the rows."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Literal

from rich import box
from rich.table import Table

from planner.listing import Listing
from planner.report.escape import md, md_code


def _rows(listing: Listing) -> list[dict[str, Any]]:
    return [row.model_dump(mode="json", by_alias=True) for row in listing.rows]


def _num(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.{digits}f}"
    return f"{x:.0f}" if isinstance(x, int | float) else str(x)


def _usd(x: Any) -> str:
    """A price with its cents always shown (5.0 -> 5.00), '-' when absent."""
    return "-" if x is None else f"{x:.2f}"


def _flag_cell(r: dict[str, Any]) -> str:
    """Trust marks of an offering: ? uncertain, ! on-demand suspect, !s spot suspect, p preemptible."""
    marks = ["?" if r["uncertain"] else "", "!" if r["price_suspect"] else "",
             "!s" if r["spot_suspect"] and r["spot_price_usd_per_hour"] is not None else "",
             "p" if r["preemptible"] else ""]
    return " ".join(m for m in marks if m) or "-"


def _discount(row: dict[str, Any]) -> str:
    if row["discount_rate"] is not None:
        return f"{100 * row['discount_rate']:.0f}%"
    if row["discount_rate_max"] is not None:
        return f"<= {100 * row['discount_rate_max']:.0f}%"
    return "-"


def _columns(kind: str, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]], str]:
    """(headers, cells, caption) shared by the table and Markdown renderers; column 0 is the id."""
    caption = "all fields, sources and as_of: --format json"
    if kind == "gpus":
        headers = ["id", "family", "GB", "GB/s", "bf16 TF", "fp8 TF", "fp4 TF", "link GB/s", "PCIe", "TDP W"]
        cells = []
        for r in rows:
            tf = r["tflops"]
            link = r["interconnect"] + (f" {_num(r['interconnect_gb_per_s'])}" if r["interconnect_gb_per_s"] else "")
            cells.append([r["id"], r["family"], _num(r["memory_gb"]), _num(r["mem_bandwidth_gb_per_s"], 0),
                          _num(tf.get("bf16", tf.get("fp16"))), _num(tf.get("fp8")), _num(tf.get("fp4")),
                          link, _num(r["pcie_gb_per_s"]), _num(r["tdp_w"])])
    elif kind == "offerings":
        headers = ["id", "gpu", "GPUs", "$/h", "$/GPU-h", "spot $/h", "host GB", "flag"]
        cells = [[r["id"], r["gpu"], str(r["gpus_per_instance"]), _usd(r["price_usd_per_hour"]),
                  _usd(r["price_usd_per_gpu_hour"]), _usd(r["spot_price_usd_per_hour"]), _num(r["cpu_mem_gb"], 0),
                  _flag_cell(r)] for r in rows]
        flagged = " ".join(c[-1] for c in cells).split()
        notes = [text for mark, text in (("?", "? uncertain in its source"), ("!", "! price looks wrong"),
                                         ("!s", "!s spot price looks wrong"),
                                         ("p", "p preemptible: $/h is a spot price")) if mark in flagged]
        if notes:
            caption = "; ".join(notes) + " (verify; see notes); " + caption
    elif kind == "commitments":
        headers = ["id", "gpu", "$/h", "$/GPU-h", "discount", "conf.", "as of"]
        cells = [[r["id"], r["gpu"] or "-", _num(r["price_usd_per_hour"], 2), _num(r["price_usd_per_gpu_hour"], 2),
                  _discount(r), r["confidence"], r["as_of"]] for r in rows]
        caption = ("id = cloud:region:instance:term; discount = 1 - committed/on-demand, <= a published upper "
                   "bound; " + caption)
    else:
        headers = ["id", "family", "layers", "hidden", "heads/kv", "experts", "total B", "active B", "ctx"]
        cells = [[r["id"], r["family"], str(r["layers"]), str(r["hidden"]), f"{r['heads']}/{r['kv_heads']}",
                  f"{r['moe_top_k']}/{r['moe_experts']}" if r["moe_experts"] else "-",
                  _num(r["total_params_b"], 2), _num(r["active_params_b"], 2), str(r["max_position"])]
                 for r in rows]
        caption = "B = 1e9 parameters, derived from the architecture; " + caption
    if not rows:
        caption = "nothing matches these filters"
    return headers, cells, caption


_LEFT = {"id", "family", "gpu", "conf.", "as of", "flag"}


def render_catalog_table(listing: Listing) -> Table:
    """A compact table; nothing is ever cut: every value keeps its full width and, when the terminal is
    narrow, the id (the one long column) wraps onto more lines instead. The rest is in --format json."""
    kind, rows, version = listing.kind, _rows(listing), listing.catalog_version
    headers, cells, caption = _columns(kind, rows)
    table = Table(title=f"{kind} ({len(rows)}) - catalog {version}", caption=caption, caption_justify="left",
                  box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
    for i, h in enumerate(headers):
        justify: Literal["left", "right"] = "left" if h in _LEFT else "right"
        if i == 0:
            table.add_column(h, justify=justify, overflow="fold")
        else:
            width = max((len(c[i]) for c in cells), default=0)
            table.add_column(h, justify=justify, no_wrap=True, min_width=max(width, 1))
    for c in cells:
        table.add_row(*c)
    return table


def render_catalog_markdown(listing: Listing) -> str:
    kind, rows, version = listing.kind, _rows(listing), listing.catalog_version
    headers, cells, caption = _columns(kind, rows)
    align = ["---" if h in _LEFT else "---:" for h in headers]
    lines = [f"**{kind}** ({len(rows)}), catalog {md_code(version)}", "", "| " + " | ".join(headers) + " |",
             "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(md(x) for x in c) + " |" for c in cells]
    return "\n".join([*lines, "", md(caption), ""])


def render_catalog_csv(listing: Listing) -> str:
    rows = _rows(listing)
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
                         for k, v in r.items()})
    return buf.getvalue()
