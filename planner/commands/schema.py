"""`gpuplan schema COMMAND`: the JSON Schema of `gpuplan COMMAND --format json`, generated from its result.

Each schema describes the whole envelope (schema_version, command, status, data, errors) with `data`
being the command's typed result, or an empty object when the run failed. Consumers can validate files
against it and read field descriptions (units are in the names) without reading Python.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.refresh import RefreshResult
from planner.check import CheckResult
from planner.check_schedule import ScheduleCheckResult
from planner.errors import InputError
from planner.estimate import EstimateResult
from planner.export import ExportResult
from planner.listing import CommitmentListing, GpuListing, ModelListing, OfferingListing
from planner.outcome import SCHEMA_VERSION, Outcome
from planner.place import PlaceInfeasible, PlaceResult
from planner.result import Plan
from planner.schedule_result import Schedule
from planner.simulate.result import SimulationResult
from planner.sweep import SweepResult


class _NoData(BaseModel):
    """`data` of an error envelope: an empty object."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="NoData")


_VERSION = Field(description="bumped on any incompatible change of this format")
_ERRORS = Field(description="error messages when status is error")


class PlanEnvelope(BaseModel):
    """The JSON that `gpuplan plan --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan plan output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["plan"]
    status: Literal["ok", "infeasible", "error"]
    data: Plan | _NoData = Field(description="the plan; an empty object when status is error")
    errors: list[str] = _ERRORS


class ScheduleEnvelope(BaseModel):
    """The JSON that `gpuplan schedule --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan schedule output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["schedule"]
    status: Literal["ok", "infeasible", "error"]
    data: Schedule | _NoData = Field(description="the multi-period plan; an empty object when status is error")
    errors: list[str] = _ERRORS


class EstimateEnvelope(BaseModel):
    """The JSON that `gpuplan estimate --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan estimate output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["estimate"]
    status: Literal["ok", "infeasible", "error"]
    data: EstimateResult | _NoData = Field(description="the estimate; an empty object when status is error")
    errors: list[str] = _ERRORS


class PlaceEnvelope(BaseModel):
    """The JSON that `gpuplan place --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan place output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["place"]
    status: Literal["ok", "infeasible", "error"]
    data: PlaceResult | PlaceInfeasible | _NoData = Field(
        description="the placement; an empty object when status is error"
    )
    errors: list[str] = _ERRORS


class SweepEnvelope(BaseModel):
    """The JSON that `gpuplan sweep --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan sweep output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["sweep"]
    status: Literal["ok", "infeasible", "error"]
    data: SweepResult | _NoData = Field(description="the sweep; an empty object when status is error")
    errors: list[str] = _ERRORS


class CheckEnvelope(BaseModel):
    """The JSON that `gpuplan check --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan check output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["check"]
    status: Literal["ok", "error"]
    data: CheckResult | ScheduleCheckResult | _NoData = Field(
        description="the comparison (of two plans, or of two schedules); an empty object when status is error"
    )
    errors: list[str] = _ERRORS


class SimulateEnvelope(BaseModel):
    """The JSON that `gpuplan simulate --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan simulate output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["simulate"]
    status: Literal["ok", "error"]
    data: SimulationResult | _NoData = Field(description="the simulation; an empty object when status is error")
    errors: list[str] = _ERRORS


class ExportEnvelope(BaseModel):
    """The JSON that `gpuplan export --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan export output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["export"]
    status: Literal["ok", "error"]
    data: ExportResult | _NoData = Field(description="the exported files; an empty object when status is error")
    errors: list[str] = _ERRORS


class CatalogGpusEnvelope(BaseModel):
    """The JSON that `gpuplan catalog gpus --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan catalog gpus output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["catalog gpus"]
    status: Literal["ok", "error"]
    data: GpuListing | _NoData = Field(description="the listing; an empty object when status is error")
    errors: list[str] = _ERRORS


class CatalogOfferingsEnvelope(BaseModel):
    """The JSON that `gpuplan catalog offerings --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan catalog offerings output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["catalog offerings"]
    status: Literal["ok", "error"]
    data: OfferingListing | _NoData = Field(description="the listing; an empty object when status is error")
    errors: list[str] = _ERRORS


class CatalogModelsEnvelope(BaseModel):
    """The JSON that `gpuplan catalog models --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan catalog models output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["catalog models"]
    status: Literal["ok", "error"]
    data: ModelListing | _NoData = Field(description="the listing; an empty object when status is error")
    errors: list[str] = _ERRORS


class CatalogCommitmentsEnvelope(BaseModel):
    """The JSON that `gpuplan catalog commitments --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan catalog commitments output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["catalog commitments"]
    status: Literal["ok", "error"]
    data: CommitmentListing | _NoData = Field(description="the listing; an empty object when status is error")
    errors: list[str] = _ERRORS


class CatalogRefreshEnvelope(BaseModel):
    """The JSON that `gpuplan catalog refresh --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan catalog refresh output")

    schema_version: Literal["1"] = _VERSION
    command: Literal["catalog refresh"]
    status: Literal["ok", "error"]
    data: RefreshResult | _NoData = Field(description="what the refresh changes; an empty object when status is error")
    errors: list[str] = _ERRORS


ENVELOPES: dict[str, type[BaseModel]] = {
    "plan": PlanEnvelope,
    "schedule": ScheduleEnvelope,
    "estimate": EstimateEnvelope,
    "place": PlaceEnvelope,
    "sweep": SweepEnvelope,
    "check": CheckEnvelope,
    "simulate": SimulateEnvelope,
    "export": ExportEnvelope,
    "catalog gpus": CatalogGpusEnvelope,
    "catalog offerings": CatalogOfferingsEnvelope,
    "catalog models": CatalogModelsEnvelope,
    "catalog commitments": CatalogCommitmentsEnvelope,
    "catalog refresh": CatalogRefreshEnvelope,
}
"""Every command with a JSON output (`validate` and `import melange` print no JSON)."""
SCHEMAS = tuple(ENVELOPES)


def envelope_schema(envelope: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a command's envelope, with stable key order."""
    schema = envelope.model_json_schema(mode="serialization")
    first = ("title", "description", "type", "properties", "required", "additionalProperties")
    ordered: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    ordered.update({k: schema[k] for k in first if k in schema})
    ordered.update({k: v for k, v in schema.items() if k not in ordered})
    ordered["description"] = f"{ordered.get('description', '')} (schema_version {SCHEMA_VERSION})".strip()
    return ordered


def plan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a plan envelope, with stable key order."""
    return envelope_schema(PlanEnvelope)


class SchemaDocument(BaseModel):
    """`gpuplan schema`'s own output is the schema itself (rendered as is, not in an envelope)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: str
    json_schema: dict[str, Any]


def execute(name: str) -> Outcome:
    """The schema named `name`; rendered by the `json-schema` renderer."""
    if name not in ENVELOPES:
        raise InputError(f"no schema named {name!r}; valid: {', '.join(SCHEMAS)}", where="schema")
    schema = envelope_schema(ENVELOPES[name])
    return Outcome(
        command=f"schema {name}",
        status="ok",
        data=SchemaDocument(command=name, json_schema=schema),
        renderers={"json-schema": lambda: json.dumps(schema, indent=2, ensure_ascii=False) + "\n"},
    )
