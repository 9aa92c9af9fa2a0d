"""`gpuplan export`: turn a plan into what launches it — engine commands, SkyPilot YAML, Kubernetes
manifests and a router config — carrying every planning assumption into a flag, or refusing.

Layers: `fleet` flattens a Plan into deployable endpoints (one per replica group) and packs their
replicas onto instances; `engines` turns an endpoint into an engine command (flag names checked against
data/engine_args/<engine>.yaml); `skypilot`, `k8s` and `router` wrap those commands for their target;
`export.export_plan` dispatches and returns a frozen ExportResult. Nothing here writes files.
"""

from planner.export.export import TARGETS, ExportedFile, ExportResult, export_plan

__all__ = ["TARGETS", "ExportResult", "ExportedFile", "export_plan"]
