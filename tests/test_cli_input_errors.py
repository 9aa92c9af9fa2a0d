"""Bad input through the real CLI: every user mistake exits 2 with one short message on stderr that names
the YAML path, flag or file, the bad value and what would be valid; never a traceback.

The bulk runs `planner.cli.main` in-process (tests.support.gpuplan); a representative subset runs the
installed console script in a subprocess (`process=True`) at the end.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from planner.spec import load_spec
from tests.support import BASE_SPEC, assert_user_error, gpuplan, spec_with, write_spec

NAN, INF = math.nan, math.inf
HIST = "models[0].workload.histogram"
WL = "models[0].workload"


def test_the_base_spec_is_valid(tmp_path: Path) -> None:
    r = gpuplan("validate", write_spec(tmp_path, BASE_SPEC))
    assert r.code == 0, str(r)


def test_the_former_name_load_gbps_is_accepted_but_not_beside_load_gb_per_s(tmp_path: Path) -> None:
    """`schedule.load_gbps` (GB/s) became `load_gb_per_s`; a spec with the former name still validates."""
    former = write_spec(tmp_path, spec_with({"schedule": {"load_gbps": 2.5}}), "former.yaml")
    assert load_spec(former).schedule.load_gb_per_s == 2.5
    assert gpuplan("validate", former).code == 0
    both = write_spec(tmp_path, spec_with({"schedule": {"load_gbps": 2.5, "load_gb_per_s": 2.5}}), "both.yaml")
    assert_user_error(gpuplan("validate", both), "both.yaml", "schedule", "give load_gb_per_s or its former name")


# ----------------------------------------------------------------------------------------- files
RAW_FILES: list[tuple[str, bytes, tuple[str, ...]]] = [
    ("empty", b"", ("spec.yaml", "empty")),
    ("whitespace", b"  \n\n\t\n", ("spec.yaml", "empty")),
    ("comment-only", b"# nothing here\n", ("spec.yaml", "mapping", "null")),
    ("binary", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ("spec.yaml", "binary")),
    ("latin-1", "name: caf\xe9\n".encode("latin-1"), ("spec.yaml", "UTF-8")),
    ("malformed", b"models: [1, 2\n", ("spec.yaml", "malformed YAML", "line")),
    ("bad-indent", b"models:\n  - model: x\n   slo: 1\n", ("spec.yaml", "malformed YAML", "line 3")),
    ("tab-indent", b"models:\n\t- model: x\n", ("spec.yaml", "malformed YAML")),
    ("top-level-list", b"- model: llama-3.1-8b\n", ("spec.yaml", "mapping", "got a list")),
    ("top-level-scalar", b"42\n", ("spec.yaml", "mapping", "got 42")),
    ("malformed-json", b'{"models": [}', ("spec.yaml", "malformed YAML")),
]


@pytest.mark.parametrize(("raw", "needles"), [(c[1], c[2]) for c in RAW_FILES], ids=[c[0] for c in RAW_FILES])
@pytest.mark.parametrize("command", ["plan", "validate"])
def test_unusable_spec_files(tmp_path: Path, command: str, raw: bytes, needles: tuple[str, ...]) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(raw)
    assert_user_error(gpuplan(command, path), *needles)


def test_missing_spec_file(tmp_path: Path) -> None:
    assert_user_error(gpuplan("plan", tmp_path / "nope.yaml"), "nope.yaml", "not found")


def test_spec_is_a_folder(tmp_path: Path) -> None:
    assert_user_error(gpuplan("plan", tmp_path), str(tmp_path), "directory")


def test_spec_in_json_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(BASE_SPEC))
    assert gpuplan("validate", path).code == 0


# ------------------------------------------------------------------------------- spec fields
# (changes, keys to drop, needles): each needle must appear in the one-line message.
FIELD_CASES: list[tuple[str, dict[str, Any], tuple[str, ...], tuple[str, ...]]] = [
    # list-typed fields given the wrong shape
    ("models-empty", {"models": []}, (), ("models", "at least 1", "empty list")),
    ("models-mapping", {"models": {"a": 1}}, (), ("models", "expected a list", "mapping")),
    ("models-scalar", {"models": 3}, (), ("models", "expected a list", "3")),
    ("models-missing", {}, ("models",), ("models", "missing")),
    ("model-entry-string", {"models": ["llama-3.1-8b"]}, (), ("models[0]", "expected a mapping", "llama-3.1-8b")),
    ("tp-scalar", {"search.tp": 2}, (), ("search.tp", "expected a list", "2")),
    ("tp-empty", {"search.tp": []}, (), ("search.tp", "powers of two")),
    ("tp-three", {"search.tp": [3]}, (), ("search.tp", "powers of two", "3")),
    ("tp-string", {"search.tp": ["two"]}, (), ("search.tp[0]", "integer", "two")),
    ("gpus-mapping", {"offerings.gpus": {"l4": 1}}, (), ("offerings.gpus", "expected a list", "mapping")),
    ("histogram-mapping", {f"{HIST}": {"input_len": 1}}, (), (HIST, "expected a list")),
    ("histogram-empty", {f"{HIST}": []}, (), (WL, "sum to 0", "must sum to 1")),
    # a list (or a scalar) where a mapping belongs
    ("slo-list", {"models[0].slo": [1000, 50]}, (), ("models[0].slo", "expected a mapping", "a list")),
    ("offerings-list", {"offerings": ["aws"]}, (), ("offerings", "expected a mapping", "a list")),
    ("workload-scalar", {WL: 5}, (), (WL, "expected a mapping", "5")),
    ("bin-list", {f"{HIST}[0]": [500, 200, 1.0]}, (), (f"{HIST}[0]", "expected a mapping")),
    # unknown keys, with a did-you-mean
    ("unknown-top", {"modles": []}, (), ("modles", "unknown key", "'models'")),
    ("unknown-nested", {"models[0].slx": {}}, (), ("models[0].slx", "unknown key", "'slo'")),
    ("unknown-workload", {f"{WL}.rate": 3}, (), (f"{WL}.rate", "unknown key", "'rate_rps'")),
    ("unknown-search", {"search.tp_degrees": [1]}, (), ("search.tp_degrees", "unknown key", "'tp'")),
    ("missing-slo", {}, ("models[0].slo",), ("models[0].slo", "missing")),
    # wrong types
    ("rate-string", {f"{WL}.rate_rps": "fast"}, (), (f"{WL}.rate_rps", "'fast'", "number")),
    ("rate-list", {f"{WL}.rate_rps": [1, 2]}, (), (f"{WL}.rate_rps", "number", "list")),
    ("ttft-bool", {"models[0].slo.ttft_ms": True}, (), ("models[0].slo.ttft_ms", "expected a number", "true")),
    ("input-len-float", {f"{HIST}[0].input_len": 1.5}, (), (f"{HIST}[0].input_len", "integer", "1.5")),
    ("model-int", {"models[0].model": 8}, (), ("models[0].model", "string", "8")),
    ("spot-string", {"offerings.spot": "maybe"}, (), ("offerings.spot", "'maybe'", "bool")),
    # numbers out of range
    ("rate-negative", {f"{WL}.rate_rps": -3}, (), (f"{WL}.rate_rps", "greater than 0", "-3")),
    ("rate-zero", {f"{WL}.rate_rps": 0}, (), (f"{WL}.rate_rps", "greater than 0", "0")),
    ("rate-nan", {f"{WL}.rate_rps": NAN}, (), (f"{WL}.rate_rps", "finite", "nan")),
    ("rate-inf", {f"{WL}.rate_rps": INF}, (), (f"{WL}.rate_rps", "finite", "inf")),
    ("tpot-negative-inf", {"models[0].slo.tpot_ms": -INF}, (), ("models[0].slo.tpot_ms", "-inf")),
    ("ttft-zero", {"models[0].slo.ttft_ms": 0}, (), ("models[0].slo.ttft_ms", "greater than 0")),
    ("share-nan", {f"{HIST}[0].share": NAN}, (), (f"{HIST}[0].share", "finite", "nan")),
    ("share-negative", {f"{HIST}[0].share": -0.5}, (), (f"{HIST}[0].share", "greater than 0")),
    ("input-len-zero", {f"{HIST}[0].input_len": 0}, (), (f"{HIST}[0].input_len", "greater than or equal to 1")),
    ("utilisation-high", {"search.target_utilisation": 1.5}, (), ("search.target_utilisation", "1.5")),
    ("gpu-mem-zero", {"search.gpu_memory_utilization": 0}, (), ("search.gpu_memory_utilization", "0")),
    ("time-limit-zero", {"solver.time_limit_s": 0}, (), ("solver.time_limit_s", "greater than 0")),
    ("time-limit-nan", {"solver.time_limit_s": NAN}, (), ("solver.time_limit_s", "nan")),
    ("mip-gap-negative", {"solver.mip_gap": -0.1}, (), ("solver.mip_gap", "-0.1")),
    ("slice-factor-zero", {"solver.slice_factor": 0}, (), ("solver.slice_factor", "greater than or equal to 1")),
    ("spot-share", {"offerings.max_spot_share": 2}, (), ("offerings.max_spot_share", "2")),
    ("budget-negative", {"constraints.budget_usd_per_hour": -5}, (), ("constraints.budget_usd_per_hour", "-5")),
    ("min-replicas", {"models[0].min_replicas": -1}, (), ("models[0].min_replicas", "-1")),
    ("buckets", {f"{WL}.buckets_per_decade": 0}, (), (f"{WL}.buckets_per_decade", "0")),
    ("price-nan", {"offerings.price_overrides": {"x": NAN}}, (), ("offerings.price_overrides.x", "nan")),
    ("available-negative", {"offerings.available": {"x": -1}}, (), ("offerings.available.x", "-1")),
    # shares must sum to 1: never normalised
    (
        "shares-half",
        {HIST: [{"input_len": 10, "output_len": 10, "share": 0.5}]},
        (),
        (WL, "sum to 0.5", "must sum to 1"),
    ),
    (
        "shares-over",
        {HIST: [{"input_len": 10, "output_len": 10, "share": 0.7}, {"input_len": 20, "output_len": 10, "share": 0.7}]},
        (),
        (WL, "sum to 1.4", "must sum to 1"),
    ),
    # enumerations list the valid values
    ("weights", {"search.weights": ["bf17"]}, (), ("search.weights[0]", "'bf17'", "'bf16'")),
    ("engine", {"search.engine": "vllm2"}, (), ("search.engine", "'vllm2'", "'vllm'")),
    ("solver-name", {"solver.name": "gurobi"}, (), ("solver.name", "'gurobi'", "'highs'")),
    ("schema-version", {"schema_version": 2}, (), ("schema_version", "2", "1")),
    # cross-field rules
    (
        "two-sources",
        {f"{WL}.distribution": {"input": {"kind": "constant", "value": 5}, "output": {"kind": "constant", "value": 5}}},
        (),
        (WL, "exactly one of histogram, distribution or trace", "got histogram, distribution"),
    ),
    ("no-source", {}, (HIST,), (WL, "exactly one of histogram, distribution or trace")),
    ("no-rate", {}, (f"{WL}.rate_rps",), (WL, "rate_rps is required")),
    (
        "duplicate-labels",
        {"models": [BASE_SPEC["models"][0], BASE_SPEC["models"][0]]},
        (),
        ("unique", "llama-3.1-8b"),
    ),
    (
        "lognormal-missing-shape",
        {
            HIST: None,
            f"{WL}.distribution": {
                "input": {"kind": "lognormal", "median": 500},
                "output": {"kind": "constant", "value": 5},
            },
        },
        (),
        (f"{WL}.distribution.input", "sigma"),
    ),
    (
        "uniform-min-max",
        {
            HIST: None,
            f"{WL}.distribution": {
                "input": {"kind": "uniform", "min": 50, "max": 5},
                "output": {"kind": "constant", "value": 5},
            },
        },
        (),
        (f"{WL}.distribution.input", "min (50)", "max (5)"),
    ),
]


def _case_spec(changes: dict[str, Any], drop: tuple[str, ...]) -> dict[str, Any]:
    """A None value in `changes` means: remove that key."""
    keep = {k: v for k, v in changes.items() if v is not None}
    gone = tuple(k for k, v in changes.items() if v is None)
    return spec_with(keep, (*drop, *gone))


@pytest.mark.parametrize(("changes", "drop", "needles"), [c[1:] for c in FIELD_CASES], ids=[c[0] for c in FIELD_CASES])
def test_bad_spec_fields(
    tmp_path: Path, changes: dict[str, Any], drop: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    path = write_spec(tmp_path, _case_spec(changes, drop))
    r = gpuplan("validate", path)
    assert_user_error(r, "spec.yaml", *needles)
    # one clear line per problem: no echo of pydantic's internals
    assert "Tuple should have" not in r.err and "valid tuple" not in r.err and "function-after" not in r.err


def test_one_bad_item_gives_one_message(tmp_path: Path) -> None:
    """A bad field inside `models[0]` is not followed by a spurious 'models: too short' line."""
    r = gpuplan("plan", write_spec(tmp_path, spec_with({f"{WL}.rate_rps": -1})))
    assert_user_error(r, f"{WL}.rate_rps")
    assert len(r.err.strip().splitlines()) == 1, str(r)


def test_several_problems_are_listed_one_per_line(tmp_path: Path) -> None:
    data = spec_with({f"{WL}.rate_rps": -1, "models[0].slo.tpot_ms": "slow", "search.tp": [3]})
    r = gpuplan("plan", write_spec(tmp_path, data))
    assert_user_error(r, f"{WL}.rate_rps", "models[0].slo.tpot_ms", "search.tp")
    assert len(r.err.strip().splitlines()) == 3, str(r)


# --------------------------------------------------------------------------------- catalog ids
ID_CASES: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    (
        "model",
        {"models[0].model": "llama-3.1-8c"},
        ("models[0].model", "'llama-3.1-8c'", "did you mean", "llama-3.1-8b"),
    ),
    ("gpu", {"offerings.gpus": ["l4x"]}, ("offerings.gpus[0]", "'l4x'", "did you mean", "'l4'")),
    ("cloud", {"offerings.clouds": ["awz"]}, ("offerings.clouds[0]", "'awz'", "'aws'")),
    ("region", {"offerings.regions": ["us-east-9"]}, ("offerings.regions[0]", "'us-east-9'", "did you mean")),
    (
        "include",
        {"offerings.include": ["aws:us-east-1:g6.2xlarg"]},
        ("offerings.include[0]", "did you mean", "g6.2xlarge"),
    ),
    ("exclude", {"offerings.exclude": ["nope"]}, ("offerings.exclude[0]", "'nope'")),
    (
        "price-override",
        {"offerings.price_overrides": {"aws:us-east-1:g6.2xlarg": 1.0}},
        ("offerings.price_overrides", "did you mean"),
    ),
    ("available", {"offerings.available": {"aws:us-east-1:g6.2xlarg": 1}}, ("offerings.available", "did you mean")),
    (
        "profile-model",
        {
            "profiles": [
                {
                    "model": "llama-3.1-8",
                    "capacities": [{"gpu": "l4", "input_len": 500, "output_len": 200, "capacity_rps": 1}],
                }
            ]
        },
        ("profiles[0].model", "'llama-3.1-8'", "did you mean", "llama-3.1-8b"),
    ),
    (
        "profile-gpu",
        {
            "profiles": [
                {
                    "model": "llama-3.1-8b",
                    "capacities": [{"gpu": "l4x", "input_len": 500, "output_len": 200, "capacity_rps": 1}],
                }
            ]
        },
        ("profiles[0].capacities[0].gpu", "'l4x'", "did you mean", "'l4'"),
    ),
    (
        "profile-offering",
        {
            "profiles": [
                {
                    "model": "llama-3.1-8b",
                    "capacities": [
                        {"offering": "aws:us-east-1:g6.2xlarg", "input_len": 500, "output_len": 200, "capacity_rps": 1}
                    ],
                }
            ]
        },
        ("profiles[0].capacities[0].offering", "did you mean", "g6.2xlarge"),
    ),
    (
        "profile-bench-gpu",
        {"profiles": [{"model": "llama-3.1-8b", "vllm_bench": ["x.json"], "gpu": "h100"}]},
        ("profiles[0].gpu", "'h100'", "did you mean"),
    ),
]


@pytest.mark.parametrize(("changes", "needles"), [c[1:] for c in ID_CASES], ids=[c[0] for c in ID_CASES])
@pytest.mark.parametrize("command", ["plan", "validate"])
def test_unknown_catalog_ids(tmp_path: Path, command: str, changes: dict[str, Any], needles: tuple[str, ...]) -> None:
    assert_user_error(gpuplan(command, write_spec(tmp_path, spec_with(changes))), *needles)


def test_profile_csv_with_an_unknown_gpu_names_the_row(tmp_path: Path) -> None:
    (tmp_path / "caps.csv").write_text("gpu,tp,input_len,output_len,capacity_rps\nl4,1,500,200,2\nl4z,1,500,200,3\n")
    data = spec_with({"profiles": [{"model": "llama-3.1-8b", "csv": "caps.csv"}]})
    assert_user_error(gpuplan("plan", write_spec(tmp_path, data)), "caps.csv:3", "'l4z'", "did you mean")


@pytest.mark.parametrize("rate", [1e7, 1e12, 1e300])
def test_absurd_rates_are_refused_before_solving(tmp_path: Path, rate: float) -> None:
    """Rates that need millions of GPUs (usually a unit mistake) get a clear answer instead of a solver
    failure, a misleading infeasibility or a run that does not end."""
    r = gpuplan("plan", write_spec(tmp_path, spec_with({f"{WL}.rate_rps": rate})))
    assert_user_error(r, f"{WL}.rate_rps", "needs at least", "GPUs", "requests per second")


def test_no_offering_passes_the_filters(tmp_path: Path) -> None:
    data = spec_with({"offerings.clouds": ["lambda"], "offerings.gpus": ["t4"]})
    assert_user_error(gpuplan("plan", write_spec(tmp_path, data)), "offerings", "no offering passes the filters")


def test_nothing_fits_is_an_infeasible_plan_with_a_reason(tmp_path: Path) -> None:
    """An empty candidate set after the memory check is a plan outcome (exit 1), with what would fit."""
    data = spec_with({"models[0].model": "llama-3.3-70b", "offerings.gpus": ["l4"], "search.tp": [1]})
    r = gpuplan("plan", write_spec(tmp_path, data), "-f", "json")
    assert r.code == 1, str(r)
    env = json.loads(r.out)
    assert env["status"] == "infeasible" and env["data"]["status"] == "infeasible"
    assert any("llama-3.3-70b" in e and "GB" in e for e in env["errors"]), env["errors"]
    assert "Traceback" not in r.err


def test_tp_larger_than_any_instance_is_explained(tmp_path: Path) -> None:
    data = spec_with({"search.tp": [16]})
    r = gpuplan("plan", write_spec(tmp_path, data), "-f", "json")
    assert r.code == 1, str(r)
    assert any("tp" in e for e in json.loads(r.out)["errors"])


# ------------------------------------------------------------------------------------- traces
def _trace_spec(folder: Path, name: str, fmt: str = "csv", **trace: Any) -> Path:
    src: dict[str, Any] = {"path": name, "format": fmt, **trace}
    if fmt in ("csv", "jsonl") and "columns" not in src:
        src["columns"] = {"input_len": "in", "output_len": "out"}
    return write_spec(folder, spec_with({HIST: None, f"{WL}.trace": src}, drop=(HIST,)))


GOOD_ROWS = "in,out\n" + "".join(f"{100 + i},{50 + i}\n" for i in range(20))


def test_trace_missing(tmp_path: Path) -> None:
    assert_user_error(gpuplan("plan", _trace_spec(tmp_path, "t.csv")), "t.csv", "not found", f"{WL}.trace.path")


def test_trace_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "t.csv").mkdir()
    assert_user_error(gpuplan("plan", _trace_spec(tmp_path, "t.csv")), "t.csv", "directory")


@pytest.mark.parametrize(
    ("raw", "needles"),
    [
        (b"", ("empty",)),
        (b"\x00\x01\x02\xff\xfe", ("UTF-8",)),
        (b"a,b\n1,2\n", ("header lacks", "'in'", "2 column(s)")),
        (b"in,out\n", ("no usable request rows",)),
    ],
    ids=["empty", "binary", "wrong-header", "header-only"],
)
def test_unreadable_trace(tmp_path: Path, raw: bytes, needles: tuple[str, ...]) -> None:
    (tmp_path / "t.csv").write_bytes(raw)
    assert_user_error(gpuplan("plan", _trace_spec(tmp_path, "t.csv")), "t.csv", *needles)


def _deny_open(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Permission bits do not stop root, so the denial is simulated at the open call of common.files."""
    real = os.open

    def denied(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path).name == name:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)  # the very module common.files calls


def test_trace_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "t.csv").write_text(GOOD_ROWS)
    spec = _trace_spec(tmp_path, "t.csv")
    _deny_open(monkeypatch, "t.csv")
    assert_user_error(gpuplan("plan", spec), "t.csv", "Permission denied")


def test_spec_that_cannot_be_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = write_spec(tmp_path, BASE_SPEC)
    _deny_open(monkeypatch, "spec.yaml")
    assert_user_error(gpuplan("plan", spec), "spec.yaml", "Permission denied")


def test_corrupt_gzip_trace(tmp_path: Path) -> None:
    (tmp_path / "t.csv.gz").write_bytes(gzip.compress(GOOD_ROWS.encode())[:30])
    assert_user_error(gpuplan("plan", _trace_spec(tmp_path, "t.csv.gz")), "t.csv.gz")


@pytest.mark.parametrize(
    ("row", "needles"),
    [
        ("abc,5", ("line 3", "'in'", "a non-numeric value", "not an integer")),
        ("-4,5", ("line 3", "'-4'", "negative")),
        ("0,5", ("line 3", "'0'", "zero")),
        ("7", ("line 3", "'out'", "missing")),
        ("1e400,5", ("line 3", "'1e400'")),
        ("nan,5", ("line 3", "'nan'")),
    ],
    ids=["text", "negative", "zero", "short-row", "overflow", "nan"],
)
def test_trace_bad_row_is_an_error_unless_skipping(tmp_path: Path, row: str, needles: tuple[str, ...]) -> None:
    (tmp_path / "t.csv").write_text("in,out\n10,20\n" + row + "\n" + GOOD_ROWS.split("\n", 1)[1])
    r = gpuplan("plan", _trace_spec(tmp_path, "t.csv"))
    assert_user_error(r, "t.csv", *needles, "skip_bad_rows")


def test_trace_bad_rows_are_skipped_and_counted_when_asked(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(GOOD_ROWS + "abc,5\n-4,5\n0,3\nx,y\n")
    r = gpuplan("plan", _trace_spec(tmp_path, "t.csv", skip_bad_rows=True), "-f", "json")
    assert r.code == 0, str(r)
    assumptions = json.loads(r.out)["data"]["assumptions"]
    skipped = str(assumptions.get("trace_rows_skipped", ""))
    assert "4" in skipped and "llama-3.1-8b" in skipped, assumptions
    table = gpuplan("plan", _trace_spec(tmp_path, "t.csv", skip_bad_rows=True))
    assert table.code == 0 and "rows skipped" in " ".join(table.out.split()), str(table)


def test_trace_with_only_bad_rows_is_an_error_even_when_skipping(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("in,out\nabc,5\n-4,5\n")
    r = gpuplan("plan", _trace_spec(tmp_path, "t.csv", skip_bad_rows=True))
    assert_user_error(r, "t.csv", "no usable request rows", "skipped")


def test_jsonl_trace_bad_json_line(tmp_path: Path) -> None:
    (tmp_path / "t.jsonl").write_text('{"in": 10, "out": 5}\n{"in": 10, "out": \n')
    assert_user_error(gpuplan("plan", _trace_spec(tmp_path, "t.jsonl", "jsonl")), "t.jsonl", "line 2", "JSON")


def test_generic_trace_needs_columns(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(GOOD_ROWS)
    data = spec_with({f"{WL}.trace": {"path": "t.csv", "format": "csv"}}, drop=(HIST,))
    assert_user_error(gpuplan("plan", write_spec(tmp_path, data)), f"{WL}.trace.columns", "columns")


def test_trace_rate_needs_timestamps(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(GOOD_ROWS)
    data = spec_with(
        {
            f"{WL}.trace": {
                "path": "t.csv",
                "format": "csv",
                "columns": {"input_len": "in", "output_len": "out"},
                "use_trace_rate": True,
            }
        },
        drop=(HIST, f"{WL}.rate_rps"),
    )
    assert_user_error(gpuplan("plan", write_spec(tmp_path, data)), "use_trace_rate", "timestamp")


def test_trace_format_is_listed(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text(GOOD_ROWS)
    r = gpuplan("plan", _trace_spec(tmp_path, "t.csv", "parquet"))
    assert_user_error(r, f"{WL}.trace.format", "'parquet'", "'azure-2023'")


# ---------------------------------------------------------------------------------- HF configs
HF_CASES: list[tuple[str, str | None, tuple[str, ...]]] = [
    (
        "missing-fields",
        json.dumps({"architectures": ["LlamaForCausalLM"], "hidden_size": 4096}),
        ("config.json", "missing", "num_"),
    ),
    ("malformed", "{not json", ("config.json", "JSON")),
    ("list", "[1, 2]", ("config.json", "object", "list")),
    ("empty", "", ("config.json",)),
    ("absent", None, ("models[0].model", "not found")),
]


@pytest.mark.parametrize(("text", "needles"), [c[1:] for c in HF_CASES], ids=[c[0] for c in HF_CASES])
def test_bad_hf_config(tmp_path: Path, text: str | None, needles: tuple[str, ...]) -> None:
    if text is not None:
        (tmp_path / "config.json").write_text(text)
    data = spec_with({"models[0].model": "config.json"})
    assert_user_error(gpuplan("plan", write_spec(tmp_path, data)), *needles)


def test_hf_config_with_a_negative_size(tmp_path: Path) -> None:
    cfg = json.loads((Path(__file__).parent / "data/catalog/hf/llama-3.1-8b/config.json").read_text())
    cfg["num_hidden_layers"] = -32
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    data = spec_with({"models[0].model": "config.json"})
    assert_user_error(gpuplan("plan", write_spec(tmp_path, data)), "config.json", "-32")


# ---------------------------------------------------------------------------- Mélange inputs
def _melange(mutate: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "gpu_info": {
            "A10G": {"cost": 1.01, "tputs": [[2, 1], [5, 2]]},
            "A100-80GB": {"cost": 3.67, "tputs": [[20, 20], [40, 20]]},
        },
        "workload_distribution": [[0.2, 0.1], [0.5, 0.2]],
        "total_request_rate": 30.0,
        "slice_factor": 1,
    }
    mutate(data)
    return data


MELANGE_CASES: list[tuple[str, Any, tuple[str, ...]]] = [
    ("shape-rows", lambda d: d["gpu_info"]["A10G"].update(tputs=[[2, 1]]), ("gpu_info.A10G.tputs", "1x2", "2x2")),
    (
        "shape-cols",
        lambda d: d["gpu_info"]["A10G"].update(tputs=[[2, 1, 3], [5, 2, 1]]),
        ("gpu_info.A10G.tputs", "2x3"),
    ),
    (
        "ragged",
        lambda d: d.update(workload_distribution=[[0.3, 0.1], [0.6]]),
        ("workload_distribution", "equal lengths"),
    ),
    ("slice-factor-0", lambda d: d.update(slice_factor=0), ("slice_factor", "integer >= 1", "0")),
    ("slice-factor-frac", lambda d: d.update(slice_factor=1.5), ("slice_factor", "1.5")),
    (
        "tput-negative",
        lambda d: d["gpu_info"]["A10G"]["tputs"][1].__setitem__(0, -5),
        ("gpu_info.A10G.tputs[1][0]", "-5"),
    ),
    ("price-negative", lambda d: d["gpu_info"]["A10G"].update(cost=-1.01), ("gpu_info.A10G.cost", "-1.01")),
    ("price-text", lambda d: d["gpu_info"]["A10G"].update(cost="cheap"), ("gpu_info.A10G.cost", "expected a number")),
    ("shares", lambda d: d["workload_distribution"][0].__setitem__(0, 0.7), ("workload_distribution", "sum to 1.5")),
    ("rate-zero", lambda d: d.update(total_request_rate=0), ("total_request_rate", "0")),
    ("missing-key", lambda d: d.pop("slice_factor"), ("slice_factor", "missing")),
    ("unknown-key", lambda d: d.update(gpu_infos={}), ("gpu_infos", "unknown key", "'gpu_info'")),
    ("gpu-memory-typo", lambda d: d["gpu_info"].update({"A100-90GB": d["gpu_info"]["A10G"]}), ("A100-90GB", "80 GB")),
    ("gpu-info-list", lambda d: d.update(gpu_info=[1]), ("gpu_info", "expected")),
]


@pytest.mark.parametrize(("mutate", "needles"), [c[1:] for c in MELANGE_CASES], ids=[c[0] for c in MELANGE_CASES])
def test_bad_melange_inputs(tmp_path: Path, mutate: Any, needles: tuple[str, ...]) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(_melange(mutate)))
    out = tmp_path / "spec.yaml"
    assert_user_error(gpuplan("import", "melange", path, "-o", out), "in.json", *needles)
    assert not out.exists()


@pytest.mark.parametrize(
    ("raw", "needles"),
    [(None, ("not found",)), (b"", ("empty",)), (b"\xff\x00", ("binary",)), (b'{"gpu_info": ', ("not JSON", "line 1"))],
    ids=["absent", "empty", "binary", "malformed"],
)
def test_unusable_melange_files(tmp_path: Path, raw: bytes | None, needles: tuple[str, ...]) -> None:
    path = tmp_path / "in.json"
    if raw is not None:
        path.write_bytes(raw)
    assert_user_error(gpuplan("import", "melange", path), "in.json", *needles)


def test_good_melange_input_imports(tmp_path: Path) -> None:
    path = tmp_path / "in.json"
    path.write_text(json.dumps(_melange(lambda d: None)))
    r = gpuplan("import", "melange", path, "-o", tmp_path / "spec.yaml")
    assert r.code == 0, str(r)
    assert gpuplan("validate", tmp_path / "spec.yaml").code == 0


# ----------------------------------------------------------------------------- catalog overlays
@pytest.mark.parametrize(
    ("raw", "needles"),
    [(None, ("not found",)), (b"", ("empty",)), (b"- 1\n", ("mapping",)), (b"gpus: [\n", ("malformed YAML",))],
    ids=["absent", "empty", "list", "malformed"],
)
def test_bad_catalog_overlay_flag(tmp_path: Path, raw: bytes | None, needles: tuple[str, ...]) -> None:
    overlay = tmp_path / "overlay.yaml"
    if raw is not None:
        overlay.write_bytes(raw)
    spec = write_spec(tmp_path, BASE_SPEC)
    assert_user_error(gpuplan("plan", spec, "--catalog", overlay), "overlay.yaml", *needles)


def test_bad_inline_catalog_entry(tmp_path: Path) -> None:
    data = spec_with({"catalog": {"gpus": [{"id": "l4", "memory_gb": -5}]}})
    assert_user_error(gpuplan("plan", write_spec(tmp_path, data)), "gpus[0]", "memory_gb", "-5")


# --------------------------------------------------------------------------------- plan flags
@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        (("--solver", "gurobi"), ("--solver", "'gurobi'", "highs", "cbc")),
        (("--time-limit", "-1"), ("--time-limit", "-1")),
        (("--time-limit", "0"), ("--time-limit", "0")),
        (("--time-limit", "nan"), ("--time-limit", "nan")),
        (("--time-limit", "inf"), ("--time-limit", "inf")),
        (("--time-limit", "soon"), ("--time-limit", "soon")),
        (("--format", "xml"), ("--format", "xml", "json")),
        (("--bogus",), ("--bogus",)),
    ],
    ids=["solver", "time-negative", "time-zero", "time-nan", "time-inf", "time-text", "format", "unknown-flag"],
)
def test_bad_plan_flags(tmp_path: Path, flags: tuple[str, ...], needles: tuple[str, ...]) -> None:
    assert_user_error(gpuplan("plan", write_spec(tmp_path, BASE_SPEC), *flags), *needles)


def test_json_format_errors_also_print_an_error_envelope(tmp_path: Path) -> None:
    r = gpuplan("plan", write_spec(tmp_path, spec_with({f"{WL}.rate_rps": -1})), "-f", "json")
    assert r.code == 2 and "Traceback" not in r.err
    env = json.loads(r.out)
    assert env["status"] == "error" and f"{WL}.rate_rps" in env["errors"][0]


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    r = gpuplan("--debug", "plan", write_spec(tmp_path, spec_with({f"{WL}.rate_rps": -1})), process=True)
    assert r.code != 0 and "Traceback" in r.err and "InputError" in r.err


# ---------------------------------------------------------------------------- output files
def test_output_into_a_missing_folder_fails_before_planning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import planner.commands.plan

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("planned although the output folder does not exist")

    monkeypatch.setattr(planner.commands.plan, "plan_checked", boom)
    target = tmp_path / "no" / "such" / "plan.json"
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-o", target)
    assert_user_error(r, str(target.parent), "does not exist")
    assert not (tmp_path / "no").exists()


def test_output_onto_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-o", tmp_path / "out")
    assert_user_error(r, "out", "folder")


@pytest.mark.parametrize("command", ["plan", "sweep"])
def test_failed_run_leaves_no_output_file(tmp_path: Path, command: str) -> None:
    out = tmp_path / "result.json"
    spec = write_spec(tmp_path, spec_with({f"{WL}.rate_rps": -1}))
    extra = ("--rate", "1,2") if command == "sweep" else ()
    r = gpuplan(command, spec, *extra, "-f", "json", "-o", out)
    assert r.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_failed_run_keeps_the_previous_output(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_text("previous")
    r = gpuplan("plan", write_spec(tmp_path, spec_with({"models[0].model": "nope"})), "-f", "json", "-o", out)
    assert r.code == 2
    assert out.read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "spec.yaml"]


def test_error_while_rendering_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception after planning, while the output is produced, leaves neither the file nor a temp file."""
    def broken(plan: object) -> str:
        raise KeyboardInterrupt

    # planner.commands.plan reads the renderer from planner.report at render time (loaded on first use)
    monkeypatch.setattr("planner.report.markdown.render_plan_markdown", broken)
    out = tmp_path / "plan.md"
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "md", "-o", out)
    assert r.code == 130, str(r)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["spec.yaml"]


def test_write_atomic_cleans_up_when_the_rename_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from planner.outcome import write_atomic

    def fail(*a: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(Exception) as info:
        write_atomic(tmp_path / "x.json", "{}", "--output")
    assert "No space left" in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_output_file_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json", "-o", out)
    assert r.code == 0, str(r)
    assert json.loads(out.read_text())["status"] == "ok"
    assert r.out == "" and "wrote" in r.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json", "spec.yaml"]


# ---------------------------------------------------------------------------------- sweep flags
@pytest.mark.parametrize(
    ("flags", "needles"),
    [
        ((), ("--rate", "--tpot-ms", "--ttft-ms")),
        (("--rate", "1", "--tpot-ms", "40"), ("exactly one", "--rate", "--tpot-ms")),
        (("--rate", "1,x"), ("--rate", "'x'", "not a number")),
        (("--rate", ""), ("--rate", "comma-separated")),
        (("--rate", "1,,2"), ("--rate", "'1,,2'")),
        (("--rate", "0"), ("--rate", "positive", "0")),
        (("--rate", "-2"), ("--rate", "-2")),
        (("--tpot-ms", "nan"), ("--tpot-ms", "nan")),
        (("--ttft-ms", "inf"), ("--ttft-ms", "inf")),
        (("--rate", ",".join(["1"] * 201)), ("--rate", "at most 200")),
        (("--rate", "1", "--plot", "chart.gif"), ("--plot", "chart.gif", ".png")),
        (("--rate", "1", "--format", "yaml"), ("--format", "yaml")),
    ],
    ids=["none", "two", "text", "empty", "hole", "zero", "negative", "nan", "inf", "too-many", "plot-suffix", "format"],
)
def test_bad_sweep_flags(tmp_path: Path, flags: tuple[str, ...], needles: tuple[str, ...]) -> None:
    assert_user_error(gpuplan("sweep", write_spec(tmp_path, BASE_SPEC), *flags), *needles)


def test_sweep_plot_into_missing_folder(tmp_path: Path) -> None:
    r = gpuplan("sweep", write_spec(tmp_path, BASE_SPEC), "--rate", "1", "--plot", tmp_path / "x" / "c.png")
    assert_user_error(r, "--plot", "does not exist")


def test_sweep_output_into_missing_folder(tmp_path: Path) -> None:
    r = gpuplan("sweep", write_spec(tmp_path, BASE_SPEC), "--rate", "1", "-f", "csv", "-o", tmp_path / "x" / "s.csv")
    assert_user_error(r, "does not exist")


def test_sweep_bad_spec(tmp_path: Path) -> None:
    r = gpuplan("sweep", write_spec(tmp_path, {"models": {"a": 1}}), "--rate", "1")
    assert_user_error(r, "models", "expected a list")


# ---------------------------------------------------------------------------------- check flags
@pytest.fixture(scope="module")
def plan_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("check")
    out = folder / "plan.json"
    r = gpuplan("plan", write_spec(folder, BASE_SPEC), "-f", "json", "-o", out)
    assert r.code == 0, str(r)
    return out


CHECK_FILES: list[tuple[str, bytes | None, tuple[str, ...]]] = [
    ("absent", None, ("not found",)),
    ("empty", b"", ("empty",)),
    ("binary", b"\xff\xfe\x00\x01", ("binary",)),
    ("latin-1", b'{"a": "caf\xe9"}', ("UTF-8",)),
    ("not-json", b"plan: yes\n", ("not JSON", "line 1")),
    ("truncated", b'{"schema_version": "1", "command": "plan", "da', ("not JSON",)),
    ("list", b"[1, 2]", ("envelope",)),
    (
        "other-command",
        b'{"schema_version": "1", "command": "sweep", "status": "ok", "data": {}, "errors": []}',
        ("sweep",),
    ),
    (
        "other-version",
        b'{"schema_version": "9", "command": "plan", "status": "ok", "data": {}, "errors": []}',
        ("'9'", "'1'"),
    ),
    (
        "bad-data",
        b'{"schema_version": "1", "command": "plan", "status": "ok", "data": {"x": 1}, "errors": []}',
        ("not a valid plan",),
    ),
]


@pytest.mark.parametrize(("raw", "needles"), [c[1:] for c in CHECK_FILES], ids=[c[0] for c in CHECK_FILES])
@pytest.mark.parametrize("side", ["plan", "baseline"])
def test_bad_check_files(
    tmp_path: Path, plan_json: Path, side: str, raw: bytes | None, needles: tuple[str, ...]
) -> None:
    bad = tmp_path / "bad.json"
    if raw is not None:
        bad.write_bytes(raw)
    args = (bad, "--baseline", plan_json) if side == "plan" else (plan_json, "--baseline", bad)
    assert_user_error(gpuplan("check", *args), "bad.json", *needles)


@pytest.mark.parametrize("tolerance", ["-1", "nan", "inf", "lots"])
def test_bad_check_tolerance(plan_json: Path, tolerance: str) -> None:
    assert_user_error(
        gpuplan("check", plan_json, "--baseline", plan_json, "--cost-tolerance", tolerance), "--cost-tolerance"
    )


def test_check_without_baseline_flag(plan_json: Path) -> None:
    assert_user_error(gpuplan("check", plan_json), "--baseline")


def test_check_of_identical_plans_passes(plan_json: Path) -> None:
    r = gpuplan("check", plan_json, "--baseline", plan_json)
    assert r.code == 0, str(r)


# ---------------------------------------------------------------------------- catalog command
@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("catalog", "gpus", "--min-memory-gb", "nan"), ("--min-memory-gb", "nan")),
        (("catalog", "offerings", "--gpu", "h100x"), ("--gpu", "'h100x'", "did you mean")),
        (("catalog", "chips"), ("chips",)),
    ],
    ids=["nan", "gpu", "kind"],
)
def test_bad_catalog_command(args: tuple[str, ...], needles: tuple[str, ...]) -> None:
    assert_user_error(gpuplan(*args), *needles)


# ------------------------------------------------------------- the console script, for real
SUBPROCESS_CASES: list[tuple[str, Any, tuple[str, ...], tuple[str, ...]]] = [
    ("missing-file", None, (), ("nope.yaml", "not found")),
    ("list-top", [1, 2], (), ("mapping",)),
    ("nan-rate", spec_with({f"{WL}.rate_rps": NAN}), (), (f"{WL}.rate_rps", "nan")),
    ("unknown-model", spec_with({"models[0].model": "llama-3.1-8c"}), (), ("did you mean", "llama-3.1-8b")),
    ("bad-flag", BASE_SPEC, ("--time-limit", "-1"), ("--time-limit",)),
]


@pytest.mark.parametrize(
    ("data", "flags", "needles"), [c[1:] for c in SUBPROCESS_CASES], ids=[c[0] for c in SUBPROCESS_CASES]
)
def test_console_script(tmp_path: Path, data: Any, flags: tuple[str, ...], needles: tuple[str, ...]) -> None:
    spec = tmp_path / "nope.yaml" if data is None else write_spec(tmp_path, data)
    assert_user_error(gpuplan("plan", spec, *flags, process=True), *needles)
