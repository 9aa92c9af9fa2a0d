"""The command line: parse flags, call one pure command, render its Outcome once. No logic lives here.

- planner.cli.app: the Typer app, the flag types every command shares, and how an Outcome reaches
  stdout or `-o`;
- planner.cli.planning: `plan`, `validate`, `estimate`, `place`;
- planner.cli.plans: `sweep`, `check`, `simulate`, `export`, `schema`;
- planner.cli.catalog_commands: the groups `import melange` and `catalog ...`;
- planner.cli.run: `main`, where every way a run can end becomes an exit code (2 for bad input, with a
  one-line message; `--debug` adds the traceback).

Importing the command modules registers their commands on `app`, in this order (the order --help lists).
"""

from planner.cli import catalog_commands, planning, plans  # noqa: F401 - registers the commands on `app`
from planner.cli.app import _state, app
from planner.cli.run import main

__all__ = ["_state", "app", "main"]
