"""The Typer app, the flag types every command shares, and how an Outcome reaches stdout or `-o`.

Formats are per command (`Fmt`, `ReportFmt`, `EstimateFmt`: --help lists only what a command renders);
flag ranges come from planner.bounds and are checked as the flag is read (`_range`).
"""

from __future__ import annotations

import io
import json
import sys
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from common import files
from planner import bounds
from planner.errors import GpuplanError, InputError

if TYPE_CHECKING:
    from planner.outcome import Outcome

# Start-up: `gpuplan --help` and `estimate` must answer in a fraction of a second, so rich, pydantic and
# the reports are imported where they are used (each command's module only when it runs), not here; the
# help is click's plain help (rich_markup_mode=None), which needs no rich.

app = typer.Typer(
    name="gpuplan",
    help="Plan the cheapest GPU fleet that serves an LLM inference workload within its latency targets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
import_app = typer.Typer(help="Import inputs written for other tools.", no_args_is_help=True, rich_markup_mode=None)
catalog_app = typer.Typer(
    help="List what the catalog knows (GPUs, offerings, models, commitments); refresh its prices.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(import_app, name="import")
app.add_typer(catalog_app, name="catalog")

_state: dict[str, Any] = {"debug": False, "command": "gpuplan", "json": False}


class Fmt(str, Enum):
    """Output formats of `sweep` and `catalog`. Each command lists only the formats it renders, so a
    refused format is a usage error before any work (and --help shows exactly what is accepted)."""

    table = "table"
    json = "json"
    md = "md"
    csv = "csv"


class ReportFmt(str, Enum):
    """Output formats of `plan`, `place`, `check` and `simulate`."""

    table = "table"
    json = "json"
    md = "md"


class EstimateFmt(str, Enum):
    """Output formats of `estimate`."""

    table = "table"
    json = "json"


def report_console(**kwargs: Any) -> Any:
    """planner.report.escape's console, loaded when something is printed through rich (not for JSON or CSV)."""
    from planner.report.escape import console

    return console(**kwargs)


def _emit(outcome: Outcome, fmt: str, output: Path | None) -> None:
    """Render `outcome` in `fmt` to stdout or to `output` (see common.files.write_output); exit with its code."""
    from planner.outcome import envelope, to_json

    for notice in outcome.notices:
        report_console(stderr=True).print(notice)
    if fmt == "json":
        text: str | None = to_json(envelope(outcome))
        renderable: Any = None
    else:
        renderer = outcome.renderers.get(fmt)
        if renderer is None:
            valid = ", ".join(["json", *outcome.renderers])
            raise InputError(
                f"format {fmt!r} is not available for `{outcome.command}`; valid: {valid}", where="--format"
            )
        rendered = renderer()
        text = rendered if isinstance(rendered, str) else None
        renderable = None if isinstance(rendered, str) else rendered
    if output is not None and str(output) != files.STDOUT:
        if text is None:
            console = report_console(record=True, width=100, file=io.StringIO())
            console.print(renderable)
            text = console.export_text()
        files.write_output(output, text, "--output")
        report_console(stderr=True, highlight=False).print(f"wrote {output}")
    elif text is not None:
        _write_stdout(text, is_json=fmt in ("json", "json-schema"))
    else:
        try:
            report_console().print(renderable)
        except OSError as exc:
            raise _stdout_error(exc) from None
    if outcome.exit_code:
        raise typer.Exit(outcome.exit_code)


class _StdoutError(GpuplanError):
    """stdout cannot take the document (a full disk, /dev/full, a closed pipe)."""

    def __init__(self, message: str, errno_: int | None) -> None:
        super().__init__(message, where="stdout")
        self.errno = errno_


def _stdout_error(exc: OSError) -> _StdoutError:
    return _StdoutError(f"cannot write the output: {exc.strerror or exc}", exc.errno)


def _encodes_all(stream: Any) -> bool:
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    return encoding.startswith(("utf", "ucs"))


def _ascii_json(text: str) -> str:
    """JSON text with every non-ASCII character as a \\u escape (non-ASCII occurs only inside strings)."""
    return "".join(c if ord(c) < 128 else json.dumps(c)[1:-1] for c in text)


def _write_stdout(text: str, *, is_json: bool) -> None:
    """The document on stdout; JSON stays valid JSON on a stdout that cannot encode every character."""
    if is_json and not _encodes_all(sys.stdout):
        text = _ascii_json(text)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        raise _stdout_error(exc) from None


def _check_output(output: Path | None, *inputs: Path | None) -> None:
    """Refuse an unwritable -o, or one naming an input, before doing any work (planning can take a while)."""
    for p in inputs:
        if p is not None:
            files.note_input(p)
    if output is not None:
        files.check_output_path(output, "--output")


def _print_version(value: bool) -> None:
    if value:
        from planner.version import version_lines

        sys.stdout.write("\n".join(version_lines()) + "\n")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            help="Print gpuplan's, the catalog's and the solvers' versions.",
            is_eager=True,
            callback=_print_version,
        ),
    ] = False,
) -> None:
    _state["debug"] = debug


_FORMAT = typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
FormatOpt = Annotated[Fmt, _FORMAT]
ReportFormatOpt = Annotated[ReportFmt, _FORMAT]
EstimateFormatOpt = Annotated[EstimateFmt, _FORMAT]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write to FILE instead of stdout ('-': stdout). Atomic for regular files; never over a file the "
        "run reads; links are followed and modes kept.",
    ),
]
CatalogOverlay = Annotated[
    list[Path] | None, typer.Option("--catalog", metavar="<path>", help="Catalog overlay file(s).")
]
AllowPathOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--allow-path",
        metavar="<path>",
        help="Let paths in the spec point into DIR too (by default only into the spec's folder). Repeatable.",
    ),
]


def _range(
    flag: str,
    *,
    gt: float | None = None,
    ge: float | None = None,
    le: float | None = None,
    integer: bool = False,
) -> Any:
    """A flag's physically meaningful range (planner.bounds), checked when it is read: a usage error
    (exit 2) names the flag, the range and the value; NaN and infinities are never in range."""

    def check(value: float | None) -> float | None:
        if value is None or bounds.in_range(value, gt=gt, ge=ge, le=le):
            return value
        kind = "an integer" if integer else bounds.describe(gt=gt, ge=ge, le=le)
        if integer:
            kind += " " + bounds.describe(gt=gt, ge=ge, le=le).removeprefix("a finite number ")
        raise typer.BadParameter(f"must be {kind}")  # main() adds the value as typed

    return check


def _allow(folders: list[Path] | None) -> None:
    files.allow_folders(folders or ())
