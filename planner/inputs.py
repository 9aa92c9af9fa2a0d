"""The planner's first stage: read every file a spec names and check every id it uses, once.

Everything after this stage (capacity, problem, solve, assemble) is a pure function of the values built
here, so a spec error is always reported before any estimate or solve, and re-planning the same inputs
(a sweep) never depends on the file system twice in different ways.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from catalog.loader import load_catalog, resolve_model
from catalog.types import Catalog, ModelArch
from common import files
from planner.errors import ArgumentError, InputError, did_you_mean, unknown_id
from planner.measured_profiles import MeasuredPoint, load_profile_points
from planner.offerings import SPOT_SUFFIX, PricedOffering, drop_dominated, select_offerings
from planner.spec import ModelSpec, Search, Spec, parse_spec
from planner.workload import Slice, WorkloadSlices, build_slices

_YAML_PATH = re.compile(r"[A-Za-z_]\w*(\[\d+\]|\.[A-Za-z_][\w-]*)*")


@contextmanager
def spec_errors(spec_path: Path) -> Iterator[None]:
    """An input error located by a YAML path of the spec (`models[0].workload`) also names the spec file."""
    try:
        yield
    except ArgumentError:  # names an argument (`solver`, `catalog`), not a YAML path, even where they match
        raise
    except InputError as err:
        where = err.where or ""
        head = re.match(r"[A-Za-z_]\w*", where)
        if (
            head is not None
            and head.group(0) in Spec.model_fields
            and _YAML_PATH.fullmatch(where)
            and not Path(where).exists()
            and not (spec_path.parent / where).exists()
        ):
            raise type(err)(err.message, where=f"{spec_path}: {where}") from None
        raise


@dataclass(frozen=True)
class PlanInputs:
    """The spec and the catalog it is planned against (with the spec's and the command line's overlays)."""

    spec: Spec
    catalog: Catalog
    base_dir: Path  # relative paths of the spec resolve against it
    spec_sha256: str
    # capacities worked out for plans of this spec at other rates (planner.sweep; key -> a ModelCapacity, see
    # planner.capacity.memoised_capacity); None: nothing is kept between plans
    capacity_memo: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    # trace files read for plans of this spec at other values (planner.sweep; see
    # planner.workload._read_memoised); None: every plan reads its traces
    trace_memo: dict[str, Any] | None = field(default=None, compare=False, repr=False)


def load_inputs(spec_path: Path, overlays: tuple[Path, ...] = ()) -> PlanInputs:
    """Read the spec and the catalog (with the spec's and the command line's overlays)."""
    raw = files.read_bytes(spec_path, "spec", "YAML")  # once: what is parsed is what is hashed
    where = str(spec_path)
    spec = parse_spec(files.parse_yaml(files.decode_text(raw, "spec", "YAML", where), where), where)
    base_dir = spec_path.resolve().parent
    digest = hashlib.sha256(raw).hexdigest()
    files.allow_folders(base_dir / p for p in spec.allow_paths)
    catalog = load_catalog(overlays, inline=spec.catalog, base_dir=base_dir)
    return PlanInputs(spec, catalog, base_dir, digest)


@dataclass(frozen=True)
class ModelInputs:
    """Everything known about one model of the spec before any capacity is worked out: its files read,
    its measured points checked against the catalog, and the offerings it may rent."""

    index: int  # position in `models`, for YAML paths in messages
    spec: ModelSpec
    arch: ModelArch | None  # None: a model the catalog does not know, planned from exclusive profiles only
    workload: WorkloadSlices
    points: tuple[MeasuredPoint, ...]  # measured points of this model, from every `profiles` entry
    exclusive: bool  # some profile entry of this model is exclusive: measured capacities only
    offerings: tuple[PricedOffering, ...]
    catalog: Catalog
    search: Search
    dropped: tuple[tuple[str, str], ...] = ()  # (offering left out, the one that stands in for it)

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def slices(self) -> tuple[Slice, ...]:
        return self.workload.slices

    @property
    def where(self) -> str:
        return f"models[{self.index}]"


def offerings_for(inputs: PlanInputs) -> tuple[PricedOffering, ...]:
    """The offerings the spec's filters let the plan rent; none is an input error."""
    offerings = select_offerings(inputs.catalog, inputs.spec.offerings)
    if not offerings:
        raise InputError("no offering passes the filters; widen clouds/gpus/regions or include", where="offerings")
    return offerings


def named_offerings(spec: Spec, models: Sequence[ModelInputs]) -> set[str]:
    """Offering ids the spec or a measured profile names: `drop_dominated` keeps them (a measured
    capacity or a negotiated price makes an offering unlike its cheaper twins)."""
    flt = spec.offerings
    names = set(flt.include or ()) | set(flt.available) | {k.removesuffix(SPOT_SUFFIX) for k in flt.price_overrides}
    for p in spec.profiles:
        names |= {c.offering for c in p.capacities if c.offering} | ({p.offering} if p.offering else set())
    names |= {pt.target.id for m in models for pt in m.points if pt.target.kind == "offering"}
    return names | {n + SPOT_SUFFIX for n in names}


def without_dominated(spec: Spec, models: Sequence[ModelInputs]) -> list[ModelInputs]:
    """The models with the offerings no plan needs left out (`planner.offerings.drop_dominated`): the
    optimum is unchanged, the solver no longer breaks ties between identical columns (one Lambda type in
    17 regions at one price), and the plan can say which offering stood in for which."""
    if not models:
        return []
    kept, dropped = drop_dominated(models[0].offerings, keep=named_offerings(spec, models))
    pairs = tuple(sorted(dropped.items()))
    return [replace(m, offerings=kept, dropped=pairs) for m in models]


def load_model(inputs: PlanInputs, index: int, offerings: tuple[PricedOffering, ...]) -> ModelInputs:
    """Resolve model `index` of the spec, read its workload and its measured profiles."""
    spec, catalog = inputs.spec, inputs.catalog
    ms = spec.models[index]
    where = f"models[{index}]"
    profiles = [(j, p) for j, p in enumerate(spec.profiles) if p.model == ms.label]
    exclusive = any(p.exclusive for _, p in profiles)
    arch: ModelArch | None
    try:
        arch = resolve_model(catalog, ms.model, where=f"{where}.model", base_dir=inputs.base_dir)
    except InputError:
        if not exclusive:
            raise
        arch = None
    workload = build_slices(ms.label, ms.workload, inputs.base_dir, f"{where}.workload", inputs.trace_memo)
    points: list[MeasuredPoint] = []
    for j, p in profiles:
        points.extend(load_profile_points(p, inputs.base_dir, f"profiles[{j}]", ms.slo))
    check_point_targets(catalog, points)
    return ModelInputs(index, ms, arch, workload, tuple(points), exclusive, offerings, catalog, spec.search)


def check_profiles(spec: Spec, catalog: Catalog) -> None:
    """Profile entries name a model label of the spec and catalog GPUs/offerings (did-you-mean if not)."""
    labels = {m.label for m in spec.models}
    for j, p in enumerate(spec.profiles):
        where = f"profiles[{j}]"
        if p.model not in labels:
            raise InputError(
                f"unknown model label {p.model!r}; {did_you_mean(p.model, labels)}", where=f"{where}.model"
            )
        for i, c in enumerate(p.capacities):
            _check_target(catalog, "gpu", c.gpu, f"{where}.capacities[{i}].gpu")
            _check_target(catalog, "offering", c.offering, f"{where}.capacities[{i}].offering")
        _check_target(catalog, "gpu", p.gpu, f"{where}.gpu")
        _check_target(catalog, "offering", p.offering, f"{where}.offering")


def check_point_targets(catalog: Catalog, points: Sequence[MeasuredPoint]) -> None:
    """Measured points (from CSV rows or benchmark files too) run on GPUs and offerings the catalog knows."""
    for p in points:
        _check_target(catalog, p.target.kind, p.target.id, p.source)


def _check_target(catalog: Catalog, kind: str, ident: str | None, where: str) -> None:
    if ident is None:
        return
    valid = catalog.gpus if kind == "gpu" else catalog.offerings
    if ident not in valid:
        raise unknown_id(kind, ident, valid, where=where)


def slice_origin(model: ModelInputs, s: Slice) -> str:
    """The YAML path of the spec that a slice comes from: its histogram bin, or the distribution or trace."""
    wl = model.spec.workload
    if wl.histogram is not None:
        for k, b in enumerate(wl.histogram):
            if (b.input_len, b.output_len) == (s.input_len, s.output_len):
                return f"{model.where}.workload.histogram[{k}]"
    if wl.distribution is not None:
        return f"{model.where}.workload.distribution"
    if wl.trace is not None:
        return f"{model.where}.workload.trace"
    return f"{model.where}.workload"
