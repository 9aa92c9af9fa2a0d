"""Fuzzing with hypothesis: specs, spec files, traces, Mélange inputs and whole `plan` runs give either a
valid result or a clean GpuplanError (exit code 1 or 2) — never another exception, never a traceback.

Example counts are modest (CI runs on 2 cores); each strategy aims at the edges: wrong types,
non-finite and extreme numbers, empty and ragged collections, broken rows.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from planner.errors import GpuplanError, InputError
from planner.melange import melange_problem
from planner.melange_input import parse_melange
from planner.spec import Spec, TraceSource, load_spec, parse_spec
from planner.traces import read_trace
from planner.workload import build_slices
from tests.support import BASE_SPEC, gpuplan, spec_with, write_spec

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

SPEC_KEYS = [
    "models", "model", "name", "workload", "rate_rps", "histogram", "input_len", "output_len", "share",
    "distribution", "input", "output", "kind", "median", "sigma", "mean", "stddev", "min", "max", "value",
    "trace", "path", "format", "slo", "ttft_ms", "tpot_ms", "min_replicas", "offerings", "gpus", "clouds",
    "search", "tp", "weights", "solver", "time_limit_s", "mode", "slice_factor", "profiles", "capacities",
    "constraints", "budget_usd_per_hour", "buckets_per_decade", "lognormal", "constant", "uniform",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "x", "llama-3.1-8b", "l4", "1e400", "nan", "-1", "0", "bf16", "lognormal", "\x00"]),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(SPEC_KEYS), st.text(max_size=8))
json_like = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)


WORDS = ["fp8", "bf16", "h100-sxm", "a10g", "l4", "gcp", "aws", "lambda", "whole-slice", "cbc", "sglang", "mistral-7b"]


def _like(value: Any) -> st.SearchStrategy[Any]:
    """A plausible replacement of the same type: often valid, sometimes just out of range."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(min_value=-1, max_value=20000)
    if isinstance(value, float):
        return st.floats(min_value=-0.5, max_value=1e5)
    if isinstance(value, str):
        return st.sampled_from(WORDS)
    if isinstance(value, list):
        return (
            st.lists(st.sampled_from([1, 2, 4, 8]), max_size=3)
            if all(isinstance(v, int) for v in value)
            else st.just(value)
        )
    return st.just(value)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


BASE_PATHS = _paths(spec_with({"solver": {"name": "highs", "time_limit_s": 5}, "offerings.spot": False}))


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    """The valid base spec with one to three of its values (or whole sub-trees) replaced by junk."""
    data = spec_with({"solver": {"name": "highs", "time_limit_s": 5}, "offerings.spot": False})
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(BASE_PATHS))
        node = data
        try:
            for p in path[:-1]:
                node = node[p]
            node[path[-1]] = draw(st.one_of(_like(node[path[-1]]), _like(node[path[-1]]), json_like))
        except (KeyError, IndexError, TypeError):
            continue
    return data


def _check_error(err: GpuplanError) -> None:
    assert err.exit_code in (1, 2)
    text = err.render()
    assert text.strip() and "Traceback" not in text
    for line in text.splitlines()[1:]:
        assert line.startswith("  "), text  # one problem per line, continuation lines indented


@FUZZ
@given(st.one_of(json_like, mutated_specs(), mutated_specs()))
def test_parse_spec_gives_a_spec_or_a_clean_error(data: Any) -> None:
    try:
        spec = parse_spec(data, "fuzz.yaml")
    except InputError as err:
        event("error")
        _check_error(err)
        assert err.render().startswith("fuzz.yaml")
        return
    event("valid")
    assert isinstance(spec, Spec)
    for i, m in enumerate(spec.models):  # the workload of a valid spec turns into slices or a clean error
        if m.workload.trace is not None:
            continue
        try:
            ws = build_slices(m.label, m.workload, Path("."), where=f"models[{i}].workload")
        except InputError as err:
            _check_error(err)
            continue
        assert ws.slices and math.isclose(sum(s.share for s in ws.slices), 1.0, rel_tol=1e-6)
        assert all(s.rate_rps > 0 and s.input_len >= 1 and s.output_len >= 1 for s in ws.slices)


@FUZZ
@given(st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_any_bytes_as_a_spec_file(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.yaml"
        path.write_bytes(raw)
        try:
            load_spec(path)
        except InputError as err:
            _check_error(err)
            assert str(path) in err.render()


@FEW
@given(mutated_specs())
def test_mutated_specs_through_validate(data: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        r = gpuplan("validate", write_spec(Path(folder), data))
    assert r.code in (0, 2), str(r)
    assert "Traceback" not in r.err and "internal error" not in r.err, str(r)
    event(f"exit {r.code}")


# ------------------------------------------------------------------------------------------ traces
cells = st.one_of(
    st.integers(min_value=-5, max_value=10**6).map(str),
    st.sampled_from(["", " ", "abc", "1.0", "2.5", "1e3", "1e400", "nan", "inf", "-0", "0x10", '"7"', "٣"]),
    # no line breaks: cells are joined without quoting, so a break would make a different row count
    st.text(
        alphabet=st.characters(
            blacklist_categories=["Cs"], blacklist_characters="\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
        ),
        max_size=5,
    ),
)
csv_rows = st.lists(st.lists(cells, min_size=0, max_size=4), max_size=25)


def _csv_text(rows: list[list[str]]) -> str:
    return "in,out\n" + "".join(",".join(r) + "\n" for r in rows)


@FUZZ
@given(csv_rows, st.booleans(), st.sampled_from(["csv", "jsonl"]))
def test_trace_reader_gives_requests_or_a_clean_error(rows: list[list[str]], skip: bool, fmt: str) -> None:
    if fmt == "csv":
        text = _csv_text(rows)
    else:  # JSON lines: some objects, some junk
        lines = []
        for r in rows:
            if len(r) >= 2:
                lines.append(json.dumps({"in": r[0], "out": r[1]}))
            else:
                lines.append(",".join(r))
        text = "\n".join(lines) + "\n"
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "t").write_text(text, encoding="utf-8")
        source = TraceSource.model_validate(
            {"path": "t", "format": fmt, "columns": {"input_len": "in", "output_len": "out"}, "skip_bad_rows": skip}
        )
        try:
            data = read_trace(source, Path(folder), "models[0].workload.trace")
        except InputError as err:
            event("error")
            _check_error(err)
            return
    event("requests")
    assert data.requests > 0
    assert int(data.input_lens.min()) >= 1 and int(data.output_lens.min()) >= 1
    if not skip:
        assert data.skipped_total == 0
    if fmt == "csv":  # every non-blank data row is either kept or counted as skipped
        nonblank = sum(1 for r in rows if any(c.strip() for c in r) or len(r) > 1)
        assert data.requests + data.skipped_total <= nonblank


@FEW
@given(st.binary(min_size=1, max_size=300), st.sampled_from(["azure-2023", "burstgpt", "mooncake", "csv"]))
def test_trace_reader_on_random_bytes(raw: bytes, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "t").write_bytes(raw)
        cols = {"columns": {"input_len": "a", "output_len": "b"}} if fmt == "csv" else {}
        source = TraceSource.model_validate({"path": "t", "format": fmt, **cols})
        try:
            data = read_trace(source, Path(folder), "trace")
        except InputError as err:
            _check_error(err)
            return
    assert data.requests > 0


# ----------------------------------------------------------------------------------------- Mélange
DEFECTS = [
    "slice_factor",
    "cost",
    "tput",
    "shape",
    "ragged",
    "shares",
    "gpu_name",
    "missing_key",
    "extra_key",
    "rate",
    "gpu_info",
    "unserved",
]
BAD_NUMBERS = [0, -1, -0.5, math.nan, math.inf, -math.inf, True, "5", None, [1]]


@st.composite
def melange_inputs(draw: st.DrawFn) -> tuple[Any, str | None]:  # noqa: C901 - one branch per kind of defect
    """(a Mélange input, the one defect put in it or None): valid data with at most one mistake."""
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    weights = draw(st.lists(st.integers(0, 5), min_size=rows * cols, max_size=rows * cols))
    if not any(weights):
        weights[0] = 1
    dist = [[weights[i * cols + j] / sum(weights) for j in range(cols)] for i in range(rows)]
    names = draw(
        st.lists(
            st.sampled_from(["A10G", "A100-80GB", "L4", "H100", "T4", "a100", "G00", "H100X"]),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    tput = st.floats(min_value=0, max_value=50)
    info: dict[str, dict[str, Any]] = {
        n: {
            "cost": draw(st.floats(min_value=0.01, max_value=50)),
            "tputs": [[draw(tput) for _ in range(cols)] for _ in range(rows)],
        }
        for n in names
    }
    for i in range(rows):  # a valid input serves every bucket that has traffic on some GPU
        for j in range(cols):
            if dist[i][j] > 0 and not any(info[n]["tputs"][i][j] > 0 for n in names):
                info[names[0]]["tputs"][i][j] = 1.0
    data: dict[str, Any] = {
        "gpu_info": info,
        "workload_distribution": dist,
        "total_request_rate": draw(st.floats(min_value=0.1, max_value=100)),
        "slice_factor": draw(st.integers(1, 4)),
    }
    defect = draw(st.one_of(st.none(), st.sampled_from(DEFECTS)))
    first = info[names[0]]
    if defect == "slice_factor":
        data["slice_factor"] = draw(st.sampled_from([0, -1, 1.5, True, "2", None, math.nan, math.inf, -math.inf]))
    elif defect == "cost":
        first["cost"] = draw(st.sampled_from([v for v in BAD_NUMBERS if v != 0]))
    elif defect == "tput":
        first["tputs"][draw(st.integers(0, rows - 1))][draw(st.integers(0, cols - 1))] = draw(
            st.sampled_from([v for v in BAD_NUMBERS if v != 0])
        )
    elif defect == "shape":
        if draw(st.booleans()):
            first["tputs"] = first["tputs"][:-1] or [[]]
        else:
            first["tputs"][0] = [*first["tputs"][0], 1.0]
    elif defect == "ragged":
        dist.append([0.0] * (cols + 1))
    elif defect == "shares":
        dist[0][0] += draw(st.sampled_from([0.5, -2.0, 1e-3]))
    elif defect == "gpu_name":  # a known part with a memory size it does not have (unknown names are opaque GPUs)
        info[draw(st.sampled_from(["A100-90GB", "H100-16GB"]))] = dict(first)
    elif defect == "missing_key":
        del data[draw(st.sampled_from(sorted(data)))]
    elif defect == "extra_key":
        data[draw(st.sampled_from(["gpu_infos", "slo", "tputs"]))] = 1
    elif defect == "rate":
        data["total_request_rate"] = draw(st.sampled_from(BAD_NUMBERS))
    elif defect == "gpu_info":
        data["gpu_info"] = draw(st.sampled_from([{}, [], None, "A10G"]))
    elif defect == "unserved":  # a bucket with traffic that no GPU serves: the imported spec could not be planned
        i, j = next((i, j) for i in range(rows) for j in range(cols) if dist[i][j] > 0)
        for n in names:
            info[n]["tputs"][i][j] = 0.0
    return data, defect


safe_keys = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=8)
melange_junk = st.recursive(
    scalars, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(safe_keys, c, max_size=4)), max_leaves=12
)


def _melange_checks(data: Any, expect_error: bool | None) -> None:
    try:
        inp = parse_melange(data, "fuzz.json")
    except InputError as err:
        event("error")
        _check_error(err)
        assert err.render().startswith("fuzz.json")
        assert expect_error is not False, f"valid input rejected: {err.render()}"
        return
    event("valid")
    assert expect_error is not True, "a defective input was accepted"
    shape = (len(inp.distribution), len(inp.distribution[0]))
    assert all((len(g.tputs_rps), len(g.tputs_rps[0])) == shape for g in inp.gpus)
    assert inp.slice_factor >= 1 and inp.total_request_rate_rps > 0 and math.isfinite(inp.total_request_rate_rps)
    assert all(g.cost_usd_per_hour >= 0 for g in inp.gpus)
    assert all(v >= 0 and math.isfinite(v) for g in inp.gpus for row in g.tputs_rps for v in row)
    problem = melange_problem(inp)
    assert len(problem.slices) == sum(1 for row in inp.distribution for v in row if v > 0)


@FUZZ
@given(melange_inputs())
def test_melange_validation_rejects_exactly_the_defects(case: tuple[Any, str | None]) -> None:
    data, defect = case
    # GPU names matter only for the spec import (catalog GPU ids), not for the fleet problem itself.
    _melange_checks(data, expect_error=defect not in (None, "gpu_name"))


@FEW
@given(melange_junk)
def test_melange_junk_gives_a_clean_error(data: Any) -> None:
    _melange_checks(data, expect_error=None)


@FEW
@given(melange_inputs())
def test_melange_import_command(case: tuple[Any, str | None]) -> None:
    data, defect = case
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.json"
        path.write_text(json.dumps(data))
        out = Path(folder) / "spec.yaml"
        r = gpuplan("import", "melange", path, "-o", out)
        assert r.code == (2 if defect else 0), str(r)
        assert "Traceback" not in r.err and "internal error" not in r.err, str(r)
        event(f"exit {r.code}")
        if r.code == 0:  # the imported spec is a valid spec
            parse_spec(yaml.safe_load(out.read_text()), str(out))
        else:
            assert not out.exists()


# ------------------------------------------------------------------------------------ whole plans
SMALL_MODELS = ["llama-3.1-8b", "mistral-7b", "qwen2.5-7b", "llama-3.2-1b", "llama-3.2-3b"]
GPUS = ["t4", "l4", "a10g", "l40s", "a100-80gb", "h100-sxm"]


@st.composite
def small_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid specs: 1-2 models, histograms of 1-3 bins, a few offerings, random SLOs and limits."""
    models = []
    for k, model in enumerate(draw(st.lists(st.sampled_from(SMALL_MODELS), min_size=1, max_size=2, unique=True))):
        n_bins = draw(st.integers(1, 3))
        weights = draw(st.lists(st.integers(1, 9), min_size=n_bins, max_size=n_bins))
        bins = [
            {
                "input_len": draw(st.integers(1, 20000)),
                "output_len": draw(st.integers(1, 3000)),
                "share": w / sum(weights),
            }
            for w in weights
        ]
        models.append(
            {
                "name": f"m{k}",
                "model": model,
                "workload": {"rate_rps": draw(st.floats(0.01, 60)), "histogram": bins},
                "slo": {"ttft_ms": draw(st.floats(20, 20000)), "tpot_ms": draw(st.floats(2, 300))},
                "min_replicas": draw(st.integers(0, 3)),
            }
        )
    data: dict[str, Any] = {
        "models": models,
        "offerings": {
            "clouds": draw(st.lists(st.sampled_from(["aws", "gcp", "lambda"]), min_size=1, max_size=2, unique=True)),
            "gpus": draw(st.lists(st.sampled_from(GPUS), min_size=1, max_size=3, unique=True)),
            "spot": draw(st.booleans()),
        },
        "search": {
            "tp": draw(st.lists(st.sampled_from([1, 2, 4, 8]), min_size=1, max_size=3, unique=True)),
            "weights": draw(st.lists(st.sampled_from(["bf16", "fp8"]), min_size=1, max_size=2, unique=True)),
            "target_utilisation": draw(st.floats(0.3, 1.0)),
        },
        "solver": {"time_limit_s": 20, "mode": draw(st.sampled_from(["fractional", "fractional", "whole-slice"]))},
    }
    if draw(st.booleans()):
        data["constraints"] = {"budget_usd_per_hour": draw(st.floats(0.5, 200))}
    return data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_specs())
def test_plan_runs_give_a_verified_plan_or_a_clean_error(data: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        r = gpuplan("plan", write_spec(Path(folder), data), "-f", "json")
    assert r.code in (0, 1, 2), str(r)
    assert "Traceback" not in r.err and "internal error" not in r.err, str(r)
    event(f"exit {r.code}")
    env = json.loads(r.out)
    if r.code == 0:
        plan = env["data"]
        assert env["status"] == "ok" and plan["verification"]["passed"], plan["verification"]
        assert plan["status"] in ("optimal", "gap") and plan["total_cost_usd_per_hour"] > 0
        budget = data.get("constraints", {}).get("budget_usd_per_hour")
        assert budget is None or plan["total_cost_usd_per_hour"] <= budget * (1 + 1e-6)
    elif r.code == 1:
        assert env["status"] in ("infeasible", "error") and env["errors"], env
    else:
        assert env["status"] == "error" and env["errors"][0].strip()


def test_the_fuzzed_bases_are_valid() -> None:
    """The mutation strategy starts from a valid spec (else every case would be an error)."""
    assert isinstance(parse_spec(BASE_SPEC), Spec)
