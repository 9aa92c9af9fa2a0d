"""Kubernetes manifests: a Deployment and a Service per endpoint (replica group), API version apps/v1 / v1.

Pods request the replica's GPUs (`nvidia.com/gpu`), select nodes of the planned instance type and region
(the well-known labels `node.kubernetes.io/instance-type`, `topology.kubernetes.io/region`, plus each
cloud's spot label when the plan rents spot), tolerate the usual `nvidia.com/gpu` taint, mount a memory
`/dev/shm` for tensor-parallel NCCL traffic, and probe the engine's health path (a long startup probe
covers the checkpoint download). The container runs the same launch script as the other targets.

The number of nodes is the node pool's business: the plan's instance count for each instance type is
written as an annotation and in the file header. Manifests are grouped per cloud and region (one cluster
each). Multi-node replicas would become a LeaderWorkerSet; `fleet.build_fleet` refuses them for now.
"""

from __future__ import annotations

from typing import Any

from planner.export.engines import EngineCommand, render_script
from planner.export.fleet import BASE_PORT, Endpoint, ExportRefused
from planner.export.yamlout import comment, dump

KUBERNETES_VERSION = "v1.33.0"  # the OpenAPI schema the manifests are validated against in tests
SPOT_NODE_LABEL = {  # each managed Kubernetes service's label for spot / preemptible nodes
    "aws": ("eks.amazonaws.com/capacityType", "SPOT"),
    "gcp": ("cloud.google.com/gke-spot", "true"),
    "azure": ("kubernetes.azure.com/scalesetpriority", "spot"),
}
HF_TOKEN_SECRET = "hf-token"  # kubectl create secret generic hf-token --from-literal=token=hf_...
STARTUP_PROBE_PERIOD_S = 10
STARTUP_PROBE_FAILURES = 180  # 30 minutes to download and load the checkpoint


def node_selector(e: Endpoint) -> dict[str, str]:
    a = e.allocation
    sel = {"node.kubernetes.io/instance-type": a.instance_type, "topology.kubernetes.io/region": a.region}
    if a.spot:
        if a.cloud not in SPOT_NODE_LABEL:
            raise ExportRefused(
                f"rents spot {a.instance_type} on {a.cloud}, whose Kubernetes spot node label export does not "
                f"know (known: {', '.join(SPOT_NODE_LABEL)})",
                where=f"replica group {e.group.candidate}",
            )
        key, value = SPOT_NODE_LABEL[a.cloud]
        sel[key] = value
    return sel


def manifests(e: Endpoint, cmd: EngineCommand, plan_label: str) -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": e.id, "app.kubernetes.io/part-of": plan_label}
    probe = {"httpGet": {"path": cmd.args.health_path, "port": "http"}}
    gpus = {"nvidia.com/gpu": str(e.gpus_per_replica)}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": e.id,
            "labels": labels,
            "annotations": {
                "gpuplan/candidate": e.group.candidate,
                "gpuplan/offering": e.allocation.offering,
                "gpuplan/planned-instances": str(e.allocation.instances),
                "gpuplan/engine": cmd.args.label,
            },
        },
        "spec": {
            "replicas": e.group.replicas,
            "selector": {"matchLabels": {"app.kubernetes.io/name": e.id}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "nodeSelector": node_selector(e),
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "containers": [
                        {
                            "name": "engine",
                            "image": cmd.args.image,
                            "command": ["bash", "-c"],
                            "args": [render_script(cmd, [])],
                            "env": [
                                {"name": "PORT", "value": str(BASE_PORT)},
                                {  # gated checkpoints (Llama) need a Hugging Face token; optional for open ones
                                    "name": "HF_TOKEN",
                                    "valueFrom": {
                                        "secretKeyRef": {"name": HF_TOKEN_SECRET, "key": "token", "optional": True}
                                    },
                                },
                            ],
                            "ports": [{"name": "http", "containerPort": BASE_PORT}],
                            "resources": {"requests": gpus, "limits": gpus},
                            "startupProbe": {
                                **probe,
                                "periodSeconds": STARTUP_PROBE_PERIOD_S,
                                "failureThreshold": STARTUP_PROBE_FAILURES,
                            },
                            "readinessProbe": {**probe, "periodSeconds": 10},
                            "livenessProbe": {**probe, "periodSeconds": 30, "failureThreshold": 3},
                            "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                        }
                    ],
                    "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
                },
            },
        },
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": e.id, "labels": labels},
        "spec": {
            "selector": {"app.kubernetes.io/name": e.id},
            "ports": [{"name": "http", "port": BASE_PORT, "targetPort": "http"}],
        },
    }
    return [deployment, service]


def endpoint_yaml(e: Endpoint, cmd: EngineCommand, plan_label: str, header: list[str]) -> str:
    a = e.allocation
    head = [
        *header,
        f"Node pool: {a.instances} x {a.instance_type} ({a.gpus_per_instance} x {a.gpu}) in {a.cloud} {a.region}"
        + (" (spot)" if a.spot else "")
        + f"; this Deployment uses {e.group.replicas} x {e.gpus_per_replica} GPU(s)",
        f"Apply: kubectl apply -f {e.id}.yaml (Kubernetes {KUBERNETES_VERSION} API); gated checkpoints read the "
        f"Hugging Face token from secret {HF_TOKEN_SECRET} (key token)",
    ]
    return comment(head) + "---\n".join(dump(m) for m in manifests(e, cmd, plan_label))
