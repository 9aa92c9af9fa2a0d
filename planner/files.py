"""Reading the user's files: one place that turns every I/O, encoding and syntax problem into an error
that names the file and says what was expected (exit code 2, never a traceback)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from planner.errors import InputError

_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser is ~8x faster


def read_text(path: Path, what: str, kind: str, error: type[InputError] = InputError) -> str:
    """The file's text; `what` names it in messages ("spec"), `kind` is the expected format ("YAML")."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found", where=where) from None
    except IsADirectoryError:
        raise error(f"{what} is a directory, expected a {kind} file", where=where) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", where=where) from None
    if b"\0" in raw:
        raise error(f"{what} is binary, expected {kind} text", where=where)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise error(f"{what} is not UTF-8 text", where=where) from None
    if not text.strip():
        raise error(f"{what} is empty", where=where)
    return text


def parse_yaml(text: str, where: str, error: type[InputError] = InputError) -> object:
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"malformed YAML{at}: {problem}", where=where) from None


def read_yaml(path: Path, what: str = "file", error: type[InputError] = InputError) -> object:
    return parse_yaml(read_text(path, what, "YAML", error), str(path), error)


def read_json(path: Path, what: str = "file", error: type[InputError] = InputError) -> object:
    text = read_text(path, what, "JSON", error)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(
            f"{what} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", where=str(path)
        ) from None
