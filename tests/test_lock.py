"""requirements-lock.txt, what CI installs, stays in step with pyproject's dependencies and bounds.

Editing a bound or adding a dependency without `bash .ci/lock` fails here (for the extras too, which
`pip check` does not look at), not later as a CI run that tested other versions than declared.
"""

from __future__ import annotations

import re
from importlib.metadata import requires
from pathlib import Path

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements-lock.txt"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?$")


def locked_versions() -> dict[str, Version]:
    """Package -> the version the lock installs on this interpreter (markers evaluated here)."""
    pins: dict[str, Version] = {}
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        found = _PIN.match(line)
        if found is None:
            continue
        name, version, marker = found.groups()
        if marker is None or Marker(marker).evaluate():
            assert canonicalize_name(name) not in pins, f"two pins of {name} apply to this Python"
            pins[canonicalize_name(name)] = Version(version)
    return pins


def test_lock_was_made_by_the_documented_command_with_hashes() -> None:
    lines = LOCK.read_text(encoding="utf-8").splitlines()
    assert lines[1].strip() == "#    bash .ci/lock", "regenerate with `bash .ci/lock`, not by hand"
    pinned = [i for i, line in enumerate(lines) if _PIN.match(line)]
    assert len(pinned) >= 20
    for i in pinned:  # pip's hash-checking mode needs a hash on every requirement
        assert lines[i + 1].strip().startswith("--hash=sha256:"), f"no hash for {lines[i]!r}"


def test_lock_pins_every_declared_dependency_within_its_bounds() -> None:
    pins = locked_versions()
    declared = [Requirement(text) for text in requires("gpuplan") or ()]
    assert declared, "gpuplan's metadata lists no dependencies: is the package installed?"
    checked = 0
    for req in declared:
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in ("", "test", "plot")):
            continue  # another platform's or another extra's requirement
        name = canonicalize_name(req.name)
        assert name in pins, f"{req} is declared but not locked: run `bash .ci/lock`"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"the lock has {name}=={pins[name]}, outside pyproject's {req}: run `bash .ci/lock`"
        )
        checked += 1
    assert checked >= 10  # the runtime dependencies and the test and plot extras
