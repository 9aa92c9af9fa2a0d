"""The README tells the truth about this build: its sample outputs are what gpuplan prints now, and
its command synopsis offers each command the formats it accepts."""

from __future__ import annotations

import difflib
import re

from tests.readme_samples import README, parse_directive, render_readme
from tests.test_cli_formats import FORMATS


def test_samples_are_what_the_current_build_prints() -> None:
    old = README.read_text(encoding="utf-8")
    assert old.count("<!-- sample: ") >= 5
    new = render_readme(old)
    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True), "README.md", "now", n=1))
    assert new == old, f"README samples are stale; run `python tests/readme_samples.py` and review:\n{diff}"


def test_directives_are_understood() -> None:
    assert parse_directive("transcript width=80 until=Assumptions").until == "Assumptions"
    assert parse_directive("file=fleet/x.sh from='# start'").start == "# start"


def test_command_synopsis_lists_the_accepted_formats() -> None:
    text = README.read_text(encoding="utf-8")
    synopsis = text.split("## Commands", 1)[1].split("```", 2)[1]
    commands = re.split(r"\n(?=gpuplan )", synopsis.strip())
    seen = set()
    for entry in commands:
        words = entry.split()
        name = " ".join(words[1:3]) if " ".join(words[1:3]) in FORMATS else words[1]
        if name == "catalog" or name.startswith("catalog "):
            names = [f"catalog {sub}" for sub in words[2].split("|")]  # `catalog gpus|offerings|...`
        else:
            names = [name]
        listed = re.search(r"--format ([\w|]+)", entry)
        for n in names:
            if n in FORMATS:
                seen.add(n)
                assert (tuple(listed.group(1).split("|")) if listed else ()) == FORMATS[n], entry
    assert {"plan", "estimate", "place", "sweep", "check"} <= seen
