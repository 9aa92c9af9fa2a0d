"""A plan as deployable endpoints and instance layouts, or a refusal that says why it cannot be deployed.

An *endpoint* is one replica group of the plan (one candidate on one offering): the unit that gets an
engine command, a Kubernetes Deployment + Service and a router entry. Its id is a DNS-1035 label, so it
is also the Service's name and the host name the router points at.

An *instance layout* is what one rented instance runs: the replicas packed onto its GPUs (first-fit
decreasing by GPUs per replica, the shape `planner.verify` accepts) with the GPU indices and port of
each. SkyPilot launches layouts; identical layouts are launched `count` times.

Multi-node replicas (tp x pp above one instance's GPUs, issue 14) have `nodes_per_replica > 1`; they
would map to SkyPilot `num_nodes` and a Kubernetes LeaderWorkerSet. No target writes them yet: they are
refused with that reason rather than launched as something else. So are the prefill and decode pools of
disaggregated serving (replica groups with role prefill/decode).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from catalog.types import Catalog
from planner.errors import InputError
from planner.result import Allocation, EngineSettings, Plan, ReplicaGroup

BASE_PORT = 8000
NVIDIA_FAMILIES = ("volta", "turing", "ampere", "ada", "hopper", "blackwell")
SIXTEEN_BIT = ("bf16", "fp16")
MAX_ID_LEN = 50  # DNS-1035 labels are <= 63; room for the suffixes Kubernetes adds to pod names
MAX_LAID_OUT = 100_000
"""Instances or replicas one export lays out, one by one; a plan with more (only a hand-edited one has
them) is refused instead of running out of memory (1e9 replicas ended in MemoryError, exit 3)."""


class ExportRefused(InputError):
    """The plan has something export cannot launch exactly; the message says what and why (exit 2)."""


@dataclass(frozen=True)
class Endpoint:
    """One replica group, ready to become an engine command."""

    id: str
    model: str  # the plan's model label: the served model name
    model_id: str  # catalog model id
    allocation: Allocation
    group: ReplicaGroup
    settings: EngineSettings
    checkpoint: str  # what the engine loads: the catalog's HF repo or the user's --checkpoint
    gpus_per_replica: int
    nodes_per_replica: int


@dataclass(frozen=True)
class Slot:
    """One replica's place on an instance."""

    endpoint: str
    gpu_indices: tuple[int, ...]
    port: int


@dataclass(frozen=True)
class InstanceLayout:
    """What `count` identical instances of one offering each run."""

    name: str
    allocation: Allocation
    slots: tuple[Slot, ...]
    count: int


@dataclass(frozen=True)
class Fleet:
    endpoints: tuple[Endpoint, ...]
    layouts: tuple[InstanceLayout, ...]

    def endpoint(self, endpoint_id: str) -> Endpoint:
        return next(e for e in self.endpoints if e.id == endpoint_id)


def slug(text: str) -> str:
    """A DNS-1035 label from `text`: lower case, [a-z0-9-], starting with a letter."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    if not s or not s[0].isalpha():
        s = "m-" + s
    return s[:MAX_ID_LEN].rstrip("-")


def _where(source: str, group: ReplicaGroup) -> str:
    return f"{source}: replica group {group.candidate}"


def _check_group(source: str, a: Allocation, g: ReplicaGroup, catalog: Catalog) -> EngineSettings:
    where = _where(source, g)
    if g.capacity_source == "offload":
        raise ExportRefused(
            "is an offloaded replica (FlexGen-style placement of weights and KV cache in host memory); "
            "vLLM, SGLang and TensorRT-LLM cannot run that placement, so there is no engine command that "
            "launches what was planned",
            where=where,
        )
    if g.capacity_source == "measured":
        raise ExportRefused(
            "was sized from a measured profile; the plan does not know the engine settings the profile was "
            "measured with, so export cannot repeat them",
            where=where,
        )
    if g.engine_settings is None:
        raise ExportRefused(
            "has no engine_settings (the plan was written by an older gpuplan); re-plan the spec", where=where
        )
    family = catalog.gpus[a.gpu].family if a.gpu in catalog.gpus else "unknown"
    if family not in NVIDIA_FAMILIES:
        raise ExportRefused(
            f"runs on {a.gpu} ({family}); export writes NVIDIA engine images and nvidia.com/gpu requests only",
            where=where,
        )
    s = g.engine_settings
    if s.ep > 1:
        raise ExportRefused(f"uses expert parallelism (ep {s.ep}), which export does not write yet", where=where)
    return s


def _checkpoint(checkpoints: Mapping[str, str], names: tuple[str, ...], weights: str, hf_repo: str) -> str:
    """The repository a group loads. `MODEL@DTYPE=REPO` applies to the model's groups with those weights;
    `MODEL=REPO` to its quantised groups (16-bit ones keep the catalog's checkpoint), or to every group of a
    model the catalog names no repository for."""
    for name in names:
        if f"{name}@{weights}" in checkpoints:
            return checkpoints[f"{name}@{weights}"]
    for name in names:
        if name in checkpoints and (weights not in SIXTEEN_BIT or not hf_repo):
            return checkpoints[name]
    return hf_repo


def build_fleet(plan: Plan, catalog: Catalog, source: str, checkpoints: Mapping[str, str]) -> Fleet:
    """Endpoints and instance layouts of `plan`; ExportRefused for anything that cannot be launched as planned.

    `checkpoints` maps a model label or catalog id (optionally `@weights`) to the repository the engine should
    load instead of the catalog's: a checkpoint already stored in the plan's weight dtype (see _checkpoint)."""
    if plan.status == "infeasible" or not plan.allocations:
        raise ExportRefused("the plan is infeasible: there is no fleet to export", where=source)
    instances = sum(a.instances for a in plan.allocations)
    replicas = sum(g.replicas for a in plan.allocations for g in a.replicas)
    if max(instances, replicas) > MAX_LAID_OUT:
        raise ExportRefused(
            f"the plan has {replicas:,} replicas on {instances:,} instances; export lays out at most "
            f"{MAX_LAID_OUT:,} of each",
            where=source,
        )
    model_ids = {m.model: m.model_id for m in plan.models}
    endpoints: list[Endpoint] = []
    used: set[str] = set()
    for a in plan.allocations:
        for g in a.replicas:
            if g.role != "aggregated":
                raise ExportRefused(
                    f"is a {g.role} pool of disaggregated serving; disaggregated pairs are not exported yet "
                    "(designed: engines launched as prefill and decode instances with a KV connector such as "
                    "NIXL or Mooncake, and a router that sends each request to a prefill then a decode replica)",
                    where=_where(source, g),
                )
            s = _check_group(source, a, g, catalog)
            model_id = model_ids.get(g.model, g.model)
            checkpoint = _checkpoint(checkpoints, (g.model, model_id), g.weights, s.hf_repo)
            if not checkpoint:
                raise ExportRefused(
                    f"model {model_id!r} names no Hugging Face repository in the catalog; give one with "
                    f"--checkpoint {g.model}=ORG/REPO",
                    where=_where(source, g),
                )
            per_replica = g.tp * s.pp
            base = slug(f"{g.model}-{a.instance_type}-tp{g.tp}" + (f"-pp{s.pp}" if s.pp > 1 else "") + f"-{g.weights}")
            eid, n = base, 2
            while eid in used:
                eid, n = f"{base}-{n}", n + 1
            used.add(eid)
            endpoints.append(
                Endpoint(
                    id=eid,
                    model=g.model,
                    model_id=model_id,
                    allocation=a,
                    group=g,
                    settings=s,
                    checkpoint=checkpoint,
                    gpus_per_replica=per_replica,
                    nodes_per_replica=math.ceil(per_replica / a.gpus_per_instance),
                )
            )
    for e in endpoints:
        if e.nodes_per_replica > 1:
            raise ExportRefused(
                f"needs {e.nodes_per_replica} instances per replica (tp {e.group.tp} x pp {e.settings.pp} = "
                f"{e.gpus_per_replica} GPUs, {e.allocation.gpus_per_instance} per instance); multi-node replicas "
                "are not exported yet (designed: SkyPilot num_nodes, a Kubernetes LeaderWorkerSet)",
                where=_where(source, e.group),
            )
    return Fleet(tuple(endpoints), _layouts(plan, endpoints, source))


def _layouts(plan: Plan, endpoints: list[Endpoint], source: str) -> tuple[InstanceLayout, ...]:
    """Pack each allocation's replicas onto its instances (first-fit decreasing) and group equal layouts."""
    out: list[InstanceLayout] = []
    for a in plan.allocations:
        eps = [e for e in endpoints if e.allocation is a]
        items = sorted(
            ((e.id, e.gpus_per_replica) for e in eps for _ in range(e.group.replicas)), key=lambda t: (-t[1], t[0])
        )
        instances: list[list[tuple[str, int]]] = [[] for _ in range(a.instances)]
        free = [a.gpus_per_instance] * a.instances
        for eid, need in items:
            k = next((i for i, f in enumerate(free) if f >= need), None)
            if k is None:
                raise ExportRefused(
                    f"the replicas planned on {a.offering} do not pack onto {a.instances} instance(s) of "
                    f"{a.gpus_per_instance} GPUs by first-fit; export cannot place them",
                    where=source,
                )
            instances[k].append((eid, need))
            free[k] -= need
        counts: dict[tuple[tuple[str, int], ...], int] = {}
        for inst in instances:
            if inst:
                key = tuple(inst)
                counts[key] = counts.get(key, 0) + 1
        for i, (key, count) in enumerate(counts.items()):
            slots, gpu = [], 0
            for j, (eid, need) in enumerate(key):
                slots.append(Slot(eid, tuple(range(gpu, gpu + need)), BASE_PORT + j))
                gpu += need
            name = slug(f"{plan.name or 'plan'}-{a.instance_type}-{a.region}") + (
                f"-{i + 1}" if len(counts) > 1 else ""
            )
            out.append(InstanceLayout(name=name, allocation=a, slots=tuple(slots), count=count))
    return tuple(out)
