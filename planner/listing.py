"""What `gpuplan catalog gpus|offerings|models|commitments` lists: catalog entries, filtered, as typed rows.

Rows carry every catalog field (with `source` and `as_of`) plus derived figures: per-GPU prices
for offerings, `total_params_b`/`active_params_b` for models. A filter value that matches nothing
in the catalog (e.g. gpu `h1000`) is an input error with the closest valid values, not an empty list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.loader import hint
from catalog.types import Catalog, Commitment, Gpu, ModelArch, Offering
from planner.errors import ArgumentError, InputError

KINDS = ("gpus", "offerings", "models", "commitments")
FILTERS: dict[str, tuple[str, ...]] = {
    "gpus": ("gpu", "vendor", "family", "min_memory_gb"),
    "offerings": ("gpu", "cloud", "region", "vendor", "family", "max_price", "min_memory_gb"),
    "models": ("model", "family"),
    "commitments": ("cloud", "gpu", "term", "min_confidence"),
}
CONFIDENCE = ("high", "medium", "low")


def model_family(model: ModelArch) -> str:
    """A short family name from the model id: llama, qwen, mistral, mixtral, gpt-j, opt, ..."""
    for prefix in ("gpt-j", "gpt-oss"):
        if model.id.startswith(prefix):
            return prefix
    head = re.match(r"[a-z]+", model.id)
    return head.group(0) if head else model.architecture.lower().removesuffix("forcausallm")


def _choice(value: object, valid: Iterable[str], argument: str) -> str:
    """`value` of filter `argument`, normalised to lower case, which must be one of `valid`."""
    text = str(value).strip()
    options = sorted(set(valid))
    folded = {o.lower(): o for o in options}
    if text.lower() in folded:
        return folded[text.lower()]
    raise ArgumentError(argument, f"no {argument.replace('_', '-')} {text!r} in the catalog; {hint(text, options)}")


def _number(value: object, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value or value < 0:
        raise ArgumentError(argument, f"must be a number >= 0, got {value!r}")
    return float(value)


def active_filters(kind: str, filters: Mapping[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in filters.items() if v is not None}
    for key in sorted(given):
        if key not in FILTERS[kind]:
            valid = ", ".join(FILTERS[kind])
            raise ArgumentError(key, f"filter {key!r} does not apply to `catalog {kind}`; valid: {valid}")
    return given


class GpuRow(Gpu):
    """A catalog GPU, every field."""


class OfferingRow(Offering):
    """A catalog offering, every field, with its GPU's memory and per-GPU prices."""

    gpu_memory_gb: float
    price_usd_per_gpu_hour: float
    spot_price_usd_per_gpu_hour: float | None


class ModelRow(ModelArch):
    """A catalog model, every field, with its family and the parameter counts derived from it."""

    family: str
    total_params_b: float
    active_params_b: float
    # named apart from ModelArch.kv_elements_per_token(), the method it reports
    model_config = ConfigDict(populate_by_name=True)

    kv_elements_per_token_count: int = Field(alias="kv_elements_per_token")


class CommitmentRow(Commitment):
    """A catalog commitment price, every field."""


class _Listing(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GpuListing(_Listing):
    kind: Literal["gpus"] = "gpus"
    catalog_version: str
    filters: dict[str, str | float]
    count: int
    rows: tuple[GpuRow, ...]


class OfferingListing(_Listing):
    kind: Literal["offerings"] = "offerings"
    catalog_version: str
    filters: dict[str, str | float]
    count: int
    rows: tuple[OfferingRow, ...]


class ModelListing(_Listing):
    kind: Literal["models"] = "models"
    catalog_version: str
    filters: dict[str, str | float]
    count: int
    rows: tuple[ModelRow, ...]


class CommitmentListing(_Listing):
    kind: Literal["commitments"] = "commitments"
    catalog_version: str
    filters: dict[str, str | float]
    count: int
    rows: tuple[CommitmentRow, ...]


Listing = GpuListing | OfferingListing | ModelListing | CommitmentListing


def _fields(entry: BaseModel) -> dict[str, Any]:
    """An entry's declared fields (not the cached derived values pydantic keeps beside them)."""
    return {name: getattr(entry, name) for name in type(entry).model_fields}


def _gpu_rows(cat: Catalog, f: Mapping[str, Any]) -> list[GpuRow]:
    gpus = list(cat.gpus.values())
    if "gpu" in f:
        gid = _choice(f["gpu"], cat.gpus, "gpu")
        gpus = [g for g in gpus if g.id == gid]
    if "vendor" in f:
        vendor = _choice(f["vendor"], (g.vendor for g in cat.gpus.values()), "vendor")
        gpus = [g for g in gpus if g.vendor == vendor]
    if "family" in f:
        family = _choice(f["family"], (g.family for g in cat.gpus.values()), "family")
        gpus = [g for g in gpus if g.family == family]
    if "min_memory_gb" in f:
        mem = _number(f["min_memory_gb"], "min_memory_gb")
        gpus = [g for g in gpus if g.memory_gb >= mem]
    return [GpuRow(**_fields(g)) for g in sorted(gpus, key=lambda g: g.id)]


def _offering_row(o: Offering, gpu: Gpu) -> OfferingRow:
    spot = o.spot_price_usd_per_hour
    return OfferingRow(
        **_fields(o),
        gpu_memory_gb=gpu.memory_gb,
        price_usd_per_gpu_hour=round(o.price_usd_per_hour / o.gpus_per_instance, 6),
        spot_price_usd_per_gpu_hour=None if spot is None else round(spot / o.gpus_per_instance, 6),
    )


def _offering_rows(cat: Catalog, f: Mapping[str, Any]) -> list[OfferingRow]:
    offs = list(cat.offerings.values())
    if "gpu" in f:
        gid = _choice(f["gpu"], cat.gpus, "gpu")
        offs = [o for o in offs if o.gpu == gid]
    if "cloud" in f:
        cloud = _choice(f["cloud"], (o.cloud for o in cat.offerings.values()), "cloud")
        offs = [o for o in offs if o.cloud == cloud]
    if "region" in f:
        region = _choice(f["region"], (o.region for o in cat.offerings.values()), "region")
        offs = [o for o in offs if o.region == region]
    if "vendor" in f:
        vendor = _choice(f["vendor"], (g.vendor for g in cat.gpus.values()), "vendor")
        offs = [o for o in offs if cat.gpus[o.gpu].vendor == vendor]
    if "family" in f:
        family = _choice(f["family"], (g.family for g in cat.gpus.values()), "family")
        offs = [o for o in offs if cat.gpus[o.gpu].family == family]
    if "max_price" in f:
        price = _number(f["max_price"], "max_price")
        offs = [o for o in offs if o.price_usd_per_hour <= price]
    if "min_memory_gb" in f:
        mem = _number(f["min_memory_gb"], "min_memory_gb")
        offs = [o for o in offs if cat.gpus[o.gpu].memory_gb >= mem]
    return [_offering_row(o, cat.gpus[o.gpu]) for o in sorted(offs, key=lambda o: o.id)]


def _model_row(m: ModelArch) -> ModelRow:
    return ModelRow.model_validate(
        {
            **_fields(m),
            "family": model_family(m),
            "total_params_b": round(m.total_params / 1e9, 3),
            "active_params_b": round(m.active_params / 1e9, 3),
            "kv_elements_per_token": m.kv_elements_per_token(),
        }
    )


def _model_rows(cat: Catalog, f: Mapping[str, Any]) -> list[ModelRow]:
    models = list(cat.models.values())
    if "model" in f:
        mid = _choice(f["model"], cat.models, "model")
        models = [m for m in models if m.id == mid]
    if "family" in f:
        family = _choice(f["family"], (model_family(m) for m in cat.models.values()), "family")
        models = [m for m in models if model_family(m) == family]
    return [_model_row(m) for m in sorted(models, key=lambda m: m.id)]


def _commitment_rows(cat: Catalog, f: Mapping[str, Any]) -> list[CommitmentRow]:
    rows = list(cat.commitments)
    if "cloud" in f:
        cloud = _choice(f["cloud"], (c.cloud for c in cat.commitments), "cloud")
        rows = [c for c in rows if c.cloud == cloud]
    if "gpu" in f:
        gid = _choice(f["gpu"], cat.gpus, "gpu")
        rows = [c for c in rows if c.gpu == gid]
    if "term" in f:
        term = _choice(f["term"], (c.term for c in cat.commitments), "term")
        rows = [c for c in rows if c.term == term]
    if "min_confidence" in f:
        level = _choice(f["min_confidence"], CONFIDENCE, "min_confidence")
        rows = [c for c in rows if CONFIDENCE.index(c.confidence) <= CONFIDENCE.index(level)]
    return [CommitmentRow(**_fields(c)) for c in sorted(rows, key=lambda c: c.id)]


def list_catalog(catalog: Catalog, kind: str, filters: Mapping[str, Any]) -> Listing:
    """Catalog `kind` (gpus, offerings, models, commitments) matching `filters` (None values are ignored)."""
    if kind not in KINDS:
        raise InputError(f"unknown catalog listing {kind!r}; valid: {', '.join(KINDS)}", where="catalog")
    active = active_filters(kind, filters)
    shown = {k: active[k] for k in sorted(active)}
    if kind == "gpus":
        gpus = _gpu_rows(catalog, active)
        return GpuListing(catalog_version=catalog.version, filters=shown, count=len(gpus), rows=tuple(gpus))
    if kind == "offerings":
        offs = _offering_rows(catalog, active)
        return OfferingListing(catalog_version=catalog.version, filters=shown, count=len(offs), rows=tuple(offs))
    if kind == "commitments":
        rows = _commitment_rows(catalog, active)
        return CommitmentListing(catalog_version=catalog.version, filters=shown, count=len(rows), rows=tuple(rows))
    models = _model_rows(catalog, active)
    return ModelListing(catalog_version=catalog.version, filters=shown, count=len(models), rows=tuple(models))
