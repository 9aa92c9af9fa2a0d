"""Hostile input, part 4: a CI gate that cannot be fooled (issue 20).

`check` passed a plan whose cost was `null` or `NaN` and crashed on a NaN latency; a spec with a
duplicated key was read as its last value. Now both plans must match the published schema exactly,
every number must be finite, costs and counts must not be negative, and a feasible plan must have a
cost: anything else is exit 2, so a regression cannot hide behind malformed input.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import BASE_SPEC, assert_user_error, gpuplan, write_spec


@pytest.fixture(scope="module")
def plan_doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("gate")
    out = folder / "plan.json"
    assert gpuplan("plan", write_spec(folder, BASE_SPEC), "-f", "json", "-o", out).code == 0
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        node: Any = doc
        parts = path.split(".")
        for p in parts[:-1]:
            node = node[int(p)] if p.isdigit() else node[p]
        node[parts[-1]] = value

    return mutate


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        doc["data"].pop(path)

    return mutate


COST = "data.total_cost_usd_per_hour"


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (_set(COST, None), ("total_cost_usd_per_hour", "must have a cost")),
        (_set(COST, float("nan")), ("total_cost_usd_per_hour", "finite", "nan")),
        (_set(COST, float("inf")), ("total_cost_usd_per_hour", "finite", "inf")),
        (_set(COST, "4.8"), ("total_cost_usd_per_hour", "valid number")),
        (_set(COST, -1.0), ("total_cost_usd_per_hour", "negative")),
        (_drop("total_cost_usd_per_hour"), ("total_cost_usd_per_hour", "required")),
        (_set("data.routing.0.routes.0.ttft_ms", float("nan")), ("data.routing[0].routes[0].ttft_ms", "finite")),
        (_set("data.total_gpus", 4.5), ("total_gpus", "integer")),
        (_set("data.surprise", 1), ("surprise", "not permitted")),
        (_set("data.status", "great"), ("data.status",)),
    ],
    ids=["null", "nan", "inf", "string", "negative", "missing", "nan-latency", "fraction", "extra-key", "status"],
)
@pytest.mark.parametrize("side", ["plan", "baseline"])
def test_a_malformed_plan_is_exit_2_on_either_side(
    tmp_path: Path,
    plan_doc: dict[str, Any],
    side: str,
    mutate: Callable[[dict[str, Any]], None],
    needles: tuple[str, ...],
) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan_doc))
    bad_doc = json.loads(json.dumps(plan_doc))
    mutate(bad_doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(bad_doc))  # Python's json writes NaN/Infinity, as a tampered file may hold
    args = (bad, "--baseline", good) if side == "plan" else (good, "--baseline", bad)
    assert_user_error(gpuplan("check", *args), "bad.json", *needles)


def test_a_duplicated_key_in_a_plan_is_exit_2(tmp_path: Path, plan_doc: dict[str, Any]) -> None:
    text = json.dumps(plan_doc).replace(
        '"total_cost_usd_per_hour":', '"total_cost_usd_per_hour": 0.0, "total_cost_usd_per_hour":', 1
    )
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    assert_user_error(gpuplan("check", bad, "--baseline", bad), "bad.json", "duplicate key")


def test_valid_plans_still_pass_and_regressions_still_fail(tmp_path: Path, plan_doc: dict[str, Any]) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan_doc))
    assert gpuplan("check", good, "--baseline", good).code == 0
    dearer = json.loads(json.dumps(plan_doc))
    dearer["data"]["total_cost_usd_per_hour"] *= 2
    (tmp_path / "dearer.json").write_text(json.dumps(dearer))
    r = gpuplan("check", tmp_path / "dearer.json", "--baseline", good)
    assert r.code == 1, str(r)


@pytest.mark.parametrize("tolerance", ["nan", "inf", "-0.1", "1e308"])
def test_a_tolerance_out_of_range_is_exit_2(tmp_path: Path, plan_doc: dict[str, Any], tolerance: str) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan_doc))
    assert_user_error(gpuplan("check", good, "--baseline", good, "--cost-tolerance", tolerance), "--cost-tolerance")
