"""Hostile input, part 1: what gpuplan reads and writes, through the real CLI (issue 20).

Reading is bounded (no FIFO or device, no alias bomb, no duplicate key, no endless nesting, no huge
number), spec paths stay in the spec's folder unless allowed, no message quotes a file's content, and
`-o` never destroys an input, a link, a mode or a device. bench/hostile.py runs the same kinds (and more)
through the console script with time and memory limits.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from common import files
from tests.support import BASE_SPEC, assert_user_error, gpuplan, spec_with, write_spec

CANARY = "GPUPLAN-CANARY-4d1e"
WL = "models[0].workload"
MELANGE: dict[str, Any] = {
    "gpu_info": {"A10G": {"cost": 1.01, "tputs": [[2, 1], [5, 2]]}},
    "workload_distribution": [[0.2, 0.1], [0.5, 0.2]],
    "total_request_rate": 30.0,
    "slice_factor": 1,
}
ALIAS_BOMB = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)]
)


def repo_and_secret(tmp_path: Path) -> tuple[Path, Path]:
    """A repository folder holding the spec, and beside it the runner's secrets (a canary in each)."""
    repo, secret = tmp_path / "repo", tmp_path / "secret"
    repo.mkdir()
    secret.mkdir()
    (secret / "token.csv").write_text(f"{CANARY},x\n1,2\n")
    (secret / "config.json").write_text(json.dumps({CANARY: 1}))
    return repo, secret


def trace_spec(path: str, fmt: str = "csv") -> dict[str, Any]:
    trace: dict[str, Any] = {"path": path, "format": fmt}
    if fmt in ("csv", "jsonl"):
        trace["columns"] = {"input_len": "in", "output_len": "out"}
    return spec_with({WL: {"rate_rps": 4, "trace": trace}})


def no_canary(run: Any) -> None:
    assert CANARY not in run.out + run.err, str(run)


# ------------------------------------------------------------------------------------- special files
def skypilot_copy(tmp_path: Path, vms: Path) -> Path:
    """A SkyPilot catalog folder whose lambda/vms.csv is a link to `vms` (a FIFO, a device)."""
    (tmp_path / "sky" / "lambda").mkdir(parents=True)
    (tmp_path / "sky" / "lambda" / "vms.csv").symlink_to(vms)
    return tmp_path / "sky"


@pytest.mark.parametrize(
    "where", ["spec", "trace", "overlay", "plan", "melange", "hf-config", "simulate", "export", "skypilot"]
)
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, where: str) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # nobody writes to it: opening it blocking would wait forever
    spec = write_spec(tmp_path, trace_spec("pipe") if where == "trace" else BASE_SPEC)
    table: dict[str, list[str | Path]] = {
        "spec": ["validate", fifo],
        "trace": ["plan", spec],
        "overlay": ["validate", spec, "--catalog", fifo],
        "plan": ["check", fifo, "--baseline", fifo],
        "melange": ["import", "melange", fifo],
        "hf-config": ["estimate", "--model", fifo, "--gpu", "l4", "--input-len", "9", "--output-len", "9"],
        "simulate": ["simulate", fifo, "--spec", spec],
        "export": ["export", fifo, "--to", "vllm"],
        "skypilot": ["catalog", "refresh", "--skypilot", skypilot_copy(tmp_path, fifo)],
    }
    args = table[where]
    assert_user_error(gpuplan(*args), "vms.csv" if where == "skypilot" else "pipe", "FIFO")


@pytest.mark.parametrize("command", ["spec", "plan", "melange", "overlay", "trace", "simulate", "export", "skypilot"])
def test_dev_zero_is_refused(tmp_path: Path, command: str) -> None:
    spec = write_spec(tmp_path, trace_spec("/dev/zero") if command == "trace" else BASE_SPEC)
    table: dict[str, list[str | Path]] = {
        "spec": ["plan", "/dev/zero"],
        "plan": ["check", "/dev/zero", "--baseline", "/dev/zero"],
        "melange": ["import", "melange", "/dev/zero"],
        "overlay": ["validate", spec, "--catalog", "/dev/zero"],
        "trace": ["validate", spec, "--allow-path", "/dev"],
        "simulate": ["simulate", "/dev/zero", "--spec", spec],
        "export": ["export", "/dev/zero", "--to", "vllm"],
        "skypilot": ["catalog", "refresh", "--skypilot", skypilot_copy(tmp_path, Path("/dev/zero"))],
    }
    args = table[command]
    assert_user_error(gpuplan(*args), "vms.csv" if command == "skypilot" else "/dev/zero", "character device")


# ------------------------------------------------------------------------------------- YAML and JSON
def test_alias_bomb_in_a_spec_overlay_is_refused(tmp_path: Path) -> None:
    overlay = tmp_path / "o.yaml"
    overlay.write_text(ALIAS_BOMB + "\nnotes: *i\n")  # 10^9 values from 400 bytes
    assert_user_error(gpuplan("validate", write_spec(tmp_path, BASE_SPEC), "--catalog", overlay), "alias")


def test_alias_bomb_inline_in_a_spec_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(ALIAS_BOMB + "\n" + yaml.safe_dump(BASE_SPEC) + "catalog: {gpus: [{id: x, notes: *i}]}\n")
    assert_user_error(gpuplan("validate", spec), "spec.yaml", "alias")


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(BASE_SPEC) + "catalog: &c {gpus: [*c]}\n")
    assert_user_error(gpuplan("validate", spec), "alias")


def test_anchors_and_merge_keys_still_work(tmp_path: Path) -> None:
    """Ordinary YAML reuse is fine: an anchor, and a merge key whose keys the mapping overrides."""
    text = yaml.safe_dump({k: v for k, v in BASE_SPEC.items() if k != "models"}) + (
        "slo: &slo {ttft_ms: 1000, tpot_ms: 50}\n"
        "wl: &wl {rate_rps: 9, histogram: [{input_len: 500, output_len: 200, share: 1.0}]}\n"
        "models:\n"
        "  - {model: llama-3.1-8b, slo: *slo, workload: {<<: *wl, rate_rps: 4}}\n"
    )
    text = text.replace("slo: &slo", "x-slo: &slo").replace("wl: &wl", "x-wl: &wl")
    data = files.parse_yaml(text, "t")
    assert isinstance(data, dict) and data["models"][0]["workload"]["rate_rps"] == 4


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("    rate_rps: 4\n    rate_rps: 5000\n", "'rate_rps' (first given at line 5)"),
        (None, "'name' (first given at line 1)"),
    ],
    ids=["nested", "top-level"],
)
def test_duplicate_keys_in_a_spec_are_refused(tmp_path: Path, text: str | None, first: str) -> None:
    """`rate_rps: 5` then `rate_rps: 5000` was read as 5000 without a word."""
    base = yaml.safe_dump(BASE_SPEC, sort_keys=False)
    body = base + "name: other\n" if text is None else base.replace("    rate_rps: 4\n", text)
    assert body != base
    spec = tmp_path / "spec.yaml"
    spec.write_text(body)
    assert_user_error(gpuplan("plan", spec), "spec.yaml", "duplicate key", first)


def test_duplicate_keys_in_json_are_refused(tmp_path: Path) -> None:
    m = tmp_path / "m.json"
    m.write_text(json.dumps(MELANGE).replace('"slice_factor": 1', '"slice_factor": 1, "slice_factor": 9'))
    assert_user_error(gpuplan("import", "melange", m), "m.json", "duplicate key")
    plan = tmp_path / "p.json"
    plan.write_text('{"schema_version": "1", "schema_version": "1"}')
    assert_user_error(gpuplan("check", plan, "--baseline", plan), "p.json", "duplicate key")


@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_deep_nesting_is_refused(tmp_path: Path, kind: str) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    if kind == "json":
        p = tmp_path / "m.json"
        p.write_text(deep)
        assert_user_error(gpuplan("import", "melange", p), "m.json", "nested")
    else:
        p = tmp_path / "spec.yaml"
        p.write_text("models: " + "[" * 200 + "]" * 200 + "\n")
        assert_user_error(gpuplan("validate", p), "spec.yaml", "nested more than 64")


@pytest.mark.parametrize("kind", ["yaml", "json"])
def test_a_5000_digit_integer_is_an_input_error(tmp_path: Path, kind: str) -> None:
    digits = "9" * 5000
    if kind == "yaml":
        spec = tmp_path / "spec.yaml"
        spec.write_text(yaml.safe_dump(BASE_SPEC).replace("rate_rps: 4", f"rate_rps: {digits}"))
        assert_user_error(gpuplan("plan", spec), "spec.yaml", "digits")
    else:
        m = tmp_path / "m.json"
        m.write_text(json.dumps(MELANGE).replace("30.0", digits))
        assert_user_error(gpuplan("import", "melange", m), "m.json", "digits")


def test_a_huge_document_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_DOCUMENT_BYTES", 1000)
    spec = write_spec(tmp_path, spec_with({"name": "x" * 2000}))
    assert_user_error(gpuplan("validate", spec), "spec.yaml", "larger than")


def test_a_trace_line_beyond_the_cap_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "MAX_LINE_BYTES", 1000)
    (tmp_path / "t.jsonl").write_text('{"in": 5, "out": 5}\n{"in": 5, "out": 5, "pad": "' + "x" * 2000 + '"}\n')
    spec = write_spec(tmp_path, trace_spec("t.jsonl", "jsonl"))
    assert_user_error(gpuplan("validate", spec), "t.jsonl", "line 2 is longer than")


def test_a_non_utf8_byte_in_a_trace_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes(b"in,out\n5,5\n6,6\n7,\xff7\n")
    assert_user_error(gpuplan("validate", write_spec(tmp_path, trace_spec("t.csv"))), "t.csv", "line 4", "UTF-8")


# ------------------------------------------------------------------------------------- confinement
@pytest.mark.parametrize("how", ["climb", "absolute", "symlink", "home"])
def test_spec_paths_stay_in_the_spec_folder(tmp_path: Path, how: str) -> None:
    repo, secret = repo_and_secret(tmp_path)
    path = {
        "climb": "../secret/token.csv",
        "absolute": str(secret / "token.csv"),
        "symlink": "link.csv",
        "home": "~/token.csv",
    }[how]
    if how == "symlink":
        (repo / "link.csv").symlink_to(secret / "token.csv")
    r = gpuplan("plan", write_spec(repo, trace_spec(path)))
    assert_user_error(r, "models[0].workload.trace.path", "outside the spec's folder", "--allow-path")
    no_canary(r)


@pytest.mark.parametrize(
    "changes",
    [
        {"profiles": [{"model": "llama-3.1-8b", "csv": "../secret/token.csv"}]},
        {"profiles": [{"model": "llama-3.1-8b", "vllm_bench": ["../secret/*.json"], "gpu": "l4"}]},
        {"catalog": {"files": ["../secret/config.json"]}},
        {"models[0].model": "../secret/config.json"},
    ],
    ids=["profile-csv", "bench-glob", "catalog-file", "hf-config"],
)
def test_every_spec_path_is_confined(tmp_path: Path, changes: dict[str, Any]) -> None:
    repo, _ = repo_and_secret(tmp_path)
    r = gpuplan("validate", write_spec(repo, spec_with(changes)))
    assert_user_error(r, "outside the spec's folder")
    no_canary(r)


def test_allowed_folders_are_read_but_never_quoted(tmp_path: Path) -> None:
    """--allow-path (or the spec's allow_paths) lets a spec read outside its folder; a wrong file read
    there is still described, never quoted."""
    repo, secret = repo_and_secret(tmp_path)
    spec = write_spec(repo, trace_spec("../secret/token.csv"))
    r = gpuplan("validate", spec, "--allow-path", secret)
    assert_user_error(r, "token.csv", "header lacks", "2 column(s)")
    no_canary(r)
    opted_in = write_spec(repo, {**trace_spec("../secret/token.csv"), "allow_paths": ["../secret"]}, "in.yaml")
    r = gpuplan("validate", opted_in)
    assert_user_error(r, "token.csv", "header lacks")
    no_canary(r)


def test_a_text_file_as_a_spec_is_not_quoted(tmp_path: Path) -> None:
    _, secret = repo_and_secret(tmp_path)
    (secret / "token.txt").write_text(f"{CANARY}=hunter2\n")
    r = gpuplan("validate", secret / "token.txt")
    assert_user_error(r, "mapping", "got a string")
    no_canary(r)


# ------------------------------------------------------------------------------------- writing
def test_output_over_an_input_is_refused(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, BASE_SPEC)
    before = spec.read_bytes()
    for target in (spec, tmp_path / "." / "spec.yaml"):
        assert_user_error(gpuplan("plan", spec, "-o", target), "a file this run reads")
    os.link(spec, tmp_path / "hard.yaml")
    (tmp_path / "soft.yaml").symlink_to(spec)
    for alias in ("hard.yaml", "soft.yaml"):
        assert_user_error(gpuplan("plan", spec, "-o", tmp_path / alias), "a file this run reads")
    assert spec.read_bytes() == before and (tmp_path / "soft.yaml").is_symlink()


def test_output_over_an_input_read_during_the_run_is_refused(tmp_path: Path) -> None:
    """The trace is named inside the spec, not on the command line: the write itself checks."""
    trace = tmp_path / "t.csv"
    trace.write_text("in,out\n5,5\n6,7\n")
    before = trace.read_bytes()
    r = gpuplan("plan", write_spec(tmp_path, trace_spec("t.csv")), "-o", trace)
    assert_user_error(r, "t.csv", "a file this run reads")
    assert trace.read_bytes() == before


def test_import_melange_never_overwrites_its_input(tmp_path: Path) -> None:
    m = tmp_path / "m.json"
    m.write_text(json.dumps(MELANGE))
    assert_user_error(gpuplan("import", "melange", m, "-o", m), "a file this run reads")
    assert json.loads(m.read_text()) == MELANGE


def test_output_through_a_symlink_writes_its_target(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "plan.json"
    target.write_text("old")
    (tmp_path / "plan.json").symlink_to(target)
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json", "-o", tmp_path / "plan.json")
    assert r.code == 0, str(r)
    assert (tmp_path / "plan.json").is_symlink()
    assert json.loads(target.read_text())["status"] == "ok"
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["plan.json"]  # no temp file left


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o664])
def test_output_keeps_an_existing_files_mode(tmp_path: Path, mode: int) -> None:
    out = tmp_path / "plan.json"
    out.write_text("old")
    out.chmod(mode)
    assert gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json", "-o", out).code == 0
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_a_new_output_file_follows_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        assert gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json", "-o", tmp_path / "new.json").code == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o644


def test_output_to_a_fifo_writes_into_it(tmp_path: Path) -> None:
    """A special file is written in place, never replaced by a regular file (as root, `-o /dev/null` was)."""
    fifo = tmp_path / "out.pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json", "-o", fifo)
    reader.join(10)
    assert r.code == 0, str(r)
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert json.loads(got[0])["status"] == "ok"


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root (CI runners run as root)")
def test_output_to_a_device_keeps_the_device(tmp_path: Path) -> None:
    null = tmp_path / "null"
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a twin of /dev/null
    assert gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json", "-o", null).code == 0
    assert stat.S_ISCHR(null.stat().st_mode)


@pytest.mark.parametrize("target", ["-", "stdout-link"])
def test_output_to_stdout(tmp_path: Path, target: str) -> None:
    """`-o -`, and `-o /dev/stdout` (here a link of the same kind, /proc/self/fd/1: as root, replacing the
    real /dev/stdout would break the machine if this test ever failed)."""
    link = tmp_path / "stdout-link"
    link.symlink_to("/proc/self/fd/1")
    r = gpuplan("plan", write_spec(tmp_path, BASE_SPEC), "-f", "json", "-o", target, cwd=tmp_path, process=True)
    assert r.code == 0, str(r)
    assert json.loads(r.out)["status"] == "ok"
    assert not (tmp_path / "-").exists() and link.is_symlink()


def test_a_full_stdout_is_a_clean_error(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        import subprocess

        from tests.support import console_script

        r = subprocess.run(
            [str(console_script()), "catalog", "gpus", "-f", "json"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert r.returncode == 2 and "No space left" in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_an_ascii_stdout_gets_valid_output(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, spec_with({"models[0].name": "modèle-λ"}))
    for fmt in ("json", "md", "table"):
        r = gpuplan("plan", spec, "-f", fmt, env={"PYTHONIOENCODING": "ascii"}, process=True)
        assert r.code == 0, str(r)
        if fmt == "json":
            assert json.loads(r.out)["data"]["models"][0]["model"] == "modèle-λ"


def test_debug_keeps_the_exit_code(tmp_path: Path) -> None:
    r = gpuplan("--debug", "plan", write_spec(tmp_path, spec_with({f"{WL}.rate_rps": -1})), process=True)
    assert r.code == 2 and "Traceback" in r.err and "rate_rps" in r.err
