"""What CLI tests share: the one way to run gpuplan, and small valid specs to break one field at a time.

`gpuplan(*args)` runs the real entry point (`planner.cli.main`, its error handling included) in this
process, with `sys.argv` patched: milliseconds. `gpuplan(*args, process=True)` runs the installed console
script in a fresh process with stdout a pipe: what a user's shell sees, including any bytes a C extension
(HiGHS, CBC) writes to file descriptor 1, which an in-process run cannot see. About half a second.
`load_script(path)` imports one of the repository's scripts (tests/update_golden.py, bench/...) as a module.
"""

from __future__ import annotations

import copy
import importlib.util
import io
import os
import re
import subprocess
import sys
import sysconfig
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent

# A small, valid, fast spec: one model, one histogram bin, two GPU types on one cloud.
BASE_SPEC: dict[str, Any] = {
    "name": "robust",
    "models": [
        {
            "model": "llama-3.1-8b",
            "workload": {"rate_rps": 4, "histogram": [{"input_len": 500, "output_len": 200, "share": 1.0}]},
            "slo": {"ttft_ms": 1000, "tpot_ms": 50},
        }
    ],
    "offerings": {"clouds": ["aws"], "gpus": ["l4", "a10g"]},
    "search": {"tp": [1, 2]},
}


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def __str__(self) -> str:  # shown by pytest when an assertion about a run fails
        return f"exit {self.code}\n--- stdout\n{self.out[-2000:]}\n--- stderr\n{self.err[-2000:]}"


def _exit_code(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    return 1  # sys.exit("message") semantics


def gpuplan(*args: str | Path, process: bool = False, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Run:
    """`gpuplan ARGS`: in this process, or with `process=True` through the installed console script (see
    the module docstring). `env` (added to the environment) and `cwd` need a process."""
    if not process:
        if env is not None or cwd != ROOT:
            raise ValueError("env and cwd apply to a process: pass process=True")
        return _in_process(args)
    return _in_a_process(args, env, cwd)


def _in_process(args: tuple[str | Path, ...]) -> Run:
    """`gpuplan ARGS` through `planner.cli.main` in this process; stdout and stderr captured."""
    from planner import cli

    cli._state.update(debug=False, command="gpuplan", json=False)
    argv = ["gpuplan", *(str(a) for a in args)]
    out, err = io.StringIO(), io.StringIO()
    old_argv = sys.argv
    sys.argv = argv
    code = 0
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as exc:
                code = _exit_code(exc.code)
    finally:
        sys.argv = old_argv
        cli._state.update(debug=False, command="gpuplan", json=False)
    return Run(code, out.getvalue(), err.getvalue())


def console_script() -> Path:
    """The `gpuplan` console script installed beside this interpreter (the venv's bin folder)."""
    folder = Path(sysconfig.get_path("scripts"))
    for name in ("gpuplan", "gpuplan.exe"):
        if (folder / name).exists():
            return folder / name
    raise AssertionError(f"no gpuplan console script in {folder}: install the package (pip install -e .)")


# Variables that would change what the console script prints (width, forced colour) are dropped, so
# the script sees what a pipe in a plain shell gives it.
_TERMINAL_VARS = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE")


def _in_a_process(args: tuple[str | Path, ...], env: dict[str, str] | None, cwd: Path) -> Run:
    """`gpuplan ARGS` through the installed console script, stdout a pipe: exactly what a user's shell sees."""
    full_env = {k: v for k, v in os.environ.items() if k not in _TERMINAL_VARS}
    r = subprocess.run(
        [str(console_script()), *(str(a) for a in args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**full_env, **(env or {})},
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    return Run(r.returncode, r.stdout, r.stderr)


def spec_with(changes: dict[str, Any] | None = None, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A deep copy of BASE_SPEC with `changes` applied: keys are paths like `models[0].workload.rate_rps`."""
    data = copy.deepcopy(BASE_SPEC)
    for path, value in (changes or {}).items():
        parent, key = _walk(data, path)
        parent[key] = value
    for path in drop:
        parent, key = _walk(data, path)
        del parent[key]
    return data


def _walk(data: Any, path: str) -> tuple[Any, Any]:
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    node = data
    for p in parts[:-1]:
        if isinstance(p, str) and isinstance(node, dict) and p not in node:
            node[p] = {}
        node = node[p]
    return node, parts[-1]


def write_spec(folder: Path, data: Any, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def assert_user_error(run: Run, *needles: str) -> None:
    """Exit 2, a short message on stderr containing every needle, no traceback, nothing on stdout."""
    assert run.code == 2, str(run)
    assert "Traceback" not in run.err and "Traceback" not in run.out, str(run)
    assert "internal error" not in run.err, str(run)
    assert run.out == "", str(run)
    text = " ".join(run.err.split())  # rich may wrap long lines
    for needle in needles:
        assert needle in text, f"{needle!r} not in the message\n{run}"
    assert len(run.err.strip().splitlines()) <= 8, f"message too long\n{run}"


def load_script(relative: str) -> ModuleType:
    """Import a script of this repository (not a package module) by its path from the root; registered in
    `sys.modules` under its stem before it runs (a dataclass looks its module up there)."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(path.stem, module)
    spec.loader.exec_module(module)
    return module
