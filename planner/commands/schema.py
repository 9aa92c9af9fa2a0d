"""`gpuplan schema plan`: the JSON Schema of `gpuplan plan --format json`, generated from the result models.

The schema describes the whole envelope (schema_version, command, status, data, errors) with `data`
being a Plan, or an empty object when the run failed. Consumers can validate files against it and
read field descriptions (units are in the names) without reading Python.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from planner.errors import InputError
from planner.export import ExportResult
from planner.outcome import SCHEMA_VERSION, Outcome
from planner.result import Plan
from planner.simulate.result import SimulationResult

SCHEMAS = ("plan", "simulate", "export")


class _NoData(BaseModel):
    """`data` of an error envelope: an empty object."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="NoData")


class PlanEnvelope(BaseModel):
    """The JSON that `gpuplan plan --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan plan output")

    schema_version: Literal["1"] = Field(description="bumped on any incompatible change of this format")
    command: Literal["plan"]
    status: Literal["ok", "infeasible", "error"]
    data: Plan | _NoData = Field(description="the plan; an empty object when status is error")
    errors: list[str] = Field(description="error messages when status is error")


class ExportEnvelope(BaseModel):
    """The JSON that `gpuplan export --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan export output")

    schema_version: Literal["1"] = Field(description="bumped on any incompatible change of this format")
    command: Literal["export"]
    status: Literal["ok", "error"]
    data: ExportResult | _NoData = Field(description="the exported files; an empty object when status is error")
    errors: list[str] = Field(description="error messages when status is error")


class SimulateEnvelope(BaseModel):
    """The JSON that `gpuplan simulate --format json` prints."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="gpuplan simulate output")

    schema_version: Literal["1"] = Field(description="bumped on any incompatible change of this format")
    command: Literal["simulate"]
    status: Literal["ok", "error"]
    data: SimulationResult | _NoData = Field(description="the simulation; an empty object when status is error")
    errors: list[str] = Field(description="error messages when status is error")


def plan_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a plan envelope, with stable key order."""
    return envelope_schema(PlanEnvelope)


def envelope_schema(envelope: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a command's envelope, with stable key order."""
    schema = envelope.model_json_schema(mode="serialization")
    first = ("title", "description", "type", "properties", "required", "additionalProperties")
    ordered: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    ordered.update({k: schema[k] for k in first if k in schema})
    ordered.update({k: v for k, v in schema.items() if k not in ordered})
    ordered["description"] = f"{ordered.get('description', '')} (schema_version {SCHEMA_VERSION})".strip()
    return ordered


def execute(name: str) -> Outcome:
    """The schema named `name`; rendered by the `json-schema` renderer."""
    if name not in SCHEMAS:
        raise InputError(f"no schema named {name!r}; valid: {', '.join(SCHEMAS)}", where="schema")
    envelopes: dict[str, type[BaseModel]] = {"simulate": SimulateEnvelope, "export": ExportEnvelope}
    schema = plan_schema() if name == "plan" else envelope_schema(envelopes[name])
    return Outcome(
        command=f"schema {name}",
        status="ok",
        data=schema,
        renderers={"json-schema": lambda: json.dumps(schema, indent=2, ensure_ascii=False) + "\n"},
    )
