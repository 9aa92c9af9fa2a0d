"""Hostile input, part 3: names are data, never markup (issue 20).

A model named `[/]` crashed `plan`, `validate` and `check` (rich markup, exit 1 with a traceback); emoji
codes in file names became emoji; HTML, pipes and line breaks in names passed into `--format md`, where
a name in a PR's spec could hide the rest of the comment. Everything user-supplied now goes through
planner.report.escape: consoles without markup or emoji codes, and `md` / `md_code` / `mermaid`.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.report.escape import md, md_code, mermaid
from tests.support import BASE_SPEC, assert_user_error, gpuplan, spec_with, write_spec

MARKUP_NAMES = ["[/]", "[bold red]x", "[link=file:///etc/passwd]x[/link]", "a :thumbs_up: b"]
HTML_NAMES = ["<img src=x onerror=alert(1)>", "<!-- hide the rest", "a|b|c", "line1\nline2", "[x](http://e.vil)"]


def _plan_json(tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"plan-{abs(hash(name))}.json"
    r = gpuplan(
        "plan", write_spec(tmp_path, spec_with({"models[0].name": name, "name": name})), "-f", "json", "-o", out
    )
    assert r.code == 0, str(r)
    return out


@pytest.mark.parametrize("name", MARKUP_NAMES)
def test_markup_in_names_is_printed_as_written(tmp_path: Path, name: str) -> None:
    spec = write_spec(tmp_path, spec_with({"models[0].name": name}))
    for command in ("plan", "validate"):
        r = gpuplan(command, spec)
        assert r.code == 0 and "Traceback" not in r.err, str(r)
        assert name in r.out, str(r)
    plan = _plan_json(tmp_path, name)
    r = gpuplan("check", plan, "--baseline", plan)
    assert r.code == 0 and name in r.out, str(r)


def test_emoji_codes_in_a_file_name_stay_text(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BASE_SPEC, ":thumbs_up:.yaml")
    r = gpuplan("validate", spec)
    assert r.code == 0 and ":thumbs_up:" in " ".join(r.out.split()), str(r)


def test_markup_in_an_error_message_is_printed_as_written(tmp_path: Path) -> None:
    r = gpuplan("validate", write_spec(tmp_path, spec_with({"models[0].model": "[/]nope"})))
    assert_user_error(r, "'[/]nope'")


def _table_rows_intact(text: str) -> None:
    for line in text.splitlines():
        if line.startswith("|"):
            assert line.rstrip().endswith("|"), f"a row broken by a name: {line!r}"
    header_cells = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header_cells = None
            continue
        cells = len(re.split(r"(?<!\\)\|", line)) - 2
        if header_cells is None:
            header_cells = cells
        assert cells == header_cells, f"a name added a column: {line!r}"


def _inert(text: str, name: str) -> None:
    for bad in ("<img", "<!--", "](http", "\nline2"):
        assert bad not in text, f"{bad!r} reached the Markdown:\n{text}"
    _table_rows_intact(text)
    shown = html.unescape(md(name))
    assert shown == name.replace("\n", " ")


@pytest.mark.parametrize("name", HTML_NAMES)
def test_markdown_of_plan_sweep_check_and_simulate_keeps_names_inert(tmp_path: Path, name: str) -> None:
    spec = write_spec(tmp_path, spec_with({"models[0].name": name, "name": name}))
    plan = _plan_json(tmp_path, name)
    runs = {
        "plan": gpuplan("plan", spec, "-f", "md"),
        "sweep": gpuplan("sweep", spec, "--rate", "2,4", "-f", "md"),
        "check": gpuplan("check", plan, "--baseline", plan, "-f", "md"),
        "simulate": gpuplan("simulate", plan, "--spec", spec, "--duration", "5", "-f", "md"),
    }
    for command, r in runs.items():
        assert r.code == 0, f"{command}: {r}"
        _inert(r.out, name)
        assert md(name) in r.out, f"{command} does not show the name\n{r.out}"


def test_markdown_of_an_overlay_offering_keeps_its_id_literal(tmp_path: Path) -> None:
    overlay = tmp_path / "o.json"
    offering = {
        "cloud": "aws",
        "region": "us-east-1",
        "instance_type": "x`y<b>|z",
        "gpu": "a10g",
        "gpus_per_instance": 1,
        "price_usd_per_hour": 0.01,
        "source": "test",
        "as_of": "2026-01",
    }
    overlay.write_text(json.dumps({"schema_version": 1, "offerings": [offering]}))
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "--catalog", overlay, "-f", "md")
    assert r.code == 0, str(r)
    assert "``aws:us-east-1:x`y<b>\\|z``" in r.out  # a code span: literal, its pipe escaped for the table
    outside_code = re.sub(r"(`+)(?:(?!\1).)+\1", "", r.out)
    assert "<b>" not in outside_code and "x`y" not in outside_code
    _table_rows_intact(r.out)


# ------------------------------------------------------------------------------------- the escapers
@settings(max_examples=300, deadline=None)
@given(st.text())
def test_md_is_inert_and_shows_the_text(text: str) -> None:
    out = md(text)
    assert not set(out) & set("<>|`[]\\\n\r*~") - {">"}
    assert not re.search(r"(?<![\w:]):[\w+-]+:", out)
    assert html.unescape(out) == re.sub(r"[\x00-\x1f\x7f\u0085\u2028\u2029]", " ", text)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_md_code_is_one_literal_code_span(text: str) -> None:
    out = md_code(text)
    fence = re.match(r"`+", out)
    assert fence is not None and out.endswith(fence.group(0))
    inner = out[len(fence.group(0)) : len(out) - len(fence.group(0))]
    assert fence.group(0) not in inner and "\n" not in inner
    plain = re.sub(r"[\x00-\x1f\x7f\u0085\u2028\u2029]", " ", text)
    assert inner in (plain, f" {plain} ")


@given(st.text())
def test_mermaid_labels_cannot_end_the_label_or_the_block(text: str) -> None:
    out = mermaid(text)
    assert not set(out) & set('"`<>\n\r')
