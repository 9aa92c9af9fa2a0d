"""The import graph of the package: no cycle, and no edge from a lower layer to a higher one.

Layers, bottom up: common (errors, file reading) < catalog < solvers < the planner's domain modules <
planner.report (formatting) < planner.commands < planner.cli. Every import counts, wherever it is
written (module level, inside a function, under TYPE_CHECKING). rich belongs to the report layer and the
CLI; pulp and highspy to solvers/backend.py alone.
"""

from __future__ import annotations

import ast
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.errors import ArgumentError
from planner.commands.flags import FLAGS

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("common", "catalog", "solvers", "planner")
LAYERS = (
    ("common",),
    ("catalog",),
    ("solvers",),
    ("planner",),
    ("planner.report",),
    ("planner.commands",),
    ("planner.cli", "planner.__main__"),
)
ONLY_IN = {
    "rich": ("planner.report", "planner.cli"),
    "pulp": ("solvers.backend",),
    "highspy": ("solvers.backend",),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py")) if ".venv" not in p.parts
}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer(module: str) -> int:
    """The highest layer whose prefix the module falls under."""
    return max(i for i, prefixes in enumerate(LAYERS) if any(_under(module, p) for p in prefixes))


def imports(module: str) -> Iterator[str]:
    """Every module `module` imports (project modules resolved to the most specific one that exists)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield full if full in MODULES else base


def project_edges() -> dict[str, set[str]]:
    return {m: {t for t in imports(m) if t in MODULES and t != m} for m in MODULES}


def test_the_graph_covers_the_package() -> None:
    assert {"common.errors", "catalog.loader", "solvers.fleet", "planner.plan", "planner.cli"} <= set(MODULES)
    assert project_edges()["planner.plan"]  # imports are found


def test_no_import_goes_up_a_layer() -> None:
    upward = [
        f"{m} (layer {layer(m)}) imports {t} (layer {layer(t)})"
        for m, targets in project_edges().items()
        for t in sorted(targets)
        if layer(t) > layer(m)
    ]
    assert upward == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_there_is_no_import_cycle() -> None:
    assert _cycles(project_edges()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert layer("planner.report.table") == 4 and layer("planner.reportx") == 3


@pytest.mark.parametrize("library", sorted(ONLY_IN))
def test_libraries_stay_in_their_layer(library: str) -> None:
    users = sorted(m for m in MODULES if any(_under(t, library) for t in imports(m)))
    assert users, f"nothing imports {library}: the rule is stale"
    assert [m for m in users if not any(_under(m, p) for p in ONLY_IN[library])] == []


FLAG_WHERE_LEFT = {
    "planner.sweep",  # the spec's total rate is 0 (--rate)
    "planner.export.skypilot",  # --to skypilot
}
"""Domain modules that still name a flag as an error's `where` (to move to ArgumentError, planner/commands/flags.py)."""


def _flag_wheres(module: str) -> list[str]:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return [
        str(kw.value.value)
        for node in ast.walk(tree)
        for kw in (node.keywords if isinstance(node, ast.Call) else ())
        if kw.arg == "where" and isinstance(kw.value, ast.Constant) and str(kw.value.value).startswith("--")
    ] + [
        str(d.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for a, d in _defaults(node.args)
        if a.arg in ("where", "flag") and isinstance(d, ast.Constant) and str(d.value).startswith("--")
    ]


def _defaults(args: ast.arguments) -> list[tuple[ast.arg, ast.expr | None]]:
    positional = args.posonlyargs + args.args
    with_default = positional[len(positional) - len(args.defaults) :]
    return [*zip(with_default, args.defaults, strict=True), *zip(args.kwonlyargs, args.kw_defaults, strict=True)]


def test_domain_errors_name_arguments_not_flags() -> None:
    """Below the command layer an error names the argument (common.errors.ArgumentError); planner/commands
    spells it as the flag. A module that passes `where="--flag"` knows the command line."""
    domain = [m for m in MODULES if layer(m) <= layer("planner")]
    naming = {m for m in domain if _flag_wheres(m)}
    assert sorted(naming - FLAG_WHERE_LEFT) == []
    assert sorted(FLAG_WHERE_LEFT - naming) == [], "a module left the list: remove it from FLAG_WHERE_LEFT"


def test_an_argument_error_is_spelled_by_the_command_layer_and_survives_a_process_boundary() -> None:
    err = ArgumentError("rate", "give {rate} or {rate_factor}, not both", ("rate", "rate_factor"))
    assert err.render() == "rate: give rate or rate_factor, not both"  # a library caller sees argument names
    back = pickle.loads(pickle.dumps(err))  # a sweep worker's error reaches the parent process
    spelled = back.spelled(FLAGS)
    assert spelled.render() == "--rate: give --rate or --rate-factor, not both"
    assert ArgumentError("x", "{x}: {rate}").spelled(FLAGS).render() == "x: {x}: {rate}"  # only what it mentions
