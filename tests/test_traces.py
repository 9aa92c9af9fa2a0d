"""Trace readers: each format on real excerpts / fixtures against a direct computation, and bad input."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from common import files
from planner.errors import InputError
from planner.spec import TraceColumns, TraceSource
from planner.traces import BURSTGPT_FAILURE, _parse_datetime, read_trace

DATA = Path(__file__).parent / "data" / "traces"
EXAMPLES = Path(__file__).parent.parent / "examples" / "traces"
WHERE = "models[0].workload.trace"


def src(path: str | Path, fmt: str, **kw: object) -> TraceSource:
    return TraceSource.model_validate({"path": str(path), "format": fmt, **kw})


def _azure_direct(path: Path) -> tuple[list[int], list[int], float]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    ts = [datetime.strptime(r["TIMESTAMP"][:26], "%Y-%m-%d %H:%M:%S.%f") for r in rows]
    rate = (len(rows) - 1) / (max(ts) - min(ts)).total_seconds()
    return [int(r["ContextTokens"]) for r in rows], [int(r["GeneratedTokens"]) for r in rows], rate


@pytest.mark.parametrize(
    ("base", "name", "n"),
    [(DATA, "azure-2023-code-excerpt.csv", 300), (EXAMPLES, "azure-2023-conv-excerpt.csv", 2000)],
)
def test_azure_matches_direct_computation(base: Path, name: str, n: int) -> None:
    ins, outs, rate = _azure_direct(base / name)
    data = read_trace(src(name, "azure-2023", use_trace_rate=True), base, WHERE)
    assert data.requests == n == len(ins)
    assert data.input_lens.tolist() == ins
    assert data.output_lens.tolist() == outs
    assert data.rows_skipped == ()
    assert data.mean_rate_rps() == pytest.approx(rate, rel=1e-9)


def test_timestamps_not_parsed_unless_needed() -> None:
    data = read_trace(src("azure-2023-code-excerpt.csv", "azure-2023"), DATA, WHERE)
    assert data.first_timestamp_s is None and data.mean_rate_rps() is None


def test_mooncake_matches_direct_computation() -> None:
    lines = (DATA / "mooncake-conversation-excerpt.jsonl").read_text().splitlines()
    objs = [json.loads(x) for x in lines]
    data = read_trace(
        src("mooncake-conversation-excerpt.jsonl", "mooncake", use_trace_rate=True), DATA, WHERE
    )
    assert data.requests == len(objs) == 200
    assert data.input_lens.tolist() == [o["input_length"] for o in objs]
    assert data.output_lens.tolist() == [o["output_length"] for o in objs]
    ts_ms = [o["timestamp"] for o in objs]
    assert data.mean_rate_rps() == pytest.approx((len(objs) - 1) / ((max(ts_ms) - min(ts_ms)) / 1000))


def test_burstgpt_drops_and_counts_failures() -> None:
    with open(DATA / "burstgpt-synthetic.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    ok = [r for r in rows if int(r["Response tokens"]) != 0]
    data = read_trace(src("burstgpt-synthetic.csv", "burstgpt", use_trace_rate=True), DATA, WHERE)
    assert data.rows_skipped == ((BURSTGPT_FAILURE, len(rows) - len(ok)),)
    assert len(rows) - len(ok) == 2
    assert data.input_lens.tolist() == [int(r["Request tokens"]) for r in ok]
    assert data.output_lens.tolist() == [int(r["Response tokens"]) for r in ok]
    ts = [float(r["Timestamp"]) for r in ok]
    assert data.mean_rate_rps() == pytest.approx((len(ok) - 1) / (max(ts) - min(ts)))


def test_generic_csv_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("when,prompt,completion,extra\n0.5,10,3,x\n2.5,20,4,y\n4.5,30.0,5,z\n")
    cols = TraceColumns(input_len="prompt", output_len="completion", timestamp="when")
    d = read_trace(src("t.csv", "csv", columns=cols.model_dump(), use_trace_rate=True), tmp_path, WHERE)
    assert d.input_lens.tolist() == [10, 20, 30] and d.output_lens.tolist() == [3, 4, 5]
    assert d.mean_rate_rps() == pytest.approx(2 / 4.0)

    rows = [
        {"in": 7, "out": 2, "t": "2024-05-10T00:00:00+00:00"},
        {"in": 8, "out": 1, "t": "2024-05-10T01:00:00+01:00"},  # same instant as above
        {"in": 9, "out": 4, "t": "2024-05-10T00:00:10Z"},
    ]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    cols = TraceColumns(input_len="in", output_len="out", timestamp="t")
    d = read_trace(src("t.jsonl", "jsonl", columns=cols.model_dump(), use_trace_rate=True), tmp_path, WHERE)
    assert d.input_lens.tolist() == [7, 8, 9]
    assert d.mean_rate_rps() == pytest.approx(2 / 10.0)


def test_generic_format_needs_columns(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError) as e:
        read_trace(src("t.csv", "csv"), tmp_path, WHERE)
    assert e.value.where == f"{WHERE}.columns"


def test_trace_rate_needs_timestamp_column(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b\n1,2\n")
    s = src("t.csv", "csv", columns={"input_len": "a", "output_len": "b"}, use_trace_rate=True)
    with pytest.raises(InputError) as e:
        read_trace(s, tmp_path, WHERE)
    assert e.value.where == f"{WHERE}.use_trace_rate"


def test_gzip_and_absolute_path(tmp_path: Path) -> None:
    raw = (DATA / "azure-2023-code-excerpt.csv").read_bytes()
    gz = tmp_path / "code.csv.gz"
    gz.write_bytes(gzip.compress(raw))
    with pytest.raises(InputError, match="outside the spec's folder"):
        read_trace(src(gz, "azure-2023"), Path("/nonexistent"), WHERE)
    with files.run_scope(allow=[tmp_path]):  # an absolute path into an allowed folder (--allow-path)
        d = read_trace(src(gz, "azure-2023"), Path("/nonexistent"), WHERE)
    assert d.requests == 300


def test_blank_lines_and_bom_are_ignored(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes(
        b"\xef\xbb\xbfTIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:00:00.0,5,6\n\n"
        b"2023-11-16 18:00:01.5,7,8\n"
    )
    d = read_trace(src(p, "azure-2023", use_trace_rate=True), tmp_path, WHERE)
    assert d.input_lens.tolist() == [5, 7] and d.mean_rate_rps() == pytest.approx(1 / 1.5)


# ---------------------------------------------------------------- bad rows

AZ_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
GOOD = "2023-11-16 18:00:00.0,5,6\n"


@pytest.mark.parametrize(
    ("row", "column", "value", "reason"),
    [
        ("2023-11-16 18:00:01.0,abc,6\n", "ContextTokens", None, "ContextTokens: not an integer"),
        ("2023-11-16 18:00:01.0,12.5,6\n", "ContextTokens", "12.5", "ContextTokens: not an integer"),
        ("2023-11-16 18:00:01.0,5,-3\n", "GeneratedTokens", "-3", "GeneratedTokens: negative"),
        ("2023-11-16 18:00:01.0,5,0\n", "GeneratedTokens", "0", "GeneratedTokens: zero"),
        ("2023-11-16 18:00:01.0,5\n", "GeneratedTokens", None, "GeneratedTokens: missing"),
        ("yesterday,5,6\n", "TIMESTAMP", None, "TIMESTAMP: not a timestamp"),
        ("2023-13-45 18:00:01.0,5,6\n", "TIMESTAMP", "2023-13-45 18:00:01.0", "TIMESTAMP: not a timestamp"),
    ],
)
def test_bad_row_errors_name_line_column_value_or_are_counted(
    tmp_path: Path, row: str, column: str, value: str | None, reason: str
) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(AZ_HEADER + GOOD + GOOD + row + GOOD)
    with pytest.raises(InputError) as e:
        read_trace(src(p, "azure-2023", use_trace_rate=True), tmp_path, WHERE)
    msg = e.value.render()
    assert e.value.where == str(p)
    assert "line 4" in msg and repr(column) in msg and "skip_bad_rows" in msg
    if value is not None:
        assert repr(value) in msg
    d = read_trace(src(p, "azure-2023", use_trace_rate=True, skip_bad_rows=True), tmp_path, WHERE)
    assert d.requests == 3
    assert d.rows_skipped == ((reason, 1),)


def test_integral_float_lengths_are_accepted(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(AZ_HEADER + "2023-11-16 18:00:01.0,12.0,3\n")
    assert read_trace(src(p, "azure-2023"), tmp_path, WHERE).input_lens.tolist() == [12]


def test_bad_jsonl_rows(tmp_path: Path) -> None:
    p = tmp_path / "m.jsonl"
    good = '{"timestamp": 0, "input_length": 5, "output_length": 6}\n'
    p.write_text(
        good
        + "{not json\n"
        + "[1, 2]\n"
        + '{"timestamp": 5, "input_length": 5}\n'
        + '{"timestamp": 9, "input_length": true, "output_length": 2}\n'
        + good
    )
    with pytest.raises(InputError) as e:
        read_trace(src(p, "mooncake"), tmp_path, WHERE)
    assert "line 2" in e.value.render() and "JSON" in e.value.render()
    d = read_trace(src(p, "mooncake", skip_bad_rows=True), tmp_path, WHERE)
    assert d.requests == 2
    assert dict(d.rows_skipped) == {
        "invalid JSON": 1,
        "not a JSON object": 1,
        "output_length: missing": 1,
        "input_length: not an integer": 1,
    }


def test_all_rows_bad_is_an_error_even_when_skipping(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text(AZ_HEADER + "x,1,1\n")
    with pytest.raises(InputError, match="no usable request rows.*not a timestamp x1"):
        read_trace(src(p, "azure-2023", use_trace_rate=True, skip_bad_rows=True), tmp_path, WHERE)


# ---------------------------------------------------------------- bad files


def test_missing_file_names_the_path_and_the_spec_field(tmp_path: Path) -> None:
    with pytest.raises(InputError) as e:
        read_trace(src("nope.csv", "azure-2023"), tmp_path, WHERE)
    assert e.value.where == str(tmp_path / "nope.csv")
    assert "not found" in e.value.message and f"{WHERE}.path" in e.value.message


def test_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory"):
        read_trace(src(".", "azure-2023"), tmp_path, WHERE)


@pytest.mark.parametrize(
    ("content", "fmt", "match"),
    [
        ("", "azure-2023", "empty"),
        ("", "mooncake", "empty"),
        (AZ_HEADER, "azure-2023", "no usable request rows"),
        ("\n\n", "jsonl", "empty"),
    ],
)
def test_empty_files(tmp_path: Path, content: str, fmt: str, match: str) -> None:
    p = tmp_path / "t.txt"
    p.write_text(content)
    kw = {"columns": {"input_len": "a", "output_len": "b"}} if fmt == "jsonl" else {}
    with pytest.raises(InputError, match=match):
        read_trace(src(p, fmt, **kw), tmp_path, WHERE)


def test_wrong_header_lists_expected_and_found(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("Timestamp,Request tokens,Response tokens\n1,2,3\n")
    with pytest.raises(InputError) as e:
        read_trace(src(p, "azure-2023"), tmp_path, WHERE)
    msg = e.value.message
    assert "'ContextTokens'" in msg and "'GeneratedTokens'" in msg and "3 column(s)" in msg
    assert "Request tokens" not in msg  # the file's content (its header) is never quoted


def test_binary_file_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_bytes(b"TIMESTAMP,ContextTokens,GeneratedTokens\n\xff\xfe\x00\x01,2,3\n")
    with pytest.raises(InputError, match="UTF-8|NUL|malformed"):
        read_trace(src(p, "azure-2023"), tmp_path, WHERE)


def test_lengths_are_read_only_int64() -> None:
    d = read_trace(src("azure-2023-code-excerpt.csv", "azure-2023"), DATA, WHERE)
    assert d.input_lens.dtype == np.int64 and not d.input_lens.flags.writeable


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2023-11-16 18:15:46.6805900", 1700158546.68059),  # the Azure traces: 7 digits
        ("2023-11-16 18:15:46.6", 1700158546.6),
        ("2023-11-16T18:15:46,25", 1700158546.25),
        ("2023-11-16T18:15:46Z", 1700158546.0),
        ("2023-11-16T19:15:46.5+01:00", 1700158546.5),
        ("2023-11-16 18:15", 1700158500.0),
    ],
)
def test_iso_timestamps_read_the_same_on_every_supported_python(text: str, seconds: float) -> None:
    """Python 3.10's fromisoformat takes only 3- or 6-digit fractions and no "Z"; 3.11's takes both."""
    assert _parse_datetime(text) == pytest.approx(seconds, abs=1e-6)
