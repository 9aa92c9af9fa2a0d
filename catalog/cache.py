"""The compiled catalog cache: the validated shipped Catalog, pickled, keyed by what it was built from.

Building the shipped catalog (YAML, ~1,200 SkyPilot rows, pydantic validation) takes ~10x longer than
loading a pickle of the result, so the first process stores the result and later ones load it.

- **Key**: sha256 of the data files' bytes, the catalog code (catalog/*.py), the Python and pydantic
  versions and `FORMAT`. Any change to data or code gives a new key; a stale entry is never read.
- **Where**: `$GPUPLAN_CACHE_DIR`, else `$XDG_CACHE_HOME/gpuplan`, else `~/.cache/gpuplan` - the user's
  own cache folder, so a read-only install (site-packages owned by root, a container image) works.
  The newest `KEEP` entries are kept, so a few installed versions sharing the folder do not evict
  each other.
  `GPUPLAN_CACHE_DIR=off` disables the cache.
- **Failure is never an error**: an unwritable folder, a full disk or a corrupt or foreign file just
  means the catalog is built from the data, as without a cache.
- Entries are written atomically (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import platform
import tempfile
from functools import lru_cache
from pathlib import Path

import pydantic

from catalog.types import Catalog
from common.errors import CatalogError

FORMAT = 1
KEEP = 4
PREFIX = "catalog-"
SUFFIX = ".pickle"
CODE_DIR = Path(__file__).resolve().parent


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read catalog file: {exc.strerror or exc}", where=str(path)) from None


@lru_cache(maxsize=1)
def _code_digest() -> str:
    h = hashlib.sha256(f"{FORMAT}|{platform.python_version()}|{pydantic.VERSION}".encode())
    for path in sorted(CODE_DIR.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def key(data_digest: str) -> str:
    """The cache key of a catalog built from data with this digest by this code."""
    return hashlib.sha256(f"{data_digest}|{_code_digest()}".encode()).hexdigest()[:32]


def cache_dir() -> Path | None:
    """Where entries live, or None when caching is off."""
    env = os.environ.get("GPUPLAN_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "gpuplan"


def _path(k: str) -> Path | None:
    folder = cache_dir()
    return None if folder is None else folder / f"{PREFIX}{k}{SUFFIX}"


def load(k: str) -> Catalog | None:
    """The cached catalog for key `k`, or None (absent, unreadable, corrupt or not ours)."""
    path = _path(k)
    if path is None:
        return None
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        stored_key, catalog = pickle.loads(data)  # noqa: S301 - the user's own cache folder, our own format
    except Exception:  # noqa: BLE001 - any damage means "not cached"
        return None
    if stored_key != k or not isinstance(catalog, Catalog):
        return None
    return catalog


def store(k: str, catalog: Catalog) -> None:
    """Save `catalog` under key `k` (atomically) and remove other entries; failures are ignored."""
    path = _path(k)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump((k, catalog), fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        entries = sorted(path.parent.glob(f"{PREFIX}*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in entries[KEEP:]:
            old.unlink(missing_ok=True)
    except OSError:
        return
