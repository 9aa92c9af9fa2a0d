"""`gpuplan catalog gpus|offerings|models`: list what the catalog knows, filtered.

Rows carry every catalog field (with `source` and `as_of`) plus derived figures: per-GPU prices
for offerings, `total_params_b`/`active_params_b` for models. A filter value that matches nothing
in the catalog (e.g. `--gpu h1000`) is an input error with the closest valid values, not an empty list.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

from rich import box
from rich.table import Table

from catalog.loader import hint, load_catalog
from catalog.types import Catalog, Gpu, ModelArch, Offering
from planner.errors import InputError
from planner.outcome import Outcome

KINDS = ("gpus", "offerings", "models")
FILTERS: dict[str, tuple[str, ...]] = {
    "gpus": ("gpu", "vendor", "family", "min_memory_gb"),
    "offerings": ("gpu", "cloud", "region", "vendor", "family", "max_price", "min_memory_gb"),
    "models": ("model", "family"),
}
_FLAG = {
    "gpu": "--gpu",
    "cloud": "--cloud",
    "region": "--region",
    "vendor": "--vendor",
    "family": "--family",
    "max_price": "--max-price",
    "min_memory_gb": "--min-memory-gb",
    "model": "--model",
}


def model_family(model: ModelArch) -> str:
    """A short family name from the model id: llama, qwen, mistral, mixtral, gpt-j, opt, ..."""
    if model.id.startswith("gpt-j"):
        return "gpt-j"
    head = re.match(r"[a-z]+", model.id)
    return head.group(0) if head else model.architecture.lower().removesuffix("forcausallm")


def _choice(value: object, valid: Iterable[str], flag: str) -> str:
    """`value` normalised to lower case, which must be one of `valid`."""
    text = str(value).strip()
    options = sorted(set(valid))
    folded = {o.lower(): o for o in options}
    if text.lower() in folded:
        return folded[text.lower()]
    raise InputError(f"no {flag.lstrip('-')} {text!r} in the catalog; {hint(text, options)}", where=flag)


def _number(value: object, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        raise InputError(f"must be a number >= 0, got {value!r}", where=flag)
    return float(value)


def _active_filters(kind: str, filters: Mapping[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in filters.items() if v is not None}
    for key in sorted(given):
        if key not in FILTERS[kind]:
            raise InputError(f"filter {key!r} does not apply to `catalog {kind}`; valid: "
                             + ", ".join(FILTERS[kind]), where=_FLAG.get(key, key))
    return given


def _gpu_rows(cat: Catalog, f: Mapping[str, Any]) -> list[dict[str, Any]]:
    gpus = list(cat.gpus.values())
    if "gpu" in f:
        gid = _choice(f["gpu"], cat.gpus, "--gpu")
        gpus = [g for g in gpus if g.id == gid]
    if "vendor" in f:
        vendor = _choice(f["vendor"], (g.vendor for g in cat.gpus.values()), "--vendor")
        gpus = [g for g in gpus if g.vendor == vendor]
    if "family" in f:
        family = _choice(f["family"], (g.family for g in cat.gpus.values()), "--family")
        gpus = [g for g in gpus if g.family == family]
    if "min_memory_gb" in f:
        mem = _number(f["min_memory_gb"], "--min-memory-gb")
        gpus = [g for g in gpus if g.memory_gb >= mem]
    return [g.model_dump(mode="json") for g in sorted(gpus, key=lambda g: g.id)]


def _offering_row(o: Offering, gpu: Gpu) -> dict[str, Any]:
    row = o.model_dump(mode="json")
    row["gpu_memory_gb"] = gpu.memory_gb
    row["price_usd_per_gpu_hour"] = round(o.price_usd_per_hour / o.gpus_per_instance, 6)
    spot = o.spot_price_usd_per_hour
    row["spot_price_usd_per_gpu_hour"] = None if spot is None else round(spot / o.gpus_per_instance, 6)
    return row


def _offering_rows(cat: Catalog, f: Mapping[str, Any]) -> list[dict[str, Any]]:
    offs = list(cat.offerings.values())
    if "gpu" in f:
        gid = _choice(f["gpu"], cat.gpus, "--gpu")
        offs = [o for o in offs if o.gpu == gid]
    if "cloud" in f:
        cloud = _choice(f["cloud"], (o.cloud for o in cat.offerings.values()), "--cloud")
        offs = [o for o in offs if o.cloud == cloud]
    if "region" in f:
        region = _choice(f["region"], (o.region for o in cat.offerings.values()), "--region")
        offs = [o for o in offs if o.region == region]
    if "vendor" in f:
        vendor = _choice(f["vendor"], (g.vendor for g in cat.gpus.values()), "--vendor")
        offs = [o for o in offs if cat.gpus[o.gpu].vendor == vendor]
    if "family" in f:
        family = _choice(f["family"], (g.family for g in cat.gpus.values()), "--family")
        offs = [o for o in offs if cat.gpus[o.gpu].family == family]
    if "max_price" in f:
        price = _number(f["max_price"], "--max-price")
        offs = [o for o in offs if o.price_usd_per_hour <= price]
    if "min_memory_gb" in f:
        mem = _number(f["min_memory_gb"], "--min-memory-gb")
        offs = [o for o in offs if cat.gpus[o.gpu].memory_gb >= mem]
    return [_offering_row(o, cat.gpus[o.gpu]) for o in sorted(offs, key=lambda o: o.id)]


def _model_row(m: ModelArch) -> dict[str, Any]:
    row = m.model_dump(mode="json")
    row["family"] = model_family(m)
    row["total_params_b"] = round(m.total_params / 1e9, 3)
    row["active_params_b"] = round(m.active_params / 1e9, 3)
    row["kv_elements_per_token"] = m.kv_elements_per_token()
    return row


def _model_rows(cat: Catalog, f: Mapping[str, Any]) -> list[dict[str, Any]]:
    models = list(cat.models.values())
    if "model" in f:
        mid = _choice(f["model"], cat.models, "--model")
        models = [m for m in models if m.id == mid]
    if "family" in f:
        family = _choice(f["family"], (model_family(m) for m in cat.models.values()), "--family")
        models = [m for m in models if model_family(m) == family]
    return [_model_row(m) for m in sorted(models, key=lambda m: m.id)]


_ROWS: dict[str, Callable[[Catalog, Mapping[str, Any]], list[dict[str, Any]]]] = {
    "gpus": _gpu_rows,
    "offerings": _offering_rows,
    "models": _model_rows,
}


def _num(x: Any, digits: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and not x.is_integer():
        return f"{x:.{digits}f}"
    return f"{x:.0f}" if isinstance(x, int | float) else str(x)


def _columns(kind: str, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]], str]:
    """(headers, cells, caption) shared by the table and Markdown renderers; column 0 is the id."""
    caption = "all fields, sources and as_of: --format json"
    if kind == "gpus":
        headers = ["id", "family", "GB", "GB/s", "bf16 TF", "fp8 TF", "fp4 TF", "link GB/s", "PCIe", "TDP W"]
        cells = []
        for r in rows:
            tf = r["tflops"]
            link = r["interconnect"] + (f" {_num(r['interconnect_gbps'])}" if r["interconnect_gbps"] else "")
            cells.append([r["id"], r["family"], _num(r["memory_gb"]), _num(r["mem_bandwidth_gbps"], 0),
                          _num(tf.get("bf16", tf.get("fp16"))), _num(tf.get("fp8")), _num(tf.get("fp4")),
                          link, _num(r["pcie_gbps"]), _num(r["tdp_w"])])
    elif kind == "offerings":
        headers = ["id", "gpu", "GPUs", "$/h", "$/GPU-h", "spot $/h", "host GB"]
        cells = [[r["id"], r["gpu"], str(r["gpus_per_instance"]),
                  _num(r["price_usd_per_hour"], 2) + (" *" if r["uncertain"] else ""),
                  _num(r["price_usd_per_gpu_hour"], 2), _num(r["spot_price_usd_per_hour"], 2),
                  _num(r["cpu_mem_gb"], 0)] for r in rows]
        if any(r["uncertain"] for r in rows):
            caption = "* uncertain price or shape (see notes); " + caption
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


_LEFT = {"id", "family", "gpu"}


def _table(kind: str, rows: list[dict[str, Any]], version: str) -> Table:
    """A compact table; nothing is ever cut: every value keeps its full width and, when the terminal is
    narrow, the id (the one long column) wraps onto more lines instead. The rest is in --format json."""
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


def _markdown(kind: str, rows: list[dict[str, Any]], version: str) -> str:
    headers, cells, caption = _columns(kind, rows)
    align = ["---" if h in _LEFT else "---:" for h in headers]
    lines = [f"**{kind}** ({len(rows)}), catalog `{version}`", "", "| " + " | ".join(headers) + " |",
             "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    return "\n".join([*lines, "", caption, ""])


def _csv(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
                         for k, v in r.items()})
    return buf.getvalue()


def execute(kind: str, filters: dict[str, Any], overlays: tuple[Path, ...] = ()) -> Outcome:
    """List catalog `kind` (gpus, offerings, models) matching `filters` (None values are ignored)."""
    if kind not in KINDS:
        raise InputError(f"unknown catalog listing {kind!r}; valid: {', '.join(KINDS)}", where="catalog")
    active = _active_filters(kind, filters)
    cat = load_catalog(overlays=overlays)
    rows = _ROWS[kind](cat, active)
    data = {
        "kind": kind,
        "catalog_version": cat.version,
        "filters": {k: active[k] for k in sorted(active)},
        "count": len(rows),
        "rows": rows,
    }
    return Outcome(
        command=f"catalog {kind}",
        status="ok",
        data=data,
        renderers={
            "table": lambda: _table(kind, rows, cat.version),
            "md": lambda: _markdown(kind, rows, cat.version),
            "csv": lambda: _csv(rows),
        },
    )
