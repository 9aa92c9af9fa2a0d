"""`gpuplan import melange` for people: the imported spec as YAML, with a header that says what it holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from planner.melange import PLACEHOLDER_SLO_MS, MelangeImport


def render_melange_yaml(result: MelangeImport) -> str:
    return spec_yaml(result.spec, result.source)


class _FlowMap(dict[str, Any]):
    """A mapping written on one line (histogram bins, capacity points)."""


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_FlowMap, lambda d, m: d.represent_mapping("tag:yaml.org,2002:map", m.items(), flow_style=True))


def spec_yaml(spec: Mapping[str, Any], source_name: str) -> str:
    """The spec as YAML text with a header saying where it came from and what is a placeholder."""
    body = dict(spec)
    model = dict(body["models"][0])
    workload = dict(model["workload"])
    workload["histogram"] = [_FlowMap(b) for b in workload["histogram"]]
    model["workload"] = workload
    model["slo"] = _FlowMap(model["slo"])
    body["models"] = [model, *body["models"][1:]]
    body["profiles"] = [{**p, "capacities": [_FlowMap(c) for c in p["capacities"]]} for p in body["profiles"]]
    header = "\n".join(
        [
            f"# Imported by `gpuplan import melange` from the Mélange input {source_name}",
            "# (format of github.com/tyler-griggs/melange-release; Griggs et al., arXiv 2404.14527).",
            "# - One offering per Mélange GPU: 1 GPU per instance, price = Mélange `cost` ($/h).",
            "# - Capacities are Mélange's `tputs` (req/s per GPU within Mélange's SLO, tp 1), an exclusive measured",
            "#   profile; buckets a GPU cannot serve (tputs 0) have no point.",
            "# - Histogram input_len/output_len are ORDINAL PLACEHOLDERS (bucket index + 1): Mélange stores no",
            "#   bucket edges. They only label buckets; no capacity is estimated from them.",
            f"# - The SLO values are placeholders ({PLACEHOLDER_SLO_MS:g} ms): Mélange bakes its SLO into `tputs`.",
            "# - As in Mélange: tp 1, target utilisation 1, no minimum replica count. solver.mode `fractional` is the",
            "#   true optimum; set `whole-slice` to reproduce Mélange's answer for its slice_factor.",
        ]
    )
    text = yaml.dump(body, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
    return header + "\n" + text
