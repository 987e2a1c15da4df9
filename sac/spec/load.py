"""Load YAML into a msgspec type with every problem located at ``file:line:col``.

The pipeline: compose (PyYAML nodes keep their marks) -> :class:`Validator` (all
problems at once) -> construct plain data -> ``msgspec.convert`` (builds the Structs;
a safety net that locates its single error too) -> semantic checks given by the
caller (known runtime names, mount syntax, ...), located through the same nodes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import yaml
from yaml.constructor import SafeConstructor

from .errors import Problem, SpecError
from .validate import Validator

T = TypeVar("T")
#: A semantic check: yields (path parts, message) for each problem in a loaded object.
Check = Callable[[Any], Iterable[tuple[tuple[str | int, ...], str]]]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: sac's own nesting limit. A spec is ~6 levels deep; hostile nesting must be one located
#: problem from sac, not whatever the YAML library does at its own limit (libyaml stops at
#: 1000 with its own wording; the pure-Python loader recurses until Python's limit).
MAX_DEPTH = 100
MAX_FILE = 1024 * 1024  # a spec or config is a few KB
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
_CLOSE = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def _check_depth(text: str, file: str, loader_type: Any) -> None:
    """Walk the event stream (cheap: no nodes are built) and stop at the first collection
    opened deeper than MAX_DEPTH, long before a library limit or Python's recursion."""
    loader = loader_type(text)
    try:
        depth = 0
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, _OPEN):
                depth += 1
                if depth > MAX_DEPTH:
                    mark = event.start_mark
                    assert mark is not None  # a parser's events always carry marks; only hand-made ones lack them
                    message = f"the document is nested deeper than {MAX_DEPTH} levels (a spec needs fewer than 10)"
                    raise SpecError(
                        [Problem(file=file, line=mark.line + 1, col=mark.column + 1, path="", message=message)]
                    )
            elif isinstance(event, _CLOSE):
                depth -= 1
    finally:
        loader.dispose()


def compose(text: str, file: str) -> yaml.Node | None:
    """The single YAML document in ``text`` as a node tree (None when empty)."""
    try:
        try:
            _check_depth(text, file, _Loader)
        except yaml.YAMLError:
            # libyaml's scanner looks ahead over flow brackets and may hit its own depth
            # limit before sac sees the 101st level: ask the pure-Python parser (no limit,
            # no recursion; slower, so only for broken files) whether depth is the cause.
            try:
                _check_depth(text, file, yaml.SafeLoader)
            except yaml.YAMLError:
                pass
            raise
        loader = _Loader(text)
        try:
            return loader.get_single_node()
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        what = e.problem or e.context or "invalid YAML"
        if e.context and e.problem:
            what = f"{e.problem} ({e.context})"
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise SpecError(
            [Problem(file=file, line=line, col=col, path="", message=f"YAML syntax error: {what}")]
        ) from None
    except yaml.YAMLError as e:  # ReaderError: a character YAML does not allow
        line, col = _position(text, getattr(e, "position", 0))
        raise SpecError(
            [Problem(file=file, line=line, col=col, path="", message=f"not valid YAML text: {e}")]
        ) from None
    except RecursionError:
        raise SpecError(
            [Problem(file=file, line=1, col=1, path="", message="the document is nested too deeply")]
        ) from None


def _position(text: str, offset: int) -> tuple[int, int]:
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def find_node(root: yaml.Node, parts: Iterable[str | int]) -> yaml.Node:
    """The deepest node along ``parts`` (mapping keys and list indexes) that exists."""
    node = root
    for part in parts:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            nxt = node.value[part]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    return node


def dotted(parts: Iterable[str | int]) -> str:
    out = ""
    for p in parts:
        out = f"{out}[{p}]" if isinstance(p, int) else (f"{out}.{p}" if out else p)
    return out


def _msgspec_path(message: str) -> tuple[str | int, ...]:
    """``Expected `int`, got `str` - at `$.spec.x[0]` `` -> ("spec", "x", 0)."""
    m = re.search(r"- at `\$(.*)`$", message)
    if not m:
        return ()
    return tuple(int(i) if i is not None else k for k, i in re.findall(r"\.([^.\[]+)|\[(\d+)\]", m.group(1)))


def _located(root: yaml.Node, file: str, parts: tuple[str | int, ...], message: str) -> Problem:
    mark = find_node(root, parts).start_mark
    return Problem(file=file, line=mark.line + 1, col=mark.column + 1, path=dotted(parts), message=message)


def load_text(
    text: str | bytes,
    file: str,
    type_: type[T],
    checks: Iterable[Check] = (),
    *,
    what: str = "",
    empty: T | None = None,
) -> T:
    """Parse ``text`` into ``type_`` or raise :class:`SpecError` with every problem found.

    A file with no document returns ``empty`` if given, else is an error whose
    message ends with ``what`` (the content expected).
    """
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line, col = _position(raw[: e.start].decode("utf-8", "replace"), e.start)
            raise SpecError(
                [Problem(file=file, line=line, col=col, path="", message="the file is not UTF-8 text")]
            ) from None
    root = compose(text, file)
    if root is None:
        if empty is not None:
            return empty
        raise SpecError([Problem(file=file, line=1, col=1, path="", message=f"the file is empty{what}")])
    validator = Validator(file)
    try:
        validator.check(root, msgspec.inspect.type_info(type_), "")
    except RecursionError:
        raise SpecError(
            [Problem(file=file, line=1, col=1, path="", message="the document is nested too deeply")]
        ) from None
    if validator.problems:
        raise SpecError(validator.problems)
    try:
        data = SafeConstructor().construct_document(root)
        obj = msgspec.convert(data, type_, strict=True)
    except msgspec.ValidationError as e:  # the validator should have caught it; locate it anyway
        msg = str(e)
        raise SpecError([_located(root, file, _msgspec_path(msg), msg.split(" - at ")[0])]) from None
    except (yaml.YAMLError, ValueError, TypeError, RecursionError) as e:
        raise SpecError(
            [Problem(file=file, line=1, col=1, path="", message=f"cannot read the document: {e}")]
        ) from None
    problems = [_located(root, file, tuple(parts), msg) for check in checks for parts, msg in check(obj)]
    if problems:
        raise SpecError(problems)
    return obj


def body_problems(body: bytes, type_: type) -> list[str]:
    """Every problem of a JSON request ``body`` against ``type_``, located as ``body:LINE:COL``
    (JSON is YAML to the validator), in the words of a spec's problems; [] when it fits.
    What sac's HTTP edges answer with a 400, through ``AgentPort.body_problems`` for transports."""
    try:
        load_text(body, "body", type_)
    except SpecError as e:
        return [p.render() for p in e.problems]
    return []


def load_file(path: Path, type_: type[T], checks: Iterable[Check] = (), *, what: str = "", empty: T | None = None) -> T:
    """Like :func:`load_text` for a file; an unreadable file is a one-problem SpecError, and
    so is one over MAX_FILE (never read whole: a 4 GiB file was, review D18)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            size = path.stat().st_size
            raise SpecError(
                [
                    Problem(
                        file=str(path),
                        line=1,
                        col=1,
                        path="",
                        message=f"the file is {size} bytes; sac reads at most {MAX_FILE} (1 MiB)",
                    )
                ]
            )
    except OSError as e:
        raise SpecError(
            [Problem(file=str(path), line=1, col=1, path="", message=f"cannot read: {e.strerror}")]
        ) from None
    return load_text(data, str(path), type_, checks, what=what, empty=empty)
