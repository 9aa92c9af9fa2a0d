"""Spec v1: what a user writes in YAML. Validated by pydantic (frozen, extra=forbid).

`load_spec(path)` turns any problem with the file into an `InputError` naming the YAML path of the
bad field, the bad value and what would be valid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner.errors import InputError

SHARE_TOLERANCE = 1e-6


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class HistogramBin(_Spec):
    input_len: int = Field(ge=1)
    output_len: int = Field(ge=1)
    share: float = Field(gt=0, le=1, allow_inf_nan=False)


class LengthDistribution(_Spec):
    """A parametric length distribution (tokens); sampled deterministically by quantiles."""

    kind: Literal["lognormal", "normal", "uniform", "constant", "exponential"]
    mean: PositiveFloat | None = None
    median: PositiveFloat | None = None
    stddev: NonNegFloat | None = None
    sigma: NonNegFloat | None = Field(default=None, description="lognormal shape (std of log)")
    min: int | None = Field(default=None, ge=1)
    max: int | None = Field(default=None, ge=1)
    value: int | None = Field(default=None, ge=1, description="for kind: constant")


class ParametricLengths(_Spec):
    input: LengthDistribution
    output: LengthDistribution


class TraceColumns(_Spec):
    """Column names of a generic CSV/JSONL trace."""

    input_len: str
    output_len: str
    timestamp: str | None = None


class TraceSource(_Spec):
    path: str
    format: Literal["azure-2023", "mooncake", "burstgpt", "csv", "jsonl"]
    columns: TraceColumns | None = None
    skip_bad_rows: bool = Field(default=False, description="skip malformed rows instead of failing (counted)")
    use_trace_rate: bool = Field(default=False, description="take the request rate from the trace timestamps")


class Workload(_Spec):
    rate_rps: PositiveFloat | None = Field(default=None, description="mean arrival rate, requests/s")
    histogram: tuple[HistogramBin, ...] | None = None
    distribution: ParametricLengths | None = None
    trace: TraceSource | None = None
    buckets_per_decade: int = Field(default=4, ge=1, le=20, description="log-spaced length buckets")

    @model_validator(mode="after")
    def _one_source(self) -> Workload:
        given = [n for n in ("histogram", "distribution", "trace") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of histogram, distribution or trace" + (f" (got {', '.join(given)})" if given else "")
            )
        if self.histogram is not None:
            total = sum(b.share for b in self.histogram)
            if abs(total - 1.0) > SHARE_TOLERANCE:
                raise ValueError(f"histogram shares sum to {total:.6g}; they must sum to 1")
        uses_trace_rate = self.trace is not None and self.trace.use_trace_rate
        if self.rate_rps is None and not uses_trace_rate:
            raise ValueError("rate_rps is required (or set trace.use_trace_rate: true)")
        return self


class Slo(_Spec):
    ttft_ms: PositiveFloat
    tpot_ms: PositiveFloat


class ModelSpec(_Spec):
    name: str | None = Field(default=None, description="label in reports; defaults to the model id")
    model: str = Field(description="catalog model id or a path to a HF config.json")
    workload: Workload
    slo: Slo
    min_replicas: int = Field(default=1, ge=0)
    offline: bool = Field(default=False, description="batch work: offloaded candidates may serve it")

    @property
    def label(self) -> str:
        return self.name or self.model


class OfferingFilter(_Spec):
    clouds: tuple[str, ...] | None = None
    gpus: tuple[str, ...] | None = None
    regions: tuple[str, ...] | None = None
    include: tuple[str, ...] | None = Field(default=None, description="offering ids; only these")
    exclude: tuple[str, ...] = ()
    spot: bool = Field(default=False, description="also consider spot prices")
    max_spot_share: float = Field(default=1.0, ge=0, le=1, description="max share of cost on spot")
    include_uncertain: bool = Field(default=True, description="use prices flagged uncertain")
    price_overrides: dict[str, NonNegFloat] = Field(default_factory=dict, description="offering id -> $/h")
    available: dict[str, int] = Field(default_factory=dict, description="offering id -> max instances")


class Search(_Spec):
    tp: tuple[int, ...] = (1, 2, 4, 8)
    weights: tuple[Literal["bf16", "fp16", "fp8", "int8", "int4", "fp4"], ...] = ("bf16",)
    kv: tuple[Literal["bf16", "fp16", "fp8"], ...] = ("bf16",)
    engine: Literal["vllm", "trtllm", "sglang"] = "vllm"
    target_utilisation: float = Field(default=0.8, gt=0, le=1)
    gpu_memory_utilization: float = Field(default=0.9, gt=0, le=1)

    @field_validator("tp")
    @classmethod
    def _tp_powers(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        bad = [t for t in v if t < 1 or t & (t - 1)]
        if bad or not v:
            raise ValueError(f"tp degrees must be powers of two >= 1, got {list(v)}")
        return tuple(sorted(set(v)))


class SolverOptions(_Spec):
    name: Literal["highs", "cbc"] = "highs"
    time_limit_s: PositiveFloat = 60.0
    mip_gap: float = Field(default=0.0, ge=0, le=1)
    mode: Literal["fractional", "whole-slice"] = "fractional"
    slice_factor: int = Field(default=1, ge=1, description="whole-slice mode: pieces per bucket")


class MeasuredCapacity(_Spec):
    """One measured point: a replica of `tp` GPUs of `gpu` (or of `offering`) sustains `capacity_rps`
    of requests with these lengths within the model's SLOs."""

    offering: str | None = None
    gpu: str | None = None
    tp: int = Field(default=1, ge=1)
    input_len: int = Field(ge=1)
    output_len: int = Field(ge=1)
    capacity_rps: float = Field(ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _target(self) -> MeasuredCapacity:
        if (self.offering is None) == (self.gpu is None):
            raise ValueError("give exactly one of offering or gpu")
        return self


class ProfileSource(_Spec):
    """Measured capacities for one model: inline points, a CSV, or `vllm bench serve` result JSON files.

    Measured capacities override estimates for the (gpu or offering, tp, bucket) they cover.
    With `exclusive: true` only measured candidates serve the model (no estimates; the model id
    need not be in the catalog).
    """

    model: str = Field(description="label of a model in `models`")
    capacities: tuple[MeasuredCapacity, ...] = ()
    csv: str | None = Field(default=None, description="columns: offering|gpu, tp, input_len, output_len, capacity_rps")
    vllm_bench: tuple[str, ...] = Field(default=(), description="`vllm bench serve --save-result` JSON files")
    gpu: str | None = Field(default=None, description="for vllm_bench files: the GPU they ran on")
    offering: str | None = Field(default=None, description="for vllm_bench files: or the offering")
    tp: int = Field(default=1, ge=1, description="for vllm_bench files: the TP degree")
    exclusive: bool = False


class CatalogSection(_Spec):
    """Overlay on the shipped catalog: files (relative to the spec) and inline entries, same schema."""

    files: tuple[str, ...] = ()
    gpus: tuple[dict[str, object], ...] = ()
    offerings: tuple[dict[str, object], ...] = ()
    models: tuple[dict[str, object], ...] = ()


class Constraints(_Spec):
    budget_usd_per_hour: PositiveFloat | None = None


class Spec(_Spec):
    """The whole planning problem."""

    schema_version: Literal[1] = 1
    name: str | None = None
    models: tuple[ModelSpec, ...] = Field(min_length=1)
    offerings: OfferingFilter = OfferingFilter()
    search: Search = Search()
    solver: SolverOptions = SolverOptions()
    constraints: Constraints = Constraints()
    profiles: tuple[ProfileSource, ...] = ()
    catalog: CatalogSection = CatalogSection()

    @model_validator(mode="after")
    def _unique_labels(self) -> Spec:
        labels = [m.label for m in self.models]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"model labels must be unique; give each a distinct `name` (duplicated: {dup})")
        return self


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def format_validation_error(err: ValidationError, source: str) -> InputError:
    """One message per problem: `file: path.to.field: what is wrong (got value)`."""
    lines = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        got = e.get("input")
        shown = "" if isinstance(got, dict | list) or e["type"] == "missing" else f" (got {got!r})"
        lines.append(f"{_loc(loc)}: {msg}{shown}")
    first, *rest = lines
    more = "".join("\n  " + r for r in rest)
    return InputError(first + more, where=source)


def parse_spec(data: object, source: str = "spec") -> Spec:
    if not isinstance(data, dict):
        raise InputError(f"the spec must be a YAML mapping, got {type(data).__name__}", where=source)
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        raise format_validation_error(err, source) from None


def read_yaml(path: Path, what: str = "file") -> object:
    """Read a YAML file, turning every I/O or syntax problem into an InputError naming the file."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read {what}: {exc.strerror}", where=str(path)) from None
    if b"\0" in raw:
        raise InputError(f"{what} is binary, expected YAML text", where=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{what} is not UTF-8 text", where=str(path)) from None
    if not text.strip():
        raise InputError(f"{what} is empty", where=str(path))
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"malformed YAML{at}: {problem}", where=str(path)) from None


def load_spec(path: Path) -> Spec:
    return parse_spec(read_yaml(path, "spec"), str(path))
