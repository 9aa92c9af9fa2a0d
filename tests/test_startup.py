"""Start-up: a command imports only what it needs (issue 19). Checked by the modules loaded in a fresh
interpreter, never by timing (bench/speed.py measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HEAVY = ("rich", "pydantic", "numpy", "yaml", "highspy", "pulp", "planner.report.table", "solvers.backend")
PROBE = """
import contextlib, json, os, sys
sys.argv = ["gpuplan", *json.loads(sys.argv[1])]
from planner.cli import main
with contextlib.redirect_stdout(open(os.devnull, "w")):
    try:
        main()
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _loaded(*args: str) -> set[str]:
    run = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, timeout=120)
    return set(json.loads(run.stderr.strip().splitlines()[-1]))


def test_help_loads_no_heavy_module() -> None:
    assert not {m for m in HEAVY if m in _loaded("--help")}


def test_a_command_help_loads_no_report_and_no_solver() -> None:
    loaded = _loaded("plan", "--help")  # typer itself validates parameters with pydantic
    assert not {m for m in HEAVY if m in loaded} - {"pydantic"}


def test_estimate_json_loads_no_solver_and_no_rich() -> None:
    est = ("estimate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--input-len", "100", "--output-len", "10")
    loaded = _loaded(*est, "-f", "json")
    assert "planner.estimate" in loaded  # the probe ran the command
    assert not {m for m in ("rich", "highspy", "pulp", "solvers.backend") if m in loaded}


def test_plan_json_loads_no_rich_no_simulator_no_melange_reader() -> None:
    spec = Path(__file__).resolve().parent.parent / "examples" / "chat-llama-8b.yaml"
    loaded = _loaded("plan", str(spec), "-f", "json")
    assert "planner.plan" in loaded  # the probe ran the command
    lazy = ("rich", "planner.report.table", "planner.report.markdown", "planner.simulate.run", "planner.melange")
    assert not {m for m in lazy if m in loaded}  # the example has mean targets only: nothing to simulate


def test_a_command_runs_in_an_app_of_its_own_with_the_same_help() -> None:
    """`gpuplan CMD ...` builds only CMD's click command (planner.cli.run.app_for); its help and its
    parameters are those of the whole app's CMD, and anything but a top-level command gets the whole app."""
    import typer.main

    from planner.cli import app
    from planner.cli.run import app_for

    whole = typer.main.get_command(app)
    names = [n for n in whole.commands if n not in {g.name for g in app.registered_groups}]  # type: ignore[attr-defined]
    assert "estimate" in names and "plan" in names
    for name in names:
        one = typer.main.get_command(app_for([name, "--help"]))
        assert list(one.commands) == [name]  # type: ignore[attr-defined]
        mine, theirs = one.commands[name], whole.commands[name]  # type: ignore[attr-defined]
        assert [p.opts for p in mine.params] == [p.opts for p in theirs.params]
        assert mine.help == theirs.help
        assert [p.opts for p in one.params] == [p.opts for p in whole.params]  # the root's --debug, --version
    for args in ([], ["--debug", "plan"], ["catalog", "gpus"], ["import", "melange"], ["estimat"], ["--help"]):
        assert app_for(args) is app
