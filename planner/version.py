"""`gpuplan --version`: what a bug report or a pinned CI job needs to reproduce a plan.

A plan depends on three things besides the spec: the gpuplan code, the shipped catalog data (prices,
hardware; `Catalog.version` names it) and the solvers that found and proved the fleet. Each is
reported, with a plain "not available" instead of an error when an optional solver is missing.
"""

from __future__ import annotations

import platform
import re
import subprocess
from importlib import metadata

import planner


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def highs_line() -> str:
    """HiGHS's own version (the library) and the highspy wrapper's; they need not be equal."""
    wrapper = _dist_version("highspy")
    if wrapper is None:
        return "HiGHS not installed (highspy missing; plans fall back to CBC)"
    try:
        from solvers.backend import new_highs  # noqa: PLC0415 - inside the try: a broken back-end is reported

        library = str(new_highs().version())
    except Exception as exc:  # a broken wrapper is reported, not raised: --version must always answer
        return f"HiGHS unavailable (highspy {wrapper}: {type(exc).__name__}: {exc})"
    return f"HiGHS {library} (highspy {wrapper})"


def cbc_line() -> str:
    """CBC's version, asked of the binary PuLP bundles (PuLP itself does not report it)."""
    pulp_version = _dist_version("pulp") or _dist_version("PuLP")
    if pulp_version is None:
        return "CBC not installed (pulp missing)"
    try:
        from solvers.backend import cbc_binary  # noqa: PLC0415 - inside the try: a broken back-end is reported

        path = cbc_binary()
    except Exception:  # an unusable PuLP is reported like a missing binary
        path = None
    if not path:
        return f"CBC not available (PuLP {pulp_version} finds no CBC binary)"
    try:
        proc = subprocess.run(
            [str(path), "-quit"], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10, check=False
        )
        found = re.search(r"Version:\s*(\S+)", proc.stdout)
    except (OSError, subprocess.SubprocessError):
        found = None
    return f"CBC {found.group(1) if found else 'of unknown version'} (PuLP {pulp_version})"


def version_lines() -> tuple[str, ...]:
    """One line per component: gpuplan, the catalog data, each solver, Python."""
    from catalog.loader import load_catalog  # noqa: PLC0415 - the CLI imports this module for --version alone

    return (
        f"gpuplan {planner.__version__}",
        f"catalog {load_catalog().version}",
        highs_line(),
        cbc_line(),
        f"Python {platform.python_version()} ({platform.python_implementation()}, {platform.system()})",
    )
