"""Determinism: the same inputs give byte-identical output apart from the fields that report elapsed time,
in one process and across fresh processes with different hash seeds (set and dict iteration order)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import EXAMPLES
from tests.support import BASE_SPEC, gpuplan, spec_with, write_spec

# Every field of `plan --format json` that reports elapsed time; nothing else may differ between runs.
ELAPSED_FIELDS: list[str] = ["data.solver.seconds"]
# The same in the human formats: "highs optimal in 0.58 s".
ELAPSED_TEXT = re.compile(r"\bin \d+(\.\d+)? s\b")


def _without_elapsed(text: str) -> str:
    env: dict[str, Any] = json.loads(text)
    for path in ELAPSED_FIELDS:
        *parents, leaf = path.split(".")
        node = env
        for p in parents:
            node = node[p]
        assert isinstance(node.pop(leaf), int | float), path  # the field exists and is a number
    return json.dumps(env, indent=1, ensure_ascii=False)  # keeps key order: order must match too


def test_same_process_twice_gives_identical_json(tmp_path: Path) -> None:
    second_model = {
        "name": "batch",
        "model": "mistral-7b",
        "workload": {
            "rate_rps": 3,
            "distribution": {
                "input": {"kind": "lognormal", "median": 800, "sigma": 0.8, "max": 6000},
                "output": {"kind": "exponential", "mean": 150, "max": 1000},
            },
        },
        "slo": {"ttft_ms": 3000, "tpot_ms": 80},
        "min_replicas": 2,
    }
    data = spec_with({"models": [BASE_SPEC["models"][0], second_model], "offerings.spot": True})
    spec = write_spec(tmp_path, data)  # two models sharing a fleet, spot variants, min replicas
    first = gpuplan("plan", spec, "-f", "json")
    second = gpuplan("plan", spec, "-f", "json")
    assert first.code == second.code == 0, str(first)
    assert _without_elapsed(first.out) == _without_elapsed(second.out)


def test_fresh_processes_with_different_hash_seeds_give_identical_json() -> None:
    spec = EXAMPLES / "chat-llama-8b.yaml"  # a real trace: bucketing, many slices and routes
    runs = [gpuplan("plan", spec, "-f", "json", env={"PYTHONHASHSEED": seed}, process=True) for seed in ("0", "4242")]
    assert runs[0].code == runs[1].code == 0, str(runs[0])
    assert _without_elapsed(runs[0].out) == _without_elapsed(runs[1].out)


def test_markdown_is_identical_apart_from_elapsed_time() -> None:
    spec = EXAMPLES / "llama-70b-tp.yaml"
    a, b = (gpuplan("plan", spec, "-f", "md") for _ in range(2))
    assert a.code == b.code == 0, str(a)
    assert ELAPSED_TEXT.search(a.out), "the elapsed-time pattern no longer matches the report"
    assert ELAPSED_TEXT.sub("in _ s", a.out) == ELAPSED_TEXT.sub("in _ s", b.out)


def test_only_listed_fields_differ() -> None:
    """The strip helper must not hide a difference: two runs differ in at most the listed fields."""
    spec = EXAMPLES / "offline-offload.yaml"
    a, b = (json.loads(gpuplan("plan", spec, "-f", "json").out) for _ in range(2))
    diffs: list[str] = []

    def walk(x: Any, y: Any, path: str) -> None:
        if isinstance(x, dict) and isinstance(y, dict):
            assert list(x) == list(y), path
            for k in x:
                walk(x[k], y[k], f"{path}.{k}" if path else k)
        elif isinstance(x, list) and isinstance(y, list):
            assert len(x) == len(y), path
            for i, (u, v) in enumerate(zip(x, y, strict=True)):
                walk(u, v, f"{path}[{i}]")
        elif x != y:
            diffs.append(path)

    walk(a, b, "")
    assert set(diffs) <= set(ELAPSED_FIELDS), diffs
