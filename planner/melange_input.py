"""Mélange inputs read and validated: the decoded JSON checked field by field into a frozen `MelangeInput`.

Split from planner.melange (issue 18) because reading an input is one job and mapping it (to catalog GPUs,
a fleet problem or a native spec, in planner.melange) is another; every problem found here is an
InputError naming its JSON path, and nothing here knows about GPUs, offerings or specs.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common import files
from common.files import shown_value
from planner.bounds import MAX_PRICE_USD_PER_HOUR, MAX_RATE_RPS
from planner.errors import InputError, did_you_mean

SHARE_TOLERANCE = 1e-6  # same as the spec's histogram check
TOP_KEYS = ("gpu_info", "workload_distribution", "total_request_rate", "slice_factor")
GPU_KEYS = ("cost", "tputs")

_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][\w-]*")


@dataclass(frozen=True)
class MelangeGpu:
    name: str
    cost_usd_per_hour: float
    tputs_rps: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class MelangeInput:
    """A validated Mélange input. `source` names the file (or "input") in messages and the spec."""

    gpus: tuple[MelangeGpu, ...]
    distribution: tuple[tuple[float, ...], ...]
    total_request_rate_rps: float
    slice_factor: int
    source: str = "input"


# ------------------------------------------------------------------------------------ validation
def _fail(source: str, path: str, message: str) -> InputError:
    return InputError(f"{path}: {message}", where=source)


def _key_path(path: str, key: object) -> str:
    """`path.key`, or `path['key']` (repr: escapes line breaks and odd characters) when the key is not a plain word."""
    if isinstance(key, str) and _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{key!r}]"


def _number(value: object, source: str, path: str, *, positive: bool = False, cap: float = MAX_RATE_RPS) -> float:
    """A finite number in [0, cap] (> 0 when `positive`); messages show numbers, never other content."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(source, path, f"expected a number, got {shown_value(value)}")
    try:
        v = float(value)
    except OverflowError:  # an integer of hundreds of digits
        v = math.inf
    if not math.isfinite(v):
        raise _fail(source, path, f"expected a finite number, got {shown_value(value)}")
    if v < 0 or (positive and v == 0):
        raise _fail(source, path, f"must be {'> 0' if positive else '>= 0'}, got {shown_value(value)}")
    if v > cap:
        raise _fail(source, path, f"must be <= {cap:g}, got {shown_value(value)}")
    return v


def _matrix(value: object, source: str, path: str) -> tuple[tuple[float, ...], ...]:
    if not isinstance(value, list) or not value:
        raise _fail(source, path, f"expected a non-empty list of lists of numbers, got {shown_value(value)}")
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or not row:
            raise _fail(source, f"{path}[{i}]", f"expected a non-empty list of numbers, got {shown_value(row)}")
        rows.append(tuple(_number(v, source, f"{path}[{i}][{j}]") for j, v in enumerate(row)))
    return tuple(rows)


def _shape(m: tuple[tuple[float, ...], ...]) -> str:
    widths = sorted({len(r) for r in m})
    return f"{len(m)}x{widths[0]}" if len(widths) == 1 else f"{len(m)} rows of lengths {widths}"


_LOWER_WORD = re.compile(r"[a-z][a-z_]{0,23}")


def _unknown_keys(obj: Mapping[str, Any], valid: tuple[str, ...], source: str, path: str) -> None:
    """An unknown key is named only when it reads like a field name (lower-case words) or is a near miss
    of a valid one: any other key may be content of the wrong file (a secret), which a message must not
    repeat."""
    extra = sorted((k for k in obj if k not in valid), key=str)
    if not extra:
        return
    typos = [
        k
        for k in extra
        if _LOWER_WORD.fullmatch(str(k)) or difflib.get_close_matches(str(k), valid, n=1, cutoff=0.75)
    ]
    if typos:
        raise _fail(source, _key_path(path, typos[0]), f"unknown key; {did_you_mean(str(typos[0]), valid)}")
    where = path or "(top level)"
    raise _fail(source, where, f"{len(extra)} unknown key(s) (not shown: the file may not be a Mélange input); "
                f"valid: {', '.join(valid)}")


def parse_melange(data: object, source: str = "input") -> MelangeInput:
    """Validate a decoded Mélange JSON; every problem is an InputError naming its JSON path."""
    if not isinstance(data, dict):
        raise _fail(source, "(top level)", f"expected a JSON object, got {type(data).__name__}")
    for key in TOP_KEYS:
        if key not in data:
            raise _fail(source, key, "missing (a Mélange input has " + ", ".join(TOP_KEYS) + ")")
    _unknown_keys(data, TOP_KEYS, source, "")
    dist = _matrix(data["workload_distribution"], source, "workload_distribution")
    if len({len(r) for r in dist}) != 1:
        raise _fail(source, "workload_distribution", f"rows must have equal lengths, got {_shape(dist)}")
    total = math.fsum(v for row in dist for v in row)
    if abs(total - 1.0) > SHARE_TOLERANCE:
        raise _fail(source, "workload_distribution", f"shares sum to {total:.9g}; they must sum to 1")
    rate = _number(data["total_request_rate"], source, "total_request_rate", positive=True)
    sf = data["slice_factor"]
    if (
        isinstance(sf, bool)
        or not isinstance(sf, int | float)
        or (isinstance(sf, float) and not sf.is_integer())  # also NaN and +-inf
        or sf < 1
    ):
        raise _fail(source, "slice_factor", f"must be an integer >= 1, got {shown_value(sf)}")
    info = data["gpu_info"]
    if not isinstance(info, dict) or not info:
        expected = "a non-empty object of GPU name -> {cost, tputs}"
        raise _fail(source, "gpu_info", f"expected {expected}, got {shown_value(info)}")
    gpus = [_gpu(name, entry, dist, source) for name, entry in info.items()]
    _check_served(dist, gpus, source)
    return MelangeInput(tuple(gpus), dist, rate, int(sf), source)


def _gpu(name: str, entry: object, dist: tuple[tuple[float, ...], ...], source: str) -> MelangeGpu:
    """One gpu_info entry: its cost and a throughput matrix shaped like the workload distribution."""
    path = _key_path("gpu_info", name)
    if not isinstance(entry, dict):
        raise _fail(source, path, f"expected an object with cost and tputs, got {shown_value(entry)}")
    _unknown_keys(entry, GPU_KEYS, source, path)
    for key in GPU_KEYS:
        if key not in entry:
            raise _fail(source, f"{path}.{key}", "missing")
    cost = _number(entry["cost"], source, f"{path}.cost", cap=MAX_PRICE_USD_PER_HOUR)
    tputs = _matrix(entry["tputs"], source, f"{path}.tputs")
    if _shape(tputs) != _shape(dist):
        raise _fail(
            source,
            f"{path}.tputs",
            f"shape {_shape(tputs)} does not match workload_distribution's {_shape(dist)}",
        )
    return MelangeGpu(name, cost, tputs)


def _check_served(dist: tuple[tuple[float, ...], ...], gpus: list[MelangeGpu], source: str) -> None:
    """Every bucket with traffic has a GPU that serves it, or the imported spec could not be planned."""
    for i, row in enumerate(dist):
        for j, share in enumerate(row):
            if share > 0 and not any(g.tputs_rps[i][j] > 0 for g in gpus):
                raise _fail(
                    source,
                    "gpu_info",
                    f"no GPU serves workload_distribution[{i}][{j}] (share {share:g}): every tputs[{i}][{j}] is 0, "
                    "so the imported spec could not be planned",
                )


def read_melange(path: Path) -> MelangeInput:
    """Read and validate a Mélange input file; I/O and JSON problems are InputErrors naming the file."""
    return _read(path)[0]


def _read(path: Path) -> tuple[MelangeInput, str]:
    """The validated input and the SHA-256 of the file's bytes (what was parsed is what is hashed)."""
    where = str(path)
    raw = files.read_bytes(path, "Mélange input", "JSON")
    data = files.parse_json(files.decode_text(raw, "Mélange input", "JSON", where), "Mélange input", where)
    return parse_melange(data, where), hashlib.sha256(raw).hexdigest()
