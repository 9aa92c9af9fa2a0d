"""The user's files, read and written in one place, safely: gpuplan runs in CI on specs from pull requests.

Reading is bounded. Only regular files are read (a FIFO, a device such as /dev/zero or a socket is refused
by name, without blocking on it); a document (spec, overlay, plan JSON, Mélange input, HF config, benchmark
result) is at most `MAX_DOCUMENT_BYTES`, nested at most `MAX_DEPTH` deep, and a YAML document may expand
its aliases by at most `MAX_ALIAS_VALUES` values (an alias bomb of 10^9 values is a 400-byte file);
duplicate keys are an error in YAML and JSON (the later value would silently win). A line of a streamed
file (trace, CSV) is at most `MAX_LINE_BYTES`. Every I/O, encoding and syntax problem becomes an error
naming the file and, where known, the line and what was expected; no message quotes the file's content.

Paths written in a spec are confined: they must resolve (symbolic links followed) inside the spec's
folder or a folder the run allows (`--allow-path DIR`, or the spec's `allow_paths`), so a pull request
cannot point the tool at a runner's secrets.

Writing never destroys: `write_output` refuses to overwrite a file the same run read (compared after
resolving links, by device and inode, so hard links count), writes through a symbolic link to its
target, keeps an existing file's mode (a new file gets 0666 less the umask), replaces regular files
atomically, writes special files (/dev/null, /dev/stdout, a FIFO) in place without replacing them, and
takes "-" to mean stdout.
"""

from __future__ import annotations

import codecs
import errno
import functools
import gzip
import io
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from common.errors import InputError

MiB = 1 << 20
MAX_DOCUMENT_BYTES = 64 * MiB
"""Largest spec, overlay, plan, Mélange input, HF config or benchmark file (a 10,000-model spec is 2 MB)."""
MAX_DEPTH = 64
"""Deepest nesting of a YAML/JSON document (specs and plans nest fewer than 12 levels)."""
MAX_ALIAS_VALUES = 1_000_000
"""Values a YAML document may add by expanding its aliases (anchors shared by 10,000 models add ~1e5)."""
MAX_LINE_BYTES = 4 * MiB
"""Longest line of a streamed file (a trace or a CSV)."""

_MERGE_TAG = "tag:yaml.org,2002:merge"


# ------------------------------------------------------------------------------------------ run state
@dataclass
class _RunState:
    """What one run (one CLI command) has read and may read; the CLI starts a fresh one per command."""

    inputs: dict[tuple[int, int], str] = field(default_factory=dict)  # (st_dev, st_ino) -> path as given
    allowed: list[Path] = field(default_factory=list)  # folders spec paths may point into (resolved)


_PROCESS_STATE = _RunState()  # library use outside any run scope
_STATE_VAR: ContextVar[_RunState | None] = ContextVar("gpuplan_files_state", default=None)


class _StateAccess:
    @staticmethod
    def get() -> _RunState:
        return _STATE_VAR.get() or _PROCESS_STATE


_STATE = _StateAccess()


@contextmanager
def run_scope(allow: Iterable[Path] = ()) -> Iterator[None]:
    """A fresh record of inputs and allowed folders for one command (the CLI wraps each command in it)."""
    token = _STATE_VAR.set(_RunState(allowed=[Path(p).expanduser().resolve() for p in allow]))
    try:
        yield
    finally:
        _STATE_VAR.reset(token)


def allow_folders(folders: Iterable[Path]) -> None:
    """Let spec paths of this run point into `folders` too (the spec's `allow_paths`)."""
    state = _STATE.get()
    for f in folders:
        resolved = Path(f).expanduser().resolve()
        if resolved not in state.allowed:
            state.allowed.append(resolved)


def inputs_read() -> dict[tuple[int, int], str]:
    """(device, inode) -> path of every file this run has read so far."""
    return dict(_STATE.get().inputs)


def _record_input(st: os.stat_result, path: Path) -> None:
    _STATE.get().inputs.setdefault((st.st_dev, st.st_ino), str(path))


def note_input(path: Path) -> None:
    """Record a file the run reads by some other means, so `write_output` will not overwrite it."""
    with suppress(OSError):
        _record_input(os.stat(path), path)


# ------------------------------------------------------------------------------------------ confinement
def spec_path(raw: str, base_dir: Path, where: str) -> Path:
    """A path written in a spec: `~` expanded, relative to the spec's folder, and confined.

    It must resolve (links followed) inside `base_dir` or a folder allowed for this run; otherwise an
    InputError names the field and says how to allow it. The path is returned as written (joined to
    `base_dir`), so messages show what the user wrote.
    """
    if "\0" in raw:
        raise InputError("is not a valid path (it holds a NUL character)", where=where)
    try:
        p = Path(raw).expanduser()
    except RuntimeError:  # `~someone` with no such user: a name, not a home folder
        p = Path(raw)
    full = p if p.is_absolute() else base_dir / p
    try:
        real = full.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(f"{raw!r} cannot be resolved: {getattr(exc, 'strerror', None) or exc}", where=where) from None
    roots = [base_dir.resolve(), *_STATE.get().allowed]
    if not any(real == r or r in real.parents for r in roots):
        raise InputError(
            f"{raw!r} is outside the spec's folder; gpuplan reads only files inside it unless allowed "
            "(--allow-path DIR, or list the folder in the spec's allow_paths)",
            where=where,
        )
    return full


# ------------------------------------------------------------------------------------------ reading
def _describe_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def open_regular(path: Path, what: str, kind: str, error: type[InputError] = InputError) -> IO[bytes]:
    """`path` opened for binary reading, if it is a regular file; else an error that names it.

    The file is opened without blocking (a FIFO with no writer would block `open` forever) and checked
    with fstat on the open descriptor, so a file swapped for a FIFO after a check cannot slip through.
    """
    where = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except ValueError:  # a NUL character in the name
        raise error(f"{what}: not a valid file name", where=repr(str(path))) from None
    except FileNotFoundError:
        raise error(f"{what} not found", where=where) from None
    except IsADirectoryError:
        raise error(f"{what} is a directory, expected a {kind} file", where=where) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", where=where) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            expected = f"a {kind} file" if stat.S_ISDIR(st.st_mode) else f"a regular {kind} file"
            raise error(f"{what} is {_describe_kind(st.st_mode)}, expected {expected}", where=where)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        _record_input(st, path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bytes(
    path: Path, what: str, kind: str, error: type[InputError] = InputError, max_bytes: int | None = None
) -> bytes:
    """The whole file, at most `max_bytes` (default MAX_DOCUMENT_BYTES): a larger one is an error."""
    if max_bytes is None:
        max_bytes = MAX_DOCUMENT_BYTES
    with open_regular(path, what, kind, error) as fh:
        try:
            raw = fh.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"cannot read {what}: {exc.strerror or exc}", where=str(path)) from None
    if len(raw) > max_bytes:
        raise error(f"{what} is larger than {_size(max_bytes)}; is it the right file?", where=str(path))
    return raw


def _size(n: int) -> str:
    return f"{n // MiB} MiB" if n >= MiB else f"{n:,} bytes"


def decode_text(raw: bytes, what: str, kind: str, where: str, error: type[InputError] = InputError) -> str:
    if b"\0" in raw:
        raise error(f"{what} is binary, expected {kind} text", where=where)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(f"{what} is not UTF-8 text (line {line})", where=where) from None
    if not text.strip():
        raise error(f"{what} is empty", where=where)
    return text


def read_text(path: Path, what: str, kind: str, error: type[InputError] = InputError) -> str:
    """The file's text; `what` names it in messages ("spec"), `kind` is the expected format ("YAML")."""
    return decode_text(read_bytes(path, what, kind, error), what, kind, str(path), error)


_SAFE_CELL = re.compile(r"[0-9 :.+\-TZ/]{1,32}")  # numbers, dates and times: no words, no secrets


def shown_value(raw: object) -> str:
    """A value read from a data file, as a message may show it: numbers, dates and times as written,
    anything else only by kind (the file may be the wrong one, and its content must not reach a CI log)."""
    if isinstance(raw, bool) or raw is None:
        return repr(raw)
    if isinstance(raw, int) and abs(raw).bit_length() > 64:  # (repr of a 5000-digit int raises)
        return "a number of more than 19 digits"
    if isinstance(raw, int | float):
        return repr(raw)
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return "an empty value"
        if _SAFE_CELL.fullmatch(text):
            return repr(text)
        try:
            float(text)
        except ValueError:
            return "a non-numeric value"
        return repr(text) if len(text) <= 32 else "a number of more than 32 characters"
    return f"a JSON {'object' if isinstance(raw, dict) else 'list' if isinstance(raw, list) else 'value'}"


# ------------------------------------------------------------------------------------------ structure
class _DocumentTooBig(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_structure(data: object, *, aliases: bool = False) -> None:
    """Refuse a document nested deeper than MAX_DEPTH or (YAML) expanding to too many values.

    Walks the parsed object iteratively, once per distinct container (aliases make a YAML document a
    graph whose expansion can be exponential in its size), computing each container's depth and expanded
    size. A container that contains itself (a recursive alias) cannot be expanded at all.
    """
    if not isinstance(data, dict | list):
        return
    depth: dict[int, int] = {}
    size: dict[int, int] = {}
    distinct = 0
    in_progress: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        children = [c for c in (node.values() if isinstance(node, dict) else node) if isinstance(c, dict | list)]
        if finished:
            in_progress.discard(key)
            d = 1 + max((depth[id(c)] for c in children), default=0)
            if d > MAX_DEPTH:
                raise _DocumentTooBig(f"nested more than {MAX_DEPTH} levels deep")
            depth[key] = d
            size[key] = 1 + len(node) - len(children) + sum(size[id(c)] for c in children)
            distinct += 1 + len(node) - len(children)
            continue
        if key in depth:
            continue
        if key in in_progress:
            raise _DocumentTooBig("an alias refers to a mapping or list that contains it (endless expansion)")
        if len(in_progress) >= MAX_DEPTH:
            raise _DocumentTooBig(f"nested more than {MAX_DEPTH} levels deep")
        in_progress.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in depth)
    if aliases and size[id(data)] - distinct > MAX_ALIAS_VALUES:
        raise _DocumentTooBig(
            f"its aliases expand to more than {MAX_ALIAS_VALUES:,} extra values (an alias bomb?)"
        )


# ------------------------------------------------------------------------------------------ YAML
@functools.cache
def _strict_loader() -> Any:
    """The YAML loader class, built on first use: PyYAML is imported only by a command that reads YAML
    (`gpuplan --help` and `estimate` never do, and start-up time is most of what they cost)."""
    import yaml  # noqa: PLC0415 - start-up speed: only commands that read YAML pay for PyYAML

    base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser is ~8x faster

    class _StrictLoader(base):  # type: ignore[misc]
        """The safe loader, refusing duplicate keys (YAML says keys are unique; PyYAML keeps the last).

        Each mapping is checked once, before merge keys (`<<: *base`) are flattened into it: keys merged in
        may be overridden by the mapping's own, only the mapping's own keys must be unique. Flattening a
        mapping flattens the mappings it merges first, so the hook is `flatten_mapping`, which sees every
        mapping before it is changed.
        """

        def flatten_mapping(self, node: Any) -> None:
            checked: set[int] = self.__dict__.setdefault("_checked", set())
            if id(node) not in checked:
                checked.add(id(node))
                self._refuse_duplicates(node)
            super().flatten_mapping(node)

        def _refuse_duplicates(self, node: Any) -> None:
            seen: dict[object, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG or not isinstance(key_node, yaml.ScalarNode):
                    continue
                key = self.construct_object(key_node)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable: the base class reports it
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"duplicate key {_short(key)} (first given at line {first.start_mark.line + 1}); "
                        "a key may appear once per mapping",
                        key_node.start_mark,
                    )
                seen[key] = key_node

    return _StrictLoader


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_yaml(text: str, where: str, error: type[InputError] = InputError) -> object:
    """A YAML document (safe types only), checked for duplicate keys, depth and alias expansion."""
    import yaml  # noqa: PLC0415 - start-up speed (see _strict_loader)

    try:
        data = yaml.load(text, Loader=_strict_loader())  # noqa: S506 - a safe loader (CSafeLoader or SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"malformed YAML{at}: {problem}", where=where) from None
    except RecursionError:
        raise error(f"malformed YAML: nested more than {MAX_DEPTH} levels deep", where=where) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits (Python's int conversion limit)
        raise error(f"malformed YAML: {_value_problem(exc)}", where=where) from None
    try:
        check_structure(data, aliases=True)
    except _DocumentTooBig as exc:
        raise error(f"YAML document refused: {exc.message}", where=where) from None
    return data


def _value_problem(exc: ValueError) -> str:
    if "digits" in str(exc):
        return "a number has more digits than any valid value (Python's limit is 4300)"
    return "a value cannot be read"


def read_yaml(path: Path, what: str = "file", error: type[InputError] = InputError) -> object:
    return parse_yaml(read_text(path, what, "YAML", error), str(path), error)


# ------------------------------------------------------------------------------------------ JSON
class _DuplicateKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def parse_json(text: str, what: str, where: str, error: type[InputError] = InputError) -> object:
    """A JSON document: syntax errors with line and column; duplicate keys, depth and huge numbers refused.

    NaN and Infinity (which Python's json writes and reads) parse; the fields that hold them decide.
    """
    try:
        data = json.loads(text, object_pairs_hook=_unique_object)
    except json.JSONDecodeError as exc:
        raise error(f"{what} is not JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", where=where) from None
    except _DuplicateKey as exc:
        raise error(
            f"{what} is not valid: duplicate key {_short(exc.key)} in one object (a key may appear once)",
            where=where,
        ) from None
    except RecursionError:
        raise error(f"{what} is nested more than {MAX_DEPTH} levels deep", where=where) from None
    except ValueError as exc:
        raise error(f"{what} is not valid: {_value_problem(exc)}", where=where) from None
    try:
        check_structure(data)
    except _DocumentTooBig as exc:
        raise error(f"{what} is {exc.message}", where=where) from None
    return data


def read_json(path: Path, what: str = "file", error: type[InputError] = InputError) -> object:
    return parse_json(read_text(path, what, "JSON", error), what, str(path), error)


# ------------------------------------------------------------------------------------------ streams
class _LineCapped:
    """Text lines of a binary stream, each at most MAX_LINE_BYTES (a longer one is an error, not a
    gigabyte read into memory), decoded as UTF-8 with the failing line's number in the message."""

    def __init__(
        self,
        raw: IO[bytes] | io.BufferedIOBase,
        path: Path,
        what: str,
        error: type[InputError],
        file: IO[bytes] | None = None,
    ) -> None:
        self._raw = raw
        self._file = file  # the file under a decompressor (GzipFile does not close a file it was given)
        self._path = path
        self._what = what
        self._error = error
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self.line_no = 0

    def __enter__(self) -> _LineCapped:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def readline(self, size: int | None = -1) -> str:
        try:
            raw = self._raw.readline(MAX_LINE_BYTES + 1)  # (the module's value now: tests lower it)
        except (EOFError, gzip.BadGzipFile, OSError, ValueError) as exc:
            text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
            problem = "corrupt gzip file" if isinstance(exc, EOFError | gzip.BadGzipFile) else f"cannot read: {text}"
            if "zlib" in text or "gzip" in text.lower() or "compressed" in text:
                problem = "corrupt gzip file"
            raise self._error(f"{problem} (near line {self.line_no + 1})", where=str(self._path)) from None
        if not raw:
            return ""
        self.line_no += 1
        if len(raw) > MAX_LINE_BYTES:
            raise self._error(
                f"line {self.line_no} is longer than {_size(MAX_LINE_BYTES)}; is this a {self._what}?",
                where=str(self._path),
            )
        try:
            return self._decoder.decode(raw)
        except UnicodeDecodeError:
            raise self._error(f"line {self.line_no}: not UTF-8 text", where=str(self._path)) from None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    def close(self) -> None:
        try:
            self._raw.close()
        finally:
            if self._file is not None:
                self._file.close()


def open_lines(path: Path, what: str, error: type[InputError] = InputError) -> _LineCapped:
    """A regular file (gzip-compressed when its name ends in .gz) as capped, decoded text lines."""
    fh = open_regular(path, what, "text", error)
    raw: IO[bytes] | io.BufferedIOBase = fh
    if path.suffix == ".gz":
        return _LineCapped(gzip.GzipFile(fileobj=fh, mode="rb"), path, what, error, file=fh)
    return _LineCapped(raw, path, what, error)


# ------------------------------------------------------------------------------------------ writing
STDOUT = "-"


def _names_a_descriptor(path: Path) -> bool:
    """/dev/stdout, /dev/fd/1, /proc/self/fd/1, or a link to one: a name for an open descriptor, written in
    place whatever it points to (replacing it would replace the descriptor's target, or the link itself)."""
    name = str(path)
    for _ in range(40):  # the kernel's own limit on links followed
        if name.startswith(("/proc/", "/dev/fd/", "/dev/stdout", "/dev/stderr")):
            return True
        try:
            target = os.readlink(name)
        except (OSError, ValueError):
            return False
        name = os.path.join(os.path.dirname(name), target)
    return False


def _target(path: Path) -> tuple[Path, os.stat_result | None]:
    """Where writing `path` lands (links followed) and its stat (None when it does not exist yet).

    stat follows the "magic" links of /proc/self/fd, which realpath cannot (a pipe has no path).
    """
    try:
        st: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", where=str(path)) from None
    return Path(os.path.realpath(path)), st


def check_output_path(path: Path, flag: str) -> None:
    """Fail before any work when `path` cannot be written: its folder is missing, it is a folder, or it
    is a file this run reads (the inputs named on the command line are recorded before this check)."""
    if str(path) == STDOUT:
        return
    real, st = _target(path)
    where = f"{flag} {path}"
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise InputError("is a folder; give a file name", where=where)
    directory = real.parent
    if st is None and not directory.is_dir():
        shown = path.parent if str(path.parent) else Path(".")
        raise InputError(f"folder {str(shown)!r} does not exist; create it or write elsewhere", where=where)
    _refuse_input(path, st, where)


def _refuse_input(path: Path, st: os.stat_result | None, where: str) -> None:
    if st is None or not stat.S_ISREG(st.st_mode):
        return
    source = _STATE.get().inputs.get((st.st_dev, st.st_ino))
    if source is not None:
        same = "" if os.path.realpath(source) == os.path.realpath(path) else f" ({source})"
        raise InputError(
            f"is a file this run reads{same}; writing it would destroy the input: write elsewhere", where=where
        )


def write_output(path: Path, text: str | bytes, flag: str) -> None:
    """Write `text` to `path` without destroying anything (see the module docstring); "-" is stdout.

    I/O failures become an InputError naming the file; a failed regular-file write leaves an existing
    file untouched and no temporary file behind.
    """
    if str(path) == STDOUT:
        if isinstance(text, bytes):
            sys.stdout.flush()
            sys.stdout.buffer.write(text)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
        return
    check_output_path(path, flag)
    real, st = _target(path)
    where = str(path)
    if st is not None and (not stat.S_ISREG(st.st_mode) or _names_a_descriptor(path)):
        _write_in_place(path, text, where, regular=stat.S_ISREG(st.st_mode))
        return
    directory = real.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise InputError(f"cannot write here: {exc.strerror or exc}", where=where) from None
    try:
        mode = stat.S_IMODE(st.st_mode) if st is not None else 0o666 & ~_umask()
        os.fchmod(fd, mode)
        if st is not None and os.getuid() == 0:  # root keeps the file's owner (CI runners run as root)
            with suppress(OSError):
                os.fchown(fd, st.st_uid, st.st_gid)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
            fh.flush()
            os.fsync(fh.fileno())
        _refuse_input(path, _target(path)[1], f"{flag} {path}")  # an input may have appeared meanwhile
        os.replace(tmp, real)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InputError(f"cannot write the file: {exc.strerror or exc}", where=where) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_in_place(path: Path, text: str | bytes, where: str, regular: bool) -> None:
    """A device, FIFO or /dev/stdout: written as it is, never replaced by a regular file.

    A special name that leads to a regular file (`-o /dev/stdout > out.json`) is appended to: the shell
    opened it (truncating it for `>`, not for `>>`), and writing at its end is right in both cases.
    """
    flags = os.O_WRONLY | getattr(os, "O_CLOEXEC", 0) | (os.O_APPEND if regular else 0)
    try:
        fd = os.open(path, flags)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            return
        raise InputError(f"cannot write: {exc.strerror or exc}", where=where) from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
