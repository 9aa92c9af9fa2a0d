"""Import a SkyPilot catalog `vms.csv` (github.com/skypilot-org/skypilot-catalog) into offerings.

This lets users refresh prices themselves: download a `vms.csv` for a cloud and point an overlay at
it (`skypilot_csv: [{path: vms.csv, cloud: aws}]`) or call `import_skypilot_csv`.

Layout (v7/v8): InstanceType, AcceleratorName, AcceleratorCount, vCPUs, MemoryGiB, GpuInfo, Price,
SpotPrice, Region, AvailabilityZone. The v6 Azure file has `Generation` instead of
`AvailabilityZone`. Rules:

- one offering per (instance type, region); rows per availability zone are folded: on-demand and
  spot are the lowest price over regular zones (AWS Local/Wavelength zones are used only when a
  region has nothing else);
- a spot price missing or not below on-demand is recorded as no spot;
- GCP lists GPU attachment prices (rows without InstanceType) apart from the machine's vCPU/RAM
  part (rows with InstanceType); an offering is priced attach + VM part of the same region, and a
  machine without an attachment row is skipped;
- the accelerator name is mapped to a catalog GPU id; instance families known to use another
  variant (e.g. Azure NC A100 v4 = A100 80GB PCIe) are mapped explicitly; unknown accelerators,
  CPU-only rows and fractional GPUs are skipped and reported by `import_skypilot_csv_report`.
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from catalog.types import Offering
from common.errors import InputError

GIB_TO_GB = 1.073741824
REQUIRED_COLUMNS = ("InstanceType", "AcceleratorName", "AcceleratorCount", "Price", "Region")

ACCELERATOR_GPU: dict[str, str] = {
    "T4": "t4",
    "A10G": "a10g",
    "A10": "a10",
    "A6000": "rtx-a6000",
    "RTXA6000": "rtx-a6000",
    "RTX4090": "rtx-4090",
    "L4": "l4",
    "L40S": "l40s",
    "V100": "v100",
    "V100-32GB": "v100-32gb",
    "A100": "a100-40gb",
    "A100-80GB": "a100-80gb",
    "A100-80GB-SXM": "a100-80gb",
    "H100": "h100-sxm",
    "H100-MEGA": "h100-sxm",
    "H100-NVL": "h100-nvl",
    "H200": "h200",
    "GH200": "gh200",
    "B200": "b200",
    "B300": "b300",
    "MI300X": "mi300x",
    "MI325X": "mi325x",
}
"""SkyPilot accelerator names -> catalog GPU ids (the SXM part where a name covers both)."""

_PCIE_VARIANT = {"a100-40gb": "a100-40gb-pcie", "a100-80gb": "a100-80gb-pcie", "h100-sxm": "h100-pcie",
                 "v100": "v100-pcie"}

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


@dataclass(frozen=True)
class ImportReport:
    """What an import produced and what it skipped (instance type or accelerator, reason)."""

    offerings: tuple[Offering, ...]
    skipped: tuple[tuple[str, str], ...]


def _float(value: str | None, column: str, line: int, path: Path) -> float | None:
    if value is None or not value.strip():
        return None
    try:
        x = float(value)
    except ValueError:
        raise InputError(f"line {line}: column {column} must be a number, got {value!r}",
                         where=str(path)) from None
    return None if math.isnan(x) else x


def _read_rows(path: Path) -> list[_Row]:
    try:
        fh = path.open(newline="", encoding="utf-8")
    except FileNotFoundError:
        raise InputError("SkyPilot catalog CSV not found", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read SkyPilot catalog CSV: {exc.strerror}", where=str(path)) from None
    rows: list[_Row] = []
    with fh:
        try:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise InputError(
                    f"not a SkyPilot vms.csv: missing column(s) {', '.join(missing)} "
                    f"(expected {', '.join(REQUIRED_COLUMNS)}, ...)", where=str(path))
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
                ))
        except UnicodeDecodeError:
            raise InputError("SkyPilot catalog CSV is not UTF-8 text", where=str(path)) from None
        except csv.Error as exc:
            raise InputError(f"malformed CSV: {exc}", where=str(path)) from None
    return rows


def gpu_for(cloud: str, instance_type: str, accelerator: str, gpu_info: str = "") -> str | None:
    """The catalog GPU id of a SkyPilot row, or None when the catalog has no such GPU."""
    for c, pattern, gid in _INSTANCE_GPU:
        if c == cloud and pattern.match(instance_type):
            return gid
    base = ACCELERATOR_GPU.get(accelerator)
    if base is None:
        return None
    if "pcie" in instance_type.lower() or "pcie" in gpu_info.lower():
        return _PCIE_VARIANT.get(base, base)
    return base


def _min(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _regular(cloud: str, rows: list[_Row]) -> list[_Row]:
    """Rows outside AWS Local/Wavelength zones, unless those are all there is."""
    if cloud != "aws":
        return rows
    regular = [r for r in rows if not r.zone or _AWS_REGULAR_ZONE.match(r.zone)]
    return regular or rows


def _group(rows: Iterable[_Row], key: str) -> dict[tuple[str, ...], list[_Row]]:
    groups: dict[tuple[str, ...], list[_Row]] = {}
    for r in rows:
        k = (r.instance_type, r.region) if key == "instance" else (r.accelerator, f"{r.count:g}", r.region)
        groups.setdefault(k, []).append(r)
    return groups


def import_skypilot_csv_report(path: Path, cloud: str, as_of: str = "unknown") -> ImportReport:
    """Offerings from a SkyPilot `vms.csv` plus what was skipped and why; see the module doc."""
    cloud = cloud.strip().lower()
    rows = _read_rows(path)
    source = f"SkyPilot catalog {path.name} ({cloud}), imported"
    skipped: list[tuple[str, str]] = []
    offerings: list[Offering] = []

    attach: dict[tuple[str, ...], tuple[float | None, float | None]] = {}
    if cloud == "gcp":
        for k, group in _group((r for r in rows if not r.instance_type and r.accelerator), "attach").items():
            attach[k] = (_min(r.price for r in group), _min(r.spot for r in group))

    for (itype, region), group in sorted(_group((r for r in rows if r.instance_type), "instance").items()):
        first = group[0]
        label = f"{itype} ({region})"
        if not first.accelerator or first.count <= 0:
            continue  # CPU-only machine: not an offering for gpuplan
        count_fix = _COUNT_FIXES.get((cloud, itype))
        count = count_fix[0] if count_fix else first.count
        if count != int(count):
            skipped.append((label, f"fractional GPU count {first.count:g}"))
            continue
        gid = gpu_for(cloud, itype, first.accelerator, first.gpu_info)
        if gid is None:
            skipped.append((label, f"no GPU spec in the catalog for accelerator {first.accelerator!r}"))
            continue
        use = _regular(cloud, group)
        price, spot = _min(r.price for r in use), _min(r.spot for r in use)
        notes: list[str] = [count_fix[1]] if count_fix else []
        if cloud == "gcp":
            att = attach.get((first.accelerator, f"{first.count:g}", region))
            if att is None or att[0] is None or price is None:
                what = f"{first.accelerator} x{first.count:g} in {region}"
                skipped.append((label, f"no GPU attachment price for {what}"))
                continue
            notes.append(f"Price composed: GPU attachment {att[0]:g} + VM part {price:g}.")
            price = att[0] + price
            spot = att[1] + spot if att[1] is not None and spot is not None else None
        if price is None:
            skipped.append((label, "no on-demand price"))
            continue
        if spot is not None and spot >= price:
            notes.append("Spot price not below on-demand in the source; recorded as no spot.")
            spot = None
        offerings.append(Offering(
            id=f"{cloud}:{region}:{itype}",
            cloud=cloud,
            region=region,
            instance_type=itype,
            gpu=gid,
            gpus_per_instance=int(count),
            price_usd_per_hour=round(price, 6),
            spot_price_usd_per_hour=round(spot, 6) if spot is not None else None,
            vcpus=int(first.vcpus) if first.vcpus else None,
            cpu_mem_gb=round(first.memory_gib * GIB_TO_GB, 1) if first.memory_gib else None,
            uncertain=count_fix is not None,
            source=source,
            as_of=as_of,
            notes=" ".join(notes),
        ))
    return ImportReport(offerings=tuple(offerings), skipped=tuple(skipped))


def import_skypilot_csv(path: Path, cloud: str, as_of: str = "unknown") -> tuple[Offering, ...]:
    """Offerings from a SkyPilot catalog `vms.csv` for `cloud` (aws, gcp, azure, lambda, runpod, ...)."""
    return import_skypilot_csv_report(path, cloud, as_of).offerings
