"""`gpuplan export` without -o: every exported file on stdout, each under a `==> path <==` line (as `head`
prints several files), so the whole export can be read or piped at once."""

from __future__ import annotations

from planner.export import ExportResult


def render_export_text(result: ExportResult) -> str:
    parts = [f"==> {f.path} <==\n{f.text}" for f in result.files]
    return "\n".join(parts)


def summary_lines(result: ExportResult, folder: str) -> list[str]:
    """What -o DIR wrote, for stderr."""
    lines = [f"wrote {len(result.files)} file(s) for --to {result.target} to {folder}:"]
    lines += [f"  {f.path}" for f in result.files]
    lines += [f"note: {n}" for n in result.notes]
    return lines
