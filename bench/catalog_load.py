"""How long loading the catalog takes, cold and from the compiled cache, and inside real commands.

    .venv/bin/python bench/catalog_load.py          # everything (~1 minute)
    .venv/bin/python bench/catalog_load.py --quick  # no example plans

Rows (median of --repeat runs, CPU time beside wall time):

- `build, v1 data only`: the reference - parsing and validating the YAML files only (what the catalog
  was before the SkyPilot snapshot), measured in this run.
- `build, cold`: everything the shipped catalog is made from, without the cache.
- `load, cache hit`: hashing the data files and unpickling the cached Catalog (what every command does
  after the first).
- `catalog offerings` / `plan EXAMPLE`: a fresh interpreter running the real CLI entry point with a warm
  cache; `load` is the time spent in `load_catalog` inside the command, `total` the whole command.

Each process gets its own empty cache folder, so the bench never reads or writes the user's cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from catalog import cache, loader  # noqa: E402
from catalog.loader import load_catalog  # noqa: E402

_PROBE = r"""
import json, sys, time, resource
import catalog.loader as loader
import planner.cli as cli
spent = [0.0, 0.0]
inner = loader.load_catalog
def timed(*a, **k):
    w, c = time.perf_counter(), time.process_time()
    try:
        return inner(*a, **k)
    finally:
        spent[0] += time.perf_counter() - w
        spent[1] += time.process_time() - c
loader.load_catalog = timed
for mod in list(sys.modules.values()):
    if mod is not None and getattr(mod, "load_catalog", None) is inner:
        mod.load_catalog = timed
w0, c0 = time.perf_counter(), time.process_time()
sys.argv = ["gpuplan", *sys.argv[1:]]
try:
    cli.main()
except SystemExit:
    pass
sys.stdout.flush()
sys.stderr.write(json.dumps({"load_wall": spent[0], "load_cpu": spent[1],
                             "wall": time.perf_counter() - w0, "cpu": time.process_time() - c0}) + "\n")
"""


def _median_times(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def in_process(repeat: int) -> list[tuple[str, float, float]]:
    def v1_only() -> object:
        texts = {loader.DATA_DIR / n: (loader.DATA_DIR / n).read_text(encoding="utf-8")
                 for n in loader.SHIPPED_FILES if (loader.DATA_DIR / n).exists()}
        state = loader._State()
        for name in loader.SHIPPED_FILES:
            path = loader.DATA_DIR / name
            if path in texts:
                label = f"catalog/data/{name}"
                layer = loader._layer_from_document(loader._parse_yaml(texts[path], label), label,
                                                    loader.DATA_DIR, shipped=True)
                loader._apply(state, layer, hashlib.sha256(), shipped=True)
        return loader._finish(state, "bench")

    def cold() -> object:
        os.environ["GPUPLAN_CACHE_DIR"] = "off"
        loader.shipped_catalog.cache_clear()
        return loader.shipped_catalog()

    folder = tempfile.mkdtemp(prefix="gpuplan-bench-")

    def warm() -> object:
        os.environ["GPUPLAN_CACHE_DIR"] = folder
        loader.shipped_catalog.cache_clear()
        return loader.shipped_catalog()

    warm()  # fills the cache
    assert any(Path(folder).glob(f"{cache.PREFIX}*")), "the cache was not written"
    return [
        ("build, v1 data only (reference)", *_median_times(v1_only, repeat)),
        ("build, cold (no cache)", *_median_times(cold, repeat)),
        ("load, cache hit", *_median_times(warm, repeat)),
    ]


def command(args: list[str], folder: str) -> dict[str, float]:
    env = {**os.environ, "GPUPLAN_CACHE_DIR": folder}
    r = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, cwd=ROOT, env=env,
                       timeout=600)
    line = r.stderr.strip().splitlines()[-1]
    return dict(json.loads(line))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="skip the example plans")
    opts = parser.parse_args()

    cat = load_catalog()
    print(f"catalog {cat.version}: {len(cat.offerings)} offerings, {len(cat.gpus)} GPUs, {len(cat.models)} models, "
          f"{len(cat.commitments)} commitments")
    rows = in_process(opts.repeat)
    ref_wall, ref_cpu = rows[0][1], rows[0][2]
    print(f"\n{'in-process':42s} {'wall ms':>9s} {'cpu ms':>9s} {'x ref (cpu)':>12s}")
    for name, wall, cpu in rows:
        print(f"{name:42s} {1e3 * wall:9.1f} {1e3 * cpu:9.1f} {cpu / ref_cpu:12.2f}")

    commands = [["catalog", "offerings", "--format", "json"], ["catalog", "offerings", "--cloud", "lambda"]]
    if not opts.quick:
        commands += [["plan", str(p), "--format", "json"] for p in sorted((ROOT / "examples").glob("*.yaml"))]
    folder = tempfile.mkdtemp(prefix="gpuplan-bench-")
    command(["catalog", "gpus"], folder)  # warm the cache
    print(f"\n{'command (fresh interpreter, warm cache)':42s} {'load wall':>9s} {'load cpu':>9s} "
          f"{'total wall':>11s} {'total cpu':>10s}  (ms)")
    for args in commands:
        runs = [command(args, folder) for _ in range(max(1, opts.repeat // 2))]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        label = " ".join(a if "/" not in a else Path(a).name for a in args)
        print(f"{label:42s} {1e3 * med['load_wall']:9.1f} {1e3 * med['load_cpu']:9.1f} "
              f"{1e3 * med['wall']:11.1f} {1e3 * med['cpu']:10.1f}")
    print(f"\nreference (v1 data only): {1e3 * ref_wall:.1f} ms wall, {1e3 * ref_cpu:.1f} ms CPU")


if __name__ == "__main__":
    main()
