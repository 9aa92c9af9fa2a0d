"""Measured capacity profiles: req/s a replica sustains within the SLOs, measured rather than estimated.

Three sources per `profiles[i]` entry of the spec, all turned into `MeasuredPoint`s:

- ``capacities``: inline points (validated by the spec).
- ``csv``: a CSV with a header and the columns ``offering`` or ``gpu`` (one of them filled per row),
  ``tp``, ``input_len``, ``output_len``, ``capacity_rps``; other columns (notes, sources) are ignored.
- ``vllm_bench``: result files of ``vllm bench serve --save-result`` (or ``benchmarks/benchmark_serving.py``),
  one JSON object per file, or JSON lines as written by ``--append-result``. The keys used are
  ``completed``, ``total_input_tokens``, ``total_output_tokens`` (or, without them, ``input_lens`` /
  ``output_lens``), ``request_throughput``, ``mean_ttft_ms``, ``mean_tpot_ms`` and, when present,
  ``failed`` / ``errors``. All runs are on the target named by the entry's ``gpu`` or ``offering`` and ``tp``.

Turning benchmark runs into capacities:

1. A run's lengths are its mean input and output tokens per completed request
   (``total_*_tokens / completed``).
2. Runs are grouped by those means; runs whose means are within ``LENGTH_TOLERANCE`` (2 %) of a group's
   first run on both axes join that group (runs of one dataset at several request rates differ a little
   in output length when generation stops at EOS). A group's point is planned at the ceiling of the
   longest means in it.
3. A run meets the SLO when its **mean** TTFT and **mean** TPOT are within the model's targets and no
   request failed. Means, because the planner's estimator and the fleet optimiser plan mean load; a
   tail-latency SLO needs a tighter target in the spec.
4. The group's capacity is the highest measured ``request_throughput`` (completed / duration, not the
   offered rate) among its runs that meet the SLO, or 0 when none does (the target cannot serve those
   lengths within the SLO). Runs that completed nothing carry no lengths and are ignored.

Matching points to slices (`match_points_to_slices`): a point covers the slice of the same model whose
inclusive input and output length ranges contain the point's lengths. When several points of one target
fall in one slice, the smallest capacity is used: a slice is planned at its longest member, and the
point measured at the longest lengths is normally the slowest, so the minimum is the conservative choice.
A point inside a bucket but shorter than the bucket's representative lengths is still optimistic for
the bucket's longest requests; measure at (or above) the representative lengths where it matters.
"""

from __future__ import annotations

import csv
import glob
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from common import files
from planner.bounds import MAX_RATE_RPS, MAX_TOKENS, MAX_TP
from planner.errors import InputError
from planner.spec import ProfileSource, Slo
from planner.traces import resolve_path
from planner.workload import Slice

LENGTH_TOLERANCE = 0.02
MAX_BENCH_NUMBER = 1e15  # no count, duration, throughput or latency of a benchmark run is this large
CSV_COLUMNS = ("tp", "input_len", "output_len", "capacity_rps")


class Target(NamedTuple):
    """What a measurement ran on: a GPU type or a catalog offering, and the TP degree of one replica."""

    kind: Literal["gpu", "offering"]
    id: str
    tp: int


@dataclass(frozen=True)
class MeasuredPoint:
    """A replica on `target` sustains `capacity_rps` of (input_len, output_len) requests within the SLO."""

    model: str  # model label (profiles[i].model)
    target: Target
    input_len: int
    output_len: int
    capacity_rps: float
    source: str  # where it came from: a YAML path, `file:line`, or `file (runs ...)`


@dataclass(frozen=True)
class BenchRun:
    """The fields of one `vllm bench serve` result that the capacity rule uses."""

    source: str
    mean_input_len: float
    mean_output_len: float
    request_throughput_rps: float
    mean_ttft_ms: float
    mean_tpot_ms: float
    failed: int

    def meets(self, slo: Slo) -> bool:
        return self.failed == 0 and self.mean_ttft_ms <= slo.ttft_ms and self.mean_tpot_ms <= slo.tpot_ms


# ---------------------------------------------------------------- entry points


def load_profile_points(
    profile: ProfileSource, base_dir: Path, where: str, slo: Slo
) -> tuple[MeasuredPoint, ...]:
    """All measured points of one `profiles[i]` entry. `where` is its YAML path; `slo` is its model's SLO
    (used to pick the passing runs of benchmark files); relative paths resolve against `base_dir`."""
    if not profile.capacities and profile.csv is None and not profile.vllm_bench:
        raise InputError("give at least one of capacities, csv or vllm_bench", where=where)
    if profile.vllm_bench:
        if (profile.gpu is None) == (profile.offering is None):
            raise InputError(
                "vllm_bench results need the target they ran on: give exactly one of gpu or offering",
                where=f"{where}.gpu",
            )
    elif profile.gpu is not None or profile.offering is not None:
        key = "gpu" if profile.gpu is not None else "offering"
        raise InputError(
            f"{key} applies to vllm_bench files only (csv rows and capacities name their own target)",
            where=f"{where}.{key}",
        )

    points: list[MeasuredPoint] = []
    for i, c in enumerate(profile.capacities):
        kind: Literal["gpu", "offering"] = "gpu" if c.gpu is not None else "offering"
        target = Target(kind, c.gpu or c.offering or "", c.tp)
        points.append(
            MeasuredPoint(
                profile.model, target, c.input_len, c.output_len, c.capacity_rps, f"{where}.capacities[{i}]"
            )
        )
    if profile.csv is not None:
        points.extend(_read_csv(profile.model, resolve_path(profile.csv, base_dir, f"{where}.csv"), f"{where}.csv"))
    if profile.vllm_bench:
        kind = "gpu" if profile.gpu is not None else "offering"
        target = Target(kind, profile.gpu or profile.offering or "", profile.tp)
        runs: list[BenchRun] = []
        for i, name in enumerate(profile.vllm_bench):
            for path in _bench_paths(name, base_dir, f"{where}.vllm_bench[{i}]"):
                runs.extend(read_vllm_bench(path, f"{where}.vllm_bench[{i}]"))
        points.extend(bench_points(profile.model, target, runs, slo))
    return tuple(points)


def match_points_to_slices(
    points: Iterable[MeasuredPoint], slices: Sequence[Slice]
) -> dict[tuple[str, Target], float]:
    """(slice id, target) -> capacity_rps for every slice that a point of the same model falls in;
    the minimum where several points of one target fall in one slice. Sorted by key."""
    index = _SliceIndex(slices)
    out: dict[tuple[str, Target], float] = {}
    for p in points:
        for s in index.covering(p):
            key = (s.id, p.target)
            out[key] = min(out.get(key, math.inf), p.capacity_rps)
    return dict(sorted(out.items()))


def unmatched_points(points: Iterable[MeasuredPoint], slices: Sequence[Slice]) -> tuple[MeasuredPoint, ...]:
    """Points that cover no slice of their model (to tell the user their measurement went unused)."""
    index = _SliceIndex(slices)
    return tuple(p for p in points if not index.covering(p))


class _SliceIndex:
    """Slices grouped by (model, input range): a point is checked against the few distinct input ranges
    of its model, then only the slices of matching ones, instead of every slice (Mélange-sized imports
    have thousands of points and slices)."""

    def __init__(self, slices: Sequence[Slice]) -> None:
        self._by_input: dict[str, dict[tuple[int, int], list[Slice]]] = {}
        for s in slices:
            self._by_input.setdefault(s.model, {}).setdefault(s.input_len_range, []).append(s)

    def covering(self, p: MeasuredPoint) -> list[Slice]:
        out: list[Slice] = []
        for (lo, hi), group in self._by_input.get(p.model, {}).items():
            if lo <= p.input_len <= hi:
                out.extend(s for s in group if s.output_len_range[0] <= p.output_len <= s.output_len_range[1])
        return out


def _bench_paths(name: str, base_dir: Path, where: str) -> list[Path]:
    """One `vllm_bench` entry: a file, or a glob (`runs/*.json`) matching at least one file, in name order."""
    if not glob.has_magic(name):
        return [resolve_path(name, base_dir, where)]
    pattern = Path(name).expanduser()
    if pattern.is_absolute():
        anchor = Path(pattern.anchor)
        matches = sorted(anchor.glob(str(pattern.relative_to(anchor))))
    else:
        matches = sorted(base_dir.glob(name))
    files_found = [m for m in matches if m.is_file()]
    if not files_found:
        raise InputError(f"no file matches {name!r}", where=where)
    return [resolve_path(str(m), base_dir, where) for m in files_found]


# ---------------------------------------------------------------- CSV


def _read_csv(model: str, path: Path, where: str) -> list[MeasuredPoint]:
    try:
        with files.open_lines(path, f"profile CSV (from {where})") as f:
            reader = csv.reader(f)
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                raise InputError("profile CSV is empty (no header row)", where=str(path)) from None
            missing = [c for c in CSV_COLUMNS if c not in header]
            if missing or not ({"offering", "gpu"} & set(header)):
                need = [*missing, *([] if {"offering", "gpu"} & set(header) else ["offering or gpu"])]
                raise InputError(
                    f"line 1: the header lacks {', '.join(repr(c) for c in need)}; expected columns "
                    f"offering|gpu, {', '.join(CSV_COLUMNS)} (the header has {len(header)} column(s))",
                    where=str(path),
                )
            idx = {name: header.index(name) for name in ("offering", "gpu", *CSV_COLUMNS) if name in header}
            points = []
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                cells = {name: (row[i].strip() if i < len(row) else "") for name, i in idx.items()}
                points.append(_csv_point(model, cells, f"{path}:{line}", str(path), line))
    except csv.Error as exc:
        raise InputError(f"malformed CSV: {exc}", where=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read profile CSV: {exc.strerror or exc}", where=str(path)) from None
    if not points:
        raise InputError("profile CSV has no rows after the header", where=str(path))
    return points


def _csv_point(model: str, cells: Mapping[str, str], source: str, path: str, line: int) -> MeasuredPoint:
    def bad(col: str, what: str) -> InputError:
        return InputError(f"line {line}, column {col!r}: {files.shown_value(cells.get(col, ''))} {what}", where=path)

    offering, gpu = cells.get("offering", ""), cells.get("gpu", "")
    if bool(offering) == bool(gpu):
        raise InputError(
            f"line {line}: fill exactly one of columns 'offering' and 'gpu' "
            f"(got offering={offering!r}, gpu={gpu!r})",
            where=path,
        )
    ints: dict[str, int] = {}
    for col in ("tp", "input_len", "output_len"):
        try:
            ints[col] = int(cells[col])
        except ValueError:
            raise bad(col, "is not an integer") from None
        if ints[col] < 1:
            raise bad(col, "must be >= 1")
        cap_of = MAX_TP if col == "tp" else MAX_TOKENS
        if ints[col] > cap_of:
            raise bad(col, f"must be <= {cap_of:,}")
    try:
        cap = float(cells["capacity_rps"])
    except ValueError:
        raise bad("capacity_rps", "is not a number") from None
    if not math.isfinite(cap) or cap < 0 or cap > MAX_RATE_RPS:
        raise bad("capacity_rps", f"must be a finite number >= 0 and <= {MAX_RATE_RPS:g} (req/s)")
    target = Target("offering", offering, ints["tp"]) if offering else Target("gpu", gpu, ints["tp"])
    return MeasuredPoint(model, target, ints["input_len"], ints["output_len"], cap, source)


# ---------------------------------------------------------------- vllm bench serve results


def read_vllm_bench(path: Path, where: str) -> list[BenchRun]:
    """The runs in one result file: a JSON object, or JSON lines (one object per run)."""
    what = f"benchmark result file (from {where})"
    text = files.read_text(path, what, "JSON")
    objects: list[tuple[str, object]]
    try:
        objects = [(str(path), files.parse_json(text, what, str(path)))]
    except InputError as whole_err:
        if len(text.strip().splitlines()) < 2:
            raise
        objects = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                objects.append((f"{path}:{n}", files.parse_json(line, f"line {n}", str(path))))
            except InputError:
                if n == 1:
                    raise whole_err from None
                raise
    runs = []
    for source, obj in objects:
        run = _bench_run(obj, source)
        if run is not None:
            runs.append(run)
    return runs


def _number(obj: Mapping[str, object], key: str, source: str) -> float:
    if key not in obj:
        raise InputError(
            f"key {key!r} is missing; is this a `vllm bench serve --save-result` file?", where=source
        )
    v = obj[key]
    try:
        ok = not isinstance(v, bool) and isinstance(v, int | float) and 0 <= float(v) <= MAX_BENCH_NUMBER
    except OverflowError:  # an integer of hundreds of digits
        ok = False
    if not ok:
        raise InputError(
            f"key {key!r}: {files.shown_value(v)} is not a finite number from 0 to {MAX_BENCH_NUMBER:g}", where=source
        )
    return float(v)  # type: ignore[arg-type]


def _bench_run(obj: object, source: str) -> BenchRun | None:
    if not isinstance(obj, dict):
        raise InputError(
            f"expected a JSON object (one benchmark run), got {type(obj).__name__}", where=source
        )
    completed = _number(obj, "completed", source)
    if completed == 0:
        return None
    if "total_input_tokens" in obj or "input_lens" not in obj:
        mean_in = _number(obj, "total_input_tokens", source) / completed
        mean_out = _number(obj, "total_output_tokens", source) / completed
    else:
        mean_in, mean_out = _mean_list(obj, "input_lens", source), _mean_list(obj, "output_lens", source)
    failed = obj.get("failed")
    if isinstance(failed, int) and not isinstance(failed, bool):
        n_failed = failed
    else:
        errors = obj.get("errors")
        n_failed = sum(1 for e in errors if e) if isinstance(errors, list) else 0
    if mean_in <= 0 or mean_out <= 0:
        raise InputError(
            f"mean lengths must be > 0 (input {mean_in:g}, output {mean_out:g} tokens)", where=source
        )
    return BenchRun(
        source=source,
        mean_input_len=mean_in,
        mean_output_len=mean_out,
        request_throughput_rps=_number(obj, "request_throughput", source),
        mean_ttft_ms=_number(obj, "mean_ttft_ms", source),
        mean_tpot_ms=_number(obj, "mean_tpot_ms", source),
        failed=n_failed,
    )


def _mean_list(obj: Mapping[str, object], key: str, source: str) -> float:
    v = obj.get(key)
    if not isinstance(v, list) or not v or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise InputError(f"key {key!r} must be a non-empty list of token counts", where=source)
    return sum(v) / len(v)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= LENGTH_TOLERANCE * max(a, b)


def bench_points(model: str, target: Target, runs: Sequence[BenchRun], slo: Slo) -> list[MeasuredPoint]:
    """One point per group of runs with (nearly) equal mean lengths; see the module docstring."""
    ordered = sorted(runs, key=lambda r: (r.mean_input_len, r.mean_output_len, r.source))
    groups: list[list[BenchRun]] = []
    for r in ordered:
        for g in groups:
            if _close(g[0].mean_input_len, r.mean_input_len) and _close(
                g[0].mean_output_len, r.mean_output_len
            ):
                g.append(r)
                break
        else:
            groups.append([r])
    points = []
    for g in groups:
        passing = [r.request_throughput_rps for r in g if r.meets(slo)]
        cap = max(passing) if passing else 0.0
        in_len = math.ceil(max(r.mean_input_len for r in g) - 1e-9)
        out_len = math.ceil(max(r.mean_output_len for r in g) - 1e-9)
        files = ", ".join(r.source for r in g)
        points.append(
            MeasuredPoint(model, target, in_len, out_len, cap, f"{files} ({len(passing)}/{len(g)} meet SLO)")
        )
    return points
