"""Mélange inputs: validation, the fleet problem they define (optimal costs by brute force), the spec import."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from planner.commands.import_melange import execute
from planner.commands.plan import execute_melange
from planner.errors import InputError
from planner.melange import catalog_gpu_id, melange_problem, melange_spec, opaque_gpu_id
from planner.melange_input import parse_melange, read_melange
from planner.report.melange_report import spec_yaml
from planner.spec import parse_spec
from planner.verify import verify_solution
from solvers.fleet import best_single_offering, solve_fleet
from tests.conftest import ROOT
from tests.support import gpuplan
from tests.test_fleet_oracle import brute_force

DATA = ROOT / "tests" / "data" / "melange"
VALID = ("example_head.json", "example_f8b586e.json", "example_c83e4ae.json", "mainpy_d461c5e.json")
# Mélange's answers (whole-slice at its slice_factor) and the true optima, each checked by brute force below.
EXPECTED = {  # file: (true optimum, Mélange's answer) in $/h
    "example_head.json": (4.68, 6.70),
    "example_f8b586e.json": (1.01, 1.01),
    "example_c83e4ae.json": (3.67, 3.67),
    "mainpy_d461c5e.json": (5.05, 5.05),
}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / name).read_text())
    return data


@pytest.mark.parametrize("name", VALID)
def test_optimal_costs_match_brute_force(name: str) -> None:
    data = load(name)
    frac = melange_problem(data)
    whole = melange_problem(data, mode="whole-slice")
    best_frac, best_whole = brute_force(frac), brute_force(whole)
    assert best_frac is not None and best_whole is not None
    sol_frac, sol_whole = solve_fleet(frac), solve_fleet(whole)
    assert sol_frac.status == sol_whole.status == "optimal"
    assert sol_frac.cost_usd_per_hour == pytest.approx(best_frac[0])
    assert sol_whole.cost_usd_per_hour == pytest.approx(best_whole[0])
    assert (sol_frac.cost_usd_per_hour, sol_whole.cost_usd_per_hour) == pytest.approx(EXPECTED[name])
    assert sol_frac.cost_usd_per_hour <= sol_whole.cost_usd_per_hour + 1e-9  # never costlier than Mélange
    assert verify_solution(frac, sol_frac) == () and verify_solution(whole, sol_whole) == ()


def test_example_head_beats_melange() -> None:
    p = melange_problem(load("example_head.json"))
    sol = solve_fleet(p)
    assert sol.instances == {"melange:-:A100-80GB": 1, "melange:-:A10G": 1}
    assert sol.cost_usd_per_hour == pytest.approx(4.68)
    base = best_single_offering(p)
    assert [(o, round(s.cost_usd_per_hour, 2)) for o, s in base] == [
        ("melange:-:A100-80GB", 7.34),
        ("melange:-:A10G", 12.12),
    ]


def test_problem_shape() -> None:
    p = melange_problem(load("example_head.json"), mode="whole-slice")
    assert [o.id for o in p.offerings] == ["melange:-:A10G", "melange:-:A100-80GB"]
    assert [s.id for s in p.slices] == ["bucket-0-0", "bucket-0-1", "bucket-1-0", "bucket-1-1"]
    assert [s.rate_rps for s in p.slices] == pytest.approx([6.0, 3.0, 15.0, 6.0])
    assert p.capacity_rps[2] == (5.0, 40.0)
    assert (p.target_utilisation, p.min_replicas, p.mode, p.slice_factor) == (1.0, {}, "whole-slice", 1)


def test_sum_not_one_is_rejected_with_its_path() -> None:
    with pytest.raises(InputError, match=r"workload_distribution: shares sum to 1\.25; they must sum to 1") as e:
        read_melange(DATA / "mainpy_ad10bce.json")
    assert e.value.where is not None and e.value.where.endswith("mainpy_ad10bce.json")


def test_zero_share_buckets_are_left_out() -> None:
    data = load("example_head.json")
    data["workload_distribution"] = [[0.3, 0.0], [0.5, 0.2]]
    data["gpu_info"]["A10G"]["tputs"][0][1] = 0  # irrelevant: nobody sends traffic there
    p = melange_problem(data)
    assert [s.id for s in p.slices] == ["bucket-0-0", "bucket-1-0", "bucket-1-1"]
    spec = melange_spec(data, source_name="x.json", as_of="2025-01-01")
    bins = spec["models"][0]["workload"]["histogram"]
    assert [(b["input_len"], b["output_len"]) for b in bins] == [(1, 1), (2, 1), (2, 2)]
    assert len(spec["profiles"][0]["capacities"]) == 3 * 2
    data["gpu_info"]["A10G"]["tputs"][1][1] = 0  # a GPU that cannot serve a bucket has no point there
    spec = melange_spec(data, source_name="x.json", as_of="2025-01-01")
    assert len(spec["profiles"][0]["capacities"]) == 3 * 2 - 1


def _bad(path: list[str | int], value: object) -> dict[str, Any]:
    data = load("example_head.json")
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    if value is _DELETE:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["slice_factor"], 0, "slice_factor: must be an integer >= 1, got 0"),
        (["slice_factor"], 1.5, "slice_factor: must be an integer >= 1, got 1.5"),
        (["total_request_rate"], -1, "total_request_rate: must be > 0, got -1"),
        (["total_request_rate"], True, "total_request_rate: expected a number, got True"),
        (["gpu_info", "A10G", "cost"], -1.01, "gpu_info.A10G.cost: must be >= 0, got -1.01"),
        (["gpu_info", "A10G", "tputs", 1, 0], -5, r"gpu_info.A10G.tputs\[1\]\[0\]: must be >= 0, got -5"),
        (["gpu_info", "A10G", "tputs", 1], [5], "gpu_info.A10G.tputs: shape 2 rows of lengths"),
        (
            ["gpu_info", "A10G", "tputs"],
            [[2, 1]],
            "gpu_info.A10G.tputs: shape 1x2 does not match workload_distribution's 2x2",
        ),
        (
            ["gpu_info", "A10G", "tputs", 0, 0],
            "fast",
            r"gpu_info.A10G.tputs\[0\]\[0\]: expected a number, got a non-numeric value",
        ),
        (["gpu_info", "A10G", "price"], 1.0, "gpu_info.A10G.price: unknown key"),
        (["gpu_info", "A10G", "cost"], _DELETE, "gpu_info.A10G.cost: missing"),
        (["gpu_info"], {}, "gpu_info: expected a non-empty object"),
        (["workload_distribution", 0], [0.2], "workload_distribution: rows must have equal lengths"),
        (["workload_distribution", 0, 0], 0.3, "workload_distribution: shares sum to 1.1"),
        (["workload_distribution", 1, 1], -0.2, r"workload_distribution\[1\]\[1\]: must be >= 0"),
        (["slice_factr"], 1, "slice_factr: unknown key; did you mean 'slice_factor'"),
        (["slice_factor"], _DELETE, "slice_factor: missing"),
    ],
)
def test_validation_names_the_json_path(path: list[str | int], value: object, message: str) -> None:
    with pytest.raises(InputError, match=message) as e:
        parse_melange(_bad(path, value), "in.json")
    assert e.value.where == "in.json"


def test_not_an_object() -> None:
    with pytest.raises(InputError, match=r"\(top level\): expected a JSON object, got list"):
        parse_melange([1, 2])


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Mélange input not found"):
        read_melange(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{ nope")
    with pytest.raises(InputError, match="not JSON: .* at line 1, column 3"):
        read_melange(bad)
    empty = tmp_path / "empty.json"
    empty.write_text("  ")
    with pytest.raises(InputError, match="empty"):
        read_melange(empty)


def _renamed(data: dict[str, Any]) -> dict[str, Any]:
    """The same input with GPU names the catalog does not know (G00, G01, ...), as Mélange allows."""
    return {**data, "gpu_info": {f"G{k:02d}": v for k, v in enumerate(data["gpu_info"].values())}}


def test_unknown_gpu_names_are_opaque_gpus_with_the_same_plan(tmp_path: Path) -> None:
    data = load("example_head.json")
    spec = melange_spec(_renamed(data), source_name="in.json", as_of="2025-01-01")
    gpus = spec["catalog"]["gpus"]
    assert [g["id"] for g in gpus] == [f"melange-g{k:02d}" for k in range(len(data["gpu_info"]))]
    assert all(g["family"] == "opaque" and g["vendor"] == "other" for g in gpus)
    assert [o["gpu"] for o in spec["catalog"]["offerings"]] == [g["id"] for g in gpus]
    parse_spec(spec)
    costs = []
    for d in (data, _renamed(data)):
        path = tmp_path / "in.json"
        path.write_text(json.dumps(d))
        out = execute_melange(path)
        assert (out.status, out.exit_code) == ("ok", 0), out.errors
        costs.append(out.data_dict()["total_cost_usd_per_hour"])
        assert bool(out.notices) == (d is not data) and all("opaque" in n for n in out.notices)
    assert costs == pytest.approx([EXPECTED["example_head.json"][0]] * 2)


def test_opaque_gpu_ids_stay_distinct() -> None:
    taken: set[str] = set()
    ids = []
    for name in ("G 0", "g-0", "TPU v5e", "???"):
        ids.append(opaque_gpu_id(name, taken))
        taken.add(ids[-1])
    assert ids == ["melange-g-0", "melange-g-0-2", "melange-tpu-v5e", "melange-gpu"]


# ------------------------------------------------------------------------------------------ spec
@pytest.mark.parametrize("name", VALID)
def test_imported_spec_is_valid(name: str) -> None:
    out = execute(DATA / name, as_of="2025-06-01")
    assert out.command == "import melange" and out.status == "ok"
    text = out.renderers["yaml"]()
    assert isinstance(text, str) and text.startswith("# Imported by `gpuplan import melange`")
    spec = parse_spec(yaml.safe_load(text))
    data = load(name)
    n_gpus = len(data["gpu_info"])
    n_bins = sum(1 for row in data["workload_distribution"] for v in row if v > 0)
    (model,) = spec.models
    assert model.workload.rate_rps == data["total_request_rate"]
    assert model.workload.histogram is not None and len(model.workload.histogram) == n_bins
    assert spec.search.target_utilisation == 1.0 and spec.search.tp == (1,)
    assert spec.solver.mode == "fractional" and spec.solver.slice_factor == data["slice_factor"]
    (profile,) = spec.profiles
    n_points = sum(
        1
        for info in data["gpu_info"].values()
        for i, row in enumerate(data["workload_distribution"])
        for j, share in enumerate(row)
        if share > 0 and info["tputs"][i][j] > 0
    )
    assert n_gpus >= 1 and profile.exclusive and len(profile.capacities) == n_points
    assert all(c.tp == 1 and c.capacity_rps > 0 for c in profile.capacities)
    assert spec.offerings.include == tuple(f"melange:-:{g}" for g in data["gpu_info"])
    for off, (gpu_name, info) in zip(spec.catalog.offerings, data["gpu_info"].items(), strict=True):
        assert off["id"] == f"melange:-:{gpu_name}" and off["instance_type"] == gpu_name
        assert off["price_usd_per_hour"] == info["cost"] and off["gpus_per_instance"] == 1
        assert off["source"] == f"Mélange input {name}" and off["as_of"] == "2025-06-01"


@pytest.mark.parametrize(
    ("name", "gpu"),
    [
        ("A100", "a100-80gb"),
        ("A100-40GB", "a100-40gb"),
        ("a100_40gb-spot", "a100-40gb"),
        ("A10", "a10"),
        ("A10-cheap", "a10"),
        ("NVIDIA H100", "h100-sxm"),
        ("H100-PCIe-eu", "h100-pcie"),
        ("L4-2", "l4"),
    ],
)
def test_gpu_name_mapping(name: str, gpu: str) -> None:
    assert catalog_gpu_id(name) == gpu


def test_gpu_names_map_to_catalog_ids() -> None:
    spec = melange_spec(load("mainpy_d461c5e.json"), source_name="m.json", as_of="2025-01-01")
    assert {o["instance_type"]: o["gpu"] for o in spec["catalog"]["offerings"]} == {
        "A10G": "a10g",
        "A100": "a100-80gb",
    }


def test_spec_yaml_round_trips_the_capacities() -> None:
    data = load("example_head.json")
    spec = melange_spec(data, source_name="example_head.json", as_of="2025-01-01")
    again = yaml.safe_load(spec_yaml(spec, "example_head.json"))
    assert again == copy.deepcopy(spec)
    caps = {
        (c["offering"], c["input_len"], c["output_len"]): c["capacity_rps"] for c in again["profiles"][0]["capacities"]
    }
    assert caps[("melange:-:A100-80GB", 2, 1)] == 40 and caps[("melange:-:A10G", 1, 2)] == 1


def test_cli_plans_a_melange_input_directly(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(_renamed(load("example_head.json"))))
    r = gpuplan("plan", "--melange", path, "-f", "json", process=True)
    assert r.code == 0, r.err
    assert json.loads(r.out)["data"]["total_cost_usd_per_hour"] == pytest.approx(EXPECTED["example_head.json"][0])
    assert "opaque" in r.err
    both = gpuplan("plan", DATA / "example_head.json", "--melange", path)
    assert both.code == 2 and "not both" in both.err and both.out == ""


def test_cli_writes_the_spec(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    r = gpuplan("import", "melange", DATA / "example_head.json", "-o", out, process=True)
    assert r.code == 0, r.err
    assert parse_spec(yaml.safe_load(out.read_text())).name == "melange-example_head"
    bad = gpuplan("import", "melange", DATA / "mainpy_ad10bce.json", process=True)
    assert bad.code == 2 and "shares sum to 1.25" in bad.err and "Traceback" not in bad.err


@pytest.mark.parametrize("name", VALID)
def test_gpuplan_plan_on_the_import_reaches_the_optimum(name: str, tmp_path: Path) -> None:
    """End to end: `import melange` then `plan`: the true optimum, never more than Mélange's answer;
    with solver.mode whole-slice the plan reproduces Mélange's own answer."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(execute(DATA / name, as_of="2025-01-01").renderers["yaml"]())
    whole = tmp_path / "whole.yaml"
    whole.write_text(spec.read_text().replace("mode: fractional", "mode: whole-slice"))
    from planner.commands.plan import execute as plan

    costs = []
    for path in (spec, whole):
        out = plan(path)
        assert (out.status, out.exit_code) == ("ok", 0), out.errors
        costs.append(out.data_dict()["total_cost_usd_per_hour"])
    assert costs == pytest.approx(list(EXPECTED[name]))
    direct = execute_melange(DATA / name, as_of="2025-01-01").data_dict()  # `plan --melange`: the same plan
    imported = plan(spec).data_dict()
    for key in ("total_cost_usd_per_hour", "allocations", "routing"):
        assert direct[key] == imported[key]
