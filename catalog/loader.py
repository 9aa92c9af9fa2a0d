"""Load the shipped catalog data, validate it, and apply user overlays.

The shipped data (catalog/data/*.yaml) is parsed once per process (`functools.lru_cache`) and never
at import time. Overlays (spec `catalog:` section, `--catalog FILE`) use the same schema as the
shipped files and are applied in this order, later wins:

1. the spec's `catalog.files` (relative to the spec's folder),
2. the spec's inline `catalog.gpus / offerings / models`,
3. `--catalog FILE` overlays, in the order given.

An overlay entry whose id already exists is merged over the existing entry (only the keys it gives
change; e.g. a negotiated `price_usd_per_hour` or `available_instances`); a new id must be complete.
Overlay files may also hold `skypilot_csv: [{path, cloud, regions?, gpus?, instance_types?, as_of?}]`
to import a SkyPilot `vms.csv`, `replace_clouds: [lambda, ...]` to drop every offering of those clouds
before the file's own offerings are added (what `gpuplan catalog refresh -o FILE` writes), and model
entries may be `{id, hf_config: path/to/config.json}`.

The shipped catalog also imports the SkyPilot snapshot in data/skypilot/ (every row accounted for,
see catalog/skypilot.py) and the commitment prices in data/commitment-prices.csv; the result is kept
in the compiled cache (catalog/cache.py), keyed by the data's and the code's bytes.

`Catalog.version` is `<release>+<sha256[:8] of the shipped data files>`, with `.u<sha256[:8]>` of
the overlay content appended when overlays are used, so a plan names the data it was made from.
"""

from __future__ import annotations

import csv
import datetime
import difflib
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from catalog import cache
from catalog.hf import load_hf_config
from catalog.skypilot import import_skypilot_csv
from catalog.types import (
    Catalog,
    CatalogEntry,
    Commitment,
    EngineProfile,
    Gpu,
    HostProfile,
    InstanceNetwork,
    ModelArch,
    Offering,
)
from common.errors import CatalogError, InputError, did_you_mean
from common.files import parse_yaml, read_text, spec_path


class InlineCatalog(Protocol):
    """A spec's `catalog:` section as the loader reads it (planner.spec.CatalogSection is one): overlay
    files relative to the spec, and inline entries in the data files' schema."""

    @property
    def files(self) -> tuple[str, ...]: ...
    @property
    def gpus(self) -> tuple[dict[str, object], ...]: ...
    @property
    def offerings(self) -> tuple[dict[str, object], ...]: ...
    @property
    def models(self) -> tuple[dict[str, object], ...]: ...

DATA_DIR = Path(__file__).resolve().parent / "data"
DATA_RELEASE = "2026.11.22"
"""Date of the shipped data; the first part of Catalog.version."""
SCHEMA_VERSION = 1
SHIPPED_FILES = ("gpus.yaml", "offerings.yaml", "models.yaml", "engines.yaml", "hosts.yaml", "networks.yaml")
REQUIRED_FILES = ("gpus.yaml", "offerings.yaml", "models.yaml")
SECTIONS = ("gpus", "offerings", "models", "engines", "hosts", "networks", "skypilot_csv", "replace_clouds")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

T = TypeVar("T", bound=CatalogEntry)


# --------------------------------------------------------------------------------------------------
# reading files
# --------------------------------------------------------------------------------------------------
def _read_text(path: Path, what: str, kind: str = "YAML") -> str:
    return read_text(path, what, kind, CatalogError)


def _parse_yaml(text: str, where: str) -> object:
    return parse_yaml(text, where, CatalogError)


@dataclass(frozen=True)
class _Layer:
    """The entries of one data file or inline section, before validation."""

    label: str
    base_dir: Path
    sections: Mapping[str, tuple[Mapping[str, Any], ...]]
    replace_clouds: tuple[str, ...] = ()


def _layer_from_document(doc: object, label: str, base_dir: Path, *, shipped: bool) -> _Layer:
    """Check the top level of a catalog file: a mapping with schema_version 1 and known sections."""
    if not isinstance(doc, dict):
        raise CatalogError(f"a catalog file must be a YAML mapping, got {type(doc).__name__}", where=label)
    if "schema_version" not in doc:
        raise CatalogError(f"missing schema_version (this gpuplan reads {SCHEMA_VERSION})", where=label)
    version = doc["schema_version"]
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise CatalogError(
            f"unsupported schema_version {version!r}; this gpuplan reads {SCHEMA_VERSION}", where=label
        )
    sections: dict[str, tuple[Mapping[str, Any], ...]] = {}
    replace: tuple[str, ...] = ()
    for key, value in doc.items():
        if key == "schema_version":
            continue
        if key not in SECTIONS or (shipped and key in ("skypilot_csv", "replace_clouds")):
            raise CatalogError(f"unknown key {key!r}; {did_you_mean(str(key), SECTIONS)}", where=label)
        if value is None:
            value = []
        if key == "replace_clouds":
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise CatalogError("replace_clouds must be a list of cloud names (e.g. [lambda, vast])", where=label)
            replace = tuple(v.strip().lower() for v in value)
            continue
        if not isinstance(value, list):
            raise CatalogError(f"{key} must be a list of entries, got {type(value).__name__}", where=label)
        for i, entry in enumerate(value):
            if not isinstance(entry, dict):
                raise CatalogError(f"{key}[{i}] must be a mapping, got {type(entry).__name__}", where=label)
        sections[key] = tuple(_normalise(e) for e in value)
    return _Layer(label=label, base_dir=base_dir, sections=sections, replace_clouds=replace)


def _normalise(entry: Mapping[str, Any]) -> dict[str, Any]:
    """YAML turns `as_of: 2025-06-01` into a date and `as_of: 2025` into an int; keep them as text."""
    out = dict(entry)
    for key in ("as_of", "source"):
        value = out.get(key)
        if isinstance(value, datetime.date | int) and not isinstance(value, bool):
            out[key] = value.isoformat() if isinstance(value, datetime.date) else str(value)
    return out


def _field_names_at(cls: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names of the model that `loc` (an error location without its last key) points into:
    `cls`'s own for a top-level key, EngineFactors' for `extra.<key>` of an EngineProfile."""
    model = cls
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is None or not (isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)):
            return []
        model = field.annotation
    return sorted(model.model_fields)


def _validation_message(err: ValidationError, cls: type[BaseModel]) -> str:
    parts = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(entry)"
        msg = e["msg"].removeprefix("Value error, ")
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or e["type"] == "missing" else f" (got {got!r})"
        if e["type"] == "extra_forbidden":
            names = _field_names_at(cls, e["loc"][:-1])
            close = difflib.get_close_matches(str(e["loc"][-1]), names, n=1, cutoff=0.6)
            hint = (f"; did you mean {close[0]!r}?" if close else ";") + " valid: " + ", ".join(names)
            parts.append(f"{loc}: unknown field{shown}" + (hint if names else ""))
            continue
        if e["type"] == "finite_number":
            msg = "must be a finite number"
        parts.append(f"{loc}: {msg}{shown}")
    return "; ".join(parts)


def _validate(cls: type[T], data: Mapping[str, Any], where: str) -> T:
    try:
        return cls.model_validate(dict(data))
    except ValidationError as err:
        raise CatalogError(_validation_message(err, cls), where=where) from None


def _check_id(value: object, kind: str, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{kind} entry needs an `id` string", where=where)
    if not _ID_RE.match(value):
        raise CatalogError(
            f"{kind} id {value!r} must be lower-case letters, digits, '.', '-' (e.g. 'h100-sxm')", where=where
        )
    return value


def offering_id(cloud: str, region: str, instance_type: str) -> str:
    """The canonical offering id: `<cloud>:<region>:<instance_type>`."""
    return f"{cloud}:{region}:{instance_type}"


# --------------------------------------------------------------------------------------------------
# building a catalog from layers
# --------------------------------------------------------------------------------------------------
@dataclass
class _State:
    """Mutable working copy while layers are applied; frozen into a Catalog at the end."""

    gpus: dict[str, Gpu] = field(default_factory=dict)
    offerings: dict[str, Offering] = field(default_factory=dict)
    models: dict[str, ModelArch] = field(default_factory=dict)
    engines: dict[tuple[str, str], EngineProfile] = field(default_factory=dict)
    hosts: dict[str, HostProfile] = field(default_factory=dict)
    networks: dict[str, InstanceNetwork] = field(default_factory=dict)
    commitments: tuple[Commitment, ...] = ()
    origin: dict[str, str] = field(default_factory=dict)  # offering id -> where it was defined

    @classmethod
    def of(cls, catalog: Catalog) -> _State:
        state = cls(
            gpus=dict(catalog.gpus),
            offerings=dict(catalog.offerings),
            models=dict(catalog.models),
            engines={(e.engine, e.family): e for e in catalog.engines},
            hosts=dict(catalog.hosts),
            networks=dict(catalog.networks),
            commitments=catalog.commitments,
        )
        state.origin = {oid: "shipped catalog" for oid in catalog.offerings}
        return state


def _merge(
    cls: type[T], existing: T | None, entry: Mapping[str, Any], where: str, label: str, *, shipped: bool
) -> T:
    """Validate `entry`, merged over `existing` when it overrides one.

    A merged entry keeps the existing `source` with a note of what the overlay changed, unless the
    overlay gives its own; a new overlay entry without `source`/`as_of` is attributed to the overlay.
    An entry may use a field's former name (`pcie_gbps`); it overrides the field under today's name.
    """
    data = cls.current_names(entry)
    if existing is None:
        if not shipped:
            data.setdefault("source", f"user catalog overlay {label}")
            data.setdefault("as_of", "user-supplied")
        return _validate(cls, data, where)
    base = existing.model_dump()
    for key, value in list(data.items()):  # dict fields (Gpu.tflops, extra) merge key by key
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            data[key] = {**base[key], **value}
    changed = sorted(k for k in data if k not in ("id", "source", "as_of") and data[k] != base.get(k))
    if "source" not in data and changed:
        data["source"] = f"{base['source']}; overridden by {label} ({', '.join(changed)})"
    return _validate(cls, {**base, **data}, where)


def _apply_gpus(state: _State, layer: _Layer, shipped: bool) -> None:
    for i, entry in enumerate(layer.sections.get("gpus", ())):
        where = f"{layer.label}: gpus[{i}]"
        gid = _check_id(entry.get("id"), "gpu", where)
        if shipped and gid in state.gpus:
            raise CatalogError(f"duplicate gpu id {gid!r}", where=where)
        state.gpus[gid] = _merge(Gpu, state.gpus.get(gid), entry, where, layer.label, shipped=shipped)


def _apply_models(state: _State, layer: _Layer, shipped: bool, hasher: Any) -> None:
    for i, entry in enumerate(layer.sections.get("models", ())):
        where = f"{layer.label}: models[{i}]"
        data = dict(entry)
        hf_config = data.pop("hf_config", None)
        if hf_config is not None:
            if shipped or not isinstance(hf_config, str):
                raise CatalogError("hf_config must be a path string (overlays only)", where=where)
            try:
                loaded = load_hf_config(_resolve(layer.base_dir, hf_config, f"{where}.hf_config"))
                hasher.update(loaded.model_dump_json(exclude={"source"}).encode())  # content, not location
            except InputError as err:
                raise CatalogError(f"hf_config {err.where}: {err.message}", where=where) from None
            data = {**loaded.model_dump(), **data}
            data.setdefault("id", loaded.id)
        mid = _check_id(data.get("id"), "model", where)
        if shipped and mid in state.models:
            raise CatalogError(f"duplicate model id {mid!r}", where=where)
        existing = state.models.get(mid)
        state.models[mid] = _merge(ModelArch, existing, data, where, layer.label, shipped=shipped)


def _apply_offerings(state: _State, layer: _Layer, shipped: bool) -> None:
    for i, entry in enumerate(layer.sections.get("offerings", ())):
        where = f"{layer.label}: offerings[{i}]"
        data = dict(entry)
        given_id = data.get("id")
        parts = [data.get(k) for k in ("cloud", "region", "instance_type")]
        if given_id is None:
            if not all(isinstance(p, str) and p for p in parts):
                raise CatalogError("an offering needs `id` or cloud, region and instance_type", where=where)
            given_id = offering_id(*(str(p) for p in parts))
        if not isinstance(given_id, str):
            raise CatalogError(f"offering id must be a string, got {given_id!r}", where=where)
        existing = state.offerings.get(given_id)
        if shipped and existing is not None:
            raise CatalogError(f"duplicate offering {given_id!r}", where=where)
        if existing is None and not all(parts):
            raise CatalogError(
                f"unknown offering {given_id!r} (a new offering needs cloud, region and instance_type); "
                + did_you_mean(given_id, state.offerings),
                where=where,
            )
        data["id"] = given_id
        offering = _merge(Offering, existing, data, where, layer.label, shipped=shipped)
        derived = offering_id(offering.cloud, offering.region, offering.instance_type)
        if offering.id != derived:
            raise CatalogError(
                f"offering id {offering.id!r} must be <cloud>:<region>:<instance_type> = {derived!r}",
                where=where,
            )
        state.offerings[offering.id] = offering
        state.origin[offering.id] = where


def _apply_skypilot(state: _State, layer: _Layer, hasher: Any) -> None:
    allowed = {"path", "cloud", "regions", "gpus", "instance_types", "as_of"}
    for i, entry in enumerate(layer.sections.get("skypilot_csv", ())):
        where = f"{layer.label}: skypilot_csv[{i}]"
        extra = sorted(set(entry) - allowed)
        if extra:
            raise CatalogError(f"unknown key {extra[0]!r}; {did_you_mean(extra[0], allowed)}", where=where)
        path, cloud = entry.get("path"), entry.get("cloud")
        if not isinstance(path, str) or not isinstance(cloud, str):
            raise CatalogError("needs `path` (a vms.csv file) and `cloud` (e.g. aws)", where=where)
        csv_path = _resolve(layer.base_dir, path, f"{where}.path")
        hasher.update(_read_text(csv_path, "SkyPilot catalog CSV", "CSV").encode())
        as_of = entry.get("as_of", "unknown")
        offerings = import_skypilot_csv(csv_path, cloud, as_of=str(as_of))
        keep = _row_filter(entry, where, state)
        for off in offerings:
            if keep(off):
                state.offerings[off.id] = off
                state.origin[off.id] = f"{where} ({csv_path.name})"


def _row_filter(entry: Mapping[str, Any], where: str, state: _State) -> Callable[[Offering], bool]:
    wanted: dict[str, set[str]] = {}
    for key in ("regions", "gpus", "instance_types"):
        value = entry.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise CatalogError(f"{key} must be a list of strings", where=where)
        wanted[key] = set(value)
    for gid in sorted(wanted.get("gpus", set())):
        if gid not in state.gpus:
            raise unknown("gpu", gid, state.gpus, f"{where}.gpus")

    def keep(off: Offering) -> bool:
        return (
            ("regions" not in wanted or off.region in wanted["regions"])
            and ("gpus" not in wanted or off.gpu in wanted["gpus"])
            and ("instance_types" not in wanted or off.instance_type in wanted["instance_types"])
        )

    return keep


def _apply_engines_hosts(state: _State, layer: _Layer, shipped: bool) -> None:
    for i, entry in enumerate(layer.sections.get("engines", ())):
        where = f"{layer.label}: engines[{i}]"
        key = (str(entry.get("engine", "")), str(entry.get("family", "")))
        if shipped and key in state.engines:
            raise CatalogError(f"duplicate engine profile {key[0]}/{key[1]}", where=where)
        old_engine = state.engines.get(key)
        state.engines[key] = _merge(EngineProfile, old_engine, entry, where, layer.label, shipped=shipped)
    for i, entry in enumerate(layer.sections.get("hosts", ())):
        where = f"{layer.label}: hosts[{i}]"
        hid = _check_id(entry.get("id"), "host", where)
        if shipped and hid in state.hosts:
            raise CatalogError(f"duplicate host id {hid!r}", where=where)
        old_host = state.hosts.get(hid)
        state.hosts[hid] = _merge(HostProfile, old_host, entry, where, layer.label, shipped=shipped)


def _apply_networks(state: _State, layer: _Layer, shipped: bool) -> None:
    """Inter-instance networks, keyed `<cloud>:<instance_type>` (derived when `id` is not given)."""
    for i, entry in enumerate(layer.sections.get("networks", ())):
        where = f"{layer.label}: networks[{i}]"
        data = dict(entry)
        cloud, itype = data.get("cloud"), data.get("instance_type")
        nid = data.get("id")
        if nid is None:
            if not (isinstance(cloud, str) and cloud and isinstance(itype, str) and itype):
                raise CatalogError("a network entry needs `id` or cloud and instance_type", where=where)
            nid = f"{cloud}:{itype}"
        if not isinstance(nid, str):
            raise CatalogError(f"network id must be a string, got {nid!r}", where=where)
        existing = state.networks.get(nid)
        if shipped and existing is not None:
            raise CatalogError(f"duplicate network {nid!r}", where=where)
        data["id"] = nid
        net = _merge(InstanceNetwork, existing, data, where, layer.label, shipped=shipped)
        if net.id != f"{net.cloud}:{net.instance_type}":
            raise CatalogError(
                f"network id {net.id!r} must be <cloud>:<instance_type> = {net.cloud}:{net.instance_type!r}",
                where=where,
            )
        state.networks[net.id] = net


def _apply(state: _State, layer: _Layer, hasher: Any, *, shipped: bool) -> None:
    """Apply one layer: GPUs first (offerings refer to them), then models, imports, offerings."""
    _apply_gpus(state, layer, shipped)
    _apply_models(state, layer, shipped, hasher)
    if layer.replace_clouds:  # a refreshed import replaces everything known about these clouds
        for oid in [k for k, o in state.offerings.items() if o.cloud in layer.replace_clouds]:
            del state.offerings[oid]
            state.origin.pop(oid, None)
    _apply_skypilot(state, layer, hasher)
    _apply_offerings(state, layer, shipped)
    _apply_engines_hosts(state, layer, shipped)
    _apply_networks(state, layer, shipped)


def _finish(state: _State, version: str) -> Catalog:
    """Cross-check references and freeze, with every mapping sorted by id."""
    for oid in sorted(state.offerings):
        off = state.offerings[oid]
        if off.gpu not in state.gpus:
            raise unknown("gpu", off.gpu, state.gpus, f"{state.origin.get(oid, oid)} ({oid})")
    return Catalog(
        version=version,
        gpus={k: state.gpus[k] for k in sorted(state.gpus)},
        offerings={k: state.offerings[k] for k in sorted(state.offerings)},
        models={k: state.models[k] for k in sorted(state.models)},
        engines=tuple(state.engines[k] for k in sorted(state.engines)),
        hosts={k: state.hosts[k] for k in sorted(state.hosts)},
        networks={k: state.networks[k] for k in sorted(state.networks)},
        commitments=state.commitments,
    )


# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------
SKYPILOT_DIR = "skypilot"
COMMITMENTS_FILE = "commitment-prices.csv"


def _snapshot_files(data_dir: Path) -> list[Path]:
    """The SkyPilot snapshot shipped under data/skypilot: metadata, manifest and every vms.csv."""
    root = data_dir / SKYPILOT_DIR
    if not root.is_dir():
        return []
    meta = [p for p in (root / "snapshot.yaml", root / "manifest.csv") if p.is_file()]
    return meta + sorted(root.glob("v8/*/vms.csv"))


def shipped_files(data_dir: Path = DATA_DIR) -> tuple[Path, ...]:
    """Every file the shipped catalog is built from, in a fixed order (their bytes key the cache)."""
    files = [data_dir / n for n in SHIPPED_FILES if (data_dir / n).exists() or n in REQUIRED_FILES]
    extra = [data_dir / COMMITMENTS_FILE] if (data_dir / COMMITMENTS_FILE).is_file() else []
    return (*files, *_snapshot_files(data_dir), *extra)


def _snapshot_sources(data_dir: Path, texts: Mapping[Path, str]) -> tuple[str, dict[str, str]]:
    """(as_of, {cloud: source}) of the shipped snapshot, from snapshot.yaml and manifest.csv."""
    root = data_dir / SKYPILOT_DIR
    label = f"catalog/data/{SKYPILOT_DIR}/snapshot.yaml"
    meta = _parse_yaml(texts[root / "snapshot.yaml"], label)
    if not isinstance(meta, dict) or not isinstance(meta.get("as_of"), str | int):
        raise CatalogError("needs `as_of` (the date of the snapshot's prices)", where=label)
    repo = str(meta.get("repository", "skypilot-org/skypilot-catalog"))
    sources: dict[str, str] = {}
    for rec in csv.DictReader(texts[root / "manifest.csv"].splitlines()):
        commit = (rec.get("source_commit") or "")[:12]
        sources[rec.get("cloud") or ""] = f"{repo}@{commit} {rec.get('source_path', '')}".strip()
    return str(meta["as_of"]), sources


def import_snapshot(data_dir: Path, gpus: Mapping[str, Gpu], texts: Mapping[Path, str] | None = None
                    ) -> dict[str, Any]:
    """Import reports (by cloud) of the SkyPilot snapshot shipped in `data_dir/skypilot`."""
    from catalog.skypilot import import_skypilot_dir  # noqa: PLC0415 - the importers load only when the cache misses

    files = _snapshot_files(data_dir)
    if not files:
        return {}
    if texts is None:
        texts = {p: _read_text(p, "catalog file", "CSV") for p in files}
    as_of, sources = _snapshot_sources(data_dir, texts)
    return dict(import_skypilot_dir(data_dir / SKYPILOT_DIR, gpus=gpus, as_of=as_of, sources=sources))


def _build_shipped(data_dir: Path, texts: Mapping[Path, str], version: str) -> Catalog:
    """Parse, import and validate the shipped data (the slow path the cache avoids)."""
    from catalog.commitments import parse_commitments  # noqa: PLC0415 - loaded only when the cache misses

    state = _State()
    unused = hashlib.sha256()  # shipped layers carry no HF config files to hash
    for name in SHIPPED_FILES:
        path = data_dir / name
        if path not in texts:
            continue
        label = f"catalog/data/{name}"
        layer = _layer_from_document(_parse_yaml(texts[path], label), label, data_dir, shipped=True)
        _apply(state, layer, unused, shipped=True)
    for cloud, report in import_snapshot(data_dir, state.gpus, texts).items():
        for off in report.offerings:
            if off.id in state.offerings:
                raise CatalogError(f"duplicate offering {off.id!r} (also in offerings.yaml)",
                                   where=f"catalog/data/{SKYPILOT_DIR}/v8/{cloud}/vms.csv")
            state.offerings[off.id] = off
            state.origin[off.id] = f"catalog/data/{SKYPILOT_DIR}/v8/{cloud}/vms.csv"
    commitments_path = data_dir / COMMITMENTS_FILE
    if commitments_path in texts:
        state.commitments = parse_commitments(
            texts[commitments_path], f"catalog/data/{COMMITMENTS_FILE}", state.offerings)
    return _finish(state, version)


@lru_cache(maxsize=4)
def shipped_catalog(data_dir: Path = DATA_DIR) -> Catalog:
    """The catalog from the shipped data files, built once per process and cached on disk.

    engines.yaml, hosts.yaml and networks.yaml are optional (absent => empty). The build (YAML, the SkyPilot
    snapshot import, validation) is stored in the compiled cache (catalog/cache.py) under a key of
    the data's bytes and the catalog code, so later processes only unpickle it. The returned Catalog
    is shared: treat it as read-only.
    """
    files = shipped_files(data_dir)
    raw: dict[Path, bytes] = {}
    for path in files:
        if not path.exists():
            raise CatalogError("shipped catalog file is missing (broken install?)", where=str(path))
        raw[path] = cache.read_bytes(path)
    hasher = hashlib.sha256()
    for path in files:
        hasher.update(path.relative_to(data_dir).as_posix().encode() + b"\0" + raw[path] + b"\0")
    digest = hasher.hexdigest()
    version = f"{DATA_RELEASE}+{digest[:8]}"
    key = cache.key(digest)
    hit = cache.load(key)
    if hit is not None and hit.version == version:
        return hit
    texts = {p: _decode(p, b) for p, b in raw.items()}
    catalog = _build_shipped(data_dir, texts, version)
    cache.store(key, catalog)
    return catalog


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CatalogError("catalog file is not UTF-8 text", where=str(path)) from None


def load_catalog(
    overlays: tuple[Path, ...] = (),
    inline: InlineCatalog | None = None,
    base_dir: Path | None = None,
) -> Catalog:
    """The shipped catalog with the spec's `catalog:` section and `--catalog` files applied.

    `base_dir` is the folder that relative paths in `inline.files` are resolved against (the
    spec's folder); `--catalog` paths are used as given.
    """
    base = shipped_catalog()
    layers: list[tuple[str, Path, object]] = []
    root = base_dir if base_dir is not None else Path(".")
    hasher = hashlib.sha256()
    if inline is not None:
        for k, name in enumerate(inline.files):
            layers.append(_file_layer_source(_resolve(root, name, f"catalog.files[{k}]")))
        sections = {k: [dict(e) for e in getattr(inline, k)] for k in ("gpus", "offerings", "models")}
        if any(sections.values()):
            inline_doc = {"schema_version": SCHEMA_VERSION, **{k: v for k, v in sections.items() if v}}
            layers.append(("spec catalog section", root, inline_doc))
    for path in overlays:
        layers.append(_file_layer_source(path))
    if not layers:
        return base
    state = _State.of(base)
    for label, folder, doc in layers:
        hasher.update(json.dumps(doc, sort_keys=True, default=str).encode() + b"\0")
        _apply(state, _layer_from_document(doc, label, folder, shipped=False), hasher, shipped=False)
    return _finish(state, f"{base.version}.u{hasher.hexdigest()[:8]}")


def _file_layer_source(path: Path) -> tuple[str, Path, object]:
    raw = _read_text(path, "catalog overlay")
    return str(path), path.parent, _parse_yaml(raw, str(path))


def _resolve(base_dir: Path, name: str, where: str) -> Path:
    """A path written in a catalog document or a spec: relative to `base_dir` and confined to it (or to
    the folders the run allows; see common.files.spec_path)."""
    return spec_path(name, base_dir, where)


def hint(value: str, choices: Iterable[str]) -> str:
    """`did you mean ...?`, preferring ids that start with `value` (`h100` -> the H100 variants)."""
    options = sorted(set(choices))
    prefixed = [c for c in options if c.lower().startswith(value.strip().lower())] if value.strip() else []
    if 0 < len(prefixed) <= 5:
        return "did you mean " + " or ".join(repr(c) for c in prefixed) + "?"
    return did_you_mean(value, options)


def unknown(kind: str, value: str, choices: Iterable[str], where: str | None) -> CatalogError:
    """The error for an id that is not in the catalog, with the closest valid ids."""
    return CatalogError(f"unknown {kind} {value!r}; {hint(value, choices)}", where=where)


def get_gpu(catalog: Catalog, gpu_id: str, where: str | None = None) -> Gpu:
    """A GPU by id (case-insensitive), or a CatalogError located at `where` (a field or a flag, the
    caller's words) with the closest ids."""
    gpu = catalog.gpus.get(gpu_id) or catalog.gpus.get(gpu_id.strip().lower())
    if gpu is None:
        raise unknown("GPU", gpu_id, catalog.gpus, where)
    return gpu


def get_offering(catalog: Catalog, offering_id_: str, where: str) -> Offering:
    """An offering by its `<cloud>:<region>:<instance_type>` id (exact, then case-insensitive)."""
    off = catalog.offerings.get(offering_id_)
    if off is None:
        folded = {k.lower(): v for k, v in catalog.offerings.items()}
        off = folded.get(offering_id_.strip().lower())
    if off is None:
        raise unknown("offering", offering_id_, catalog.offerings, where)
    return off


_VARIANT_TOKEN = re.compile(r"-(instruct|chat|it|pt|hf|base|thinking)(-\d{4})?(?=-|$)")


def base_name(name: str) -> str:
    """An HF repo or model name without its organisation and fine-tuning suffixes, lower case:
    `meta-llama/Llama-2-7b-chat-hf` -> `llama-2-7b`, `Qwen/Qwen3-30B-A3B-Instruct-2507` -> `qwen3-30b-a3b`.
    Versions (`-v0.3`) and sizes stay: they change the architecture."""
    text = name.strip().lower().rsplit("/", 1)[-1].replace("_", "-")
    text = re.sub(r"^meta-llama-", "llama-", text)
    while True:
        shorter = _VARIANT_TOKEN.sub("", text)
        if shorter == text:
            return text
        text = shorter


def base_model(catalog: Catalog, ref: str) -> ModelArch | None:
    """The catalog model a fine-tune's repo id names (`...-Instruct`, `-chat-hf`, `-it`), if exactly one."""
    key = base_name(ref)
    if not key:
        return None
    hits = {m.id: m for m in catalog.models.values()
            if base_name(m.id) == key or (m.hf_repo and base_name(m.hf_repo) == key)}
    return next(iter(hits.values())) if len(hits) == 1 else None


def resolve_model(catalog: Catalog, ref: str, where: str, base_dir: Path | None = None) -> ModelArch:
    """A model by catalog id, by HF repo name of a catalog model (fine-tuning suffixes such as
    `-Instruct`, `-chat-hf`, `-it` resolve to the base architecture), or from a local HF config.json.

    `ref` may be a path to a config.json or to a folder containing one; relative paths are resolved
    against `base_dir` (the spec's folder) when given.
    """
    key = ref.strip()
    model = catalog.models.get(key) or catalog.models.get(key.lower())
    if model is not None:
        return model
    by_repo = [m for m in catalog.models.values() if m.hf_repo and m.hf_repo.lower() == key.lower()]
    if by_repo:
        return by_repo[0]
    # a spec's path is confined to its folder; one named on the command line (base_dir None) is read as given
    path = Path(key).expanduser() if base_dir is None else _resolve(base_dir, key, where)
    if path.is_dir():
        path = path / "config.json"
        if not path.is_file():
            raise InputError(f"model folder {ref!r} has no config.json", where=where)
    if path.exists():  # a file, or something that is not one (a FIFO, a device): the reader says which
        return load_hf_config(path)
    if key.endswith(".json") or key.startswith((".", "/", "~")):
        raise InputError(f"model config {ref!r} not found (looked at {path})", where=where)
    base = base_model(catalog, key)
    if base is not None:
        return base
    raise CatalogError(
        f"unknown model {ref!r} (not a catalog id, a catalog model's HF repo, or a local config.json path); "
        + hint(key.lower(), catalog.models),
        where=where,
    )
