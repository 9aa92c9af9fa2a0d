"""Hostile input, part 5: exit code 3 ("internal error") is unreachable from input (issue 20).

A generated battery through the real CLI: every numeric field of every input kind (spec, trace CSV and
JSONL, profile CSV, vLLM benchmark JSON, Mélange input, HF config, catalog overlay, plan JSON for check
and export, a SkyPilot vms.csv row for catalog refresh) is replaced with a hostile value (NaN,
infinities, 1e308, a 400-digit integer, a negative, a string, a list...), subtrees are replaced with
deep nesting, and files are replaced with special ones (FIFO,
/dev/zero, a folder, a symlink loop). Each case runs under a time limit and an address-space limit;
whatever it is, the answer is exit 0, 1 or 2 with no traceback and no "internal error".
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import BASE_SPEC, Run, gpuplan

ROOT = Path(__file__).resolve().parent.parent
CASE_TIME_S = 30
CASE_MEMORY_BYTES = 2 << 30  # above what the process already maps

HOSTILE_VALUES: list[Any] = [
    math.nan,
    math.inf,
    -math.inf,
    1e308,
    -1e308,
    10**400,
    -(10**400),
    2**63,
    -1,
    0,
    1.5,
    True,
    None,
    "x",
    "",
    [],
    {},
    [[[[1]]]],
]

MELANGE: dict[str, Any] = json.loads((ROOT / "tests/data/melange/example_head.json").read_text())
HF_CONFIG: dict[str, Any] = json.loads((ROOT / "tests/data/catalog/hf/llama-3.1-8b/config.json").read_text())
BENCH: dict[str, Any] = json.loads((ROOT / "tests/data/profiles/a-rate2.json").read_text())
OVERLAY: dict[str, Any] = {
    "schema_version": 1,
    "gpus": [{"id": "l4", "memory_gb": 24, "mem_bandwidth_gb_per_s": 300, "tflops": {"bf16": 121}}],
    "offerings": [
        {
            "cloud": "onprem",
            "region": "dc1",
            "instance_type": "box",
            "gpu": "l4",
            "gpus_per_instance": 1,
            "price_usd_per_hour": 0.5,
            "source": "test",
            "as_of": "2026-01",
        }
    ],
}
TRACE_ROWS = [{"ts": 0.5 * i, "in": 100 + 7 * i, "out": 20 + i} for i in range(6)]
PROFILE_ROW = {"gpu": "l4", "tp": 1, "input_len": 500, "output_len": 200, "capacity_rps": 3.5}
SKYPILOT_ROW = {  # one row of a SkyPilot catalog's <cloud>/vms.csv, as `catalog refresh` reads it
    "InstanceType": "gpu_1x_a10",
    "AcceleratorName": "A10",
    "AcceleratorCount": 1.0,
    "vCPUs": 30.0,
    "MemoryGiB": 200.0,
    "Price": 0.75,
    "Region": "us-east-1",
    "GpuInfo": "{'Gpus': [{'Name': 'A10', 'MemoryInfo': {'SizeInMiB': 24576}}]}",
    "SpotPrice": 0.3,
}


class CaseTimeout(BaseException):  # noqa: N818 - a BaseException on purpose: nothing in gpuplan may catch it
    pass


@contextmanager
def limited() -> Iterator[None]:
    """A wall-clock limit (SIGALRM raises CaseTimeout) and, on Linux, an address-space limit."""

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout(f"a case ran past {CASE_TIME_S} s")

    old_handler = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_TIME_S)
    old_limit = None
    try:
        import resource

        vm = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        old_limit = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (vm + CASE_MEMORY_BYTES, old_limit[1]))
    except (ImportError, OSError, ValueError):
        old_limit = None
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old_handler)
        if old_limit is not None:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, old_limit)


def assert_classified(run: Run) -> None:
    assert run.code in (0, 1, 2), str(run)
    assert "internal error" not in run.err and "Traceback" not in run.err + run.out, str(run)


def leaf_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a number (and a few to other leaves) in a JSON-like document."""
    out: list[tuple[Any, ...]] = []
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for k, v in items:
        if isinstance(v, dict | list):
            out.extend(leaf_paths(v, (*prefix, k)))
        elif isinstance(v, int | float | str | bool) or v is None:
            out.append((*prefix, k))
    return out


def replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    new = json.loads(json.dumps(doc))
    node = new
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return new


DEEP = {"__DEEP100__": 100, "__DEEP2000__": 2000}  # markers for nesting too deep to build as Python objects


def _deepen(text: str) -> str:
    """Replace each (quoted) marker by flow-style nesting, valid in JSON and YAML alike."""
    for marker, depth in DEEP.items():
        nested = "[" * depth + "1" + "]" * depth
        for quoted in (f'"{marker}"', f"'{marker}'", marker):
            text = text.replace(quoted, nested)
    return text


def dump_json(value: Any) -> str:
    """JSON as a tampered file may hold it: NaN/Infinity tokens, integers of any length, deep nesting."""
    return _deepen(json.dumps(value, allow_nan=True))


def dump_yaml(value: Any) -> str:
    return _deepen(yaml.safe_dump(value, sort_keys=False, width=10**9))


# ------------------------------------------------------------------------------------- input kinds
def spec_case(folder: Path, doc: Any) -> list[str | Path]:
    path = folder / "spec.yaml"
    path.write_text(dump_yaml(doc))
    return ["validate", path]


def spec_plan_case(folder: Path, doc: Any) -> list[str | Path]:
    path = folder / "spec.yaml"
    path.write_text(dump_yaml(doc))
    return ["plan", path, "--time-limit", "5"]


def trace_case(kind: str) -> Callable[[Path, Any], list[str | Path]]:
    def build(folder: Path, rows: Any) -> list[str | Path]:
        if kind == "csv":
            lines = ["ts,in,out"] + [
                ",".join(str(r.get(c)) if isinstance(r, dict) else str(r) for c in ("ts", "in", "out")) for r in rows
            ]
            (folder / "t.csv").write_text("\n".join(lines) + "\n")
        else:
            (folder / "t.jsonl").write_text("".join(dump_json(r) + "\n" for r in rows))
        trace = {
            "path": f"t.{kind}",
            "format": kind,
            "use_trace_rate": True,
            "columns": {"input_len": "in", "output_len": "out", "timestamp": "ts"},
        }
        spec = {**BASE_SPEC, "models": [{**BASE_SPEC["models"][0], "workload": {"trace": trace}}]}
        (folder / "spec.yaml").write_text(dump_yaml(spec))
        return ["plan", folder / "spec.yaml", "--time-limit", "5"]

    return build


def profile_case(folder: Path, row: Any) -> list[str | Path]:
    cols = list(PROFILE_ROW)
    cells = [str(row.get(c)) if isinstance(row, dict) else str(row) for c in cols]
    (folder / "p.csv").write_text(",".join(cols) + "\n" + ",".join(cells) + "\n")
    spec = {**BASE_SPEC, "profiles": [{"model": "llama-3.1-8b", "csv": "p.csv"}]}
    (folder / "spec.yaml").write_text(dump_yaml(spec))
    return ["plan", folder / "spec.yaml", "--time-limit", "5"]


def bench_case(folder: Path, doc: Any) -> list[str | Path]:
    (folder / "b.json").write_text(dump_json(doc))
    spec = {**BASE_SPEC, "profiles": [{"model": "llama-3.1-8b", "vllm_bench": ["b.json"], "gpu": "l4"}]}
    (folder / "spec.yaml").write_text(dump_yaml(spec))
    return ["validate", folder / "spec.yaml"]


def melange_case(folder: Path, doc: Any) -> list[str | Path]:
    (folder / "m.json").write_text(dump_json(doc))
    return ["import", "melange", folder / "m.json"]


def hf_case(folder: Path, doc: Any) -> list[str | Path]:
    (folder / "config.json").write_text(dump_json(doc))
    return ["estimate", "--model", folder / "config.json", "--gpu", "l4", "--input-len", "99", "--output-len", "9"]


def overlay_case(folder: Path, doc: Any) -> list[str | Path]:
    (folder / "o.yaml").write_text(dump_yaml(doc))
    (folder / "spec.yaml").write_text(dump_yaml(BASE_SPEC))
    return ["validate", folder / "spec.yaml", "--catalog", folder / "o.yaml"]


def skypilot_case(folder: Path, row: Any) -> list[str | Path]:
    cols = list(SKYPILOT_ROW)
    cells = [_deepen(str(row.get(c))) if isinstance(row, dict) else str(row) for c in cols]
    (folder / "sky" / "lambda").mkdir(parents=True)
    text = ",".join(cols) + "\n" + ",".join('"' + c.replace('"', '""') + '"' for c in cells) + "\n"
    (folder / "sky" / "lambda" / "vms.csv").write_text(text)
    return ["catalog", "refresh", "--skypilot", folder / "sky"]


_PLAN: list[Any] = []


def plan_doc() -> Any:
    """A real plan envelope (made once per session)."""
    if not _PLAN:
        folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"gpuplan-battery-{os.getpid()}"
        folder.mkdir(exist_ok=True)
        (folder / "spec.yaml").write_text(dump_yaml(BASE_SPEC))
        run = gpuplan("plan", folder / "spec.yaml", "-f", "json")
        assert run.code == 0, str(run)
        _PLAN.append(json.loads(run.out))
    return _PLAN[0]


def export_case(folder: Path, doc: Any) -> list[str | Path]:
    (folder / "p.json").write_text(dump_json(doc))
    return ["export", folder / "p.json", "--to", "vllm"]


def check_case(folder: Path, doc: Any) -> list[str | Path]:
    (folder / "p.json").write_text(dump_json(doc))
    (folder / "b.json").write_text(dump_json(plan_doc()))
    return ["check", folder / "p.json", "--baseline", folder / "b.json", "-f", "md"]


KINDS: dict[str, tuple[Callable[[], Any], Callable[[Path, Any], list[str | Path]]]] = {
    "spec": (lambda: BASE_SPEC, spec_case),
    "spec-plan": (lambda: BASE_SPEC, spec_plan_case),
    "trace-csv": (lambda: TRACE_ROWS, trace_case("csv")),
    "trace-jsonl": (lambda: TRACE_ROWS, trace_case("jsonl")),
    "profile-csv": (lambda: PROFILE_ROW, profile_case),
    "vllm-bench": (lambda: BENCH, bench_case),
    "melange": (lambda: MELANGE, melange_case),
    "hf-config": (lambda: HF_CONFIG, hf_case),
    "overlay": (lambda: OVERLAY, overlay_case),
    "plan-json": (plan_doc, check_case),
    "plan-export": (plan_doc, export_case),
    "skypilot-csv": (lambda: SKYPILOT_ROW, skypilot_case),
}


@st.composite
def hostile_documents(draw: st.DrawFn) -> tuple[str, Any]:
    """(input kind, a document of that kind with one field made hostile or one subtree nested deeply)."""
    kind = draw(st.sampled_from(sorted(KINDS)))
    doc = KINDS[kind][0]()
    paths = leaf_paths(doc)
    path = draw(st.sampled_from(paths))
    value = draw(st.sampled_from([*HOSTILE_VALUES, *DEEP]))
    return kind, replaced(doc, path, value)


@settings(
    max_examples=int(os.environ.get("GPUPLAN_BATTERY_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(hostile_documents())
def test_no_hostile_field_gives_exit_3(tmp_path: Path, case: tuple[str, Any]) -> None:
    kind, doc = case
    folder = tmp_path / f"c{abs(hash(json.dumps(doc, allow_nan=True, default=str))) % 10**9}"
    folder.mkdir(exist_ok=True)
    args = KINDS[kind][1](folder, doc)
    with limited():
        assert_classified(gpuplan(*args))


SPECIAL_FILES = ["fifo", "dev-zero", "folder", "link-loop", "dangling-link", "empty", "nul-bytes"]


def special(folder: Path, what: str, name: str) -> Path:
    path = folder / name
    if what == "fifo":
        os.mkfifo(path)
    elif what == "dev-zero":
        path.symlink_to("/dev/zero")
    elif what == "folder":
        path.mkdir()
    elif what == "link-loop":
        path.symlink_to(path)
    elif what == "dangling-link":
        path.symlink_to(folder / "nowhere")
    elif what == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"\0" * 1000)
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="FIFOs and /dev/zero")
@pytest.mark.parametrize("what", SPECIAL_FILES)
@pytest.mark.parametrize(
    "role", ["spec", "trace", "profile", "overlay", "catalog-file", "plan", "baseline", "melange", "hf-config"]
)
def test_no_special_file_gives_exit_3(tmp_path: Path, what: str, role: str) -> None:
    spec = tmp_path / "spec.yaml"
    name = {"trace": "t.csv", "profile": "p.csv", "catalog-file": "c.yaml"}.get(role, "x")
    doc: dict[str, Any] = dict(BASE_SPEC)
    if role == "trace":
        trace = {"path": name, "format": "csv", "columns": {"input_len": "in", "output_len": "out"}}
        doc["models"] = [{**BASE_SPEC["models"][0], "workload": {"rate_rps": 4, "trace": trace}}]
    elif role == "profile":
        doc["profiles"] = [{"model": "llama-3.1-8b", "csv": name}]
    elif role == "catalog-file":
        doc["catalog"] = {"files": [name]}
    spec.write_text(dump_yaml(doc))
    target = special(tmp_path, what, name)
    plan = tmp_path / "plan.json"
    if role in ("plan", "baseline"):
        plan.write_text(dump_json(plan_doc()))
    table: dict[str, list[str | Path]] = {
        "spec": ["validate", target],
        "trace": ["validate", spec],
        "profile": ["validate", spec],
        "catalog-file": ["validate", spec],
        "overlay": ["validate", spec, "--catalog", target],
        "plan": ["check", target, "--baseline", plan],
        "baseline": ["check", plan, "--baseline", target],
        "melange": ["import", "melange", target],
        "hf-config": ["estimate", "--model", target, "--gpu", "l4", "--input-len", "9", "--output-len", "9"],
    }
    args = table[role]
    with limited():
        run = gpuplan(*args)
    assert_classified(run)
    assert run.code == 2, str(run)
