"""`gpuplan place`: the best offloading placement (GPU / CPU RAM / disk) of one model on one GPU.

The host is, in order: `--host-profile` (a catalog host id, or an offering id whose host is derived from
the instance), else the FlexGen paper machine (`flexgen-t4`); `--cpu-mem-gb` / `--disk-gb` override its
sizes. With neither a profile nor sizes the answer says that FlexGen's T4 host was assumed.
"""

from __future__ import annotations

from pathlib import Path

from catalog.loader import get_gpu, hint, load_catalog, resolve_model
from catalog.types import Catalog, HostProfile
from planner.errors import CatalogError, InputError
from planner.outcome import Outcome
from planner.place import PlaceInfeasible, place, placement_module
from planner.report.place_report import render_place_markdown, render_place_table
from solvers.errors import SolverArgumentError
from solvers.placement_hosts import flexgen_t4_host, host_from_offering, host_id, host_with_sizes

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
"""What to change, by what binds in an infeasible placement."""


def _flag_error(err: SolverArgumentError) -> InputError:
    extra = " with --cpu-mem-gb (and --disk-gb)" if err.argument == "offering" else ""
    return InputError(err.message + extra, where=FLAGS.get(err.argument, err.argument))


def _host(catalog: Catalog, host_profile: str | None) -> tuple[HostProfile, list[str]]:
    notes: list[str] = []
    if host_profile is None:
        host = catalog.hosts.get(DEFAULT_HOST) or flexgen_t4_host()
        return host, notes
    key = host_profile.strip()
    known = catalog.hosts.get(key) or catalog.hosts.get(key.lower())
    if known is not None:
        return known, notes
    offering = catalog.offerings.get(key) or {k.lower(): v for k, v in catalog.offerings.items()}.get(
        key.lower()
    )
    if offering is not None:
        shipped = catalog.hosts.get(host_id(offering))
        if shipped is not None:  # the catalog's host for this offering knows its local disk
            return shipped, notes
        gpu = catalog.gpus.get(offering.gpu)
        if gpu is None:
            raise CatalogError(
                f"offering {offering.id} names unknown gpu {offering.gpu!r}", where="--host-profile"
            )
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
    placement_module()  # before any other work: without highspy, say so
    catalog = load_catalog(overlays)
    arch = resolve_model(catalog, model, "--model")
    g = get_gpu(catalog, gpu, "--gpu")
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
        result = place(
            arch,
            g,
            host,
            input_len,
            output_len,
            weights=weights.lower(),
            kv=kv.lower(),
            max_latency_s=max_latency_s,
            notes=tuple(notes),
            hints=HINTS,
        )
    except SolverArgumentError as err:
        raise _flag_error(err) from None
    infeasible = isinstance(result, PlaceInfeasible)
    return Outcome(
        command="place",
        status="infeasible" if infeasible else "ok",
        data=result,
        renderers={"table": lambda: render_place_table(result), "md": lambda: render_place_markdown(result)},
        exit_code=1 if infeasible else 0,
        errors=(result.reason,) if isinstance(result, PlaceInfeasible) else (),
    )
