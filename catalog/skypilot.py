"""Import SkyPilot catalog files (github.com/skypilot-org/skypilot-catalog) into offerings.

Reads a `vms.csv` of any cloud (schema v6-v8) by column name, or a whole catalog folder laid out as
`<cloud>/vms.csv` (`import_skypilot_dir`). Every source row ends in exactly one `RowOutcome`: it
became an offering, was folded into one (another zone or a GPU attachment price of the same
machine), or was skipped with a reason; nothing is dropped silently.

Rules, in the order they apply:

- **Offering** = (instance type, region). Rows per availability zone are folded: on-demand and spot
  are the lowest over regular zones (AWS Local/Wavelength zones only when a region has nothing else).
- **GPU** = the accelerator name, spelt per cloud (`H100_SXM5`, `H100-80G-PCIe`, `RTX PRO 6000 96GB`),
  normalised and then split into the catalog's variants by form factor (PCIe/SXM/NVL in the name,
  the instance type or GpuInfo), by the per-GPU memory GpuInfo reports, and by instance families known
  to use a variant (`_INSTANCE_GPU`). The reported memory must match the chosen GPU within 15%
  (a 48 GB modded RTX 4090 is not an RTX 4090). Unknown accelerators are skipped and reported.
- **GpuInfo memory units differ per cloud** (`CloudRules.gpu_memory`): MiB per GPU (most), GB per GPU
  (shadeform), MiB for all GPUs together (vast, primeintellect). GpuInfo is a Python literal, read with
  a parser that also takes JSON's `null`/`true`/`false` (hyperstack).
- **Prices**: an empty price is missing, not zero. A spot price of 0 is a placeholder (vast lists 0.00
  on every row), a spot price not below on-demand is no spot offer (mithril), a spot price below 15% of
  on-demand is kept but flagged `spot_suspect`; an on-demand price outside $0.05-$20 per GPU-hour is kept
  but flagged `price_suspect`. A row with only a spot price is folded into its on-demand twin
  (`...__SPOT`, `...-spot`) when there is one, else it becomes a `preemptible` offering.
- **GCP** bills GPUs apart from the machine: rows without InstanceType (in `vms.csv`, or in a separate
  accelerator price file) are attachment prices; an offering is priced attachment + VM part of the
  same region, and a machine without an attachment row is skipped.
- **Resellers**: the upstream provider named in the instance type (shadeform `lambdalabs_...`,
  primeintellect `datacrunch__...`) or a `Provider` column (spheron) is kept in `upstream`.
- **Host shape**: vCPUs/MemoryGiB are dropped where they are fixed request values (vast).
- A row without a region is kept as region `unspecified`, marked uncertain.
"""

from __future__ import annotations

import ast
import csv
import datetime
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from catalog.types import MAX_CATALOG_NUMBER, Gpu, Offering
from common.errors import InputError
from common.files import read_text, shown_value

GIB_TO_GB = 1.073741824
REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")
ATTACHMENT_COLUMNS = ("AcceleratorName", "AcceleratorCount", "Price", "Region")
GCP_ACCELERATOR_FILES = ("accelerators.csv", "gpus.csv")
"""Names a separate GCP accelerator price file may have next to gcp/vms.csv (v8 keeps them in vms.csv)."""

SPOT_SUSPECT_RATIO = 0.15
"""A spot price below this share of on-demand is flagged (Azure's 88-90% discounts were 0.10-0.12)."""
PER_GPU_HOUR_RANGE = (0.05, 20.0)
"""On-demand $/GPU-hour outside this range is flagged as suspect."""
MAX_GPU_MIB = 2**30
"""A GpuInfo SizeInMiB at or above this (1 PiB per GPU) is no GPU's; read as absent."""
MEMORY_TOLERANCE = 0.15
"""Largest relative gap between GpuInfo's per-GPU memory and the catalog GPU's memory."""
UNSPECIFIED_REGION = "unspecified"

MemoryUnit = Literal["mib_per_gpu", "gb_per_gpu", "mib_total"]
Status = Literal["offering", "folded", "skipped"]


@dataclass(frozen=True)
class CloudRules:
    """How one cloud's file departs from the schema (see the module doc)."""

    gpu_memory: MemoryUnit = "mib_per_gpu"
    spot_placeholder: bool = False
    host_shape: bool = True
    reseller_separator: str = ""
    placeholder_regions: tuple[str, ...] = ()


CLOUD_RULES: dict[str, CloudRules] = {
    "vast": CloudRules(gpu_memory="mib_total", spot_placeholder=True, host_shape=False),
    "primeintellect": CloudRules(gpu_memory="mib_total", reseller_separator="__"),
    "shadeform": CloudRules(gpu_memory="gb_per_gpu", reseller_separator="_"),
    "hyperbolic": CloudRules(placeholder_regions=("default",)),
    "daytona": CloudRules(placeholder_regions=("earth",)),
}
"""Per-cloud departures, checked against the snapshot in catalog/data/skypilot (see its README)."""

UPSTREAM_ALIASES: dict[str, str] = {
    "lambdalabs": "lambda",
    "datacrunch": "verda",
    "data-crunch": "verda",
    "crusoecloud": "crusoe",
    "massed-compute": "massedcompute",
    "spheron-ai": "spheron",
}
"""Reseller prefixes that name a cloud the catalog knows under another name."""

# --------------------------------------------------------------------------------------------------
# accelerator names
# --------------------------------------------------------------------------------------------------
_NAME_FAMILY: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), fam)
    for p, fam in (
        (r"^GH200", "gh200"),
        (r"^H100NVL", "h100-nvl"),
        (r"^H100", "h100"),
        (r"^H200", "h200"),
        (r"^B200", "b200"),
        (r"^B300", "b300"),
        (r"^A100", "a100"),
        (r"^A800", "a800"),
        (r"^A10G$", "a10g"),
        (r"^A10$", "a10"),
        (r"^A16", "a16"),
        (r"^A30$", "a30"),
        (r"^A40$", "a40"),
        (r"^(RTX)?A4000", "rtx-a4000"),
        (r"^(RTX)?A5000", "rtx-a5000"),
        (r"^(RTX)?A6000", "rtx-a6000"),
        (r"^RTX6000ADA", "rtx-6000-ada"),
        (r"^RTXPRO6000", "rtx-pro-6000"),
        (r"^RTX6000$", "quadro-rtx-6000"),
        (r"^RTX3090", "rtx-3090"),
        (r"^RTX4090", "rtx-4090"),
        (r"^RTX5090", "rtx-5090"),
        (r"^L40S", "l40s"),
        (r"^L40", "l40"),
        (r"^L4", "l4"),
        (r"^T4$", "t4"),
        (r"^V100", "v100"),
        (r"^MI250X", "mi250x"),
        (r"^MI300X", "mi300x"),
        (r"^MI325X", "mi325x"),
        (r"^MI355X", "mi355x"),
    )
)
"""Normalised accelerator name (upper case, letters and digits only) -> GPU family; first match wins."""

SKYPILOT_ACCELERATOR: dict[str, str] = {
    "t4": "T4", "a10g": "A10G", "a10": "A10", "a16": "A16", "a30": "A30", "a40": "A40",
    "a100-40gb": "A100", "a100-40gb-pcie": "A100", "a100-80gb": "A100-80GB", "a100-80gb-pcie": "A100-80GB",
    "a800-80gb-pcie": "A800", "rtx-a4000": "A4000", "rtx-a5000": "A5000", "rtx-a6000": "A6000",
    "rtx-3090": "RTX3090", "rtx-4090": "RTX4090", "rtx-5090": "RTX5090", "quadro-rtx-6000": "RTX6000",
    "rtx-6000-ada": "RTX6000-Ada", "rtx-pro-6000": "RTXPRO6000", "l4": "L4", "l40": "L40", "l40s": "L40S",
    "v100": "V100", "v100-pcie": "V100", "v100-32gb": "V100-32GB", "v100-32gb-pcie": "V100-32GB",
    "h100-sxm": "H100", "h100-pcie": "H100", "h100-nvl": "H100-NVL", "h200": "H200", "gh200": "GH200",
    "b200": "B200", "b300": "B300", "mi300x": "MI300X", "mi325x": "MI325X", "mi355x": "MI355X",
}
"""Catalog GPU id -> the accelerator name SkyPilot users write (`accelerators: H100:8`); the common
spelling of the AWS/GCP/Azure/Lambda catalogs where clouds differ."""


def accelerator_name(gpu_id: str) -> str | None:
    """SkyPilot's accelerator name for a catalog GPU id, or None when SkyPilot has none gpuplan knows."""
    return SKYPILOT_ACCELERATOR.get(gpu_id)


_INSTANCE_GPU: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("azure", re.compile(r"^Standard_NC\d+ads_A100_v4$"), "a100-80gb-pcie"),
    ("azure", re.compile(r"^Standard_NC\d+adi?s_H100_v5$"), "h100-nvl"),
    ("azure", re.compile(r"^Standard_NC\d+s_v3$"), "v100-pcie"),
    ("lambda", re.compile(r"^gpu_[124]x_a100$"), "a100-40gb-pcie"),
    ("runpod", re.compile(r"^\d+x_A100-80GB_"), "a100-80gb-pcie"),
)
"""Instance families whose GPU variant the accelerator name does not tell (see SOURCES.md)."""

_COUNT_FIXES: dict[tuple[str, str], tuple[int, str]] = {
    ("azure", "Standard_ND96isr_H100_v5"): (
        8, "UNCERTAIN: the SkyPilot catalog lists AcceleratorCount 12 for this 8-GPU type; 8 is used."),
}
"""Known errors in SkyPilot rows: (cloud, instance type) -> (GPU count, note)."""

_AWS_REGULAR_ZONE = re.compile(r"^([a-z]{2,4}\d-az\d+|[a-z]{2}(-gov)?-[a-z]+-\d[a-z])$")
_SPOT_TOKEN = re.compile(r"(?i)(__|_|-)spot(?=__|$)")
_NVL = re.compile(r"NVL(?!INK)")


def normalise_accelerator(name: str) -> str:
    """`H100-80G-PCIe` -> `H10080GPCIE`: the form every cloud's spelling is matched in."""
    return re.sub(r"[^A-Z0-9]", "", name.upper())


def _is_pcie(*texts: str) -> bool:
    return any("PCI" in t.upper() for t in texts)


def gpu_for(
    cloud: str,
    instance_type: str,
    accelerator: str,
    gpu_info: str = "",
    memory_gib: float | None = None,
) -> str | None:
    """The catalog GPU id of a SkyPilot row, or None when the catalog has no such GPU.

    `gpu_info` is any text that may name the form factor (GpuInfo's Name); `memory_gib` is the
    per-GPU memory GpuInfo reports, used to tell the 40/80 GB A100, 16/32 GB V100 and 80/94 GB H100.
    """
    for c, pattern, gid in _INSTANCE_GPU:
        if c == cloud and pattern.match(instance_type):
            return gid
    key = normalise_accelerator(accelerator)
    family = next((fam for pattern, fam in _NAME_FAMILY if pattern.search(key)), None)
    if family is None:
        return None
    pcie = _is_pcie(key, instance_type, gpu_info)
    if family == "a100":
        big = "80G" in key or (memory_gib is not None and memory_gib > 60)
        return ("a100-80gb" if big else "a100-40gb") + ("-pcie" if pcie else "")
    if family == "h100":
        if _NVL.search(key) or (memory_gib is not None and memory_gib > 88):
            return "h100-nvl"
        return "h100-pcie" if pcie else "h100-sxm"
    if family == "v100":
        big = "32G" in key or (memory_gib is not None and memory_gib > 24)
        return ("v100-32gb" if big else "v100") + ("-pcie" if pcie else "")
    if family == "a800":
        return "a800-80gb-pcie" if pcie else "a800-80gb"
    return family


# --------------------------------------------------------------------------------------------------
# reading rows
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Row:
    line: int
    instance_type: str
    accelerator: str
    count: float
    vcpus: float | None
    memory_gib: float | None
    gpu_info: str
    price: float | None
    spot: float | None
    region: str
    zone: str
    provider: str


@dataclass(frozen=True)
class RowOutcome:
    """What became of one source row."""

    cloud: str
    line: int
    instance_type: str
    region: str
    accelerator: str
    status: Status
    offering: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ImportReport:
    """What an import produced, and the outcome of every GPU row it read."""

    offerings: tuple[Offering, ...]
    rows: tuple[RowOutcome, ...] = ()

    @property
    def skipped(self) -> tuple[tuple[str, str], ...]:
        """(`instance_type (region)`, reason) of every skipped row."""
        return tuple((f"{r.instance_type} ({r.region})", r.reason) for r in self.rows if r.status == "skipped")

    def unknown_accelerators(self) -> dict[str, int]:
        """Accelerator names without a catalog GPU -> number of rows, for reporting."""
        counts = Counter(r.accelerator for r in self.rows if r.reason.startswith(UNKNOWN_GPU))
        return dict(sorted(counts.items()))

    def counts(self) -> dict[str, int]:
        return dict(Counter(r.status for r in self.rows))


UNKNOWN_GPU = "no GPU spec in the catalog for accelerator"


def _float(value: str | None, column: str, line: int, path: Path) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"line {line}: column {column} must be a number, got {shown_value(value)}",
                         where=str(path)) from None
    if math.isnan(x):
        return None
    if math.isinf(x) or x < 0 or x > MAX_CATALOG_NUMBER:
        raise InputError(f"line {line}: column {column} must be a number from 0 to {MAX_CATALOG_NUMBER:.0e}, "
                         f"got {shown_value(value)}",
                         where=str(path))
    return x


def _read_rows(path: Path, required: tuple[str, ...] = REQUIRED_COLUMNS) -> list[_Row]:
    text = read_text(path, "SkyPilot catalog CSV", "CSV")  # a regular file, bounded (a FIFO or /dev/zero: exit 2)
    rows: list[_Row] = []
    try:
        reader = csv.DictReader(text.splitlines())
        header = reader.fieldnames or []
        missing = [c for c in required if c not in header]
        if missing:
            raise InputError(
                f"not a SkyPilot vms.csv: missing column(s) {', '.join(missing)} "
                f"(expected {', '.join(required)}, ...)", where=str(path))
        for i, rec in enumerate(reader, start=2):
            rows.append(_Row(
                line=i,
                instance_type=(rec.get("InstanceType") or "").strip(),
                accelerator=(rec.get("AcceleratorName") or "").strip(),
                count=_float(rec.get("AcceleratorCount"), "AcceleratorCount", i, path) or 0.0,
                vcpus=_float(rec.get("vCPUs"), "vCPUs", i, path),
                memory_gib=_float(rec.get("MemoryGiB"), "MemoryGiB", i, path),
                gpu_info=rec.get("GpuInfo") or "",
                price=_float(rec.get("Price"), "Price", i, path),
                spot=_float(rec.get("SpotPrice"), "SpotPrice", i, path),
                region=(rec.get("Region") or "").strip(),
                zone=(rec.get("AvailabilityZone") or "").strip(),
                provider=(rec.get("Provider") or "").strip(),
            ))
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", where=str(path)) from None
    return rows


_LITERAL_NAMES: dict[str, object] = {
    "null": None, "None": None, "true": True, "True": True, "false": False, "False": False,
}


def parse_gpu_info(text: str) -> object:
    """GpuInfo as a Python object: a Python literal, also with JSON's null/true/false; None if unreadable."""
    def conv(node: ast.AST) -> object:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name) and node.id in _LITERAL_NAMES:
            return _LITERAL_NAMES[node.id]
        if isinstance(node, ast.Dict):
            return {conv(k): conv(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None}
        if isinstance(node, ast.List | ast.Tuple):
            return [conv(e) for e in node.elts]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = conv(node.operand)
            if isinstance(value, int | float):
                return -value
        raise ValueError("not a literal")

    if not text.strip():
        return None
    try:
        return conv(ast.parse(text.strip(), mode="eval").body)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):  # TypeError: a list as a key
        return None


def gpu_info_fields(text: str) -> tuple[str, float | None]:
    """(GPU name, SizeInMiB of Gpus[0].MemoryInfo) from GpuInfo; ('', None) where absent."""
    info = parse_gpu_info(text)
    if not isinstance(info, dict):
        return "", None
    gpus = info.get("Gpus")
    first = gpus[0] if isinstance(gpus, list) and gpus and isinstance(gpus[0], dict) else {}
    name = first.get("Name")
    mem = first.get("MemoryInfo")
    size = mem.get("SizeInMiB") if isinstance(mem, dict) else None
    label = name if isinstance(name, str) else ""
    if isinstance(size, int | float) and not isinstance(size, bool) and 0 < size < MAX_GPU_MIB:
        return label, float(size)
    return label, None  # absent, not a number, or no GPU's (nan, inf, a 400-digit integer)


def per_gpu_memory_gib(rules: CloudRules, size: float | None, count: float) -> float | None:
    """The per-GPU memory in GiB from GpuInfo's SizeInMiB, in the cloud's unit."""
    if size is None:
        return None
    if rules.gpu_memory == "gb_per_gpu":
        return size / GIB_TO_GB
    if rules.gpu_memory == "mib_total":
        return size / 1024 / count if count > 0 else None
    return size / 1024


# --------------------------------------------------------------------------------------------------
# import
# --------------------------------------------------------------------------------------------------
def _regular(cloud: str, rows: list[_Row]) -> list[_Row]:
    """Rows outside AWS Local/Wavelength zones, unless those are all there is."""
    if cloud != "aws":
        return rows
    regular = [r for r in rows if not r.zone or _AWS_REGULAR_ZONE.match(r.zone)]
    return regular or rows


def _min(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _upstream(rules: CloudRules, row: _Row) -> str:
    if row.provider:
        name = row.provider.lower()
    elif rules.reseller_separator and rules.reseller_separator in row.instance_type:
        name = row.instance_type.split(rules.reseller_separator, 1)[0].lower()
    else:
        return ""
    return UPSTREAM_ALIASES.get(name, name)


def _memory_mismatch(gpu: Gpu, memory_gib: float | None) -> str:
    """Why the reported memory rules this GPU out, or ''."""
    if memory_gib is None:
        return ""
    listed = gpu.device_memory_bytes / 2**30
    if abs(memory_gib / listed - 1) <= MEMORY_TOLERANCE:
        return ""
    return f"GpuInfo reports {memory_gib:.0f} GiB per GPU, {gpu.id} has {gpu.memory_gb:g} GB (a different product)"


@dataclass
class _Builder:
    """Turns grouped rows into offerings and outcomes for one cloud file."""

    cloud: str
    rules: CloudRules
    gpus: Mapping[str, Gpu] | None
    source: str
    as_of: str
    offerings: list[Offering] = field(default_factory=list)
    outcomes: list[RowOutcome] = field(default_factory=list)

    def outcome(self, row: _Row, status: Status, offering: str = "", reason: str = "") -> None:
        self.outcomes.append(RowOutcome(self.cloud, row.line, row.instance_type, row.region or "",
                                        row.accelerator, status, offering, reason))

    def skip(self, rows: Iterable[_Row], reason: str) -> None:
        for r in rows:
            self.outcome(r, "skipped", reason=reason)

    def resolve_gpu(self, itype: str, first: _Row) -> tuple[str | None, str]:
        """(GPU id, '') or (None, reason)."""
        info_name, size = gpu_info_fields(first.gpu_info)
        mem = per_gpu_memory_gib(self.rules, size, first.count)
        gid = gpu_for(self.cloud, itype, first.accelerator, info_name, mem)
        if gid is None or (self.gpus is not None and gid not in self.gpus):
            return None, f"{UNKNOWN_GPU} {first.accelerator!r}" + (f" ({gid})" if gid else "")
        if self.gpus is not None:
            mismatch = _memory_mismatch(self.gpus[gid], mem)
            if mismatch:
                return None, mismatch
        return gid, ""

    def build(
        self, itype: str, region: str, group: list[_Row], price: float | None, spot: float | None,
        notes: list[str], *, uncertain: bool = False, count: int | None = None,
    ) -> None:
        """One offering from the rows of (itype, region); `price`/`spot` as folded by the caller."""
        first = group[0]
        gid, reason = self.resolve_gpu(itype, first)
        if gid is None:
            self.skip(group, reason)
            return
        n = count if count is not None else int(first.count)
        preemptible = False
        if price is None and spot is None:
            self.skip(group, "no price (Price and SpotPrice empty)")
            return
        spot_suspect = price_suspect = ""
        if spot is not None and spot == 0:
            notes.append("Spot price 0 in the source is a placeholder, not a free GPU; recorded as no spot.")
            spot = None
        if price is None:
            preemptible = True
            price, spot = spot, None
            notes.append("Only a spot price in the source: a preemptible offering (used where spot is allowed).")
        elif spot is not None and spot >= price:
            notes.append("Spot price not below on-demand in the source; recorded as no spot.")
            spot = None
        elif spot is not None and spot < SPOT_SUSPECT_RATIO * price:
            spot_suspect = f"spot is {100 * (1 - spot / price):.0f}% below on-demand; verify before relying on it"
        assert price is not None
        per_gpu = price / n
        lo, hi = PER_GPU_HOUR_RANGE
        if not lo <= per_gpu <= hi:
            price_suspect = f"${per_gpu:.4g} per GPU-hour is outside ${lo:g}-${hi:g}, the range of list prices"
        region_label = region or UNSPECIFIED_REGION
        if not region:
            uncertain = True
            notes.insert(0, "UNCERTAIN: the source row names no region.")
        elif region in self.rules.placeholder_regions:
            notes.append(f"Region {region!r} is the provider's single placeholder region.")
        vcpus = int(first.vcpus) if first.vcpus and self.rules.host_shape else None
        mem_gb = round(first.memory_gib * GIB_TO_GB, 1) if first.memory_gib and self.rules.host_shape else None
        if not self.rules.host_shape:
            notes.append("vCPUs/MemoryGiB in the source are fixed request values, not the host; omitted.")
        upstream = _upstream(self.rules, first)
        oid = f"{self.cloud}:{region_label}:{itype}"
        self.offerings.append(Offering(
            id=oid,
            cloud=self.cloud,
            region=region_label,
            instance_type=itype,
            gpu=gid,
            gpus_per_instance=n,
            price_usd_per_hour=round(price, 6),
            spot_price_usd_per_hour=round(spot, 6) if spot is not None else None,
            vcpus=vcpus,
            cpu_mem_gb=mem_gb,
            uncertain=uncertain,
            price_suspect=price_suspect,
            spot_suspect=spot_suspect,
            preemptible=preemptible,
            upstream=upstream if upstream != self.cloud else "",
            source=self.source,
            as_of=self.as_of,
            notes=" ".join(notes),
        ))
        lead = min(group, key=lambda r: (r.price is None, r.price or 0.0, r.line))
        for r in group:
            if r is lead:
                self.outcome(r, "offering", oid)
            else:
                self.outcome(r, "folded", oid, "another zone or row of the same instance type and region")


def _group_key(row: _Row) -> tuple[str, str]:
    return row.instance_type, row.region


def _fold_spot_only(rows: list[_Row]) -> tuple[list[_Row], dict[int, list[_Row]]]:
    """Split off spot-only rows that have an on-demand twin (`X__SPOT` next to `X`, same region and
    zone): (the other rows, {line of the twin: its spot rows})."""
    by_key: dict[tuple[str, str, str], list[_Row]] = {}
    for r in rows:
        by_key.setdefault((r.instance_type, r.region, r.zone), []).append(r)
    keep: list[_Row] = []
    twins_of: dict[int, list[_Row]] = {}
    for r in rows:
        twin_type = _SPOT_TOKEN.sub("", r.instance_type)
        if r.price is None and r.spot is not None and twin_type != r.instance_type:
            twins = [t for t in by_key.get((twin_type, r.region, r.zone), []) if t.price is not None]
            if twins:
                twins_of.setdefault(twins[0].line, []).append(r)
                continue
        keep.append(r)
    return keep, twins_of


def import_rows(
    rows: list[_Row],
    cloud: str,
    *,
    as_of: str,
    source: str,
    gpus: Mapping[str, Gpu] | None = None,
    attachments: list[_Row] | None = None,
) -> ImportReport:
    """Offerings and row outcomes from already-read rows of one cloud (see the module doc)."""
    rules = CLOUD_RULES.get(cloud, CloudRules())
    b = _Builder(cloud, rules, gpus, source, as_of)
    attach_rows = [r for r in rows if not r.instance_type and r.accelerator] + list(attachments or ())
    machine_rows = [r for r in rows if r.instance_type]
    gpu_rows = [r for r in machine_rows if r.accelerator and r.count > 0]  # others: CPU-only machines
    gpu_rows, spot_of_twin = _fold_spot_only(gpu_rows)

    groups: dict[tuple[str, str], list[_Row]] = {}
    for r in gpu_rows:
        groups.setdefault(_group_key(r), []).append(r)

    attach: dict[tuple[str, str, str], list[_Row]] = {}
    for r in attach_rows:
        attach.setdefault((r.accelerator, f"{r.count:g}", r.region), []).append(r)
    used_attach: dict[tuple[str, str, str], str] = {}

    for (itype, region), group in sorted(groups.items()):
        first = group[0]
        label_notes: list[str] = []
        count_fix = _COUNT_FIXES.get((cloud, itype))
        count = count_fix[0] if count_fix else first.count
        if count != int(count):
            b.skip(group, f"fractional GPU count {first.count:g}")
            continue
        use = _regular(cloud, group)
        price, spot = _min(r.price for r in use), _min(r.spot for r in use)
        twins = [s for r in group for s in spot_of_twin.get(r.line, [])]
        if twins and spot is None:
            spot = _min(s.spot for s in twins)
            label_notes.append(f"Spot price from the source's separate spot row {twins[0].instance_type}.")
        if count_fix:
            label_notes.insert(0, count_fix[1])
        if cloud == "gcp":
            key = (first.accelerator, f"{first.count:g}", region)
            att = attach.get(key)
            att_price = _min(r.price for r in att) if att else None
            if att_price is None or price is None:
                b.skip(group, f"no GPU attachment price for {first.accelerator} x{first.count:g} in {region}")
                continue
            att_spot = _min(r.spot for r in att or ())
            label_notes.append(f"Price composed: GPU attachment {att_price:g} + VM part {price:g}.")
            price = att_price + price
            spot = att_spot + spot if att_spot is not None and spot is not None else None
        before = len(b.offerings)
        b.build(itype, region, group, price, spot, label_notes, uncertain=count_fix is not None, count=int(count))
        built = len(b.offerings) > before
        oid = b.offerings[-1].id if built else ""
        for s in twins:
            if built:
                b.outcome(s, "folded", oid, "spot-only row of the same machine")
            else:
                b.outcome(s, "skipped", reason="its on-demand twin was skipped")
        if cloud == "gcp" and built:
            used_attach.setdefault((first.accelerator, f"{first.count:g}", region), oid)
    for key, att_group in sorted(attach.items()):
        for r in att_group:
            if key in used_attach:
                b.outcome(r, "folded", used_attach[key], "GPU attachment price of a composed GCP offering")
            else:
                b.outcome(r, "skipped", reason=f"GPU attachment price without a matching machine in {r.region}")
    outcomes = tuple(sorted(b.outcomes, key=lambda o: o.line))
    return ImportReport(offerings=tuple(b.offerings), rows=outcomes)


def import_skypilot_csv_report(
    path: Path,
    cloud: str,
    as_of: str = "unknown",
    *,
    gpus: Mapping[str, Gpu] | None = None,
    source: str | None = None,
    attachments: Path | None = None,
) -> ImportReport:
    """Offerings from a SkyPilot `vms.csv` plus the outcome of every GPU row; see the module doc.

    `gpus` (the catalog's GPU table) lets the import check memory and report GPUs it lacks; without
    it every mapped name is accepted. `attachments` is a separate GCP accelerator price file.
    """
    cloud = cloud.strip().lower()
    rows = _read_rows(path)
    extra = _read_rows(attachments, ATTACHMENT_COLUMNS) if attachments is not None else None
    src = source or f"SkyPilot catalog {path.name} ({cloud}), imported"
    return import_rows(rows, cloud, as_of=as_of, source=src, gpus=gpus, attachments=extra)


def import_skypilot_csv(path: Path, cloud: str, as_of: str = "unknown") -> tuple[Offering, ...]:
    """Offerings from a SkyPilot catalog `vms.csv` for `cloud` (aws, gcp, azure, lambda, runpod, ...)."""
    return import_skypilot_csv_report(path, cloud, as_of).offerings


# --------------------------------------------------------------------------------------------------
# whole catalog folders
# --------------------------------------------------------------------------------------------------
def catalog_root(folder: Path) -> Path:
    """The folder holding `<cloud>/vms.csv`: `folder` itself, or its `v8/` or `catalogs/v8/`."""
    for candidate in (folder, folder / "v8", folder / "catalogs" / "v8"):
        if candidate.is_dir() and any(candidate.glob("*/vms.csv")):
            return candidate
    if not folder.is_dir():
        raise InputError("SkyPilot catalog folder not found", where=str(folder))
    raise InputError("no <cloud>/vms.csv under this folder (expected a SkyPilot catalog v8 folder, "
                     "e.g. skypilot-catalog/catalogs/v8)", where=str(folder))


def file_date(path: Path) -> str:
    """The modification date (UTC) of a file: the as_of of a catalog copy that states none."""
    stamp = path.stat().st_mtime
    return datetime.datetime.fromtimestamp(stamp, tz=datetime.timezone.utc).date().isoformat()


def import_skypilot_dir(
    folder: Path,
    *,
    gpus: Mapping[str, Gpu] | None = None,
    as_of: str | Mapping[str, str] | None = None,
    sources: Mapping[str, str] | None = None,
    clouds: Iterable[str] | None = None,
) -> dict[str, ImportReport]:
    """Import every `<cloud>/vms.csv` of a SkyPilot catalog folder (and GCP's accelerator price file).

    `as_of` is one date for all clouds, a mapping per cloud, or None for each file's modification date;
    `sources` gives a source text per cloud (default: the file path). Returns reports by cloud, sorted.
    """
    root = catalog_root(folder)
    wanted = {c.lower() for c in clouds} if clouds is not None else None
    reports: dict[str, ImportReport] = {}
    for vms in sorted(root.glob("*/vms.csv")):
        cloud = vms.parent.name.lower()
        if wanted is not None and cloud not in wanted:
            continue
        if isinstance(as_of, str):
            date = as_of
        elif as_of is not None and cloud in as_of:
            date = as_of[cloud]
        else:
            date = file_date(vms)
        attach = None
        if cloud == "gcp":
            attach = next((vms.parent / n for n in GCP_ACCELERATOR_FILES if (vms.parent / n).is_file()), None)
        src = (sources or {}).get(cloud) or f"SkyPilot catalog {cloud}/vms.csv"
        reports[cloud] = import_skypilot_csv_report(vms, cloud, date, gpus=gpus, source=src, attachments=attach)
    return reports
