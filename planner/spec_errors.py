"""Pydantic validation errors as the one-line messages gpuplan prints: `file: path.to.field: what is wrong
(got value)`, with the valid keys ("did you mean") for an unknown one.

Apart from the spec's schema (planner.spec): this walks pydantic's error records and type annotations,
not what a spec means. Values are described, never dumped (a collection by its kind, long text cut).
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from planner.errors import InputError, did_you_mean

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][\w-]*")


def _loc(loc: tuple[int | str, ...]) -> str:
    """`models[0].workload`; keys that are not plain words (ids with dots, odd characters) as ['key']."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += ("." if out else "") + part
        else:
            out += f"[{part!r}]"
    return out or "(top level)"


def _unwrap(tp: object) -> object:
    """The type inside Annotated[...] and Optional[...] (None when a union has several real members)."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return None
            tp = members[0]
        else:
            return tp


def keys_at(root: type[BaseModel], loc: Sequence[int | str]) -> tuple[str, ...]:
    """The keys the mapping at YAML path `loc` (below `root`) accepts; () when that is not a model."""
    tp: object = root
    for part in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if isinstance(part, str) and isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(part)
            if field is None:
                return ()
            tp = field.annotation
        elif isinstance(part, int) and origin in (tuple, list):
            tp = get_args(tp)[0]
        elif origin is dict:
            tp = get_args(tp)[1]
        else:
            return ()
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tuple(tp.model_fields)
    return ()


def describe_value(value: object) -> str:
    """A bad value as a user wrote it in YAML: scalars shown, collections named by kind."""
    if isinstance(value, dict):
        return "an empty mapping" if not value else "a mapping"
    if isinstance(value, list | tuple):
        return "an empty list" if not value else "a list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_LIST_TYPES = {"tuple_type", "list_type", "set_type", "frozen_set_type"}
_MAPPING_TYPES = {"model_type", "model_attributes_type", "dict_type", "dataclass_type"}


def _message(e: Mapping[str, Any], loc: tuple[int | str, ...], root: type[BaseModel] | None) -> str:
    """One problem in words: what is wrong, the value given and, where known, what is valid."""
    kind = e["type"]
    got = e.get("input")
    ctx = e.get("ctx") or {}
    if kind == "extra_forbidden":
        valid = keys_at(root, loc[:-1]) if root is not None else ()
        key = str(loc[-1]) if loc else ""
        return "unknown key" + (f"; {did_you_mean(key, valid)}" if valid else "")
    if kind == "missing":
        return "missing (required)"
    if kind in _LIST_TYPES:
        return f"expected a list, got {describe_value(got)}"
    if kind in _MAPPING_TYPES:
        return f"expected a mapping (key: value), got {describe_value(got)}"
    if kind == "too_short" and isinstance(got, list | tuple):
        n = ctx.get("min_length", 1)
        return f"must have at least {n} item{'s' if n != 1 else ''}, got {describe_value(got)}"
    if isinstance(got, float) and not math.isfinite(got) and kind != "literal_error":
        return f"must be a finite number (got {describe_value(got)})"
    msg = str(e["msg"]).removeprefix("Value error, ")
    if kind.startswith(("float_", "int_", "bool_", "string_")) or kind in (
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "finite_number",
        "literal_error",
        "enum",
    ):
        return f"{msg} (got {describe_value(got)})"
    return msg


def format_validation_error(err: ValidationError, source: str, root: type[BaseModel] | None = None) -> InputError:
    """One line per problem: `file: path.to.field: what is wrong (got value)`.

    `root` (the validated model) lets an unknown key get a "did you mean". A list whose items failed is
    not also reported as too short (pydantic counts only the valid items).
    """
    errors = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        errors.append((loc, e))
    failed_items = {loc[:k] for loc, _ in errors for k in range(len(loc)) if isinstance(loc[k], int)}
    lines = []
    for loc, e in errors:
        if e["type"] == "too_short" and loc in failed_items and isinstance(e.get("input"), list | tuple) and e["input"]:
            continue
        line = f"{_loc(loc)}: {_message(e, loc, root)}"
        if line not in lines:
            lines.append(line)
    first, *rest = lines
    more = "".join("\n  " + r for r in rest)
    return InputError(first + more, where=source)
