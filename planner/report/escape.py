"""Names are data, never markup: the one place that makes user-supplied text safe to show.

Model names, spec names, ids from overlays, file names and messages quoting them come from specs that
arrive in pull requests. Shown as they are, `[/]` is a rich markup tag that crashes the terminal view,
`:thumbs_up:` becomes an emoji, and in Markdown (a PR comment, a step summary) `<img ...>`, `<!--`, a
pipe or a line break can inject HTML, hide the rest of the comment or break a table.

- Terminal: every rich Console that prints a report comes from `console()`, with markup and emoji codes
  off, so a string is printed exactly as it is; renderers style with `Text(..., style=...)`, never with
  markup. `term()` escapes user text inside the rare message printed with markup on (an error).
- Markdown: `md()` for user text in prose, headings, lists and table cells (HTML, pipes, brackets,
  backticks, emphasis, emoji codes and line breaks become inert); `md_code()` for an id shown as code
  (a fence longer than any backtick run inside, line breaks removed); `mermaid()` for chart labels.
"""

from __future__ import annotations

import re
from typing import IO, Any

from rich.console import Console
from rich.markup import escape as _rich_escape

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u0085\u2028\u2029]")
_MD_CHARS = {
    "&": "&amp;",
    "<": "&lt;",
    "|": "&#124;",
    "[": "&#91;",
    "]": "&#93;",
    "`": "&#96;",
    "*": "&#42;",
    "\\": "&#92;",
    "~": "&#126;",
}
_MD_SPECIAL = re.compile("|".join(re.escape(c) for c in _MD_CHARS))
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")  # intraword _ is not emphasis in GFM
_EMOJI_CODE = re.compile(r"(?<![\w:]):(?=[\w+-]+:)")  # `:smile:` is an emoji on GitHub; `aws:us-east-1:` is not


def console(*, stderr: bool = False, file: IO[str] | None = None, **options: Any) -> Console:
    """A rich Console that prints strings as they are: no markup tags, no emoji codes."""
    return Console(stderr=stderr, file=file, markup=False, emoji=False, **options)


def term(text: object) -> str:
    """`text` inside a rich string printed with markup on (print it through `console()`, whose emoji
    codes are off): its tags escaped."""
    return _rich_escape(str(text))


def md(text: object) -> str:
    """User text as inert Markdown inside a line (after a heading's #, a list's dash, in a table cell):
    shown as written, never HTML, a link, emphasis, code, an emoji or a line break; safe in a GFM table
    cell (no pipe, no backslash). Renderers never start a line with it."""
    plain = _CONTROL.sub(" ", str(text))
    out = _MD_SPECIAL.sub(lambda m: _MD_CHARS[m.group(0)], plain)
    out = _EDGE_UNDERSCORE.sub("&#95;", out)
    return _EMOJI_CODE.sub("&#58;", out)


def md_code(text: object) -> str:
    """User text as a Markdown code span: literal whatever it holds (a pipe inside a table cell is escaped
    by the table, as GFM requires)."""
    plain = _CONTROL.sub(" ", str(text))
    longest = max((len(run) for run in re.findall(r"`+", plain)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if plain.startswith("`") or plain.endswith("`") or not plain.strip() else ""
    return f"{fence}{pad}{plain}{pad}{fence}"


def mermaid(text: object) -> str:
    """A label inside a mermaid code block: one line, no quote or backtick that could end the label or
    the block, no angle brackets that mermaid could read as HTML."""
    plain = _CONTROL.sub(" ", str(text))
    return plain.replace('"', "'").replace("`", "'").replace("<", "‹").replace(">", "›")
