"""SkyPilot YAML, one file per instance layout (what one rented instance runs).

A layout with one replica becomes a SkyPilot *service* (`sky serve up`): `replicas` is the number of
instances the plan rents with that layout, each running one engine behind SkyPilot's load balancer. A
layout that packs several replicas onto one instance (say 2 x tp2 + 1 x tp4 on an 8-GPU node) becomes a
*task* (`sky launch`) whose `run` starts one engine per replica on its own GPUs and port; it is launched
once per planned instance. Resources pin the planned offering: cloud, region, instance type, its GPUs,
spot, and a disk that holds the checkpoints (their 16-bit bytes + DISK_HEADROOM_GB for image and OS).

Multi-node replicas would set `num_nodes` here; `fleet.build_fleet` refuses them until engines can be
launched across nodes.
"""

from __future__ import annotations

import math
from typing import Any

from catalog.skypilot import accelerator_name as skypilot_accelerator
from planner.export.engines import EngineCommand, render_script
from planner.export.fleet import ExportRefused, Fleet, InstanceLayout
from planner.export.yamlout import comment, dump

DISK_HEADROOM_GB = 64  # engine container image (~20-30 GB), OS and logs next to the checkpoint
READINESS_DELAY_S = 1800  # downloading and loading a 70B checkpoint takes tens of minutes


def accelerator_name(gpu: str) -> str:
    """SkyPilot's accelerator name for a catalog GPU id (catalog.skypilot.SKYPILOT_ACCELERATOR)."""
    name = skypilot_accelerator(gpu)
    if name is None:
        raise ExportRefused(
            f"SkyPilot has no accelerator name for GPU {gpu!r} that gpuplan knows", where="--to skypilot"
        )
    return name


def script_eof(endpoint_id: str) -> str:
    return "GPUPLAN_SCRIPT_" + endpoint_id.upper().replace("-", "_")


def script_path(endpoint_id: str) -> str:
    return f"/tmp/gpuplan-{endpoint_id}.sh"


def run_block(layout: InstanceLayout, scripts: dict[str, str]) -> str:
    """Write each endpoint's launch script once, then start one engine per slot on its GPUs and port."""
    lines: list[str] = []
    for eid in dict.fromkeys(s.endpoint for s in layout.slots):
        lines += [f"cat > {script_path(eid)} <<'{script_eof(eid)}'", scripts[eid].rstrip("\n"), script_eof(eid)]
    single = len(layout.slots) == 1
    for slot in layout.slots:
        gpus = ",".join(map(str, slot.gpu_indices))
        env = f"CUDA_VISIBLE_DEVICES={gpus} PORT={slot.port}"
        lines.append(
            f"{env} exec bash {script_path(slot.endpoint)}" if single else f"{env} bash {script_path(slot.endpoint)} &"
        )
    if not single:
        lines += ["wait -n  # one engine stopped: fail the task so it is noticed", "exit 1"]
    return "\n".join(lines) + "\n"


def layout_yaml(fleet: Fleet, layout: InstanceLayout, commands: dict[str, EngineCommand], header: list[str]) -> str:
    a = layout.allocation
    eps = [fleet.endpoint(eid) for eid in dict.fromkeys(s.endpoint for s in layout.slots)]
    disk = math.ceil(sum({e.checkpoint: e.settings.checkpoint_gb for e in eps}.values()) + DISK_HEADROOM_GB)
    image = commands[eps[0].id].args.image
    ports: Any = layout.slots[0].port if len(layout.slots) == 1 else [s.port for s in layout.slots]
    resources = {
        "cloud": a.cloud,
        "region": a.region,
        "instance_type": a.instance_type,
        "accelerators": f"{accelerator_name(a.gpu)}:{a.gpus_per_instance}",
        "use_spot": a.spot,
        "disk_size": disk,
        "image_id": f"docker:{image}",
        "ports": ports,
    }
    scripts = {e.id: render_script(commands[e.id], []) for e in eps}
    # gated checkpoints (Llama) need a Hugging Face token: `--secret HF_TOKEN` at launch
    doc: dict[str, Any] = {"name": layout.name, "resources": resources, "num_nodes": 1, "secrets": {"HF_TOKEN": None}}
    slots = ", ".join(f"{s.endpoint} on GPUs {','.join(map(str, s.gpu_indices))} port {s.port}" for s in layout.slots)
    if len(layout.slots) == 1:
        doc["service"] = {
            "readiness_probe": {
                "path": commands[eps[0].id].args.health_path,
                "initial_delay_seconds": READINESS_DELAY_S,
            },
            "replicas": layout.count,
        }
        how = [
            f"Launch: sky serve up -n {layout.name} {layout.name}.yaml --secret HF_TOKEN "
            f"({layout.count} replica(s), one instance each)"
        ]
    else:
        how = [
            f"Launch once per planned instance ({layout.count}): "
            + "; ".join(
                f"sky launch -c {layout.name}-{i} {layout.name}.yaml --secret HF_TOKEN" for i in range(layout.count)
            )
        ]
    doc["run"] = run_block(layout, scripts)
    head = [
        *header,
        f"{layout.count} x {a.instance_type} ({a.gpus_per_instance} x {a.gpu}) in {a.cloud} {a.region}"
        + (", spot" if a.spot else ""),
        f"Replicas on each instance: {slots}",
        *how,
    ]
    return comment(head) + dump(doc)
