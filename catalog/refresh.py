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
