"""What every command returns to the CLI: data for the JSON envelope plus renderers for people."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from common import files

if TYPE_CHECKING:
    from pydantic import BaseModel

SCHEMA_VERSION = "1"
Status = Literal["ok", "infeasible", "error"]
Renderer = Callable[[], Any]  # returns a str or a rich renderable


@dataclass(frozen=True)
class Outcome:
    command: str
    status: Status
    data: BaseModel  # the command's typed, frozen result
    renderers: Mapping[str, Renderer] = field(default_factory=dict)  # format name -> renderer
    exit_code: int = 0
    errors: tuple[str, ...] = ()
    notices: tuple[str, ...] = ()  # for stderr, before the document (e.g. "wrote chart.png")

    def data_dict(self) -> Any:
        return self.data.model_dump(mode="json", by_alias=True)


def envelope(outcome: Outcome) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "command": outcome.command,
        "status": outcome.status,
        "data": outcome.data_dict(),
        "errors": list(outcome.errors),
    }


def error_envelope(command: str, message: str) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "command": command, "status": "error", "data": {}, "errors": [message]}


def to_json(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def check_output_path(path: Path, flag: str) -> None:
    """Fail before any work when `path` cannot be written (see common.files.check_output_path)."""
    files.check_output_path(path, flag)


def write_atomic(path: Path, text: str, flag: str) -> None:
    """Write a whole file or nothing, never over an input of the run (see common.files.write_output);
    `flag` names the option in messages."""
    files.write_output(path, text, flag)
