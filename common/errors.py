"""One error hierarchy for everything a user can get wrong; the CLI catches it once and exits 2.

Messages name where the problem is (a YAML path, a flag or a file), the bad value, and what would be
valid, so a user can fix the input without reading a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping


class GpuplanError(Exception):
    """Base of every error gpuplan raises on purpose."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(self.render())

    def render(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InputError(GpuplanError):
    """A spec, flag or file the user gave is invalid (exit code 2)."""


class ArgumentError(InputError):
    """A value passed to a domain function is invalid. `argument` names the parameter (`rate_factor`,
    `duration_s`, ...), never how a user typed it: only the command layer knows that a parameter is the
    flag `--rate-factor`, and turns the error into its user-facing form with `spelled(flags)`. The
    message may mention the parameters listed in `mentions` as `{name}`; unspelled, they read as names."""

    def __init__(self, argument: str, message: str, mentions: tuple[str, ...] = ()) -> None:
        self.argument = argument
        self.template = message
        self.mentions = mentions
        super().__init__(self._text({}), where=argument)

    def _text(self, names: Mapping[str, str]) -> str:
        text = self.template
        for name in self.mentions:
            text = text.replace("{" + name + "}", names.get(name, name))
        return text

    def __reduce__(self) -> tuple[type[ArgumentError], tuple[str, str, tuple[str, ...]]]:
        """Rebuilt from its parts (a sweep worker's error crosses a process boundary)."""
        return (type(self), (self.argument, self.template, self.mentions))

    def spelled(self, names: Mapping[str, str]) -> InputError:
        """The same error with each parameter written as `names` spells it (a flag), else by its name."""
        return InputError(self._text(names), where=names.get(self.argument, self.argument))


class CatalogError(InputError):
    """Catalog data (shipped or an overlay) is invalid or an id is unknown."""


class InfeasibleError(GpuplanError):
    """The problem has no solution; the message says what binds and what would make it feasible."""

    exit_code = 1


class SolverError(GpuplanError):
    """The solver failed for a reason that is not the user's input (exit code 1)."""

    exit_code = 1


def did_you_mean(value: str, choices: Iterable[str]) -> str:
    """A short hint: the closest valid choices, or the list of valid ones when it is short."""
    options = sorted(set(choices))
    close = difflib.get_close_matches(value, options, n=3, cutoff=0.5)
    if not close:  # a valid id with something added or cut off: `tp_degrees` -> `tp`
        close = [c for c in options if min(len(c), len(value)) >= 2 and (value.startswith(c) or c.startswith(value))]
        close = sorted(close, key=lambda c: (abs(len(c) - len(value)), c))[:3]
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    if len(options) <= 12:
        return "valid: " + ", ".join(options)
    return f"{len(options)} valid ids; list them with `gpuplan catalog`"


def unknown_id(kind: str, value: str, choices: Iterable[str], *, where: str | None = None) -> CatalogError:
    """The standard error for an id that is not in the catalog."""
    return CatalogError(f"unknown {kind} {value!r}; {did_you_mean(value, choices)}", where=where)
