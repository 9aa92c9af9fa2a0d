"""`gpuplan schema COMMAND`: a published JSON Schema for every command with a JSON output, and each
command's real output validates against its envelope model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer

from planner.cli import app
from planner.commands.schema import ENVELOPES
from tests.support import BASE_SPEC, gpuplan, write_spec


def _json_commands() -> set[str]:
    """Every command with a --format option (they all offer json), by walking the CLI itself."""
    out: set[str] = set()

    def walk(cmd: Any, path: tuple[str, ...]) -> None:  # a click Command (typer may vendor click)
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, (*path, name))
            return
        for param in cmd.params:
            if "--format" in getattr(param, "opts", ()):  # every --format is Fmt, which offers json
                out.add(" ".join(path))

    walk(typer.main.get_command(app), ())
    return out


def test_every_command_with_json_output_has_a_schema() -> None:
    assert _json_commands() == set(ENVELOPES)


@pytest.mark.parametrize("name", sorted(ENVELOPES))
def test_schema_command_prints_each_schema(name: str) -> None:
    r = gpuplan("schema", *name.split())
    assert r.code == 0, str(r)
    schema = json.loads(r.out)
    assert schema["title"] == f"gpuplan {name} output"
    assert schema["properties"]["command"]["const"] == name
    assert list(schema["properties"]) == ["schema_version", "command", "status", "data", "errors"]


def test_an_unknown_schema_names_the_valid_ones() -> None:
    r = gpuplan("schema", "bogus")
    assert r.code == 2 and "'bogus'" in r.err and "catalog gpus" in r.err, str(r)


LLAMA = ("--model", "llama-3.1-8b", "--gpu", "l4", "--input-len", "500", "--output-len", "50")
OPT = ("--model", "opt-30b", "--gpu", "t4", "--input-len", "64", "--output-len", "8")


def test_real_outputs_validate_against_their_schema(tmp_path: Path) -> None:
    """One run of every JSON command (both statuses where a command has two) round-trips its envelope model."""
    spec = write_spec(tmp_path, BASE_SPEC)
    plan_json = tmp_path / "plan.json"
    assert gpuplan("plan", spec, "-f", "json", "-o", plan_json).code == 0
    runs: list[tuple[str, tuple[str | Path, ...]]] = [
        ("estimate", ("estimate", *LLAMA)),
        ("estimate", ("estimate", *LLAMA[:1], "llama-3.3-70b", *LLAMA[2:])),
        ("place", ("place", *OPT)),
        ("place", ("place", *OPT, "--cpu-mem-gb", "8", "--disk-gb", "1")),
        ("sweep", ("sweep", spec, "--rate", "1,2")),
        ("check", ("check", plan_json, "--baseline", plan_json)),
        ("catalog gpus", ("catalog", "gpus", "--vendor", "amd")),
        ("catalog offerings", ("catalog", "offerings", "--gpu", "h200")),
        ("catalog models", ("catalog", "models", "--family", "mixtral")),
        ("catalog commitments", ("catalog", "commitments", "--cloud", "coreweave")),
        ("catalog refresh", ("catalog", "refresh", "--skypilot", "catalog/data/skypilot", "--cloud", "vast")),
    ]
    texts = [("plan", plan_json.read_text(encoding="utf-8"))]
    for name, args in runs:
        r = gpuplan(*args, "-f", "json")
        assert r.code in (0, 1), str(r)
        texts.append((name, r.out))
    statuses = set()
    for name, text in texts:
        env = json.loads(text)
        model = ENVELOPES[name].model_validate(env)
        assert model.model_dump(mode="json", by_alias=True) == env, name
        statuses.add((name, env["status"]))
    assert {("estimate", "infeasible"), ("place", "infeasible"), ("place", "ok")} <= statuses
