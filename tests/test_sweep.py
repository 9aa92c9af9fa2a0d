"""`gpuplan sweep`: flag parsing, how values are applied to the spec, reports, the chart, and (with the
real planner) that cost never falls as the request rate grows."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from catalog.types import Catalog
from planner.commands.sweep import choose_sweep, parse_values
from planner.errors import InputError
from planner.inputs import load_inputs
from planner.report.plot import check_plot_target
from planner.report.sweep_report import render_sweep_csv, render_sweep_markdown
from planner.result import Plan
from planner.simulate.slo_check import plan_checked
from planner.spec import Spec, parse_spec
from planner.sweep import SweepResult, apply_value, model_rates, point_of, run_sweep
from planner.traces import read_trace
from tests.support import gpuplan

if TYPE_CHECKING:
    from planner.inputs import PlanInputs

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"

TWO_MODELS: dict[str, Any] = {
    "name": "two",
    "models": [
        {
            "model": "llama-3.1-8b",
            "name": "a",
            "slo": {"ttft_ms": 1000, "tpot_ms": 50},
            "workload": {"rate_rps": 3, "histogram": [{"input_len": 512, "output_len": 128, "share": 1}]},
        },
        {
            "model": "llama-3.1-8b",
            "name": "b",
            "slo": {"ttft_ms": 2000, "tpot_ms": 80},
            "workload": {"rate_rps": 1, "histogram": [{"input_len": 2048, "output_len": 256, "share": 1}]},
        },
    ],
}


@dataclasses.dataclass(frozen=True)
class FakeInputs:
    """Stands in for planner.inputs.PlanInputs (same fields) so these tests need no planner."""

    spec: Spec
    catalog: Catalog
    base_dir: Path
    spec_sha256: str
    capacity_memo: dict[str, Any] | None = None
    trace_memo: dict[str, Any] | None = None


def _inputs(data: dict[str, Any] = TWO_MODELS) -> PlanInputs:
    fake = FakeInputs(parse_spec(data), Catalog(version="test-1", gpus={}, offerings={}, models={}), ROOT, "0" * 64)
    return cast("PlanInputs", fake)


def _golden_plan() -> Plan:
    import json

    env = json.loads((GOLDEN / "two_offering.plan.json").read_text(encoding="utf-8"))
    return Plan.model_validate(env["data"])


# --- flags --------------------------------------------------------------------------------------


def test_parse_values() -> None:
    assert parse_values("1, 2.5,10", "--rate") == (1.0, 2.5, 10.0)
    assert parse_values("3e1", "--tpot-ms") == (30.0,)
    assert parse_values(None, "--rate") is None


@pytest.mark.parametrize("text", ["", "1,,2", "1,a", "0", "-1", "nan", "inf", "1,-inf", " , "])
@pytest.mark.parametrize("flag", ["--rate", "--tpot-ms", "--ttft-ms"])
def test_bad_values_name_the_flag(text: str, flag: str) -> None:
    with pytest.raises(InputError) as err:
        parse_values(text, flag)
    assert err.value.where == flag


@pytest.mark.parametrize(
    ("rate", "tpot", "ttft"), [(None, None, None), ("1", "2", None), ("1", None, "3"), ("1", "2", "3")]
)
def test_exactly_one_list(rate: str | None, tpot: str | None, ttft: str | None) -> None:
    with pytest.raises(InputError, match="exactly one of --rate, --tpot-ms or --ttft-ms"):
        choose_sweep(rate, tpot, ttft)


def test_choose_sweep() -> None:
    assert choose_sweep(None, "40,60", None) == ("tpot_ms", (40.0, 60.0))


# --- applying a value ---------------------------------------------------------------------------


def test_rate_scales_every_model_proportionally_to_the_total() -> None:
    spec = apply_value(_inputs().spec, "rate_rps", 10.0, (3.0, 1.0))
    rates = [m.workload.rate_rps for m in spec.models]
    assert rates == [pytest.approx(7.5), pytest.approx(2.5)]
    assert math.isclose(sum(r or 0 for r in rates), 10.0)
    assert [m.slo for m in spec.models] == [m.slo for m in _inputs().spec.models]


def test_rate_of_one_model_is_the_value() -> None:
    data = {**TWO_MODELS, "models": TWO_MODELS["models"][:1]}
    spec = apply_value(_inputs(data).spec, "rate_rps", 42.0, (3.0,))
    assert spec.models[0].workload.rate_rps == 42.0


def test_trace_rate_becomes_a_fixed_scaled_rate() -> None:
    data = {
        "models": [
            {
                "model": "llama-3.1-8b",
                "slo": {"ttft_ms": 1000, "tpot_ms": 50},
                "workload": {"trace": {"path": "t.csv", "format": "azure-2023", "use_trace_rate": True}},
            }
        ]
    }
    spec = apply_value(parse_spec(data), "rate_rps", 5.0, (2.0,))
    w = spec.models[0].workload
    assert w.rate_rps == 5.0 and w.trace is not None and not w.trace.use_trace_rate


@pytest.mark.parametrize("swept", ["tpot_ms", "ttft_ms"])
def test_slo_sweeps_set_every_model(swept: str) -> None:
    spec = apply_value(_inputs().spec, swept, 123.0, ())  # type: ignore[arg-type]
    assert all(getattr(m.slo, swept) == 123.0 for m in spec.models)
    assert [m.workload for m in spec.models] == [m.workload for m in _inputs().spec.models]


def test_run_sweep_plans_each_value_in_order() -> None:
    seen: list[float] = []
    progress: list[int] = []
    base = _golden_plan()

    def fake_plan(inputs: PlanInputs) -> Plan:  # cost proportional to the total rate
        total = sum(m.workload.rate_rps or 0 for m in inputs.spec.models)
        seen.append(total)
        assert base.total_cost_usd_per_hour is not None
        return base.model_copy(update={"total_cost_usd_per_hour": base.total_cost_usd_per_hour * total / 12})

    result = run_sweep(
        _inputs(),
        "rate_rps",
        (12.0, 6.0, 24.0),
        plan_fn=fake_plan,
        on_point=progress.append,
    )
    assert seen == [pytest.approx(12.0), pytest.approx(6.0), pytest.approx(24.0)]
    assert progress == [1, 2, 3]
    assert [p.value for p in result.points] == [12.0, 6.0, 24.0]
    assert [p.total_cost_usd_per_hour for p in result.points] == pytest.approx([7.6324, 3.8162, 15.2648])
    assert result.points[0].mix[0].offering == "aws:us-east-1:g6.2xlarge"
    assert result.points[0].worst_tpot_pct_of_slo == pytest.approx(83.0)
    assert (result.swept, result.flag, result.unit, result.catalog_version) == (
        "rate_rps",
        "--rate",
        "req/s",
        "test-1",
    )


# --- reports and chart ----------------------------------------------------------------------------


def _golden_sweep() -> SweepResult:
    from tests.update_golden import sweep_result

    result: SweepResult = sweep_result()
    return result


def test_csv_has_one_row_per_value_and_numbers_only() -> None:
    lines = render_sweep_csv(_golden_sweep()).splitlines()
    assert lines[0].startswith("rate_rps,status,total_cost_usd_per_hour,")
    assert len(lines) == 1 + len(_golden_sweep().points)
    assert lines[-1].startswith("400,infeasible,,")


def test_markdown_has_table_and_chart() -> None:
    md = render_sweep_markdown(_golden_sweep())
    assert "xychart-beta" in md and "line [0.98, 3.82, 7.63, 37.87]" in md
    assert "| 400 | – | – | 0 | infeasible | – / – |" in md


def test_plot_target_checked_before_planning(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.png or \.svg") as err:
        check_plot_target(tmp_path / "chart.pdf")
    assert err.value.where == "--plot"
    with pytest.raises(InputError, match="does not exist"):
        check_plot_target(tmp_path / "missing" / "chart.png")


def test_plot_without_matplotlib_is_a_clear_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(InputError, match=r"pip install 'matplotlib>=3\.9,<4'") as err:
        check_plot_target(tmp_path / "chart.png")
    assert err.value.where == "--plot"
    from planner.report.plot import plot_sweep

    with pytest.raises(InputError, match=r"pip install -e '\.\[plot\]'"):
        plot_sweep(_golden_sweep(), tmp_path / "chart.png")


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib (the plot extra) absent"
)
@pytest.mark.parametrize("suffix", [".png", ".svg"])
def test_plot_writes_a_chart(tmp_path: Path, suffix: str) -> None:
    from planner.report.plot import mix_keys, plot_sweep

    path = tmp_path / f"chart{suffix}"
    plot_sweep(_golden_sweep(), path)
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") if suffix == ".png" else b"<svg" in data
    assert list(mix_keys(_golden_sweep()).values()) == ["A", "B", "C", "D"]
    if suffix == ".svg":  # deterministic: same bytes twice
        plot_sweep(_golden_sweep(), path)
        assert path.read_bytes() == data


# --- CLI errors (no planning happens) -----------------------------------------------------------------


def _run(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str, str]:
    """`gpuplan ARGS` in-process through planner.cli.main (its error handling included)."""
    r = gpuplan(*args)
    return r.code, r.out, r.err


def _main(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    code, _, err = _run(args, monkeypatch, capsys)
    return code, err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--rate", "1,zero"], "--rate: 'zero' is not a number"),
        (["--tpot-ms", "0"], "--tpot-ms: every value must be positive"),
        (["--ttft-ms", "nan"], "--ttft-ms: every value must be positive"),
        (["--rate", "1", "--tpot-ms", "50"], "give exactly one of"),
        ([], "give exactly one of"),
        (["--rate", "1", "--plot", "chart.gif"], "--plot: the chart file must end in .png or .svg"),
    ],
)
def test_cli_bad_flags_exit_2(
    args: list[str],
    needle: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("models: []\n", encoding="utf-8")
    code, err = _main(["sweep", str(spec), *args], monkeypatch, capsys)
    assert code == 2, err
    assert needle in err
    assert "Traceback" not in err


# --- with the real planner ----------------------------------------------------------------------------

SMALL_SPEC = """\
name: sweep-small
models:
  - model: llama-3.1-8b
    workload:
      rate_rps: 4
      histogram:
        - {input_len: 256, output_len: 128, share: 0.7}
        - {input_len: 2048, output_len: 256, share: 0.3}
    slo: {ttft_ms: 2000, tpot_ms: 100}
offerings:
  clouds: [aws]
  gpus: [l4, l40s, a10g]
search:
  tp: [1]
"""


@pytest.fixture
def small_spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SMALL_SPEC, encoding="utf-8")
    return path


def test_sweep_cost_never_falls_as_rate_grows(small_spec: Path) -> None:
    inputs = load_inputs(small_spec)
    rates = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    result = run_sweep(inputs, "rate_rps", rates)
    costs = [p.total_cost_usd_per_hour for p in result.points]
    assert all(p.status == "optimal" for p in result.points), [p.infeasible_reasons for p in result.points]
    assert all(c is not None for c in costs)
    assert all(b >= a - 1e-6 for a, b in zip(costs, costs[1:], strict=False)), costs  # type: ignore[operator]
    assert costs[-1] > costs[0]  # type: ignore[operator]


def test_sweep_tighter_tpot_never_cheaper(small_spec: Path) -> None:
    result = run_sweep(load_inputs(small_spec), "tpot_ms", (200.0, 100.0, 60.0))
    costs = [p.total_cost_usd_per_hour for p in result.points if p.status != "infeasible"]
    assert all(b >= a - 1e-6 for a, b in zip(costs, costs[1:], strict=False)), costs  # type: ignore[operator]


def test_sweep_cli_csv_and_json(
    small_spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    code, out, err = _run(["sweep", str(small_spec), "--rate", "1,2", "-f", "csv"], monkeypatch, capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith("rate_rps,status,") and len(out.splitlines()) == 3
    code, out, err = _run(["sweep", str(small_spec), "--tpot-ms", "100", "-f", "json"], monkeypatch, capsys)
    assert code == 0, err
    env = json.loads(out)
    assert env["command"] == "sweep" and env["data"]["swept"] == "tpot_ms"
    assert [p["value"] for p in env["data"]["points"]] == [100.0]


def test_cli_plot_without_matplotlib_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    spec = tmp_path / "spec.yaml"
    spec.write_text("models: []\n", encoding="utf-8")
    code, err = _main(
        ["sweep", str(spec), "--rate", "1", "--plot", str(tmp_path / "c.png")], monkeypatch, capsys
    )
    assert code == 2
    message = " ".join(err.split())
    assert "--plot: drawing a chart needs matplotlib, which is not installed" in message
    assert "pip install 'matplotlib>=3.9,<4'" in message
    assert "pip install -e '.[plot]'" in message


# --- speed: capacities reused across rates, points in parallel (issue 19) -------------------------------


def test_a_rate_sweep_reuses_capacities_and_gives_the_plans_of_fresh_runs(small_spec: Path) -> None:
    inputs = load_inputs(small_spec)
    rates = (1.0, 3.0, 9.0)
    memo: dict[str, object] = {}
    swept = run_sweep(dataclasses.replace(inputs, capacity_memo=memo), "rate_rps", rates)
    assert len(memo) == 1  # one model, worked out once
    base = model_rates(inputs)
    fresh = [
        point_of(v, plan_checked(dataclasses.replace(inputs, spec=apply_value(inputs.spec, "rate_rps", v, base))))
        for v in rates
    ]
    assert list(swept.points) == fresh


def test_parallel_points_are_the_serial_points(small_spec: Path) -> None:
    inputs = load_inputs(small_spec)
    seen: list[int] = []
    serial = run_sweep(inputs, "tpot_ms", (200.0, 100.0, 60.0), jobs=1)
    parallel = run_sweep(inputs, "tpot_ms", (200.0, 100.0, 60.0), jobs=2, on_result=lambda k, p: seen.append(k))
    assert parallel == serial and seen == [0, 1, 2]


def test_cli_sweep_prints_a_line_per_point_and_jobs_change_nothing(small_spec: Path) -> None:
    runs = [gpuplan("sweep", small_spec, "--rate", "1,2,4", "-f", "json", "--jobs", j, process=True) for j in "12"]
    for r in runs:
        assert r.code == 0, r.err
        assert [line.split(":")[0] for line in r.err.splitlines()] == [f"sweep --rate {v}" for v in (1, 2, 4)]
    assert json.loads(runs[0].out) == json.loads(runs[1].out)


def test_a_sweep_reads_each_trace_once_and_gives_the_plans_of_fresh_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = load_inputs(ROOT / "examples" / "chat-llama-8b.yaml")  # one model, slices from a trace
    assert inputs.spec.models[0].workload.trace is not None
    reads: list[str] = []

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(str(args[2]))
        return read_trace(*args, **kwargs)

    monkeypatch.setattr("planner.workload.read_trace", counted)
    rates = (4.0, 12.0)
    swept = run_sweep(inputs, "rate_rps", rates, jobs=1)
    assert reads == ["models[0].workload.trace"]  # one read, shared by every point
    base = model_rates(inputs)
    fresh = [
        point_of(v, plan_checked(dataclasses.replace(inputs, spec=apply_value(inputs.spec, "rate_rps", v, base))))
        for v in rates
    ]
    assert len(reads) == 1 + len(rates)  # fresh plans read the trace each
    assert list(swept.points) == fresh
