"""The capacity stage: sources behind one interface, the merge rule, pruning, and diagnosis that returns
reasons (a slice beyond the context window is named by its YAML path, whether or not it may offload)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from planner.candidates import Candidate
from planner.capacity import Answer, CapacityRow, default_sources, model_capacity
from planner.capacity.disaggregated import DisaggregatedSource
from planner.capacity.estimated import EstimatedSource
from planner.capacity.merge import CandidateCapacity, merge, prune
from planner.inputs import ModelInputs, load_inputs, load_model, offerings_for
from planner.plan import make_plan
from planner.result import CapacitySourceName
from tests.support import BASE_SPEC, gpuplan, spec_with, write_spec

OPT_LONG = {
    "models": [
        {
            "model": "opt-30b",
            "workload": {
                "rate_rps": 0.2,
                "histogram": [
                    {"input_len": 512, "output_len": 32, "share": 0.5},
                    {"input_len": 2100, "output_len": 32, "share": 0.5},
                ],
            },
            "slo": {"ttft_ms": 600000, "tpot_ms": 10000},
        }
    ],
    "offerings": {"gpus": ["t4", "l4", "a10g"]},
    "search": {"tp": [1, 2, 4, 8], "weights": ["bf16"]},
}


@pytest.mark.parametrize("offline", [False, True])
def test_a_bucket_beyond_the_context_window_is_an_infeasible_plan_naming_its_bin(
    tmp_path: Path, offline: bool
) -> None:
    """opt-30b (2,048-token context) with a 2,100 + 32-token bin: the plan says so and where, offloading
    allowed or not (it used to exit 1 without a location, or name --input-len, a flag of `place`)."""
    data = json.loads(json.dumps(OPT_LONG))
    data["models"][0]["offline"] = offline
    r = gpuplan("plan", write_spec(tmp_path, data), "-f", "json")
    assert r.code == 1, str(r)
    env = json.loads(r.out)
    assert env["status"] == "infeasible" and env["data"]["status"] == "infeasible"
    (reason,) = env["errors"]
    assert "models[0].workload.histogram[1]" in reason and "context window of 2048" in reason
    assert "--input-len" not in r.out + r.err


def _model(tmp_path: Path, data: object = BASE_SPEC) -> ModelInputs:
    inputs = load_inputs(write_spec(tmp_path, data))
    return load_model(inputs, 0, offerings_for(inputs))


@dataclasses.dataclass(frozen=True)
class Scaled:
    """A source that answers every earlier candidate with a factor times a fixed capacity on slice 0 only."""

    rps: float
    name: CapacitySourceName = "measured"

    def evaluate(self, model: ModelInputs, candidates: tuple[Candidate, ...]) -> Answer:
        cells: tuple[float | None, ...] = (self.rps, *([None] * (len(model.slices) - 1)))
        return Answer(rows={c.id: CapacityRow(cells, "test") for c in candidates})


def test_a_new_source_plugs_in_and_overrides_earlier_answers_cell_by_cell(tmp_path: Path) -> None:
    data = spec_with(
        {
            "models[0].workload.histogram": [
                {"input_len": 500, "output_len": 200, "share": 0.5},
                {"input_len": 1000, "output_len": 200, "share": 0.5},
            ]
        }
    )
    model = _model(tmp_path, data)
    base = model_capacity(model)
    assert base.rows and not base.reasons and {r.source for r in base.rows} == {"estimate"}
    assert {r.grade for r in base.rows} <= {"calibrated", "borrowed", "extrapolated"}
    mixed = model_capacity(model, (*default_sources(), Scaled(123.0)))
    # slice 0 answered by the new source for every candidate; slice 1 keeps the estimate
    own = EstimatedSource().evaluate(model, ())
    # the disaggregated source answers the pools and pairs it builds from the estimated candidates
    estimated = {**own.rows, **DisaggregatedSource().evaluate(model, own.candidates).rows}
    assert mixed.rows
    for r in mixed.rows:
        assert r.capacity_rps[0] == 123.0 and r.source == "measured" and r.grade == "test"
        assert r.capacity_rps[1] == estimated[r.id].capacity_rps[1]


def test_without_any_source_a_model_has_no_candidate_and_a_reason(tmp_path: Path) -> None:
    cap = model_capacity(_model(tmp_path), ())
    assert cap.rows == () and len(cap.reasons) == 1 and "robust" not in cap.reasons[0]


def _row(cid: str, offering: str, rps: tuple[float, ...], model: ModelInputs) -> CandidateCapacity:
    po = next(p for p in model.offerings if p.id == offering)
    return CandidateCapacity(Candidate(cid, "m", po, 1, None), rps, "estimate", "fitted")


def test_merge_takes_the_last_answer_per_cell_and_zero_where_nobody_answers(tmp_path: Path) -> None:
    model = _model(tmp_path)
    po = model.offerings[0]
    a, b = Candidate("a", "m", po, 1, None), Candidate("b", "m", po, 1, None)
    first = Answer(candidates=(a, b), rows={"a": CapacityRow((1.0, None), "fitted")})
    second = Answer(rows={"a": CapacityRow((None, 5.0), "measured"), "b": CapacityRow((None, None), "x")})
    (row,) = merge(["estimate", "measured"], [first, second], 2)  # b: no answer at all, dropped
    assert row.id == "a" and row.capacity_rps == (1.0, 5.0) and row.source == "measured"


def test_prune_drops_dominated_and_empty_rows_and_keeps_the_first_of_equals(tmp_path: Path) -> None:
    model = _model(tmp_path)
    oid, other = model.offerings[0].id, model.offerings[1].id
    rows = (
        _row("slow", oid, (1.0, 1.0), model),
        _row("fast", oid, (2.0, 1.0), model),
        _row("twin", oid, (2.0, 1.0), model),
        _row("elsewhere", other, (1.0, 1.0), model),
        _row("useless", other, (0.0, 0.0), model),
    )
    assert [r.id for r in prune(rows)] == ["fast", "elsewhere"]


def test_make_plan_reports_each_groups_capacity_source(tmp_path: Path) -> None:
    plan = make_plan(load_inputs(write_spec(tmp_path, BASE_SPEC)))
    assert plan.status == "optimal"
    assert {g.capacity_source for a in plan.allocations for g in a.replicas} == {"estimate"}
