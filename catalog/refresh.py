"""Rebuild offerings from a SkyPilot catalog folder and say what changed against the current catalog.

`refresh` imports every cloud found in the folder with the current catalog's GPU table, then compares,
cloud by cloud, the offerings it would now have with the ones the catalog has: added, removed and
changed (field by field), and every source row it skipped (unknown GPUs first). `overlay_document`
turns the result into a catalog overlay (`replace_clouds` + offerings) for `--catalog FILE`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.skypilot import ImportReport, catalog_root, import_skypilot_dir
from catalog.types import Catalog, Offering

COMPARED = (
    "gpu", "gpus_per_instance", "price_usd_per_hour", "spot_price_usd_per_hour", "preemptible", "uncertain",
    "price_suspect", "spot_suspect", "upstream", "vcpus", "cpu_mem_gb",
)
"""Offering fields a refresh compares (source, as_of and notes change with every import)."""


@dataclass(frozen=True)
class Change:
    id: str
    kind: Literal["added", "removed", "changed"]
    fields: tuple[tuple[str, Any, Any], ...] = ()  # (field, before, after) for "changed"
    offering: Offering | None = None  # the new offering ("added"/"changed") or the old one ("removed")


@dataclass(frozen=True)
class CloudSummary:
    cloud: str
    rows: int
    before: int
    after: int
    added: int
    removed: int
    changed: int
    folded_rows: int
    skipped_rows: int


@dataclass(frozen=True)
class Refresh:
    folder: str
    clouds: tuple[str, ...]
    summaries: tuple[CloudSummary, ...]
    changes: tuple[Change, ...]
    reports: Mapping[str, ImportReport]

    @property
    def offerings(self) -> tuple[Offering, ...]:
        return tuple(o for c in self.clouds for o in self.reports[c].offerings)

    def unknown_accelerators(self) -> dict[str, int]:
        counts: Counter[str] = Counter()
        for r in self.reports.values():
            counts.update(r.unknown_accelerators())
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def diff(before: Mapping[str, Offering], after: Mapping[str, Offering]) -> tuple[Change, ...]:
    """Added, removed and changed offerings between two id -> offering maps, sorted by id."""
    out: list[Change] = []
    for oid in sorted(set(before) | set(after)):
        old, new = before.get(oid), after.get(oid)
        if old is None and new is not None:
            out.append(Change(oid, "added", offering=new))
        elif new is None and old is not None:
            out.append(Change(oid, "removed", offering=old))
        elif old is not None and new is not None:
            fields = tuple(
                (f, getattr(old, f), getattr(new, f)) for f in COMPARED if getattr(old, f) != getattr(new, f)
            )
            if fields:
                out.append(Change(oid, "changed", fields, new))
    return tuple(out)


def refresh(
    catalog: Catalog,
    folder: Path,
    *,
    clouds: Iterable[str] | None = None,
    as_of: str | None = None,
) -> Refresh:
    """Import `folder` (a SkyPilot catalog, schema v8) and compare it with `catalog`, cloud by cloud."""
    root = catalog_root(folder)
    reports = import_skypilot_dir(root, gpus=catalog.gpus, as_of=as_of, clouds=clouds,
                                  sources={c.parent.name.lower(): f"SkyPilot catalog {c}"
                                           for c in sorted(root.glob("*/vms.csv"))})
    names = tuple(sorted(reports))
    summaries: list[CloudSummary] = []
    changes: list[Change] = []
    for cloud in names:
        rep = reports[cloud]
        old = {k: o for k, o in catalog.offerings.items() if o.cloud == cloud}
        new = {o.id: o for o in rep.offerings}
        cloud_changes = diff(old, new)
        changes.extend(cloud_changes)
        kinds = Counter(c.kind for c in cloud_changes)
        status = rep.counts()
        summaries.append(CloudSummary(
            cloud=cloud, rows=len(rep.rows), before=len(old), after=len(new), added=kinds["added"],
            removed=kinds["removed"], changed=kinds["changed"], folded_rows=status.get("folded", 0),
            skipped_rows=status.get("skipped", 0),
        ))
    return Refresh(str(folder), names, tuple(summaries), tuple(changes), reports)


def overlay_document(result: Refresh) -> dict[str, Any]:
    """A catalog overlay replacing the refreshed clouds' offerings (load it with `--catalog FILE`)."""
    offerings = []
    for o in result.offerings:
        entry = o.model_dump(mode="json", exclude_defaults=True)
        entry.pop("id", None)  # derived from cloud, region and instance_type
        offerings.append(entry)
    return {"schema_version": 1, "replace_clouds": list(result.clouds), "offerings": offerings}


# --------------------------------------------------------------------------------------------------
# the typed result `gpuplan catalog refresh --format json` prints
# --------------------------------------------------------------------------------------------------
class _Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CloudChanges(_Row):
    """One cloud of the refresh: source rows, offerings before and after, and what happened to them."""

    cloud: str
    rows: int = Field(description="GPU rows in the cloud's vms.csv")
    before: int = Field(description="offerings of this cloud in the current catalog")
    after: int = Field(description="offerings the refreshed file gives")
    added: int
    removed: int
    changed: int
    folded_rows: int = Field(description="rows folded into another row's offering (zones, spot twins, GCP parts)")
    skipped_rows: int


class OfferingChange(_Row):
    id: str
    change: Literal["added", "removed", "changed"]
    fields: dict[str, tuple[Any, Any]] = Field(description="changed fields: [before, after]")
    description: str


class SkippedRow(_Row):
    cloud: str
    line: int
    instance_type: str
    region: str
    accelerator: str
    reason: str


class RefreshResult(_Row):
    """What a refresh from a SkyPilot catalog copy changes against the current catalog."""

    folder: str
    clouds: tuple[str, ...]
    summary: tuple[CloudChanges, ...]
    changes: tuple[OfferingChange, ...]
    unknown_gpus: dict[str, int] = Field(description="accelerator names the catalog has no GPU for -> rows")
    skipped_rows: tuple[SkippedRow, ...]
    offerings_written: int
    written: str | None = Field(description="the overlay file written (--write), if any")


def describe(c: Change) -> str:
    """One line a person reads: `new: h200 x1, $2.65/h` or `price_usd_per_hour 3.29 -> 2.99 (-9.1%)`."""
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


def _value(field: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and "price" in field:
        return f"{value:.4g}"
    return str(value) if value != "" else "''"


def result(refreshed: Refresh, written: Path | None) -> RefreshResult:
    """The typed result of a refresh (and of writing its overlay to `written`)."""
    return RefreshResult(
        folder=refreshed.folder,
        clouds=refreshed.clouds,
        summary=tuple(CloudChanges(**vars(s)) for s in refreshed.summaries),
        changes=tuple(
            OfferingChange(id=c.id, change=c.kind, fields={f: (a, b) for f, a, b in c.fields}, description=describe(c))
            for c in refreshed.changes
        ),
        unknown_gpus=refreshed.unknown_accelerators(),
        skipped_rows=tuple(
            SkippedRow(cloud=r.cloud, line=r.line, instance_type=r.instance_type, region=r.region,
                       accelerator=r.accelerator, reason=r.reason)
            for rep in refreshed.reports.values() for r in rep.rows if r.status == "skipped"
        ),
        offerings_written=len(refreshed.offerings) if written else 0,
        written=str(written) if written else None,
    )
