"""Routing: the plan's per-length-bucket shares as a router config, and a LiteLLM proxy config.

`router.json` (format `gpuplan-router/1`) is exact: for every model, each bucket's input and output token
ranges and the share of its requests each endpoint should get. A router sends a request to the bucket
whose input range holds its prompt length and whose output range holds its `max_tokens` (the nearest
bucket when none does), then picks an endpoint with probability equal to its weight there. Endpoint URLs
are `http://<endpoint id>:<port>/v1`: the Kubernetes Service names export writes.

`litellm-config.yaml` is the concrete gateway format: a LiteLLM proxy `model_list` with one deployment per
endpoint and `weight` = the share of the model's requests the plan sends it (its rate over the model's
rate), routed with `simple-shuffle`. LiteLLM does not see request lengths, so each endpoint gets the
planned number of requests but not the planned length mix; the file says so. Use router.json where the
mix matters (several endpoints planned for different lengths).
"""

from __future__ import annotations

import json
from typing import Any

from planner.export.engines import EngineCommand
from planner.export.fleet import BASE_PORT, Fleet
from planner.export.yamlout import comment, dump
from planner.result import Plan

ROUTER_FORMAT = "gpuplan-router/1"


def _url(endpoint_id: str) -> str:
    return f"http://{endpoint_id}:{BASE_PORT}/v1"


def model_weights(plan: Plan, fleet: Fleet) -> dict[str, dict[str, float]]:
    """Per model, each endpoint's share of the model's requests (summed over buckets)."""
    by_candidate = {e.group.candidate: e.id for e in fleet.endpoints}
    out: dict[str, dict[str, float]] = {}
    total: dict[str, float] = {}
    for s in plan.routing:
        total[s.model] = total.get(s.model, 0.0) + s.rate_rps
        for r in s.routes:
            w = out.setdefault(s.model, {})
            w[by_candidate[r.candidate]] = w.get(by_candidate[r.candidate], 0.0) + r.rate_rps
    return {m: {k: round(v / total[m], 6) for k, v in sorted(w.items())} for m, w in out.items() if total[m] > 0}


def router_json(plan: Plan, fleet: Fleet, commands: dict[str, EngineCommand]) -> str:
    by_candidate = {e.group.candidate: e.id for e in fleet.endpoints}
    models: list[dict[str, Any]] = []
    for label in dict.fromkeys(s.model for s in plan.routing):
        buckets = [
            {
                "slice": s.slice,
                "input_len_range": list(s.input_len_range),
                "output_len_range": list(s.output_len_range),
                "rate_rps": s.rate_rps,
                "weights": {by_candidate[r.candidate]: r.share for r in s.routes},
            }
            for s in plan.routing
            if s.model == label
        ]
        models.append({"model": label, "buckets": buckets})
    doc = {
        "format": ROUTER_FORMAT,
        "plan": plan.name,
        "spec_sha256": plan.spec_sha256,
        "rule": "bucket: input_len_range holds the prompt tokens and output_len_range holds max_tokens (else the "
        "nearest bucket); endpoint: drawn with probability = its weight in that bucket",
        "endpoints": [
            {
                "id": e.id,
                "model": e.model,
                "served_model_name": commands[e.id].served_model_name,
                "url": _url(e.id),
                "replicas": e.group.replicas,
                "candidate": e.group.candidate,
            }
            for e in fleet.endpoints
        ],
        "models": models,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def litellm_yaml(plan: Plan, fleet: Fleet, commands: dict[str, EngineCommand], header: list[str]) -> str:
    weights = model_weights(plan, fleet)
    model_list = []
    for model, ws in weights.items():
        for eid, w in ws.items():
            model_list.append(
                {
                    "model_name": model,
                    "litellm_params": {
                        "model": f"openai/{commands[eid].served_model_name}",
                        "api_base": _url(eid),
                        "api_key": "none",
                        "weight": w,
                    },
                }
            )
    doc = {"model_list": model_list, "router_settings": {"routing_strategy": "simple-shuffle"}}
    head = [
        *header,
        "LiteLLM proxy config (litellm --config litellm-config.yaml). weight = the share of the model's requests the",
        "plan sends to that endpoint. LiteLLM routes without looking at request lengths: each endpoint gets its",
        "planned request rate, not its planned length mix; router.json carries the per-bucket weights.",
    ]
    return comment(head) + dump(doc)
