"""`gpuplan import melange INPUT.json [-o SPEC.yaml]`: a Mélange input as a native gpuplan spec.

The spec is written as YAML (renderer "yaml"); `--format json` gets the same spec as data. See
planner.melange for the mapping and its placeholders.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from planner.melange import MelangeImport, melange_spec
from planner.melange_input import read_melange
from planner.outcome import Outcome
from planner.report.melange_report import render_melange_yaml
from planner.spec import parse_spec


def execute(input_json: Path, *, as_of: str | None = None) -> Outcome:
    inp = read_melange(input_json)
    date = as_of or datetime.date.today().isoformat()
    spec = melange_spec(inp, source_name=input_json.name, as_of=date)
    parse_spec(spec, f"spec imported from {input_json}")  # the import must always give a valid spec
    result = MelangeImport(source=input_json.name, spec=spec)
    return Outcome(
        command="import melange", status="ok", data=result, renderers={"yaml": lambda: render_melange_yaml(result)}
    )
