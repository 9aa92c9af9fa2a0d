"""Every command × every format it accepts, through the installed console script with stdout a pipe.

stdout must carry only the document: JSON and CSV parse whole, YAML loads, and tables and Markdown
start with the document's own first line (no solver banner, no progress bar, no colour codes before
or inside it). The formats come from the CLI's own declaration (what `--help` lists), so a format
added to a command without a renderer fails here, and a command added without a case fails too.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest
import typer
import yaml

from planner.cli import app
from tests.support import BASE_SPEC, gpuplan, write_spec

GOLDEN_PLAN = "tests/golden/two_offering.plan.json"
MELANGE_INPUT = "examples/melange/example.json"


@dataclass(frozen=True)
class Case:
    """How to run one command quickly on valid input, and how its human formats begin."""

    args: tuple[str, ...]  # "{spec}" stands for a small valid spec, "{plan}" for its plan (JSON)
    starts: dict[str, str] = field(default_factory=dict)  # format -> start of the first non-blank line


CASES: dict[str, Case] = {
    "plan": Case(("plan", "{spec}"), {"table": "robust: $", "md": "### gpuplan · robust"}),
    "schedule": Case(("schedule", "{spec}"), {"table": "gpuplan schedule: robust", "md": "# gpuplan schedule: robust"}),
    "validate": Case(("validate", "{spec}"), {"table": "{spec}: valid"}),
    "estimate": Case(
        ("estimate", "--model", "llama-3.1-8b", "--gpu", "l4", "--input-len", "512", "--output-len", "128"),
        {"table": "llama-3.1-8b on 1 x l4"},
    ),
    "place": Case(
        ("place", "--model", "opt-30b", "--gpu", "t4", "--cpu-mem-gb", "200", "--disk-gb", "1500")
        + ("--input-len", "512", "--output-len", "32"),
        {"table": "place opt-30b on t4", "md": "### place opt-30b on t4"},
    ),
    "sweep": Case(
        ("sweep", "{spec}", "--rate", "2,4"),
        {"table": "Sweep of request rate · robust", "md": "### gpuplan · Sweep of request rate"},
    ),
    "check": Case(
        ("check", GOLDEN_PLAN, "--baseline", GOLDEN_PLAN),
        {"table": "check passed", "md": "### ✅ gpuplan check"},
    ),
    "import melange": Case(("import", "melange", MELANGE_INPUT), {"yaml": "# Imported by `gpuplan import melange`"}),
    "catalog gpus": Case(("catalog", "gpus"), {"table": "gpus (", "md": "**gpus** ("}),
    "catalog offerings": Case(("catalog", "offerings"), {"table": "offerings (", "md": "**offerings** ("}),
    "catalog models": Case(("catalog", "models"), {"table": "models (", "md": "**models** ("}),
    "catalog commitments": Case(("catalog", "commitments"), {"table": "commitments (", "md": "**commitments** ("}),
    "catalog refresh": Case(
        ("catalog", "refresh", "--skypilot", "catalog/data/skypilot", "--cloud", "mithril"),
        {"table": "SkyPilot refresh from", "md": "**SkyPilot refresh**"},
    ),
    "schema": Case(("schema", "plan")),
    "simulate": Case(
        ("simulate", "{plan}", "--spec", "{spec}", "--duration", "60"),
        {"table": "robust: simulated", "md": "### ✅ gpuplan simulate"},
    ),
    "export": Case(("export", "{plan}", "--to", "router"), {"text": "==> router.json <=="}),
}
# What a command without --format prints.
DEFAULT_FORMAT = {
    "validate": "table",
    "import melange": "yaml",
    "schema": "json-schema",
}


def _leaves(group: typer.Typer, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Callable[..., Any]]]:
    for command in group.registered_commands:
        assert command.callback is not None
        name = command.name or command.callback.__name__.replace("_", "-")
        yield " ".join((*path, name)), command.callback
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name is not None
        yield from _leaves(sub.typer_instance, (*path, sub.name))


def declared_formats() -> dict[str, tuple[str, ...]]:
    """Each leaf command -> the choices of its --format option, as the CLI declares them (() if none)."""
    out: dict[str, tuple[str, ...]] = {}
    for name, callback in _leaves(app):
        hint = get_type_hints(callback, include_extras=True).get("fmt")  # the --format option, by convention
        out[name] = () if hint is None else tuple(member.value for member in get_args(hint)[0])
    return out


FORMATS = declared_formats()
MATRIX = [(name, fmt) for name, fmts in FORMATS.items() for fmt in (fmts or (DEFAULT_FORMAT.get(name, "?"),))]


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_spec(tmp_path_factory.mktemp("formats"), BASE_SPEC)


@pytest.fixture(scope="module")
def plan(spec: Path) -> Path:
    """The small spec's plan as JSON (for the commands that read a plan)."""
    path = spec.with_name("plan.json")
    run = gpuplan("plan", spec, "--format", "json", "--output", path)
    assert run.code == 0, str(run)
    return path


def test_every_command_has_a_case() -> None:
    assert sorted(FORMATS) == sorted(CASES), "add a Case for each new command (and drop removed ones)"
    assert set(DEFAULT_FORMAT) == {name for name, fmts in FORMATS.items() if not fmts}


def _squeezed(text: str) -> str:
    """Without any whitespace: rich may wrap or centre a title; the characters must still come first."""
    return "".join(text.split())


@pytest.mark.parametrize(("name", "fmt"), MATRIX, ids=[f"{n.replace(' ', '-')}-{f}" for n, f in MATRIX])
def test_stdout_is_only_the_document(name: str, fmt: str, spec: Path, plan: Path) -> None:
    case = CASES[name]
    args = [a.replace("{spec}", str(spec)).replace("{plan}", str(plan)) for a in case.args]
    if FORMATS[name]:
        args += ["--format", fmt]
    run = gpuplan(*args, process=True)
    assert run.code == 0, str(run)
    assert "Traceback" not in run.err, str(run)
    assert "\x1b" not in run.out, f"terminal escape codes in piped output\n{run}"
    if fmt == "json":
        envelope = json.loads(run.out)
        assert list(envelope) == ["schema_version", "command", "status", "data", "errors"]
        assert (envelope["command"], envelope["status"]) == (name, "ok")
    elif fmt == "json-schema":
        assert "$schema" in json.loads(run.out)
    elif fmt == "csv":
        rows = list(csv.reader(io.StringIO(run.out)))
        assert len(rows) >= 2 and all(len(row) == len(rows[0]) for row in rows), str(run)
        assert all(cell.strip() for cell in rows[0]), "every column has a header"
    else:
        expected = case.starts[fmt].replace("{spec}", str(spec))
        assert _squeezed(run.out).startswith(_squeezed(expected)), str(run)
        if fmt == "yaml":
            assert isinstance(yaml.safe_load(run.out), dict)


@pytest.mark.parametrize("name", sorted(n for n, f in FORMATS.items() if f))
def test_help_lists_exactly_the_accepted_formats(name: str) -> None:
    run = gpuplan(*name.split(), "--help")
    assert run.code == 0, str(run)
    text = "".join(run.out.split())  # rich wraps and pads the help table
    assert "|".join(FORMATS[name]) in text, str(run)
    for other in {"table", "json", "md", "csv"} - set(FORMATS[name]):
        assert f"|{other}" not in text and f"{other}|" not in text, f"--help offers {other!r}\n{run}"


@pytest.mark.parametrize(("args", "refused"), [(("plan", "{missing}"), "csv"), (("estimate",), "md")])
def test_a_refused_format_is_refused_before_any_work(args: tuple[str, ...], refused: str, tmp_path: Path) -> None:
    """The format is checked while parsing the flags: a spec that does not even exist is never read."""
    missing = tmp_path / "not-there.yaml"
    run = gpuplan(*(a.replace("{missing}", str(missing)) for a in args), "--format", refused)
    assert run.code == 2, str(run)
    message = " ".join(run.err.split())
    assert "--format" in message and repr(refused) in message and "'table', 'json'" in message, str(run)
    assert "not-there.yaml" not in message and run.out == "", str(run)


def test_version_names_the_package_catalog_and_solvers() -> None:
    from importlib.metadata import version

    from catalog.loader import load_catalog

    run = gpuplan("--version", process=True)
    assert run.code == 0, str(run)
    lines = run.out.splitlines()
    assert lines[0] == f"gpuplan {version('gpuplan')}"
    assert lines[1] == f"catalog {load_catalog().version}"
    assert lines[2].startswith("HiGHS 1.") and f"(highspy {version('highspy')})" in lines[2]
    assert lines[3].startswith("CBC ") and f"(PuLP {version('pulp')})" in lines[3]
    assert lines[4].startswith("Python ")


def test_cwd_does_not_matter(tmp_path: Path, spec: Path) -> None:
    """The console script finds its catalog data from anywhere, not only from a checkout."""
    run = gpuplan("plan", spec, "--format", "json", cwd=tmp_path, process=True)
    assert run.code == 0 and json.loads(run.out)["status"] == "ok", str(run)
