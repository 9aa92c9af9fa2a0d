"""`export_plan`: a plan -> the files that launch it for one target, as a frozen ExportResult.

Targets and files (paths relative to the output folder):
- vllm | sglang | trtllm: `<endpoint>.sh`, one launch script per replica group (run it once per replica,
  with CUDA_VISIBLE_DEVICES set to that replica's GPUs and PORT to its port);
- skypilot: `<layout>.yaml`, one SkyPilot service or task per instance layout (see export.skypilot);
- k8s: `<cloud>-<region>/<endpoint>.yaml`, a Deployment and a Service per replica group;
- router: `router.json` (per-bucket weights) and `litellm-config.yaml` (a gateway).
Each is derived from the plan only; whatever cannot be launched as planned raises ExportRefused.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from catalog.types import Catalog
from planner.export import k8s, router, skypilot
from planner.export.engine_args import ENGINES
from planner.export.engines import EngineCommand, engine_command, render_script
from planner.export.fleet import ExportRefused, Fleet, build_fleet
from planner.result import Plan

Target = Literal["vllm", "sglang", "trtllm", "skypilot", "k8s", "router"]
TARGETS: tuple[Target, ...] = ("vllm", "sglang", "trtllm", "skypilot", "k8s", "router")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExportedFile(_Frozen):
    path: str = Field(description="relative to the output folder")
    kind: Literal["engine-script", "skypilot-service", "skypilot-task", "k8s-manifests", "router", "gateway"]
    text: str


class ExportedEndpoint(_Frozen):
    """One replica group as exported."""

    endpoint: str = Field(description="DNS-1035 name: Kubernetes Service, router endpoint id")
    model: str
    served_model_name: str
    candidate: str
    offering: str
    gpu: str
    tp: int
    pp: int
    replicas: int
    weights: str
    kv: str
    engine: str = Field(description="engine and release whose flags were written, e.g. 'vllm 0.33.0'")


class ExportResult(_Frozen):
    target: Target
    plan_name: str | None
    spec_sha256: str
    endpoints: tuple[ExportedEndpoint, ...]
    files: tuple[ExportedFile, ...]
    notes: tuple[str, ...] = ()


def _header(plan: Plan, target: str) -> list[str]:
    return [
        f"gpuplan export --to {target}: plan {plan.name or '(unnamed)'} (spec sha256 {plan.spec_sha256[:12]}, "
        f"catalog {plan.catalog_version}); do not edit, re-export",
    ]


def export_plan(
    plan: Plan, target: Target, catalog: Catalog, *, source: str = "plan", checkpoints: Mapping[str, str] | None = None
) -> ExportResult:
    """The files that launch `plan` on `target`; ExportRefused (exit 2) naming what cannot be expressed."""
    fleet: Fleet = build_fleet(plan, catalog, source, checkpoints or {})
    engine = target if target in ENGINES else None
    commands: dict[str, EngineCommand] = {}
    for e in fleet.endpoints:
        try:
            commands[e.id] = engine_command(e, engine or e.group.engine)
        except ExportRefused as err:  # name the plan file, as the fleet stage does
            raise ExportRefused(err.message, where=f"{source}: {err.where}") from None
    header = _header(plan, target)
    files: list[ExportedFile] = []
    notes: list[str] = []
    if target in ENGINES:
        for e in fleet.endpoints:
            run = (
                f"start {e.group.replicas} replica(s), each with CUDA_VISIBLE_DEVICES set to its "
                f"{e.gpus_per_replica} GPU(s) and PORT to its port"
            )
            files.append(
                ExportedFile(
                    path=f"{e.id}.sh", kind="engine-script", text=render_script(commands[e.id], [*header, run])
                )
            )
    elif target == "skypilot":
        for layout in fleet.layouts:
            kind: Literal["skypilot-service", "skypilot-task"] = (
                "skypilot-service" if len(layout.slots) == 1 else "skypilot-task"
            )
            files.append(
                ExportedFile(
                    path=f"{layout.name}.yaml",
                    kind=kind,
                    text=skypilot.layout_yaml(fleet, layout, commands, header),
                )
            )
    elif target == "k8s":
        for e in fleet.endpoints:
            folder = f"{e.allocation.cloud}-{e.allocation.region}".lower()
            files.append(
                ExportedFile(
                    path=f"{folder}/{e.id}.yaml",
                    kind="k8s-manifests",
                    text=k8s.endpoint_yaml(e, commands[e.id], f"gpuplan-{plan.name or 'plan'}"[:63], header),
                )
            )
    else:
        files.append(ExportedFile(path="router.json", kind="router", text=router.router_json(plan, fleet, commands)))
        files.append(
            ExportedFile(
                path="litellm-config.yaml", kind="gateway", text=router.litellm_yaml(plan, fleet, commands, header)
            )
        )
        if any(len(w) > 1 for w in router.model_weights(plan, fleet).values()):
            notes.append(
                "litellm-config.yaml spreads requests by the planned rate per endpoint without looking at their "
                "lengths; router.json keeps the per-bucket weights"
            )
    endpoints = tuple(
        ExportedEndpoint(
            endpoint=e.id,
            model=e.model,
            served_model_name=commands[e.id].served_model_name,
            candidate=e.group.candidate,
            offering=e.allocation.offering,
            gpu=e.allocation.gpu,
            tp=e.group.tp,
            pp=e.settings.pp,
            replicas=e.group.replicas,
            weights=e.group.weights,
            kv=e.group.kv,
            engine=commands[e.id].args.label,
        )
        for e in fleet.endpoints
    )
    return ExportResult(
        target=target,
        plan_name=plan.name,
        spec_sha256=plan.spec_sha256,
        endpoints=endpoints,
        files=tuple(files),
        notes=tuple(notes),
    )
