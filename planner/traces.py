"""Streaming readers for real request traces: (input length, output length, arrival time) per request.

Formats (`trace.format` in the spec):

- ``azure-2023``: CSV ``TIMESTAMP,ContextTokens,GeneratedTokens`` with ``YYYY-MM-DD HH:MM:SS.fffffff``
  timestamps (Azure LLM inference trace 2023/2024; Patel et al., "Splitwise", ISCA 2024).
- ``mooncake``: JSON lines with ``timestamp`` (milliseconds), ``input_length``, ``output_length``
  (Mooncake FAST'25 traces, kvcache-ai/Mooncake).
- ``burstgpt``: CSV ``Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,
  Log Type`` (Wang et al., BurstGPT, KDD 2025). Timestamps are seconds. Rows with ``Response tokens`` = 0
  are failed requests: they are always dropped and counted, never an error.
- ``csv`` / ``jsonl``: any CSV with a header row, or JSON lines, with ``trace.columns`` naming the input
  length, output length and (optional) timestamp fields. Generic timestamps are seconds (a number) or an
  ISO 8601 date-time string.

Files are read row by row (``csv`` module / line by line; ``.gz`` files are decompressed on the fly), so a
trace of millions of rows needs only its two length columns in memory. Lengths must be integers >= 1
(an integral float such as ``12.0`` is accepted). A malformed row (missing field, non-integer, negative or
zero length, bad timestamp, invalid JSON) is an `InputError` naming the file, line, column and value,
unless ``skip_bad_rows`` is set; then it is skipped and counted by reason. Timestamps are parsed only when
the request rate is taken from the trace.
"""

from __future__ import annotations

import csv
import math
import re
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from common import files, limits
from common.files import shown_value as _shown
from planner.bounds import MAX_TIMESTAMP_S, MAX_TOKENS
from planner.errors import InputError
from planner.spec import TraceSource

TimestampKind = Literal["datetime", "seconds", "milliseconds", "auto"]

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class _Layout:
    """Which fields one format reads and how its timestamps are written."""

    input_col: str
    output_col: str
    timestamp_col: str | None
    timestamp_kind: TimestampKind
    failure_on_zero_output: bool = False


_LAYOUTS: dict[str, _Layout] = {
    "azure-2023": _Layout("ContextTokens", "GeneratedTokens", "TIMESTAMP", "datetime"),
    "mooncake": _Layout("input_length", "output_length", "timestamp", "milliseconds"),
    "burstgpt": _Layout(
        "Request tokens", "Response tokens", "Timestamp", "seconds", failure_on_zero_output=True
    ),
}
_JSONL_FORMATS = frozenset({"mooncake", "jsonl"})
BURSTGPT_FAILURE = "failed request (Response tokens = 0)"


@dataclass(frozen=True, eq=False)
class TraceData:
    """The requests of one trace file: lengths (read-only int64 arrays) and the timestamp span."""

    path: Path
    format: str
    input_lens: npt.NDArray[np.int64]
    output_lens: npt.NDArray[np.int64]
    rows_skipped: tuple[tuple[str, int], ...]  # (reason, count), sorted by reason
    first_timestamp_s: float | None  # earliest arrival among kept rows (None if not parsed)
    last_timestamp_s: float | None  # latest arrival among kept rows
    timestamps_s: npt.NDArray[np.float64] | None = None  # per kept row, in file order (None if not parsed)

    @property
    def requests(self) -> int:
        return int(self.input_lens.shape[0])

    @property
    def skipped_total(self) -> int:
        return sum(c for _, c in self.rows_skipped)

    def mean_rate_rps(self) -> float | None:
        """(n - 1) / (latest - earliest timestamp); None when timestamps were not read or span zero."""
        if self.first_timestamp_s is None or self.last_timestamp_s is None:
            return None
        span_s = self.last_timestamp_s - self.first_timestamp_s
        if self.requests < 2 or span_s <= 0:
            return None
        return (self.requests - 1) / span_s


class _BadRow(Exception):
    """A malformed row: `reason` is the counting key, `detail` the full message."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def resolve_path(path: str, base_dir: Path, where: str = "path") -> Path:
    """A spec path: `~` expanded, relative paths taken from the spec's directory, confined to the folders
    the run may read (common.files.spec_path); `where` names the field in messages."""
    return files.spec_path(path, base_dir, where)


def _parse_len(raw: object, col: str) -> int:
    if isinstance(raw, bool):
        raise _BadRow(f"{col}: not an integer", f"column {col!r}: {_shown(raw)} is not an integer")
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str | float):
        try:
            value = int(raw)
        except (ValueError, OverflowError):
            try:
                f = float(raw)
            except ValueError:
                f = math.nan
            if not (math.isfinite(f) and f.is_integer()):
                raise _BadRow(
                    f"{col}: not an integer", f"column {col!r}: {_shown(raw)} is not an integer"
                ) from None
            value = int(f)
    else:
        raise _BadRow(f"{col}: not an integer", f"column {col!r}: {_shown(raw)} is not an integer")
    if value < 0:
        raise _BadRow(f"{col}: negative", f"column {col!r}: {_shown(raw)} is negative; lengths are tokens >= 1")
    if value == 0:
        raise _BadRow(f"{col}: zero", f"column {col!r}: {_shown(raw)} is zero; lengths are tokens >= 1")
    if value > MAX_TOKENS:
        raise _BadRow(
            f"{col}: too long",
            f"column {col!r}: {_shown(raw)} tokens is more than any model's context window ({MAX_TOKENS:,})",
        )
    return value


# An ISO time with a fraction of any length (the Azure traces have 7 digits) or a "Z" for UTC. Python
# 3.11's fromisoformat reads both; 3.10's takes only 3 or 6 digits and no "Z", so they are normalised
# first (fractions cut to microseconds), which reads the same everywhere.
_FRACTION_RE = re.compile(r"(?<=:\d\d)[.,](\d+)")


def _parse_datetime(text: str) -> float:
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    text = _FRACTION_RE.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is not None:
        offset = dt.utcoffset()
        dt = dt.replace(tzinfo=None) - (offset if offset is not None else timedelta(0))
    return (dt - _EPOCH).total_seconds()


def _bad_ts(raw: object, col: str) -> _BadRow:
    return _BadRow(f"{col}: not a timestamp", f"column {col!r}: {_shown(raw)} is not a valid timestamp")


def _parse_ts(raw: object, col: str, kind: TimestampKind) -> float:
    """Seconds (any epoch: only differences are used)."""
    if kind == "datetime" and isinstance(raw, str):
        try:
            return _parse_datetime(raw.strip())
        except ValueError:
            raise _bad_ts(raw, col) from None
    if isinstance(raw, bool) or kind == "datetime":
        raise _bad_ts(raw, col)
    if isinstance(raw, int | float):
        try:
            value = float(raw)
        except OverflowError:  # an integer of hundreds of digits
            raise _bad_ts(raw, col) from None
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            value = float(text)
        except ValueError:
            if kind != "auto":
                raise _bad_ts(raw, col) from None
            try:
                return _parse_datetime(text)
            except ValueError:
                raise _bad_ts(raw, col) from None
    else:
        raise _bad_ts(raw, col)
    if not (math.isfinite(value) and abs(value) <= MAX_TIMESTAMP_S * (1000.0 if kind == "milliseconds" else 1.0)):
        raise _bad_ts(raw, col)
    return value / 1000.0 if kind == "milliseconds" else value


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0.0
    except ValueError:
        return False


def _csv_rows(
    f: Iterator[str], path: Path, layout: _Layout, fmt: str, want_ts: bool
) -> Iterator[tuple[int, object, object, object]]:
    """Yield (line number, input, output, timestamp) from a CSV with a header row."""
    reader = csv.reader(f)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("trace file is empty (no header row)", where=str(path)) from None
    names = [h.strip() for h in header]
    wanted = [layout.input_col, layout.output_col]
    if want_ts and layout.timestamp_col is not None:
        wanted.append(layout.timestamp_col)
    missing = [c for c in wanted if c not in names]
    if missing:
        raise InputError(
            f"line 1: the header lacks column(s) {', '.join(repr(c) for c in missing)} for format {fmt!r}; "
            f"expected {', '.join(repr(c) for c in wanted)} among its {len(names)} column(s)",
            where=str(path),
        )
    i_in, i_out = names.index(layout.input_col), names.index(layout.output_col)
    i_ts = names.index(layout.timestamp_col) if want_ts and layout.timestamp_col is not None else -1
    need = max(i_in, i_out, i_ts) + 1
    for row in reader:
        line = reader.line_num
        if len(row) < need:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            missing_col = next(
                c
                for c, i in (
                    (layout.input_col, i_in),
                    (layout.output_col, i_out),
                    (layout.timestamp_col, i_ts),
                )
                if i >= len(row)
            )
            yield line, _Missing(missing_col, len(row), len(names)), None, None
            continue
        yield line, row[i_in], row[i_out], row[i_ts] if i_ts >= 0 else None


@dataclass(frozen=True)
class _Missing:
    """Marker for a row without the field `col`."""

    col: str | None
    found: int
    expected: int


def _jsonl_rows(f: Iterator[str], layout: _Layout, want_ts: bool) -> Iterator[tuple[int, object, object, object]]:
    """Yield (line number, input, output, timestamp) from JSON lines."""
    for line_no, text in enumerate(f, 1):
        if not text.strip():
            continue
        try:
            obj = files.parse_json(text, "line", f"line {line_no}")
        except InputError as exc:
            yield line_no, _BadRow("invalid JSON", exc.message.removeprefix("line ")), None, None
            continue
        if not isinstance(obj, dict):
            yield (
                line_no,
                _BadRow("not a JSON object", f"expected a JSON object, got {_shown(obj)}"),
                None,
                None,
            )
            continue
        keys = [layout.input_col, layout.output_col]
        if want_ts and layout.timestamp_col is not None:
            keys.append(layout.timestamp_col)
        absent = [k for k in keys if k not in obj]
        if absent:
            yield (
                line_no,
                _BadRow(f"{absent[0]}: missing", f"key {absent[0]!r} is missing (the object has {len(obj)} key(s))"),
                None,
                None,
            )
            continue
        ts = obj[layout.timestamp_col] if want_ts and layout.timestamp_col is not None else None
        yield line_no, obj[layout.input_col], obj[layout.output_col], ts


def _trace_layout(source: TraceSource, where: str) -> _Layout:
    """The columns to read: the format's own, or the spec's `columns` for plain csv / jsonl."""
    if source.format in _LAYOUTS:
        return _LAYOUTS[source.format]
    if source.columns is None:
        raise InputError(
            f"format {source.format!r} needs `columns` (input_len, output_len and, optionally, timestamp)",
            where=f"{where}.columns",
        )
    return _Layout(source.columns.input_len, source.columns.output_len, source.columns.timestamp, "auto")


def _parse_row(
    raw_in: object, raw_out: object, raw_ts: object, layout: _Layout, want_ts: bool
) -> tuple[int, int, float | None] | None:
    """One row's lengths (and timestamp when wanted); None for a request the format marks as failed
    (BurstGPT: zero output tokens); _BadRow when the row is malformed."""
    if isinstance(raw_in, _BadRow):
        raise raw_in
    if isinstance(raw_in, _Missing):
        raise _BadRow(
            f"{raw_in.col}: missing",
            f"column {raw_in.col!r} is missing (row has {raw_in.found} fields, header has {raw_in.expected})",
        )
    if layout.failure_on_zero_output and isinstance(raw_out, str) and _is_zero(raw_out):
        return None
    i = _parse_len(raw_in, layout.input_col)
    o = _parse_len(raw_out, layout.output_col)
    t = _parse_ts(raw_ts, layout.timestamp_col or "", layout.timestamp_kind) if want_ts else None
    return i, o, t


def read_trace(
    source: TraceSource, base_dir: Path, where: str, *, need_timestamps: bool | None = None
) -> TraceData:
    """Read one trace file (streaming). `where` is the YAML path of the `trace` mapping, for messages.

    Timestamps are parsed when `need_timestamps` (default: `source.use_trace_rate`).
    """
    path = resolve_path(source.path, base_dir, f"{where}.path")
    fmt = source.format
    layout = _trace_layout(source, where)
    want_ts = source.use_trace_rate if need_timestamps is None else need_timestamps
    if want_ts and layout.timestamp_col is None:
        raise InputError(
            "use_trace_rate needs a timestamp column; set trace.columns.timestamp or give rate_rps",
            where=f"{where}.use_trace_rate",
        )

    ins: array[int] = array("q")
    outs: array[int] = array("q")
    stamps: array[float] = array("d")
    skipped: Counter[str] = Counter()
    t_min, t_max = math.inf, -math.inf
    hint = f"; set {where}.skip_bad_rows: true to skip and count bad rows"

    try:
        with files.open_lines(path, f"trace file (from {where}.path)") as f:
            rows = (
                _jsonl_rows(f, layout, want_ts)
                if fmt in _JSONL_FORMATS
                else _csv_rows(f, path, layout, fmt, want_ts)
            )
            line = 0
            try:
                for line, raw_in, raw_out, raw_ts in rows:
                    if not line & 0xFFFF:  # every 65,536 lines: the run's time limit, a Ctrl-C
                        limits.check("reading the trace")
                    try:
                        parsed = _parse_row(raw_in, raw_out, raw_ts, layout, want_ts)
                    except _BadRow as bad:
                        if not source.skip_bad_rows:
                            raise InputError(f"line {line}: {bad.detail}{hint}", where=str(path)) from None
                        skipped[bad.reason] += 1
                        continue
                    if parsed is None:
                        skipped[BURSTGPT_FAILURE] += 1
                        continue
                    i, o, t = parsed
                    if t is not None:
                        t_min = min(t_min, t)
                        t_max = max(t_max, t)
                        stamps.append(t)
                    ins.append(i)
                    outs.append(o)
            except csv.Error as exc:
                raise InputError(f"line {line + 1}: malformed CSV: {exc}", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read trace file: {exc.strerror or exc}", where=str(path)) from None

    reasons = tuple(sorted(skipped.items()))
    if not ins:
        detail = "; skipped: " + ", ".join(f"{r} x{c}" for r, c in reasons) if reasons else ""
        what = "empty" if not reasons and fmt in _JSONL_FORMATS else "without requests"
        raise InputError(f"trace file is {what}: no usable request rows{detail}", where=str(path))
    in_arr = np.frombuffer(ins, dtype=np.int64)
    out_arr = np.frombuffer(outs, dtype=np.int64)
    in_arr.flags.writeable = False
    out_arr.flags.writeable = False
    ts_arr: npt.NDArray[np.float64] | None = None
    if want_ts:
        ts_arr = np.frombuffer(stamps, dtype=np.float64)
        ts_arr.flags.writeable = False
    return TraceData(
        path=path,
        format=fmt,
        input_lens=in_arr,
        output_lens=out_arr,
        rows_skipped=reasons,
        first_timestamp_s=t_min if want_ts else None,
        last_timestamp_s=t_max if want_ts else None,
        timestamps_s=ts_arr,
    )
