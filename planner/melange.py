"""Mélange inputs: read and validate them, and turn them into a fleet problem or a native gpuplan spec.

Mélange (Griggs et al., arXiv 2404.14527; github.com/tyler-griggs/melange-release) takes one JSON:
``{"gpu_info": {NAME: {"cost": $/h, "tputs": [[req/s per (input bucket i, output bucket j)]]}},
"workload_distribution": [[share of requests in (i, j)]], "total_request_rate": req/s,
"slice_factor": int}``. Each GPU is rented singly; ``tputs[i][j]`` is the highest request rate one GPU
sustains for requests of bucket (i, j) within Mélange's SLO (the SLO is baked in; 0 = cannot serve).

Mapping to gpuplan:

- one offering per Mélange GPU entry: id ``melange:-:<name>`` (the catalog's ``<cloud>:<region>:<instance_type>``
  with cloud ``melange``, region ``-`` and the Mélange name as instance type), 1 GPU per instance,
  price = ``cost``; the GPU is mapped to a catalog GPU id (`GPU_IDS`). A bare "A100" is the 80 GB part
  and "H100" the 80 GB SXM part, the GPUs of the Mélange paper's evaluation.
- one candidate per offering (tp 1), capacity = ``tputs``; target utilisation 1 and no minimum replica
  count, as in Mélange.
- one slice per bucket with a positive share, rate = share x total_request_rate. Zero-share buckets are
  left out (they carry no traffic). In the spec, the profile is `exclusive`, so a bucket a GPU cannot
  serve (``tputs`` 0) simply has no measured point.
- `whole-slice` mode with Mélange's ``slice_factor`` reproduces Mélange's own ILP answer; gpuplan's
  default `fractional` mode is never costlier and is the true optimum of the same data.

Reading and validating the input is planner.melange_input's job (`parse_melange`, `read_melange`);
this module maps a validated input.

Mélange stores no bucket edges, so the spec written by `melange_spec` labels bucket (i, j) with the
ordinal lengths ``input_len = i + 1``, ``output_len = j + 1``. They are placeholders that name buckets,
not token counts: the capacities are given per bucket, so nothing is estimated from them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.loader import load_catalog
from planner.errors import did_you_mean
from planner.inputs import PlanInputs
from planner.melange_input import MelangeInput, _fail, _key_path, _read, parse_melange
from planner.spec import parse_spec
from solvers.types import FleetCandidate, FleetOffering, FleetProblem, FleetSlice

MODEL_LABEL = "melange"
PLACEHOLDER_SLO_MS = 1.0e9  # Mélange bakes its SLO into `tputs`; the spec needs a value

GPU_IDS: dict[str, str] = {
    "t4": "t4",
    "l4": "l4",
    "a10": "a10",
    "a10g": "a10g",
    "l40s": "l40s",
    "a6000": "rtx-a6000",
    "rtx-a6000": "rtx-a6000",
    "4090": "rtx-4090",
    "rtx-4090": "rtx-4090",
    "v100": "v100",
    "v100-16gb": "v100",
    "v100-32gb": "v100-32gb",
    "a100": "a100-80gb",  # the Mélange paper evaluates the 80 GB A100
    "a100-80gb": "a100-80gb",
    "a100-80g": "a100-80gb",
    "a100-40gb": "a100-40gb",
    "a100-40g": "a100-40gb",
    "h100": "h100-sxm",  # the Mélange paper's H100 80 GB (SXM)
    "h100-80gb": "h100-sxm",
    "h100-80g": "h100-sxm",
    "h100-sxm": "h100-sxm",
    "h100-pcie": "h100-pcie",
    "h200": "h200",
    "b200": "b200",
    "mi300x": "mi300x",
}
"""Mélange GPU names (normalised: lower case, spaces/underscores as dashes, no 'nvidia-') -> catalog GPU id."""

GPU_MEMORY_GB: dict[str, int] = {
    "t4": 16,
    "l4": 24,
    "a10": 24,
    "a10g": 24,
    "l40s": 48,
    "rtx-a6000": 48,
    "rtx-4090": 24,
    "v100": 16,
    "v100-32gb": 32,
    "a100-80gb": 80,
    "a100-40gb": 40,
    "h100-sxm": 80,
    "h100-pcie": 80,
    "h200": 141,
    "b200": 180,
    "mi300x": 192,
}
"""Memory of each mapped GPU (the shipped catalog's `memory_gb`; a test keeps them equal). A memory size in a
Mélange name ("A100-90GB") must match the GPU it maps to, so a typo in it is an error, not another part."""

_MEMORY_SEGMENT = re.compile(r"(\d+)gb?")


def normalise_gpu_name(name: str) -> str:
    key = re.sub(r"[\s_]+", "-", name.strip().lower())
    return key.removeprefix("nvidia-")


def catalog_gpu_id(name: str, source: str = "input") -> str | None:
    """The catalog GPU id for a Mélange GPU name, or None when the name matches no catalog GPU (the GPU is
    then opaque: known only by the input's capacities and price, see `opaque_gpu`).

    A name that is a known name followed by "-something" (e.g. "A10G-spot", "H100-SXM-us-east") maps
    to the longest such known name, so one input may list several offerings of one GPU. A memory size
    anywhere in a matched name ("-40GB", "-80G") must be that GPU's: "A100-90GB" is an error (a typo of a
    known part, not another GPU).
    """
    key = normalise_gpu_name(name)
    gpu = GPU_IDS.get(key)
    if gpu is None:
        prefixes = [k for k in GPU_IDS if key.startswith(k + "-")]
        gpu = GPU_IDS[max(prefixes, key=len)] if prefixes else None
    if gpu is None:
        return None
    sizes = {int(m.group(1)) for part in key.split("-") if (m := _MEMORY_SEGMENT.fullmatch(part))}
    if sizes <= {GPU_MEMORY_GB[gpu]}:
        return gpu
    hint = f"{gpu} has {GPU_MEMORY_GB[gpu]} GB, not {' or '.join(f'{n} GB' for n in sorted(sizes))}"
    raise _fail(
        source, _key_path("gpu_info", name), f"unknown GPU name {name!r} ({hint}); {did_you_mean(key, GPU_IDS)}"
    )


OPAQUE_FAMILY = "opaque"


def opaque_gpu_id(name: str, taken: set[str]) -> str:
    """A catalog id for a GPU the catalog does not know: `melange-<name>` in catalog id characters, with a
    number added when two names clean up to the same id."""
    stem = "melange-" + (re.sub(r"[^a-z0-9._-]+", "-", normalise_gpu_name(name)).strip("-._") or "gpu")
    ident, k = stem, 2
    while ident in taken:
        ident, k = f"{stem}-{k}", k + 1
    return ident


def opaque_gpu(ident: str, name: str, source_name: str, as_of: str) -> dict[str, Any]:
    """The catalog entry of an opaque GPU. Its capacities are all in the input (an exclusive measured
    profile), so nothing is ever estimated from it: the catalog schema wants physical figures, and they
    are the smallest valid ones, marked as placeholders (family "opaque", confidence low)."""
    return {
        "id": ident,
        "name": name,
        "vendor": "other",
        "family": OPAQUE_FAMILY,
        "memory_gb": 1,
        "mem_bandwidth_gb_per_s": 1,
        "tflops": {"bf16": 1},
        "pcie_gb_per_s": 1,
        "source": f"Mélange input {source_name} (a GPU name the catalog does not know)",
        "as_of": as_of,
        "confidence": "low",
        "notes": "opaque: capacities and price come from the Mélange input; memory, bandwidth and TFLOPS are "
        "placeholders that nothing reads",
    }


def gpu_ids(inp: MelangeInput) -> dict[str, str]:
    """Mélange GPU name -> catalog GPU id (a catalog GPU, or the id of an opaque one)."""
    out: dict[str, str] = {}
    taken = set(GPU_IDS.values())
    for g in inp.gpus:
        gpu = catalog_gpu_id(g.name, inp.source)
        if gpu is None:
            gpu = opaque_gpu_id(g.name, taken)
            taken.add(gpu)
        out[g.name] = gpu
    return out


def offering_id(name: str) -> str:
    """`<cloud>:<region>:<instance_type>` as the catalog requires: cloud "melange", region "-"."""
    return f"melange:-:{name}"


def slice_id(i: int, j: int) -> str:
    return f"bucket-{i}-{j}"


def melange_inputs(path: Path, *, as_of: str) -> tuple[PlanInputs, tuple[str, ...]]:
    """`gpuplan plan --melange INPUT.json`: the input planned directly, as the spec `import melange` would
    write (the same mapping, `melange_spec`), built in memory: no YAML is written and read back, which at
    40 GPU types x 400 buckets cost more than the plan. Returns the inputs and a notice naming the GPU
    names the catalog does not know (planned as opaque GPUs)."""
    inp, digest = _read(path)
    spec = parse_spec(melange_spec(inp, source_name=path.name, as_of=as_of), f"the plan of {path}")
    catalog = load_catalog(inline=spec.catalog, base_dir=path.resolve().parent)
    ids = gpu_ids(inp)
    known = set(GPU_IDS.values())
    opaque = [g.name for g in inp.gpus if ids[g.name] not in known]
    shown = ", ".join(opaque[:5]) + (f" and {len(opaque) - 5} more" if len(opaque) > 5 else "")
    notices = (
        (
            f"{path.name}: {len(opaque)} GPU name(s) not in the catalog ({shown}): planned as opaque GPUs with "
            "the input's capacities and prices",
        )
        if opaque
        else ()
    )
    return PlanInputs(spec, catalog, path.resolve().parent, digest), notices


def _coerce(data: MelangeInput | Mapping[str, Any]) -> MelangeInput:
    return data if isinstance(data, MelangeInput) else parse_melange(dict(data))


# -------------------------------------------------------------------------------------- problem
def melange_problem(
    data: MelangeInput | Mapping[str, Any], *, mode: Literal["fractional", "whole-slice"] = "fractional"
) -> FleetProblem:
    """The fleet problem of a Mélange input (a decoded JSON dict or a parsed `MelangeInput`)."""
    inp = _coerce(data)
    offerings = tuple(FleetOffering(offering_id(g.name), g.cost_usd_per_hour, 1) for g in inp.gpus)
    candidates = tuple(FleetCandidate(f"{o.id}/tp1", o.id, MODEL_LABEL, 1) for o in offerings)
    slices = []
    capacity = []
    for i, row in enumerate(inp.distribution):
        for j, share in enumerate(row):
            if share > 0:
                slices.append(FleetSlice(slice_id(i, j), MODEL_LABEL, share * inp.total_request_rate_rps))
                capacity.append(tuple(g.tputs_rps[i][j] for g in inp.gpus))
    return FleetProblem(
        offerings=offerings,
        candidates=candidates,
        slices=tuple(slices),
        capacity_rps=tuple(capacity),
        target_utilisation=1.0,
        min_replicas={},
        mode=mode,
        slice_factor=inp.slice_factor,
    )


# ----------------------------------------------------------------------------------------- spec
def melange_spec(data: MelangeInput | Mapping[str, Any], *, source_name: str, as_of: str) -> dict[str, Any]:
    """A native spec (as a plain dict, ready for YAML) equivalent to the Mélange input."""
    inp = _coerce(data)
    bins = []
    points = []
    for i, row in enumerate(inp.distribution):
        for j, share in enumerate(row):
            if share > 0:
                bins.append({"input_len": i + 1, "output_len": j + 1, "share": share})
                for g in inp.gpus:
                    if g.tputs_rps[i][j] <= 0:
                        continue  # exclusive profile: a missing point means "cannot serve"
                    points.append(
                        {
                            "offering": offering_id(g.name),
                            "input_len": i + 1,
                            "output_len": j + 1,
                            "capacity_rps": g.tputs_rps[i][j],
                        }
                    )
    ids = gpu_ids(inp)
    known = set(GPU_IDS.values())
    opaque = [opaque_gpu(ids[g.name], g.name, source_name, as_of) for g in inp.gpus if ids[g.name] not in known]
    offerings = [
        {
            "id": offering_id(g.name),
            "cloud": "melange",
            "region": "-",
            "instance_type": g.name,
            "gpu": ids[g.name],
            "gpus_per_instance": 1,
            "price_usd_per_hour": g.cost_usd_per_hour,
            "source": f"Mélange input {source_name}",
            "as_of": as_of,
        }
        for g in inp.gpus
    ]
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(source_name).stem) or "input"
    return {
        "schema_version": 1,
        "name": f"melange-{stem}",
        "models": [
            {
                "name": MODEL_LABEL,
                "model": MODEL_LABEL,
                "workload": {"rate_rps": inp.total_request_rate_rps, "histogram": bins},
                "slo": {"ttft_ms": PLACEHOLDER_SLO_MS, "tpot_ms": PLACEHOLDER_SLO_MS},
                "min_replicas": 0,
            }
        ],
        "offerings": {"include": [o["id"] for o in offerings]},
        "search": {"tp": [1], "target_utilisation": 1.0},
        "solver": {"mode": "fractional", "slice_factor": inp.slice_factor},
        "profiles": [{"model": MODEL_LABEL, "exclusive": True, "capacities": points}],
        "catalog": {"gpus": opaque, "offerings": offerings} if opaque else {"offerings": offerings},
    }


class MelangeImport(BaseModel):
    """What `gpuplan import melange` produces: a native spec (as plain data) and the file it came from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="the Mélange input's file name")
    spec: dict[str, Any] = Field(description="a gpuplan spec (the YAML written by the command, as data)")
