"""The README's sample outputs, produced by the current build.

    python tests/readme_samples.py           # rewrite the samples in README.md from what gpuplan prints now
    python tests/readme_samples.py --check   # exit 1 if a sample is stale (tests/test_readme.py asserts this)

Estimator, catalog and report changes move the figures in these samples; after one, run the first
command and review the diff like any other change.

A fenced block right after `<!-- sample: transcript [width=N] [until=TEXT] -->` is a shell session:
its `$ ` lines are run in order by bash in a scratch folder holding a copy of examples/, with the
installed `gpuplan` console script first on PATH, stdout and stderr together, N columns wide (default
100). The lines after each `$ ` line are replaced by what it printed, cut before the first line that
starts with TEXT (then a `...` line). A block after `<!-- sample: file=PATH [from=TEXT] -->` is that
file as the sessions above it left it, from its first line that starts with TEXT. Sessions run in
document order and share the scratch folder, so a later block may read what an earlier one wrote.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

_BLOCK = re.compile(r"(<!-- sample: (?P<directive>[^\n]*?) -->\n```[\w-]*\n)(?P<body>.*?)(^```$)", re.M | re.S)
_MARK = "@@gpuplan-readme-sample@@"
# What would change what the console script prints (forced colours, another width): dropped.
_TERMINAL_VARS = ("COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE")


@dataclass(frozen=True)
class Directive:
    kind: str  # "transcript" or "file"
    width: int = 100
    until: str = ""
    path: str = ""
    start: str = ""


def parse_directive(text: str) -> Directive:
    words = shlex.split(text)
    if not words:
        raise ValueError("empty sample directive")
    options = dict(w.split("=", 1) for w in words if "=" in w)
    if words[0] == "transcript":
        return Directive("transcript", width=int(options.get("width", "100")), until=options.get("until", ""))
    if "file" in options:
        return Directive("file", path=options["file"], start=options.get("from", ""))
    raise ValueError(f"unknown sample directive {text!r}")


def _scripts_dir() -> Path:
    folder = Path(sysconfig.get_path("scripts"))
    if not (folder / "gpuplan").exists():
        raise SystemExit(f"no gpuplan console script in {folder}: install the package (pip install -e .)")
    return folder


def run_transcript(commands: list[str], folder: Path, width: int) -> list[str]:
    """What each command printed (stdout and stderr together), run in one bash session in `folder`."""
    lines = ["set +e", "__rc=0"]
    for command in commands:
        # `(exit $__rc)` restores the previous command's status, so a sample may `echo $?`
        lines += [f"printf '%s\\n' {_MARK}", '(exit "$__rc")', f"eval {shlex.quote(command)} 2>&1", "__rc=$?"]
    env = {k: v for k, v in os.environ.items() if k not in _TERMINAL_VARS}
    env.update(COLUMNS=str(width), PATH=f"{_scripts_dir()}{os.pathsep}{env.get('PATH', '')}")
    proc = subprocess.run(
        ["bash", "-c", "\n".join(lines)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    if proc.stderr.strip():
        raise RuntimeError(f"the sample session wrote outside a command: {proc.stderr}")
    outputs = proc.stdout.split(_MARK + "\n")
    if len(outputs) != len(commands) + 1 or outputs[0]:
        raise RuntimeError(f"the sample session did not run every command:\n{proc.stdout}")
    return outputs[1:]


def _tidy(text: str, until: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    cut = next((i for i, line in enumerate(lines) if until and line.startswith(until)), None)
    if cut is not None:
        lines = lines[:cut]
    while lines and not lines[-1]:
        lines.pop()
    return lines if cut is None else [*lines, "..."]


def render_transcript(body: str, directive: Directive, folder: Path) -> str:
    commands = [line for line in body.splitlines() if line.startswith("$ ")]
    if not commands:
        raise ValueError("a transcript sample needs `$ ` lines")
    outputs = run_transcript([c[2:] for c in commands], folder, directive.width)
    out: list[str] = []
    for command, text in zip(commands, outputs, strict=True):
        out += [command, *_tidy(text, directive.until)]
    return "\n".join(out) + "\n"


def render_file(directive: Directive, folder: Path) -> str:
    path = folder / directive.path
    if not path.is_file():
        raise FileNotFoundError(f"{directive.path} was not written by the sessions above it; update the README")
    lines = path.read_text(encoding="utf-8").splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(directive.start)]
    if not starts:
        raise ValueError(f"no line of {directive.path} starts with {directive.start!r}")
    return "\n".join(lines[starts[0] :]) + "\n"


def render_readme(text: str) -> str:
    """`text` (the README) with every sample block replaced by what the current build prints."""
    with tempfile.TemporaryDirectory(prefix="gpuplan-readme-") as tmp:
        folder = Path(tmp)
        shutil.copytree(ROOT / "examples", folder / "examples")

        def replace(match: re.Match[str]) -> str:
            directive = parse_directive(match.group("directive"))
            if directive.kind == "transcript":
                body = render_transcript(match.group("body"), directive, folder)
            else:
                body = render_file(directive, folder)
            return match.group(1) + body + match.group(4)

        return _BLOCK.sub(replace, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 if a sample is stale; write nothing")
    args = parser.parse_args(argv)
    old = README.read_text(encoding="utf-8")
    new = render_readme(old)
    if args.check:
        if new != old:
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "README.md", "now"))
            return 1
        print("README samples are up to date")
        return 0
    if new != old:
        README.write_text(new, encoding="utf-8")
        print("rewrote the samples in README.md; review the diff")
    else:
        print("README samples are up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
