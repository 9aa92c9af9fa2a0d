"""The console entry point: one run, and the one place every way it can end becomes an exit code.

Every GpuplanError becomes a one-line message on stderr and its exit code (2 for bad input); `--debug`
also prints the traceback, with the same exit code. Anything else is an internal error (exit 3).
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import sys
import traceback
from collections.abc import Sequence

import typer
from typer.main import get_command_name
from typer.models import CommandInfo

from common import files, limits
from planner.cli.app import (
    _encodes_all,
    _state,
    _StdoutError,
    _write_stdout,
    app,
)
from planner.errors import GpuplanError


def _flag_value(opts: Sequence[str], argv: Sequence[str] | None = None) -> str | None:
    """The value given on the command line for a flag with these spellings (`--x V` or `--x=V`)."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args):
        for opt in opts:
            if arg == opt and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(opt + "="):
                return arg[len(opt) + 1 :]
    return None


def _say_error(text: str) -> None:
    """One message on stderr; user text inside is escaped, never read as markup."""
    with contextlib.suppress(OSError):  # stderr itself is gone: the exit code is all that is left
        from rich.console import Console

        Console(stderr=True, highlight=False, soft_wrap=True, emoji=False).print(text, markup=True)


def _quiet_stdout() -> None:
    """After stdout failed, point it at the null device so the interpreter's final flush cannot fail again."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        pass


def _prepare_streams() -> None:
    """A stdout/stderr that cannot encode every character (PYTHONIOENCODING=ascii) replaces what it cannot
    show instead of failing; JSON on such a stdout is written with \\u escapes (see _write_stdout)."""
    for stream, errors in ((sys.stdout, "replace"), (sys.stderr, "backslashreplace")):
        if not _encodes_all(stream) and hasattr(stream, "reconfigure"):
            with contextlib.suppress(ValueError, io.UnsupportedOperation):
                stream.reconfigure(errors=errors)


def main() -> None:
    """Console entry point: run the app, turning every GpuplanError into a clean message and exit code.

    Each run gets a fresh record of the files it reads (common.files), one clock for its time limit and
    handlers that turn Ctrl-C and SIGTERM into a prompt stop (common.limits).
    """
    _prepare_streams()
    with files.run_scope(), limits.run_scope(), limits.handle_signals():
        code = _run()
    if limits.abandoned_alive():
        # A solver thread still runs native code that polls no interrupt (HiGHS presolve): the output is
        # already settled (nothing written, temp files removed), so leave now; a normal interpreter exit
        # would wait for it, or abort while destroying it.
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def escape(text: str) -> str:
    """rich's markup escape, loaded only when there is an error to print."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _name_of(command: CommandInfo) -> str:
    """A registered command's name as typed: its own, else its function's (underscores as dashes)."""
    return command.name or get_command_name(getattr(command.callback, "__name__", ""))


def app_for(args: Sequence[str]) -> typer.Typer:
    """The app as a run of `gpuplan ARGS` needs it: typer builds the click command of every registered
    command on each run (~40 ms CPU of `estimate`'s start-up), so when the first argument names a top-level
    command, the app with only that command (and the root callback); anything else (options first, a
    group such as `catalog`, a typo, no argument) gets the whole app, with its help and suggestions."""
    name = args[0] if args else ""
    chosen = [c for c in app.registered_commands if _name_of(c) == name]
    if len(chosen) != 1 or any(g.name == name for g in app.registered_groups):
        return app
    one = copy.copy(app)  # shares the info and the callback; only the command lists are its own
    one.registered_commands = chosen
    one.registered_groups = []
    return one


def _run() -> int:  # noqa: C901 - the one place every way a run can end becomes an exit code
    try:
        # click returns (not raises) an Exit's code in this mode
        code = app_for(sys.argv[1:])(standalone_mode=False)
        sys.stdout.flush()
        return code if isinstance(code, int) else 0
    except limits.Interrupted as stop:
        _say_error(f"[bold red]interrupted[/] by {escape(str(stop))}: stopped; no output written")
        return stop.exit_code
    except GpuplanError as err:
        if isinstance(err, _StdoutError):
            _quiet_stdout()
            if err.errno == 32:  # EPIPE: the reader went away (`| head`); say nothing, as a SIGPIPE would
                return 141
        elif _state["json"]:
            try:
                from planner.outcome import error_envelope, to_json

                _write_stdout(to_json(error_envelope(_state["command"], err.render())), is_json=True)
            except _StdoutError:
                _quiet_stdout()
        if _state["debug"]:
            traceback.print_exc()
        _say_error(f"[bold red]error:[/] {escape(err.render())}")
        return err.exit_code
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return 130
    except OSError as exc:
        if exc.errno in (28, 32) and exc.filename is None:  # a flush of stdout at the very end
            _quiet_stdout()
            if exc.errno == 32:
                return 141
            _say_error(f"[bold red]error:[/] stdout: cannot write the output: {escape(exc.strerror or str(exc))}")
            return 2
        return _internal(exc)
    except Exception as exc:  # click usage errors and anything unforeseen
        try:
            from click import exceptions as click_exc
        except ModuleNotFoundError:  # newer typer vendors click as typer._click
            from typer._click import exceptions as click_exc  # type: ignore[no-redef,unused-ignore]

        if isinstance(exc, click_exc.UsageError):
            if isinstance(exc, click_exc.BadParameter):
                value = _flag_value(getattr(exc.param, "opts", ()) or ())
                if value is not None and value not in exc.message:
                    exc.message += f" (got {value!r})"
            exc.show()
            return 2
        if isinstance(exc, click_exc.ClickException):
            exc.show()
            return int(exc.exit_code)
        return _internal(exc)


def _internal(exc: BaseException) -> int:
    if _state["debug"]:
        traceback.print_exc()
    _say_error(f"[bold red]internal error:[/] {escape(type(exc).__name__)}: {escape(str(exc))} (rerun with --debug)")
    return 3
