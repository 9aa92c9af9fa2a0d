"""`gpuplan place` for people: one table (or Markdown table) of the placement, and its notes."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from planner.place import PlaceInfeasible, PlaceResult, Shares
from planner.report.escape import md
from planner.report.numbers import duration


def _pct(d: Shares) -> str:
    return f"{d.gpu_pct:g} / {d.cpu_pct:g} / {d.disk_pct:g}"


def _rows(r: PlaceResult) -> list[tuple[str, str]]:
    p = r.policy
    m, cap = r.peak_memory_gb, r.capacity_gb
    return [
        ("throughput", f"{r.output_tokens_per_s:.3g} output tokens/s"),
        (
            "block latency",
            f"{duration(r.batch_latency_s)} (prefill {duration(r.prefill_s)}, decode {duration(r.decode_s)})",
        ),
        ("block", f"{p.gpu_batch_size} x {p.num_gpu_batches} GPU batches = {p.sequences_per_block} sequences"),
        (
            "weights gpu/cpu/disk %",
            _pct(p.weights) + f"  ({r.weights_tensors_on_gpu} of {r.weights_tensors} tensors on GPU)",
        ),
        ("KV cache gpu/cpu/disk %", _pct(p.kv_cache)),
        ("activations gpu/cpu/disk %", _pct(p.activations)),
        ("attention over offloaded KV", "on CPU" if p.attention_on_cpu else "on GPU"),
        (
            "peak memory GB (capacity)",
            f"gpu {m.gpu:.1f} ({cap.gpu:.1f}), cpu {m.cpu:.1f} ({cap.cpu:.1f}), disk {m.disk:.1f} ({cap.disk:.1f})",
        ),
        ("binding constraint", r.binding_constraint),
        ("bottleneck", r.bottleneck),
        ("LP relaxation", f"{r.lp_relaxation.output_tokens_per_s:.3g} tokens/s before rounding"),
    ]


def _title(r: PlaceResult) -> str:
    return (
        f"place {r.model} on {r.gpu} + host {r.host.id} "
        f"(in {r.input_len}, out {r.output_len}, weights {r.weights_dtype}, kv {r.kv_dtype})"
    )


def render_place_table(r: PlaceResult | PlaceInfeasible) -> RenderableType:
    if isinstance(r, PlaceInfeasible):
        return f"infeasible: {r.reason}\n"
    table = Table(title=_title(r), box=box.SIMPLE_HEAD, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    for k, v in _rows(r):
        table.add_row(k, v)
    parts: list[RenderableType] = [table]
    parts += [Text(f"note: {n}") for n in r.notes]
    return Group(*parts)


def render_place_markdown(r: PlaceResult | PlaceInfeasible) -> str:
    if isinstance(r, PlaceInfeasible):
        return f"**infeasible**: {md(r.reason)}\n"
    out = [f"### {md(_title(r))}", "", "| what | value |", "|---|---|"]
    out += [f"| {md(k)} | {md(v)} |" for k, v in _rows(r)]
    out += [""] + [f"- note: {md(n)}" for n in r.notes]
    return "\n".join(out).rstrip() + "\n"
