"""`gpuplan place`: the best offloading placement (GPU / CPU RAM / disk) of one model on one GPU.

The host is, in order: `--host-profile` (a catalog host id, or an offering id whose host is derived from
the instance), else the FlexGen paper machine (`flexgen-t4`); `--cpu-mem-gb` / `--disk-gb` override its
sizes. With neither a profile nor sizes the answer says that FlexGen's T4 host was assumed.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from catalog.loader import get_gpu, hint, load_catalog, resolve_model
from catalog.types import Catalog, HostProfile
from planner.errors import CatalogError, GpuplanError, InputError
from planner.outcome import Outcome
from planner.report._fmt import duration
from solvers.errors import PlacementInfeasible, SolverArgumentError
from solvers.placement_hosts import flexgen_t4_host, host_from_offering, host_id, host_with_sizes

if TYPE_CHECKING:
    from solvers.placement import PlacementResult, Policy

DEFAULT_HOST = "flexgen-t4"
FLAGS = {
    "input_len": "--input-len",
    "output_len": "--output-len",
    "weights": "--weights",
    "kv": "--kv",
    "max_latency_s": "--max-latency-s",
    "cpu_mem_gb": "--cpu-mem-gb",
    "disk_gb": "--disk-gb",
    "offering": "--host-profile",
}
"""The flag that sets each argument the placement solver may name in an error."""
HINTS = {"memory": " (--cpu-mem-gb / --disk-gb, or --weights int4)", "latency": " (--max-latency-s)"}


def _flag_error(err: SolverArgumentError) -> InputError:
    extra = " with --cpu-mem-gb (and --disk-gb)" if err.argument == "offering" else ""
    return InputError(err.message + extra, where=FLAGS.get(err.argument, err.argument))


def _placement() -> ModuleType:
    """`solvers.placement`, imported on use: its LP needs highspy, and without it this command should
    say so (exit 2) rather than fail with an internal error."""
    try:
        import solvers.placement as placement
    except ImportError as exc:
        if exc.name != "highspy":
            raise
        raise GpuplanError("gpuplan place needs highspy for its LP (pip install highspy)") from None
    return placement


def _host(catalog: Catalog, host_profile: str | None) -> tuple[HostProfile, list[str]]:
    notes: list[str] = []
    if host_profile is None:
        host = catalog.hosts.get(DEFAULT_HOST) or flexgen_t4_host()
        return host, notes
    key = host_profile.strip()
    known = catalog.hosts.get(key) or catalog.hosts.get(key.lower())
    if known is not None:
        return known, notes
    offering = catalog.offerings.get(key) or {k.lower(): v for k, v in catalog.offerings.items()}.get(key.lower())
    if offering is not None:
        shipped = catalog.hosts.get(host_id(offering))
        if shipped is not None:  # the catalog's host for this offering knows its local disk
            return shipped, notes
        gpu = catalog.gpus.get(offering.gpu)
        if gpu is None:
            raise CatalogError(f"offering {offering.id} names unknown gpu {offering.gpu!r}", where="--host-profile")
        notes.append(f"host derived from offering {offering.id} (assumptions: solvers/placement_hosts.py)")
        try:
            return host_from_offering(offering, gpu), notes
        except SolverArgumentError as err:
            raise _flag_error(err) from None
    choices = [*catalog.hosts, *catalog.offerings]
    raise CatalogError(
        f"unknown host profile {host_profile!r}; {hint(host_profile, choices)} "
        "(a host id from catalog/data/hosts.yaml or an offering id)",
        where="--host-profile",
    )


def _policy_dict(p: Policy) -> dict[str, Any]:
    return {
        "weights": p.weights.pct(),
        "kv_cache": p.kv_cache.pct(),
        "activations": p.activations.pct(),
        "gpu_batch_size": p.gpu_batch_size,
        "num_gpu_batches": p.num_gpu_batches,
        "sequences_per_block": p.block_size,
        "attention_on_cpu": p.cpu_attention,
    }


def result_data(r: PlacementResult, host: HostProfile, notes: list[str]) -> dict[str, Any]:
    """The JSON `data` of `place` (stable keys, units in names)."""
    runtime = _placement().FLEXGEN_RUNTIME
    c = r.cost
    return {
        "model": r.model,
        "gpu": r.gpu,
        "host": {
            "id": host.id,
            "cpu_mem_gb": host.cpu_mem_gb,
            "disk_gb": host.disk_gb,
            "cpu_to_gpu_gbps": host.cpu_to_gpu_gbps,
            "gpu_to_cpu_gbps": host.gpu_to_cpu_gbps,
            "disk_to_cpu_gbps": host.disk_to_cpu_gbps,
            "cpu_to_disk_gbps": host.cpu_to_disk_gbps,
            "source": host.source,
        },
        "input_len": r.input_len,
        "output_len": r.output_len,
        "weights_dtype": r.weights_dtype,
        "kv_dtype": r.kv_dtype,
        "max_latency_s": r.max_latency_s,
        "output_tokens_per_s": round(c.output_tokens_per_s, 4),
        "prefill_s": round(c.prefill_s, 3),
        "decode_s": round(c.decode_s, 3),
        "batch_latency_s": round(c.total_s, 3),
        "policy": _policy_dict(r.policy),
        "weights_tensors_on_gpu": r.weights_on_gpu_tensors,
        "weights_tensors": r.weights_tensors,
        "peak_memory_gb": {
            "gpu": round(c.peak_gpu_gb, 3),
            "cpu": round(c.peak_cpu_gb, 3),
            "disk": round(c.peak_disk_gb, 3),
        },
        "capacity_gb": {
            "gpu": round(c.gpu_capacity_gb, 3),
            "cpu": round(c.cpu_capacity_gb, 3),
            "disk": round(c.disk_capacity_gb, 3),
        },
        "memory_recheck": "passed" if c.fits else "failed",
        "binding_constraint": r.binding_constraint,
        "bottleneck": c.bottleneck,
        "lp_relaxation": {
            "output_tokens_per_s": round(r.lp_cost.output_tokens_per_s, 4),
            "policy": _policy_dict(r.lp_policy),
        },
        "runtime": {"source": runtime.source, "fit": runtime.fit},
        "notes": notes,
        "search": {"blocks_evaluated": r.blocks_evaluated, "lps_solved": r.lps_solved, "seconds": r.search_s},
    }


def _pct(d: dict[str, float]) -> str:
    return f"{d['gpu_pct']:g} / {d['cpu_pct']:g} / {d['disk_pct']:g}"


def _rows(data: dict[str, Any]) -> list[tuple[str, str]]:
    p = data["policy"]
    m, cap = data["peak_memory_gb"], data["capacity_gb"]
    return [
        ("throughput", f"{data['output_tokens_per_s']:.3g} output tokens/s"),
        (
            "block latency",
            f"{duration(data['batch_latency_s'])} (prefill {duration(data['prefill_s'])}, "
            f"decode {duration(data['decode_s'])})",
        ),
        (
            "block",
            f"{p['gpu_batch_size']} x {p['num_gpu_batches']} GPU batches = {p['sequences_per_block']} sequences",
        ),
        (
            "weights gpu/cpu/disk %",
            _pct(p["weights"]) + f"  ({data['weights_tensors_on_gpu']} of {data['weights_tensors']} tensors on GPU)",
        ),
        ("KV cache gpu/cpu/disk %", _pct(p["kv_cache"])),
        ("activations gpu/cpu/disk %", _pct(p["activations"])),
        ("attention over offloaded KV", "on CPU" if p["attention_on_cpu"] else "on GPU"),
        (
            "peak memory GB (capacity)",
            f"gpu {m['gpu']:.1f} ({cap['gpu']:.1f}), cpu {m['cpu']:.1f} "
            f"({cap['cpu']:.1f}), disk {m['disk']:.1f} ({cap['disk']:.1f})",
        ),
        ("binding constraint", data["binding_constraint"]),
        ("bottleneck", data["bottleneck"]),
        ("LP relaxation", f"{data['lp_relaxation']['output_tokens_per_s']:.3g} tokens/s before rounding"),
    ]


def _title(data: dict[str, Any]) -> str:
    return (
        f"place {data['model']} on {data['gpu']} + host {data['host']['id']} "
        f"(in {data['input_len']}, out {data['output_len']}, weights {data['weights_dtype']}, "
        f"kv {data['kv_dtype']})"
    )


def render_table(data: dict[str, Any]) -> Group:
    table = Table(title=_title(data), box=box.SIMPLE_HEAD, show_header=False, title_justify="left")
    table.add_column("what", style="bold")
    table.add_column("value")
    for k, v in _rows(data):
        table.add_row(k, v)
    parts: list[Any] = [table]
    parts += [Text(f"note: {n}") for n in data["notes"]]
    return Group(*parts)


def render_md(data: dict[str, Any]) -> str:
    out = [f"### {_title(data)}", "", "| what | value |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in _rows(data)]
    out += [""] + [f"- note: {n}" for n in data["notes"]]
    return "\n".join(out).rstrip() + "\n"


def execute(
    model: str,
    gpu: str,
    input_len: int,
    output_len: int,
    cpu_mem_gb: float | None,
    disk_gb: float | None,
    host_profile: str | None,
    weights: str,
    kv: str,
    max_latency_s: float | None,
    overlays: tuple[Path, ...],
) -> Outcome:
    """Resolve inputs, run the placement optimiser, and package the answer for the CLI."""
    placement = _placement()
    catalog = load_catalog(overlays)
    arch = resolve_model(catalog, model, "--model")
    g = get_gpu(catalog, gpu)
    host, notes = _host(catalog, host_profile)
    try:
        host = host_with_sizes(host, cpu_mem_gb, disk_gb)
    except SolverArgumentError as err:
        raise _flag_error(err) from None
    if host_profile is None:
        if cpu_mem_gb is None and disk_gb is None:
            notes.append(
                "no --host-profile or sizes given: assumed the FlexGen paper machine flexgen-t4 "
                "(208 GB RAM, 1.5 TB NVMe) and its measured bandwidths"
            )
        else:
            notes.append("bandwidths are the FlexGen paper machine's (flexgen-t4); sizes from the flags")
    try:
        r: PlacementResult = placement.place(
            arch,
            g,
            host,
            input_len,
            output_len,
            weights=weights.lower(),
            kv=kv.lower(),
            max_latency_s=max_latency_s,
        )
    except SolverArgumentError as err:
        raise _flag_error(err) from None
    except PlacementInfeasible as err:
        reason = err.message + HINTS.get(err.binding, "")
        data = {"model": arch.id, "gpu": g.id, "host": {"id": host.id}, "reason": reason, "notes": notes}
        return Outcome(
            command="place",
            status="infeasible",
            data=data,
            exit_code=1,
            errors=(reason,),
            renderers={
                "table": lambda: f"infeasible: {reason}\n",
                "md": lambda: f"**infeasible**: {reason}\n",
            },
        )
    if r.policy.weights.gpu >= 1.0 and r.policy.kv_cache.gpu >= 1.0 and r.policy.activations.gpu >= 1.0:
        notes.append(
            "everything fits on the GPU: no offloading needed (a serving engine will do better; see `gpuplan estimate`)"
        )
    data = result_data(r, host, notes)
    return Outcome(
        command="place",
        status="ok",
        data=data,
        renderers={"table": lambda: render_table(data), "md": lambda: render_md(data)},
    )
