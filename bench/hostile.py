"""The hostile-input battery: about 150 inputs and situations an attacker or an unlucky user gives gpuplan,
each run through the installed console script in its own session, folder and TMPDIR, with a wall-clock
and an address-space limit. Prints one line per case that misbehaves and the counts per kind.

    python bench/hostile.py                 # every case, 2 at a time
    python bench/hostile.py -k secrets      # only cases whose kind or name contains "secrets"
    python bench/hostile.py -j 4 -v         # 4 at a time, one line per case (passing ones too)

A case misbehaves when the run hangs (past its time limit), exits with a code it should not (3 is never
right), prints a traceback or "internal error", echoes the canary planted in a file outside the spec's
folder (or in the environment), changes a file it read, leaves a process in its session or a file in its
TMPDIR, exceeds its peak-memory budget, or fails the case's own check (a message naming the right thing,
a mode kept, a device left a device...). Exit status: 0 when no case misbehaves, 1 otherwise.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
CANARY = "GPUPLAN-CANARY-7f3a9c"
MiB = 1 << 20
AS_LIMIT = 6 << 30  # address space per run: a runaway run fails instead of taking the machine down
DEFAULT_TIMEOUT_S = 40.0
DEFAULT_RSS_MB = 1500.0

BASE: dict[str, Any] = {
    "name": "hostile",
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
MELANGE: dict[str, Any] = {
    "gpu_info": {
        "A10G": {"cost": 1.01, "tputs": [[2, 1], [5, 2]]},
        "A100-80GB": {"cost": 3.67, "tputs": [[20, 20], [40, 20]]},
    },
    "workload_distribution": [[0.2, 0.1], [0.5, 0.2]],
    "total_request_rate": 30.0,
    "slice_factor": 1,
}
if hasattr(sys, "set_int_max_str_digits"):  # Python 3.11+: the battery writes 5000-digit integers
    sys.set_int_max_str_digits(0)
HF_CONFIG: dict[str, Any] = json.loads((ROOT / "tests/data/catalog/hf/llama-3.1-8b/config.json").read_text())


@dataclass
class Run:
    code: int | None  # None: killed after its time limit
    out: str
    err: str
    wall_s: float
    rss_mb: float
    leftover_processes: list[str]
    leftover_tmp: list[str]


Check = Callable[[Run], str | None]


@dataclass
class Setup:
    """What to run and what to expect; paths are inside the case's `repo` folder unless absolute."""

    args: list[str]
    expect: tuple[int, ...] = (2,)
    inputs: list[Path] = field(default_factory=list)  # must be byte-for-byte (and mode, link) unchanged
    env: dict[str, str] = field(default_factory=dict)
    timeout_s: float = DEFAULT_TIMEOUT_S
    signal_after: tuple[float, int, bool] | None = None  # (seconds, signal, to the whole process group)
    stop_within_s: float = 3.0  # after the signal
    stdout_path: str | None = None  # e.g. /dev/full
    max_rss_mb: float = DEFAULT_RSS_MB
    max_wall_s: float | None = None
    needles: tuple[str, ...] = ()  # each must appear in stderr (whitespace-normalised)
    checks: list[Check] = field(default_factory=list)
    fifo_writer: Path | None = None  # unused: FIFOs are left without a writer (the hostile case)


@dataclass(frozen=True)
class Case:
    kind: str
    name: str
    build: Callable[[Path], Setup]


@dataclass
class Outcome:
    case: Case
    problems: list[str]
    run: Run | None


# ------------------------------------------------------------------------------------------ helpers
def console_script() -> str:
    found = shutil.which("gpuplan", path=sysconfig.get_path("scripts")) or shutil.which("gpuplan")
    if found is None:
        sys.exit("no gpuplan console script: pip install -e . first")
    return found


def spec_with(changes: dict[str, Any] | None = None, base: dict[str, Any] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(base or BASE))
    for path, value in (changes or {}).items():
        node: Any = data
        parts = path.replace("]", "").replace("[", ".").split(".")
        for p in parts[:-1]:
            key: Any = int(p) if p.isdigit() else p
            if isinstance(node, dict) and key not in node:
                node[key] = {}
            node = node[key]
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value
    return data


def write(repo: Path, name: str, content: str | bytes | dict[str, Any] | list[Any]) -> Path:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict | list):
        text = yaml.safe_dump(content, sort_keys=False) if name.endswith((".yaml", ".yml")) else json.dumps(content)
        path.write_text(text, encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def spec_file(repo: Path, changes: dict[str, Any] | None = None, name: str = "spec.yaml") -> Path:
    return write(repo, name, spec_with(changes))


def fifo(repo: Path, name: str) -> Path:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def zero_link(repo: Path, name: str) -> Path:
    """A link named `name` to /dev/zero (a folder of files, such as a SkyPilot copy, cannot name it)."""
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to("/dev/zero")
    return path


def secret_dir(repo: Path) -> Path:
    """The runner's secrets: a folder beside the repository, holding the canary in several formats."""
    d = repo.parent / "secret"
    d.mkdir(exist_ok=True)
    (d / "token.txt").write_text(f"{CANARY}=hunter2\nsecond line\n")
    (d / "token.csv").write_text(f"{CANARY},x\n1,2\n")
    (d / "config.json").write_text(json.dumps({CANARY: "hunter2"}))
    (d / "token.yaml").write_text(f"{CANARY}: hunter2\n")
    return d


def trace_spec(path: str, fmt: str, **extra: Any) -> dict[str, Any]:
    trace: dict[str, Any] = {"path": path, "format": fmt, **extra}
    if fmt in ("csv", "jsonl") and "columns" not in extra:
        trace["columns"] = {"input_len": "in", "output_len": "out", "timestamp": "ts"}
    return {"models[0].workload": {"rate_rps": 4, "trace": trace}}


def norm(text: str) -> str:
    return " ".join(text.split())


def has(needle: str) -> Check:
    return lambda r: None if needle in norm(r.err) else f"stderr lacks {needle!r}"


def out_has(needle: str) -> Check:
    return lambda r: None if needle in r.out else f"stdout lacks {needle!r}"


def out_lacks(needle: str) -> Check:
    return lambda r: None if needle not in r.out else f"stdout holds {needle!r}"


def file_check(fn: Callable[[], str | None]) -> Check:
    return lambda r: fn()


ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
)  # 10^9 leaves from a 400-byte document


def bomb_doc(top: str) -> str:
    return ALIAS_BOMB + f"\n{top}: *i\n"


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


# ------------------------------------------------------------------------------------------ fixtures
@dataclass(frozen=True)
class Fixtures:
    plan: Path  # a plan envelope of BASE
    plan_named: Path  # a plan of a model named "[/]"
    hard: Path  # a spec whose solve runs past 60 s


def make_fixtures(folder: Path, exe: str) -> Fixtures:
    folder.mkdir(parents=True, exist_ok=True)
    spec = write(folder, "base.yaml", BASE)
    plan = folder / "plan.json"
    with plan.open("w") as fh:
        subprocess.run([exe, "plan", str(spec), "-f", "json"], stdout=fh, check=True, cwd=folder)
    named = write(folder, "named.yaml", spec_with({"models[0].name": "[/]"}))
    plan_named = folder / "plan_named.json"
    with plan_named.open("w") as fh:
        subprocess.run([exe, "plan", str(named), "-f", "json"], stdout=fh, check=False, cwd=folder)
    models = []
    ids = ["llama-3.1-8b", "qwen2.5-7b", "mistral-7b", "llama-3.3-70b"]
    for i in range(24):
        models.append(
            {
                "name": f"m{i}",
                "model": ids[i % 4],
                "workload": {
                    "rate_rps": 3 + i * 1.7,
                    "distribution": {
                        "input": {"kind": "lognormal", "median": 300 + 37 * i, "sigma": 1.0, "max": 16000},
                        "output": {"kind": "lognormal", "median": 100 + 11 * i, "sigma": 0.9, "max": 2000},
                    },
                },
                "slo": {"ttft_ms": 1500 + 20 * i, "tpot_ms": 60 + i},
                "min_replicas": 1 + i % 3,
            }
        )
    hard = {
        "name": "hard",
        "models": models,
        "search": {"tp": [1, 2, 4, 8], "weights": ["bf16", "fp8"]},
        "solver": {"mode": "whole-slice", "slice_factor": 7, "time_limit_s": 300},
    }
    return Fixtures(plan, plan_named, write(folder, "hard.yaml", hard))


def plan_doc(fx: Fixtures) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(fx.plan.read_text())
    return doc


# ------------------------------------------------------------------------------------------ cases
def cases(fx: Fixtures) -> list[Case]:  # noqa: C901 - a flat catalogue of cases, one block each
    out: list[Case] = []

    def case(kind: str, name: str) -> Callable[[Callable[[Path], Setup]], Callable[[Path], Setup]]:
        def deco(fn: Callable[[Path], Setup]) -> Callable[[Path], Setup]:
            out.append(Case(kind, name, fn))
            return fn

        return deco

    # ---------------------------------------------------------------- secrets
    for fmt in ("csv", "jsonl", "azure-2023", "mooncake", "burstgpt"):
        for target in ("token.txt", "config.json"):

            def build(repo: Path, fmt: str = fmt, target: str = target) -> Setup:
                secret_dir(repo)
                spec = spec_file(repo, trace_spec(f"../secret/{target}", fmt))
                return Setup(["plan", str(spec)], inputs=[spec])

            case("secrets", f"trace {fmt} -> ../secret/{target}")(build)

    @case("secrets", "trace: absolute path to a secret")
    def _(repo: Path) -> Setup:
        d = secret_dir(repo)
        spec = spec_file(repo, trace_spec(str(d / "token.txt"), "azure-2023"))
        return Setup(["validate", str(spec)], inputs=[spec])

    @case("secrets", "trace: a symlink in the repo to a secret")
    def _(repo: Path) -> Setup:
        d = secret_dir(repo)
        (repo / "link.csv").symlink_to(d / "token.csv")
        spec = spec_file(repo, trace_spec("link.csv", "csv"))
        return Setup(["plan", str(spec)], inputs=[spec])

    @case("secrets", "trace: /proc/self/environ")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo, trace_spec("/proc/self/environ", "csv"))
        return Setup(["plan", str(spec)], inputs=[spec], env={"RUNNER_TOKEN": CANARY})

    @case("secrets", "profile csv -> ../secret")
    def _(repo: Path) -> Setup:
        secret_dir(repo)
        spec = spec_file(repo, {"profiles": [{"model": "llama-3.1-8b", "csv": "../secret/token.csv"}]})
        return Setup(["plan", str(spec)], inputs=[spec])

    @case("secrets", "vllm_bench -> ../secret")
    def _(repo: Path) -> Setup:
        secret_dir(repo)
        spec = spec_file(
            repo, {"profiles": [{"model": "llama-3.1-8b", "vllm_bench": ["../secret/config.json"], "gpu": "l4"}]}
        )
        return Setup(["plan", str(spec)], inputs=[spec])

    @case("secrets", "catalog.files -> ../secret")
    def _(repo: Path) -> Setup:
        secret_dir(repo)
        spec = spec_file(repo, {"catalog": {"files": ["../secret/token.yaml"]}})
        return Setup(["plan", str(spec)], inputs=[spec])

    @case("secrets", "model: ../secret/config.json (HF config path)")
    def _(repo: Path) -> Setup:
        secret_dir(repo)
        spec = spec_file(repo, {"models[0].model": "../secret/config.json"})
        return Setup(["plan", str(spec)], inputs=[spec])

    @case("secrets", "model: ../secret (a folder)")
    def _(repo: Path) -> Setup:
        secret_dir(repo)
        spec = spec_file(repo, {"models[0].model": "../secret"})
        return Setup(["validate", str(spec)], inputs=[spec])

    @case("secrets", "--catalog a secret YAML (named on the command line)")
    def _(repo: Path) -> Setup:
        d = secret_dir(repo)
        spec = spec_file(repo)
        return Setup(["plan", str(spec), "--catalog", str(d / "token.yaml")], inputs=[spec])

    @case("secrets", "check: a secret JSON as the plan")
    def _(repo: Path) -> Setup:
        d = secret_dir(repo)
        return Setup(["check", str(d / "config.json"), "--baseline", str(fx.plan)])

    @case("secrets", "import melange: a secret JSON")
    def _(repo: Path) -> Setup:
        d = secret_dir(repo)
        return Setup(["import", "melange", str(d / "config.json")])

    @case("secrets", "estimate --model: a secret JSON")
    def _(repo: Path) -> Setup:
        d = secret_dir(repo)
        return Setup(
            ["estimate", "--model", str(d / "config.json"), "--gpu", "l4", "--input-len", "10", "--output-len", "10"]
        )

    @case("secrets", "spec: a secret text file")
    def _(repo: Path) -> Setup:
        d = secret_dir(repo)
        return Setup(["validate", str(d / "token.txt")])

    # ---------------------------------------------------------------- hangs
    @case("hangs", "alias bomb: spec")
    def _(repo: Path) -> Setup:
        spec = write(repo, "spec.yaml", bomb_doc("name"))
        return Setup(["plan", str(spec)], inputs=[spec], timeout_s=20, max_wall_s=10)

    @case("hangs", "alias bomb: --catalog overlay (439 bytes)")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)
        overlay = write(repo, "overlay.yaml", bomb_doc("notes"))
        return Setup(
            ["plan", str(spec), "--catalog", str(overlay)], inputs=[spec, overlay], timeout_s=20, max_wall_s=10
        )

    @case("hangs", "alias bomb: inline catalog entry")
    def _(repo: Path) -> Setup:
        text = ALIAS_BOMB + "\n" + yaml.safe_dump(spec_with(), sort_keys=False)
        text += "catalog:\n  gpus:\n    - {id: x, notes: *i}\n"
        spec = write(repo, "spec.yaml", text)
        return Setup(["validate", str(spec)], inputs=[spec], timeout_s=20, max_wall_s=10)

    @case("hangs", "alias bomb: catalog.files")
    def _(repo: Path) -> Setup:
        write(repo, "cat.yaml", bomb_doc("notes"))
        spec = spec_file(repo, {"catalog": {"files": ["cat.yaml"]}})
        return Setup(["validate", str(spec)], inputs=[spec], timeout_s=20, max_wall_s=10)

    @case("hangs", "merge-key bomb: spec")
    def _(repo: Path) -> Setup:
        lines = ["a0: &a0 {k0: 1, k1: 2, k2: 3, k3: 4}"]
        for i in range(1, 40):
            lines.append(f"a{i}: &a{i} {{<<: [*a{i - 1}, *a{i - 1}], x{i}: {i}}}")
        spec = write(repo, "spec.yaml", "\n".join(lines) + "\n" + yaml.safe_dump(spec_with(), sort_keys=False))
        return Setup(["validate", str(spec)], inputs=[spec], timeout_s=20, max_wall_s=10)

    fifo_cases: list[tuple[str, Callable[[Path], tuple[list[str], list[Path]]]]] = [
        ("spec (plan)", lambda r: (["plan", str(fifo(r, "spec.yaml"))], [])),
        ("spec (validate)", lambda r: (["validate", str(fifo(r, "spec.yaml"))], [])),
        (
            "trace",
            lambda r: (fifo(r, "t.csv"), (["plan", str(spec_file(r, trace_spec("t.csv", "azure-2023")))], []))[1],
        ),
        (
            "profile csv",
            lambda r: (
                fifo(r, "p.csv"),
                (["plan", str(spec_file(r, {"profiles": [{"model": "llama-3.1-8b", "csv": "p.csv"}]}))], []),
            )[1],
        ),
        (
            "catalog.files",
            lambda r: (fifo(r, "c.yaml"), (["plan", str(spec_file(r, {"catalog": {"files": ["c.yaml"]}}))], []))[1],
        ),
        ("--catalog", lambda r: (["plan", str(spec_file(r)), "--catalog", str(fifo(r, "c.yaml"))], [])),
        ("check plan", lambda r: (["check", str(fifo(r, "p.json")), "--baseline", str(fx.plan)], [])),
        ("check baseline", lambda r: (["check", str(fx.plan), "--baseline", str(fifo(r, "b.json"))], [])),
        ("import melange", lambda r: (["import", "melange", str(fifo(r, "m.json"))], [])),
        (
            "estimate --model",
            lambda r: (
                [
                    "estimate",
                    "--model",
                    str(fifo(r, "config.json")),
                    "--gpu",
                    "l4",
                    "--input-len",
                    "9",
                    "--output-len",
                    "9",
                ],
                [],
            ),
        ),
        ("simulate plan", lambda r: (["simulate", str(fifo(r, "p.json")), "--spec", str(spec_file(r))], [])),
        ("export plan", lambda r: (["export", str(fifo(r, "p.json")), "--to", "vllm"], [])),
        (
            "SkyPilot vms.csv",
            lambda r: (["catalog", "refresh", "--skypilot", str(fifo(r, "sky/aws/vms.csv").parents[1])], []),
        ),
    ]
    for label, make in fifo_cases:

        def build_fifo(repo: Path, make: Callable[[Path], tuple[list[str], list[Path]]] = make) -> Setup:
            args, inputs = make(repo)
            return Setup(args, inputs=inputs, timeout_s=15, max_wall_s=10)

        case("hangs", f"FIFO as {label}")(build_fifo)

    @case("hangs", "JSONL trace: one 64 MB line")
    def _(repo: Path) -> Setup:
        write(repo, "t.jsonl", b'{"in": 5, "out": 5, "pad": "' + b"x" * (64 * MiB) + b'"}\n')
        spec = spec_file(repo, trace_spec("t.jsonl", "jsonl"))
        return Setup(["plan", str(spec)], expect=(2,), inputs=[spec], max_rss_mb=600)

    # ---------------------------------------------------------------- data loss
    def same_input(args: Callable[[Path], tuple[list[str], Path]], label: str) -> None:
        def build(repo: Path) -> Setup:
            argv, victim = args(repo)
            return Setup(argv, inputs=[victim])

        case("data-loss", label)(build)

    same_input(lambda r: (["plan", str(p := spec_file(r)), "-o", str(p)], p), "plan s.yaml -o s.yaml")
    same_input(
        lambda r: (["plan", str(p := spec_file(r)), "-o", str(r / "." / "spec.yaml")], p), "plan s.yaml -o ./././s.yaml"
    )
    same_input(
        lambda r: (["import", "melange", str(p := write(r, "m.json", MELANGE)), "-o", str(p)], p),
        "import melange m.json -o m.json",
    )
    same_input(
        lambda r: (["sweep", str(p := spec_file(r)), "--rate", "2,4", "-o", str(p)], p), "sweep s.yaml -o s.yaml"
    )

    @case("data-loss", "plan -o the trace it reads")
    def _(repo: Path) -> Setup:
        shutil.copy(ROOT / "tests/data/traces/azure-2023-code-excerpt.csv", repo / "t.csv")
        spec = spec_file(repo, trace_spec("t.csv", "azure-2023"))
        return Setup(["plan", str(spec), "-o", str(repo / "t.csv")], inputs=[spec, repo / "t.csv"])

    @case("data-loss", "plan -o the --catalog overlay")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)
        overlay = write(repo, "o.yaml", "schema_version: 1\n")
        return Setup(["plan", str(spec), "--catalog", str(overlay), "-o", str(overlay)], inputs=[spec, overlay])

    @case("data-loss", "plan -o a hard link of the spec")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)
        os.link(spec, repo / "alias.yaml")
        return Setup(["plan", str(spec), "-o", str(repo / "alias.yaml")], inputs=[spec])

    @case("data-loss", "plan -o a symlink to the spec")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)
        (repo / "link.yaml").symlink_to(spec)
        return Setup(["plan", str(spec), "-o", str(repo / "link.yaml")], inputs=[spec, repo / "link.yaml"])

    @case("data-loss", "simulate plan.json -o plan.json")
    def _(repo: Path) -> Setup:
        shutil.copy(fx.plan, repo / "plan.json")
        spec = write(repo, "base.yaml", BASE)
        return Setup(
            [
                "simulate",
                str(repo / "plan.json"),
                "--spec",
                str(spec),
                "--duration",
                "5",
                "-o",
                str(repo / "plan.json"),
            ],
            inputs=[spec, repo / "plan.json"],
        )

    @case("data-loss", "-o through a symlink keeps the link")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)
        (repo / "real").mkdir()
        target = write(repo, "real/out.json", "old\n")
        (repo / "out.json").symlink_to(target)

        def check() -> str | None:
            if not (repo / "out.json").is_symlink():
                return "the symlink was replaced by a file"
            return None if target.read_text().startswith("{") else "the link's target was not written"

        return Setup(
            ["plan", str(spec), "-f", "json", "-o", str(repo / "out.json")],
            expect=(0,),
            inputs=[spec],
            checks=[file_check(check)],
        )

    for mode in (0o644, 0o600, 0o664):

        def build_mode(repo: Path, mode: int = mode) -> Setup:
            spec = spec_file(repo)
            out_path = write(repo, "out.json", "old\n")
            out_path.chmod(mode)

            def check() -> str | None:
                got = stat.S_IMODE(out_path.stat().st_mode)
                return None if got == mode else f"mode {got:o}, was {mode:o}"

            return Setup(
                ["plan", str(spec), "-f", "json", "-o", str(out_path)],
                expect=(0,),
                inputs=[spec],
                checks=[file_check(check)],
            )

        case("data-loss", f"-o over an existing {mode:o} file keeps its mode")(build_mode)

    @case("data-loss", "-o a new file is 0644 under umask 022")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)

        def check() -> str | None:
            got = stat.S_IMODE((repo / "new.json").stat().st_mode)
            return None if got == 0o644 else f"mode {got:o}"

        return Setup(
            ["plan", str(spec), "-f", "json", "-o", str(repo / "new.json")],
            expect=(0,),
            inputs=[spec],
            checks=[file_check(check)],
        )

    @case("data-loss", "-o a character device (a /dev/null twin) stays a device")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)
        dev = repo / "null"
        try:
            os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        except PermissionError:  # not root: the real /dev/null cannot be replaced anyway
            dev = Path("/dev/null")

        def check() -> str | None:
            return None if stat.S_ISCHR(dev.stat().st_mode) else f"{dev} is no longer a character device"

        return Setup(
            ["plan", str(spec), "-f", "json", "-o", str(dev)], expect=(0,), inputs=[spec], checks=[file_check(check)]
        )

    @case("data-loss", "-o /dev/stdout (a twin link to /proc/self/fd/1) writes the document to stdout")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)
        twin = repo / "stdout"  # never the real /dev/stdout: as root, a faulty build replaces it with a file
        twin.symlink_to("/proc/self/fd/1")

        def check() -> str | None:
            return None if twin.is_symlink() else "the link was replaced by a file"

        return Setup(
            ["plan", str(spec), "-f", "json", "-o", str(twin)],
            expect=(0,),
            inputs=[spec],
            checks=[out_has('"schema_version"'), file_check(check)],
        )

    @case("data-loss", "-o - writes the document to stdout")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)

        def check() -> str | None:
            return "a file named '-' was written" if (repo / "-").exists() else None

        return Setup(
            ["plan", str(spec), "-f", "json", "-o", "-"],
            expect=(0,),
            inputs=[spec],
            checks=[out_has('"schema_version"'), file_check(check)],
        )

    @case("data-loss", "sweep --plot onto the spec")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo)
        png = repo / "s.png"
        shutil.copy(spec, png)
        return Setup(
            ["sweep", str(spec), "--rate", "2,4", "--plot", str(png), "--catalog", str(png)], inputs=[spec, png]
        )

    # ---------------------------------------------------------------- limits
    def limit_case(name: str, args: list[str], wall: float, **kw: Any) -> None:
        def build(repo: Path) -> Setup:
            return Setup(args, expect=(0, 1), max_wall_s=wall, timeout_s=wall + 60, max_rss_mb=3000, **kw)

        case("limits", name)(build)

    limit_case("plan --time-limit 5 (24 models, whole-slice)", ["plan", str(fx.hard), "--time-limit", "5"], 12)
    limit_case("plan --time-limit 5 --solver cbc", ["plan", str(fx.hard), "--time-limit", "5", "--solver", "cbc"], 12)

    @case("limits", "spec time_limit_s: 5 covers the whole run")
    def _(repo: Path) -> Setup:
        data = yaml.safe_load(fx.hard.read_text())
        data["solver"]["time_limit_s"] = 5
        spec = write(repo, "spec.yaml", data)
        return Setup(["plan", str(spec)], expect=(0, 1), max_wall_s=12, timeout_s=80, inputs=[spec], max_rss_mb=3000)

    @case("limits", "sweep: spec time_limit_s: 5 covers every point")
    def _(repo: Path) -> Setup:
        data = yaml.safe_load(fx.hard.read_text())
        data["solver"]["time_limit_s"] = 5
        spec = write(repo, "spec.yaml", data)
        return Setup(
            ["sweep", str(spec), "--rate", "50,100,150"],
            expect=(0, 1),
            max_wall_s=12,
            timeout_s=200,
            inputs=[spec],
            max_rss_mb=3000,
        )

    for solver in ("highs", "cbc"):
        for sig, group, code in ((signal.SIGINT, True, 130), (signal.SIGTERM, False, 143), (signal.SIGINT, False, 130)):

            def build_sig(
                repo: Path, solver: str = solver, sig: int = sig, group: bool = group, code: int = code
            ) -> Setup:
                return Setup(
                    ["plan", str(fx.hard), "--solver", solver],
                    expect=(code,),
                    signal_after=(12.0, sig, group),
                    timeout_s=60,
                    max_rss_mb=3000,
                    checks=[has("interrupt")],
                )

            who = "the process group" if group else "gpuplan only"
            case("limits", f"{signal.Signals(sig).name} to {who} during a {solver} solve")(build_sig)

    @case("limits", "SIGINT while estimating capacities")
    def _(repo: Path) -> Setup:
        return Setup(
            ["plan", str(fx.hard)],
            expect=(130,),
            signal_after=(3.0, signal.SIGINT, True),
            timeout_s=60,
            max_rss_mb=3000,
        )

    @case("limits", "10,000 models: validate in linear memory")
    def _(repo: Path) -> Setup:
        models = [{**BASE["models"][0], "name": f"m{i}"} for i in range(10_000)]
        spec = write(repo, "spec.yaml", spec_with({"models": models}))
        return Setup(["validate", str(spec)], expect=(0,), inputs=[spec], max_rss_mb=1500, timeout_s=300)

    @case("limits", "10,000 models: plan --time-limit 20 in linear memory")
    def _(repo: Path) -> Setup:
        models = [{**BASE["models"][0], "name": f"m{i}"} for i in range(10_000)]
        spec = write(repo, "spec.yaml", spec_with({"models": models}))
        return Setup(
            ["plan", str(spec), "--time-limit", "20"],
            expect=(0, 1),
            inputs=[spec],
            max_rss_mb=3000,
            max_wall_s=30,
            timeout_s=120,
        )

    # ---------------------------------------------------------------- injection
    for command in ("plan", "validate"):
        for label in ("[/]", "[bold red]x", "[link=file:///etc/passwd]x[/link]"):

            def build_name(repo: Path, command: str = command, label: str = label) -> Setup:
                spec = spec_file(repo, {"models[0].name": label})
                return Setup([command, str(spec)], expect=(0,), inputs=[spec], checks=[out_has(label)])

            case("injection", f"{command}: a model named {label!r} (table)")(build_name)

    @case("injection", "check: a model named '[/]' (table)")
    def _(repo: Path) -> Setup:
        return Setup(
            ["check", str(fx.plan_named), "--baseline", str(fx.plan_named)], expect=(0,), checks=[out_has("[/]")]
        )

    @case("injection", "validate: emoji code in the file name")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo, name=":thumbs_up:.yaml")
        return Setup(["validate", str(spec)], expect=(0,), inputs=[spec], checks=[out_has(":thumbs_up:")])

    def md_checks(hostile: str) -> list[Check]:
        def no_raw(r: Run) -> str | None:
            return "raw HTML from a name in the Markdown" if "<img" in r.out or "<!--" in r.out else None

        def rows(r: Run) -> str | None:
            for line in r.out.splitlines():
                if line.startswith("|") and not line.rstrip().endswith("|"):
                    return f"a table row broken by a name: {line[:80]!r}"
            return None

        return [no_raw, rows]

    for label in ("<img src=x onerror=alert(1)>", "a|b|c", "line1\nline2", "<!-- hide the rest"):
        for command in ("plan", "sweep"):

            def build_md(repo: Path, label: str = label, command: str = command) -> Setup:
                spec = spec_file(repo, {"models[0].name": label})
                extra = ["--rate", "2,4"] if command == "sweep" else []
                return Setup(
                    [command, str(spec), "-f", "md", *extra], expect=(0,), inputs=[spec], checks=md_checks(label)
                )

            case("injection", f"{command} -f md: a model named {label!r}")(build_md)

    @case("injection", "check -f md: a model named '[/]' and HTML")
    def _(repo: Path) -> Setup:
        doc = json.loads(fx.plan.read_text())
        text = json.dumps(doc).replace("llama-3.1-8b", "<img src=x onerror=alert(1)>|x")
        p = write(repo, "p.json", text)
        return Setup(["check", str(p), "--baseline", str(p), "-f", "md"], expect=(0, 2), checks=md_checks("<img"))

    @case("injection", "plan -f md: an overlay offering with HTML in its instance type")
    def _(repo: Path) -> Setup:
        overlay = {
            "schema_version": 1,
            "offerings": [
                {
                    "cloud": "aws",
                    "region": "us-east-1",
                    "instance_type": "<img src=x>|y",
                    "gpu": "l4",
                    "gpus_per_instance": 1,
                    "price_usd_per_hour": 0.01,
                    "source": "test",
                    "as_of": "2026-01",
                }
            ],
        }
        o = write(repo, "o.yaml", overlay)
        spec = spec_file(repo)
        return Setup(
            ["plan", str(spec), "--catalog", str(o), "-f", "md"],
            expect=(0, 2),
            inputs=[spec, o],
            checks=md_checks("<img"),
        )

    # ---------------------------------------------------------------- gate
    def check_case(name: str, mutate: Callable[[dict[str, Any]], None], baseline_too: bool = False) -> None:
        def build(repo: Path) -> Setup:
            doc = plan_doc(fx)
            mutate(doc)
            text = json.dumps(doc, allow_nan=True)
            p = write(repo, "p.json", text)
            base = p if baseline_too else fx.plan
            return Setup(["check", str(p), "--baseline", str(base)], expect=(2,))

        case("gate", name)(build)

    def setter(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
        def mutate(doc: dict[str, Any]) -> None:
            node: Any = doc
            parts = path.split(".")
            for p in parts[:-1]:
                node = node[int(p)] if p.isdigit() else node[p]
            node[parts[-1]] = value

        return mutate

    check_case("check: cost null", setter("data.total_cost_usd_per_hour", None))
    check_case("check: cost NaN", setter("data.total_cost_usd_per_hour", float("nan")))
    check_case("check: cost Infinity", setter("data.total_cost_usd_per_hour", float("inf")))
    check_case("check: cost a string", setter("data.total_cost_usd_per_hour", "4.8"))
    check_case("check: cost negative", setter("data.total_cost_usd_per_hour", -1.0))
    check_case("check: cost missing", lambda d: d["data"].pop("total_cost_usd_per_hour"))
    check_case("check: baseline cost NaN", setter("data.total_cost_usd_per_hour", float("nan")), baseline_too=True)
    check_case("check: a NaN latency", setter("data.routing.0.routes.0.ttft_ms", float("nan")))
    check_case("check: a NaN latency in the baseline", setter("data.routing.0.routes.0.ttft_ms", float("nan")), True)
    check_case("check: total_gpus 1e400", setter("data.total_gpus", float("inf")))

    @case("gate", "check: a duplicated key in the plan JSON")
    def _(repo: Path) -> Setup:
        text = fx.plan.read_text().replace(
            '"total_cost_usd_per_hour":', '"total_cost_usd_per_hour": 0.0, "total_cost_usd_per_hour":', 1
        )
        p = write(repo, "p.json", text)
        return Setup(["check", str(p), "--baseline", str(fx.plan)], expect=(2,))

    for where, text in (
        ("rate_rps", "    rate_rps: 5\n    rate_rps: 5000\n"),
        ("top-level name", None),
    ):

        def build_dup(repo: Path, text: str | None = text) -> Setup:
            base = yaml.safe_dump(spec_with(), sort_keys=False)
            body = base + "name: other\n" if text is None else base.replace("    rate_rps: 4\n", text)
            spec = write(repo, "spec.yaml", body)
            return Setup(["plan", str(spec)], inputs=[spec], needles=("duplicate",))

        case("gate", f"spec: duplicated key ({where})")(build_dup)

    @case("gate", "overlay: duplicated key")
    def _(repo: Path) -> Setup:
        o = write(repo, "o.yaml", "schema_version: 1\nschema_version: 1\n")
        spec = spec_file(repo)
        return Setup(["validate", str(spec), "--catalog", str(o)], inputs=[spec, o], needles=("duplicate",))

    @case("gate", "import melange: duplicated key")
    def _(repo: Path) -> Setup:
        text = json.dumps(MELANGE).replace(
            '"total_request_rate": 30.0', '"total_request_rate": 30.0, "total_request_rate": 3000'
        )
        m = write(repo, "m.json", text)
        return Setup(["import", "melange", str(m)], inputs=[m], needles=("duplicate",))

    # ---------------------------------------------------------------- internal errors
    devzero: list[tuple[str, Callable[[Path], list[str]]]] = [
        ("spec (plan)", lambda r: ["plan", "/dev/zero"]),
        ("spec (validate)", lambda r: ["validate", "/dev/zero"]),
        ("trace", lambda r: ["plan", str(spec_file(r, trace_spec("/dev/zero", "azure-2023")))]),
        (
            "profile csv",
            lambda r: ["plan", str(spec_file(r, {"profiles": [{"model": "llama-3.1-8b", "csv": "/dev/zero"}]}))],
        ),
        ("--catalog", lambda r: ["plan", str(spec_file(r)), "--catalog", "/dev/zero"]),
        ("catalog.files", lambda r: ["plan", str(spec_file(r, {"catalog": {"files": ["/dev/zero"]}}))]),
        ("check plan", lambda r: ["check", "/dev/zero", "--baseline", str(fx.plan)]),
        ("check baseline", lambda r: ["check", str(fx.plan), "--baseline", "/dev/zero"]),
        ("import melange", lambda r: ["import", "melange", "/dev/zero"]),
        (
            "estimate --model",
            lambda r: ["estimate", "--model", "/dev/zero", "--gpu", "l4", "--input-len", "9", "--output-len", "9"],
        ),
        ("simulate plan", lambda r: ["simulate", "/dev/zero", "--spec", str(spec_file(r))]),
        ("export plan", lambda r: ["export", "/dev/zero", "--to", "vllm"]),
        (
            "SkyPilot vms.csv",
            lambda r: ["catalog", "refresh", "--skypilot", str(zero_link(r, "sky/aws/vms.csv").parents[1])],
        ),
    ]
    for label, make_args in devzero:

        def build_zero(repo: Path, make_args: Callable[[Path], list[str]] = make_args) -> Setup:
            return Setup(make_args(repo), timeout_s=20, max_wall_s=10, max_rss_mb=800)

        case("internal", f"/dev/zero as {label}")(build_zero)

    deep_cases: list[tuple[str, Callable[[Path], list[str]]]] = [
        ("melange input", lambda r: ["import", "melange", str(write(r, "m.json", deep_json()))]),
        (
            "HF config",
            lambda r: [
                "estimate",
                "--model",
                str(write(r, "config.json", '{"a": ' + deep_json() + "}")),
                "--gpu",
                "l4",
                "--input-len",
                "9",
                "--output-len",
                "9",
            ],
        ),
        ("plan JSON", lambda r: ["check", str(write(r, "p.json", deep_json())), "--baseline", str(fx.plan)]),
        (
            "JSONL trace line",
            lambda r: (
                write(r, "t.jsonl", '{"in": 5, "out": 5, "x": ' + deep_json() + "}\n"),
                ["plan", str(spec_file(r, trace_spec("t.jsonl", "jsonl")))],
            )[1],
        ),
        ("YAML spec (flow)", lambda r: ["validate", str(write(r, "spec.yaml", deep_json()))]),
        (
            "YAML spec (block)",
            lambda r: [
                "validate",
                str(write(r, "spec.yaml", "".join(" " * i + "- \n" for i in range(3000)) + " " * 3000 + "x\n")),
            ],
        ),
        (
            "overlay YAML",
            lambda r: ["validate", str(spec_file(r)), "--catalog", str(write(r, "o.yaml", "gpus: " + deep_json()))],
        ),
        (
            "vllm bench JSON",
            lambda r: (
                write(r, "b.json", deep_json()),
                [
                    "plan",
                    str(spec_file(r, {"profiles": [{"model": "llama-3.1-8b", "vllm_bench": ["b.json"], "gpu": "l4"}]})),
                ],
            )[1],
        ),
    ]
    for label, make_args in deep_cases:

        def build_deep(repo: Path, make_args: Callable[[Path], list[str]] = make_args) -> Setup:
            return Setup(make_args(repo), timeout_s=30, max_wall_s=15)

        case("internal", f"deep nesting: {label}")(build_deep)

    est_tail = ["--gpu", "l4", "--input-len", "9", "--output-len", "9"]

    def number_args(what: str, r: Path, v: float) -> list[str]:
        """The command that reads `v` in the field `what`."""
        if what.startswith("melange"):
            field_path = {"cost": "gpu_info.A10G.cost", "tput": "gpu_info.A10G.tputs", "rate": "total_request_rate"}
            key = field_path[what.split()[1]]
            value: object = [[v, 1], [5, 2]] if key.endswith("tputs") else v
            return ["import", "melange", str(write(r, "m.json", spec_with({key: value}, MELANGE)))]
        if what.startswith("HF config"):
            cfg = write(r, "config.json", {**HF_CONFIG, what.split()[2]: v})
            return ["estimate", "--model", str(cfg), *est_tail]
        if what == "trace csv length":
            write(r, "t.csv", f"in,out,ts\n{v},5,0\n")
            return ["plan", str(spec_file(r, trace_spec("t.csv", "csv")))]
        if what == "trace jsonl length":
            write(r, "t.jsonl", json.dumps({"in": v, "out": 5}) + "\n")
            return ["plan", str(spec_file(r, trace_spec("t.jsonl", "jsonl")))]
        if what.startswith("distribution"):
            dist: dict[str, Any] = (
                {"kind": "lognormal", "median": v, "sigma": 1}
                if what.endswith("median")
                else {"kind": "uniform", "min": 1, "max": v}
            )
            wl = {"rate_rps": 4, "distribution": {"input": dist, "output": {"kind": "constant", "value": 10}}}
            return ["plan", str(spec_file(r, {"models[0].workload": wl}))]
        if what == "overlay gpu memory_gb":
            overlay = write(r, "o.yaml", {"schema_version": 1, "gpus": [{"id": "l4", "memory_gb": v}]})
            return ["validate", str(spec_file(r)), "--catalog", str(overlay)]
        table: dict[str, dict[str, Any]] = {
            "spec rate_rps": {"models[0].workload.rate_rps": v},
            "spec input_len": {"models[0].workload.histogram[0].input_len": v},
            "spec price_overrides": {"offerings.price_overrides": {"aws:us-east-1:g6.xlarge": v}},
            "spec tp": {"search.tp": [v]},
        }
        changes = table[what]
        return ["plan", str(spec_file(r, changes))]

    number_fields = (
        "melange cost",
        "melange tput",
        "melange rate",
        "HF config hidden_size",
        "HF config max_position_embeddings",
        "trace csv length",
        "trace jsonl length",
        "distribution median",
        "distribution max",
        "overlay gpu memory_gb",
        "spec rate_rps",
        "spec input_len",
        "spec price_overrides",
        "spec tp",
    )
    for number, vname in ((10**5000 - 1, "5000-digit integer"), (1e308, "1e308")):
        for what in number_fields:

            def build_num(repo: Path, what: str = what, number: float = number) -> Setup:
                return Setup(number_args(what, repo, number), expect=(2,), timeout_s=40, max_wall_s=20)

            case("internal", f"{what} {vname}")(build_num)

    @case("internal", "corrupt .gz trace")
    def _(repo: Path) -> Setup:
        raw = gzip.compress(
            b"TIMESTAMP,ContextTokens,GeneratedTokens\n" + b"2023-11-16 18:17:03.9799600,4808,10\n" * 2000
        )
        write(repo, "t.csv.gz", raw[: len(raw) // 2] + b"\x00garbage" * 10)
        spec = spec_file(repo, trace_spec("t.csv.gz", "azure-2023"))
        return Setup(["plan", str(spec)], inputs=[spec])

    for argv in (
        ["catalog", "gpus"],
        ["plan", "{spec}"],
        ["plan", "{spec}", "-f", "md"],
        ["import", "melange", "{mel}"],
    ):

        def build_ascii(repo: Path, command: list[str] = argv) -> Setup:
            spec = spec_file(repo, {"models[0].name": "modèle-λ"})
            mel = write(repo, "m.json", MELANGE)
            args = [a.format(spec=spec, mel=mel) for a in command]
            return Setup(args, expect=(0,), inputs=[spec, mel], env={"PYTHONIOENCODING": "ascii"})

        case("internal", f"PYTHONIOENCODING=ascii: {' '.join(argv[:3])}")(build_ascii)

    for argv in (["catalog", "gpus"], ["plan", "{spec}", "-f", "json"], ["validate", "{spec}"]):

        def build_full(repo: Path, command: list[str] = argv) -> Setup:
            spec = spec_file(repo)
            return Setup(
                [a.format(spec=spec) for a in command],
                expect=(2,),
                inputs=[spec],
                stdout_path="/dev/full",
                needles=("No space left",),
            )

        case("internal", f"stdout is /dev/full: {' '.join(argv[:2])}")(build_full)

    # ---------------------------------------------------------------- wrong answers
    @case("wrong", "min_replicas: 1e9")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo, {"models[0].min_replicas": 1_000_000_000})
        return Setup(["plan", str(spec)], inputs=[spec], needles=("min_replicas",))

    @case("wrong", "use_trace_rate with timestamps of +-1e308")
    def _(repo: Path) -> Setup:
        write(repo, "t.csv", "in,out,ts\n5,5,-1e308\n6,6,1e308\n7,7,0\n")
        spec = spec_file(
            repo,
            {
                "models[0].workload": {
                    "trace": {
                        "path": "t.csv",
                        "format": "csv",
                        "use_trace_rate": True,
                        "columns": {"input_len": "in", "output_len": "out", "timestamp": "ts"},
                    }
                }
            },
        )
        return Setup(["plan", str(spec)], inputs=[spec], needles=("timestamp",))

    place = ["place", "--model", "opt-30b", "--gpu", "t4", "--input-len", "512", "--output-len", "32"]
    for flag, value in (
        ("--cpu-mem-gb", "inf"),
        ("--cpu-mem-gb", "nan"),
        ("--disk-gb", "1e308"),
        ("--max-latency-s", "-1"),
    ):

        def build_place(repo: Path, flag: str = flag, value: str = value) -> Setup:
            return Setup([*place, flag, value], needles=(flag,))

        case("wrong", f"place {flag} {value}")(build_place)

    @case("wrong", "import melange: an all-zero capacity matrix")
    def _(repo: Path) -> Setup:
        m = write(
            repo,
            "m.json",
            spec_with({"gpu_info.A10G.tputs": [[0, 0], [0, 0]], "gpu_info.A100-80GB.tputs": [[0, 0], [0, 0]]}, MELANGE),
        )
        return Setup(["import", "melange", str(m)], inputs=[m], needles=("tputs",))

    est = ["estimate", "--model", "llama-3.1-8b", "--gpu", "h100-sxm", "--input-len", "100", "--output-len", "100"]
    for flags, needle in (
        (["--tp", "3"], "--tp"),
        (["--tp", "0"], "--tp"),
        (["--tp", "99999999999999999999"], "--tp"),
        (["--rate", "inf"], "--rate"),
        (["--rate", "nan"], "--rate"),
        (["--gpu-memory-utilization", "5"], "--gpu-memory-utilization"),
        (["--concurrency", "1e9"], "--concurrency"),
        (["--max-model-len", "-5"], "--max-model-len"),
    ):

        def build_est(repo: Path, flags: list[str] = flags, needle: str = needle) -> Setup:
            return Setup([*est, *flags], needles=(needle,))

        case("wrong", f"estimate {' '.join(flags)}")(build_est)

    @case("wrong", "estimate --input-len beyond the context window")
    def _(repo: Path) -> Setup:
        return Setup(
            [
                "estimate",
                "--model",
                "llama-3.1-8b",
                "--gpu",
                "h100-sxm",
                "--input-len",
                "10000000",
                "--output-len",
                "10",
            ],
            needles=("context window",),
        )

    @case("wrong", "plan: lengths beyond the context window name it")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo, {"models[0].workload.histogram[0].input_len": 400_000})
        return Setup(
            ["plan", str(spec)],
            expect=(1, 2),
            inputs=[spec],
            checks=[lambda r: None if "context window" in norm(r.err + r.out) else "no mention of the context window"],
        )

    @case("wrong", "trace: a non-UTF-8 byte names its line")
    def _(repo: Path) -> Setup:
        write(repo, "t.csv", b"in,out,ts\n5,5,0\n6,6,1\n7,\xff7,2\n")
        spec = spec_file(repo, trace_spec("t.csv", "csv"))
        return Setup(["plan", str(spec)], inputs=[spec], needles=("line 4",))

    @case("wrong", "--debug keeps exit 2 for bad input")
    def _(repo: Path) -> Setup:
        spec = spec_file(repo, {"models[0].workload.rate_rps": -1})
        return Setup(["--debug", "plan", str(spec)], inputs=[spec], checks=[])

    @case("wrong", "vllm_bench: a glob as in the README")
    def _(repo: Path) -> Setup:
        (repo / "runs").mkdir()
        for f in ("a-rate2.json", "a-rate8.json"):
            shutil.copy(ROOT / "tests/data/profiles" / f, repo / "runs" / f)
        spec = spec_file(repo, {"profiles": [{"model": "llama-3.1-8b", "vllm_bench": ["runs/*.json"], "gpu": "l4"}]})
        return Setup(["validate", str(spec)], expect=(0,), inputs=[spec])

    for flags in (["--rate", "nan,4"], ["--rate", "1e400"], ["--tpot-ms", "inf"], ["--rate", ",".join(["1"] * 5000)]):

        def build_sweep(repo: Path, flags: list[str] = flags) -> Setup:
            spec = spec_file(repo)
            return Setup(["sweep", str(spec), *flags], inputs=[spec], needles=(flags[0],), max_wall_s=20)

        case("wrong", f"sweep {' '.join(flags)[:40]}")(build_sweep)

    for flags in (
        ["--duration", "1e308"],
        ["--rate-factor", "inf"],
        ["--warmup", "nan"],
        ["--prefix-cache-hit", "2"],
        ["--burstiness", "-1"],
        ["--duration", "100", "--rate", "1e7"],  # 1e9 requests: was a MemoryError (exit 3)
    ):

        def build_sim(repo: Path, flags: list[str] = flags) -> Setup:
            spec = write(repo, "base.yaml", BASE)
            return Setup(
                ["simulate", str(fx.plan), "--spec", str(spec), *flags],
                inputs=[spec],
                needles=(flags[0],),
                max_wall_s=20,
            )

        case("wrong", f"simulate {' '.join(flags)}")(build_sim)

    for flags in (["--cost-tolerance", "nan"], ["--cost-tolerance", "-1"], ["--cost-tolerance", "1e308"]):

        def build_tol(repo: Path, flags: list[str] = flags) -> Setup:
            return Setup(["check", str(fx.plan), "--baseline", str(fx.plan), *flags], needles=("--cost-tolerance",))

        case("wrong", f"check {' '.join(flags)}")(build_tol)

    for flags in (["gpus", "--min-memory-gb", "nan"], ["offerings", "--max-price", "-inf"]):

        def build_cat(repo: Path, flags: list[str] = flags) -> Setup:
            return Setup(["catalog", *flags], needles=(flags[1],))

        case("wrong", f"catalog {' '.join(flags)}")(build_cat)

    return out


# ------------------------------------------------------------------------------------------ running
def snapshot(paths: list[Path]) -> dict[Path, tuple[bool, int, str]]:
    out = {}
    for p in paths:
        st = os.lstat(p)
        digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        out[p] = (stat.S_ISLNK(st.st_mode), stat.S_IMODE(os.stat(p).st_mode), digest)
    return out


def session_members(sid: int) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        rest = text[text.rfind(")") + 2 :].split()
        if int(rest[3]) == sid:  # field 6: session id
            found.append(f"{entry.name} {text[text.find('(') + 1 : text.rfind(')')]}")
    return found


def run_case(exe: str, case: Case, folder: Path) -> Outcome:  # noqa: C901 - one case end to end, in order
    repo = folder / "repo"
    repo.mkdir(parents=True)
    tmp = folder / "tmp"
    tmp.mkdir()
    try:
        setup = case.build(repo)
    except Exception as exc:  # a case that cannot be built is a bug of this script
        return Outcome(case, [f"setup failed: {type(exc).__name__}: {exc}"], None)
    before = snapshot(setup.inputs)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "NO_COLOR")}
    env.update({"TMPDIR": str(tmp), "TMP": str(tmp), "TEMP": str(tmp), **setup.env})
    out_file = folder / "stdout"
    err_file = folder / "stderr"

    def limits() -> None:
        import resource  # noqa: PLC0415 - Unix only, and only in the child before it runs gpuplan

        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
        os.umask(0o022)

    stdout_target = setup.stdout_path or str(out_file)
    with open(stdout_target, "wb") as out_fh, err_file.open("wb") as err_fh:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [exe, *setup.args],
            cwd=repo,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out_fh,
            stderr=err_fh,
            start_new_session=True,
            preexec_fn=limits,
        )
        signalled_at: float | None = None
        status: int | None = None
        rss_kb = 0
        while True:
            pid, wstatus, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                status = os.waitstatus_to_exitcode(wstatus)
                rss_kb = usage.ru_maxrss
                break
            now = time.monotonic()
            if setup.signal_after and signalled_at is None and now - t0 >= setup.signal_after[0]:
                _, sig, group = setup.signal_after
                if group:
                    os.killpg(proc.pid, sig)
                else:
                    os.kill(proc.pid, sig)
                signalled_at = now
            if now - t0 > setup.timeout_s:
                os.killpg(proc.pid, signal.SIGKILL)
                _, wstatus, usage = os.wait4(proc.pid, 0)
                rss_kb = usage.ru_maxrss
                break
            time.sleep(0.02)
        wall = time.monotonic() - t0
        proc.returncode = 0  # reaped above; keep Popen from waiting again
    code = None if status is None else (128 - status if status < 0 else status)
    leftovers = session_members(proc.pid)
    if leftovers:
        os.killpg(proc.pid, signal.SIGKILL)
    out = "" if setup.stdout_path else out_file.read_text(errors="replace")
    err = err_file.read_text(errors="replace")
    run = Run(code, out, err, wall, rss_kb / 1024, leftovers, sorted(p.name for p in tmp.iterdir()))

    problems: list[str] = []
    if code is None:
        problems.append(f"hang: killed after {setup.timeout_s:g} s")
    elif code not in setup.expect:
        problems.append(f"exit {code}, expected {'/'.join(map(str, setup.expect))}")
    if "Traceback" in err + out and "--debug" not in setup.args:
        problems.append("traceback")
    if "internal error" in err:
        problems.append("internal error")
    if CANARY in err + out:
        problems.append("secret echoed")
    for p, (link, mode, digest) in before.items():
        try:
            now_state = snapshot([p])[p]
        except OSError:
            problems.append(f"input {p.name} removed")
            continue
        if now_state != (link, mode, digest):
            problems.append(f"input {p.name} modified")
    if leftovers:
        problems.append(f"left processes: {', '.join(leftovers)}")
    if run.leftover_tmp:
        problems.append(f"left temp files: {', '.join(run.leftover_tmp[:3])}")
    if run.rss_mb > setup.max_rss_mb:
        problems.append(f"peak memory {run.rss_mb:.0f} MB > {setup.max_rss_mb:.0f} MB")
    if setup.max_wall_s is not None and code is not None and wall > setup.max_wall_s:
        problems.append(f"took {wall:.1f} s > {setup.max_wall_s:g} s")
    if signalled_at is not None and code is not None and time.monotonic() - t0 >= 0:
        stopped = t0 + wall - signalled_at
        if stopped > setup.stop_within_s:
            problems.append(f"stopped {stopped:.1f} s after the signal (> {setup.stop_within_s:g} s)")
    if code is not None:
        for needle in setup.needles:
            if needle not in norm(err):
                problems.append(f"message lacks {needle!r}")
        for chk in setup.checks:
            msg = chk(run)
            if msg:
                problems.append(msg)
    return Outcome(case, problems, run)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", default="", help="only cases whose kind or name contains this")
    ap.add_argument("-j", type=int, default=2, help="cases run at a time")
    ap.add_argument("-v", action="store_true", help="a line for every case")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    opts = ap.parse_args()
    exe = console_script()
    work = Path(tempfile.mkdtemp(prefix="gpuplan-hostile-"))
    try:
        fx = make_fixtures(work / "fixtures", exe)
        selected = [c for c in cases(fx) if opts.k in f"{c.kind} {c.name}"]
        if opts.list:
            for c in selected:
                print(f"{c.kind:<10} {c.name}")
            return 0
        t0 = time.monotonic()
        cpu0 = os.times()
        with ThreadPoolExecutor(max_workers=opts.j) as pool:
            outcomes = list(pool.map(lambda ic: run_case(exe, ic[1], work / f"case{ic[0]:03d}"), enumerate(selected)))
        cpu1 = os.times()
        bad: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for o in outcomes:
            total[o.case.kind] += 1
            label = f"{o.case.kind:<10} {o.case.name}"
            timing = f"{o.run.wall_s:5.1f}s {o.run.rss_mb:5.0f}MB" if o.run else ""
            if o.problems:
                bad[o.case.kind] += 1
                print(f"FAIL {label}  [{timing}]: {'; '.join(o.problems)}")
            elif opts.v:
                print(f"ok   {label}  [{timing}]")
        print()
        print(f"{'kind':<12}{'cases':>6}{'misbehave':>11}")
        for kind in total:
            print(f"{kind:<12}{total[kind]:>6}{bad[kind]:>11}")
        print(f"{'all':<12}{sum(total.values()):>6}{sum(bad.values()):>11}")
        children_cpu = (cpu1.children_user - cpu0.children_user) + (cpu1.children_system - cpu0.children_system)
        print(f"wall {time.monotonic() - t0:.0f} s, CPU of the runs {children_cpu:.0f} s, {opts.j} at a time")
        return 1 if bad else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
