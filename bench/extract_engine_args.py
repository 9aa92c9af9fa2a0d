"""Print the command-line flag names an engine release defines, read from its published wheel (no import).

    python bench/extract_engine_args.py vllm   path/to/vllm-X-*.whl
    python bench/extract_engine_args.py sglang path/to/sglang-X-*.whl

gpuplan's export checks every flag it writes against planner/export/data/engine_args/<engine>.yaml; this
script produces that file's `flags` list from the engine's own source, so the list is the release's, not
a transcription. It reads the Python files of the wheel with `ast` (the engines need a GPU stack to
import) and collects:

- every `--flag` string passed positionally to an `add_argument(...)` call (vLLM's EngineArgs, both);
- fields of vLLM's `FrontendArgs`-style dataclasses, which become `--field-name` (vllm/entrypoints/*);
- SGLang's `A[type, "help"]` and `A[type, Arg(...)]` fields (srt/arg_groups/fields/*): `cli_name=` or
  `--field-name`, plus `aliases=`, skipping `no_cli=True`.

TensorRT-LLM's wheel is not on PyPI (the PyPI package is a stub that installs from NVIDIA's index), so its
file is transcribed from the release's documentation and says so.
"""

from __future__ import annotations

import ast
import sys
import zipfile

# Which files of each wheel define the server's flags.
SOURCES = {
    "vllm": ("vllm/engine/arg_utils.py", "vllm/entrypoints/common/cli_args.py"),
    "sglang": ("sglang/srt/server_args.py", "sglang/srt/arg_groups/fields/"),
}
FRONTEND_CLASSES = {"FrontendArgs", "BaseFrontendArgs"}


def _dash(name: str) -> str:
    return "--" + name.replace("_", "-")


def _strs(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.List, ast.Tuple)):
        return [s for e in node.elts for s in _strs(e)]
    return []


def _arg_call(annotation: ast.AST) -> ast.Call | None:
    """The `Arg(...)` call inside an `Annotated[...]`/`A[...]` annotation, if any."""
    for node in ast.walk(annotation):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "Arg":
            return node
    return None


def _annotated(annotation: ast.AST) -> bool:
    """`A[type, "help"]` / `Annotated[...]`: SGLang registers these fields as flags too."""
    return isinstance(annotation, ast.Subscript) and getattr(annotation.value, "id", "") in ("A", "Annotated")


def flags_in(source: str) -> set[str]:
    tree = ast.parse(source)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            out.update(s for a in node.args for s in _strs(a) if s.startswith("--"))
        if isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
                    continue
                name = stmt.target.id
                call = _arg_call(stmt.annotation)
                if call is not None:
                    kw = {k.arg: k.value for k in call.keywords if k.arg}
                    no_cli = kw.get("no_cli")
                    if isinstance(no_cli, ast.Constant) and no_cli.value is True:
                        continue
                    cli = _strs(kw["cli_name"]) if "cli_name" in kw else [_dash(name)]
                    out.update(cli + (_strs(kw["aliases"]) if "aliases" in kw else []))
                elif _annotated(stmt.annotation) or (node.name in FRONTEND_CLASSES and not name.startswith("_")):
                    out.add(_dash(name))
    return out


def main(engine: str, wheel: str) -> None:
    prefixes = SOURCES[engine]
    flags: set[str] = set()
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if name.endswith(".py") and any(name == p or (p.endswith("/") and name.startswith(p)) for p in prefixes):
                flags |= flags_in(zf.read(name).decode("utf-8"))
    for flag in sorted(flags):
        print(f"  - {flag}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
