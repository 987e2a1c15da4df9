"""Render the plugin contract (``sac_hookspecs``) into docs/plugin-reference.md.

The reference is generated from the code, so it cannot drift from it: tests/test_docs.py
fails when the committed page differs from what this script renders (`make docs` rewrites
it). Nothing is listed by hand: the public names are the ``__all__`` of the package and of
each public submodule, so a class, hook or helper added to the contract appears here (and
must have docstrings) without touching this script.

Each public name is rendered from its source (``ast``), not from ``inspect.signature``:
signatures and field types read exactly as written, string annotations unquoted, and a
method's default body says what the base class does when a plugin does not override it.
Stdlib only, so it runs wherever ``sac_hookspecs`` imports.

    python build/plugin_reference.py            # rewrite docs/plugin-reference.md
    python build/plugin_reference.py --check    # exit 1 if the committed page is stale
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import inspect
import io
import pkgutil
import re
import sys
import textwrap
import tokenize
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "sac_hookspecs"
OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "plugin-reference.md"
REGENERATE = "make docs (or: .venv/bin/python build/plugin_reference.py)"


@dataclasses.dataclass
class Member:
    """A method, property or attribute of a class, or a field of a data type."""

    name: str
    kind: str  # "method", "async method", "property", "attribute"
    signature: str  # "(self, agent: Agent) -> bool", or ": str = ''" for attributes
    doc: str | None  # the member's own docstring (attributes: the comment beside or above it)
    default: str = ""  # for methods of plain classes: what the base class does


@dataclasses.dataclass
class Entry:
    """One public name of the contract."""

    name: str
    module: str  # where it is defined
    kind: str  # "hook", "class", "struct", "dataclass", "function", "value"
    signature: str
    doc: str | None
    import_from: str  # the shortest module that exports it
    line: int  # where it is defined, to list a module's names in source order
    members: list[Member] = dataclasses.field(default_factory=list)


# -- source reading ---------------------------------------------------------------------


def comments(source: str) -> dict[int, str]:
    """Line number -> the text of the comment on that line (``#:`` or ``#`` stripped)."""
    out = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = re.sub(r"^#:?\s?", "", tok.string).strip()
    return out


def comment_for(node: ast.stmt, notes: dict[int, str], lines: list[str]) -> str | None:
    """A field's documentation: the comment on its lines (a wrapped assignment keeps it on the
    closing line), else the comment lines directly above it."""
    for n in range(node.lineno, (node.end_lineno or node.lineno) + 1):
        if n in notes and not lines[n - 1].lstrip().startswith("#"):
            return notes[n]
    above = []
    n = node.lineno - 1
    while n >= 1 and lines[n - 1].lstrip().startswith("#"):
        above.insert(0, notes[n])
        n -= 1
    return " ".join(above) or None


def default_text(value: ast.expr, source: str) -> str:
    """``msgspec.field(default_factory=dict)`` reads as ``dict()``; anything else as written."""
    if isinstance(value, ast.Call) and ast.unparse(value.func).split(".")[-1] == "field":
        for kw in value.keywords:
            if kw.arg == "default_factory":
                return f"{code(kw.value, source)}()"
            if kw.arg == "default":
                return code(kw.value, source)
    return code(value, source)


def code(node: ast.AST, source: str) -> str:
    """A node as written in the source (quotes and spacing kept), or unparsed when it spans
    lines or has no position."""
    segment = ast.get_source_segment(source, node)
    return segment if segment and "\n" not in segment else ast.unparse(node)


def signature_of(fn: ast.FunctionDef | ast.AsyncFunctionDef, source: str) -> str:
    """``(self, agent: Agent, grace: float = 5.0) -> None``, annotations as written."""
    a = fn.args

    def one(arg: ast.arg, default: ast.expr | None) -> str:
        text = arg.arg + (f": {code(arg.annotation, source)}" if arg.annotation else "")
        if default is not None:  # PEP 8 spacing, as ruff format writes it: `x=1`, `x: int = 1`
            text += f" = {code(default, source)}" if arg.annotation else f"={code(default, source)}"
        return text

    positional = [*a.posonlyargs, *a.args]
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    parts = [one(arg, d) for arg, d in zip(positional, defaults, strict=True)]
    if a.posonlyargs:
        parts.insert(len(a.posonlyargs), "/")
    if a.vararg:
        parts.append("*" + one(a.vararg, None))
    elif a.kwonlyargs:
        parts.append("*")
    parts += [one(arg, d) for arg, d in zip(a.kwonlyargs, a.kw_defaults, strict=True)]
    if a.kwarg:
        parts.append("**" + one(a.kwarg, None))
    returns = f" -> {code(fn.returns, source)}" if fn.returns else ""
    return f"({', '.join(parts)}){returns}"


def base_behaviour(fn: ast.FunctionDef | ast.AsyncFunctionDef, source: str) -> str:
    """What a base-class method does when a plugin does not override it, in words."""
    body = fn.body[1:] if ast.get_docstring(fn) is not None else fn.body
    body = [s for s in body if not isinstance(s, ast.Pass)]
    if any(
        isinstance(d, ast.Name | ast.Attribute) and ast.unparse(d).endswith("abstractmethod") for d in fn.decorator_list
    ):
        return "abstract: a subclass must implement it"
    if not body:
        return "default: does nothing"
    if len(body) == 1 and isinstance(body[0], ast.Raise) and "NotImplementedError" in ast.unparse(body[0]):
        return "no default: the base class raises NotImplementedError"
    if len(body) == 1 and isinstance(body[0], ast.Return):
        return f"default: returns `{code(body[0].value, source) if body[0].value else 'None'}`"
    return "default: implemented by the base class"


def class_members(node: ast.ClassDef, source: str, plain: bool) -> list[Member]:
    notes, lines = comments(source), source.splitlines()
    out = []
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            name = stmt.target.id
            sig = f": {code(stmt.annotation, source)}" + (
                f" = {default_text(stmt.value, source)}" if stmt.value else ""
            )
            out.append(Member(name, "attribute", sig, comment_for(stmt, notes, lines)))
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = {ast.unparse(d) for d in stmt.decorator_list}
            if decorators & {"overload", "typing.overload"}:
                continue  # the typing stubs of a method: the implementation below is the one shown
            if "property" in decorators:
                returns = f" -> {code(stmt.returns, source)}" if stmt.returns else ""
                out.append(Member(stmt.name, "property", returns, ast.get_docstring(stmt)))
                continue
            kind = "async method" if isinstance(stmt, ast.AsyncFunctionDef) else "method"
            out.append(
                Member(
                    stmt.name,
                    kind,
                    signature_of(stmt, source),
                    ast.get_docstring(stmt),
                    base_behaviour(stmt, source) if plain else "",
                )
            )
    return [m for m in out if not m.name.startswith("_")]


def line_of(obj: Any) -> int:
    return inspect.getsourcelines(obj)[1]


def parse_object(obj: Any) -> tuple[ast.AST, str]:
    source = textwrap.dedent(inspect.getsource(obj))
    return ast.parse(source).body[0], source


def module_assignment(module: ModuleType, name: str) -> ast.stmt | None:
    """The module-level statement that binds ``name`` (a constant, a type alias, a marker)."""
    for stmt in ast.parse(inspect.getsource(module)).body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [getattr(stmt, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return stmt
    return None


# -- the walk -----------------------------------------------------------------------------


def public_modules(package_name: str = PACKAGE) -> list[ModuleType]:
    """The package and every public submodule, imported."""
    package = importlib.import_module(package_name)
    subs = [
        importlib.import_module(f"{package_name}.{m.name}")
        for m in pkgutil.iter_modules(package.__path__)
        if not m.name.startswith("_")
    ]
    return [package, *subs]


def public_names(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:  # a module without __all__: what it defines itself
        names = [
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        ]
    return list(names)


def hook_marker_attr(package: ModuleType) -> str | None:
    """pluggy marks each hookspec function with ``<project>_spec`` (None: no hookspec marker)."""
    marker = getattr(package, "hookspec", None)
    return f"{marker.project_name}_spec" if marker is not None else None


def home_module(name: str, obj: Any, modules: list[ModuleType]) -> ModuleType | None:
    """The public submodule that defines ``obj``: a class's or function's ``__module__``, or the
    module whose source assigns ``name`` (a constant, a type alias, a pluggy marker)."""
    if inspect.isclass(obj) or inspect.isfunction(obj):
        return next((m for m in modules if m.__name__ == obj.__module__), None)
    return next((m for m in modules if getattr(m, name, None) is obj and module_assignment(m, name)), None)


def walk(package_name: str = PACKAGE) -> list[Entry]:
    """Every public name of the contract, once, with the module that defines it: the names in
    the ``__all__`` of the package and of each public submodule."""
    package, *subs = public_modules(package_name)
    marker = hook_marker_attr(package)
    exported = set(public_names(package))
    seen: dict[object, Entry] = {}
    for exporter in (package, *subs):
        for name in public_names(exporter):
            obj = getattr(exporter, name)
            if inspect.ismodule(obj):
                continue  # a submodule: rendered as its own section
            module = home_module(name, obj, subs)
            if module is None:
                raise SystemExit(f"{exporter.__name__}.__all__ names {name!r}, defined in no public submodule")
            key = (module.__name__, name)
            if key in seen:
                continue
            import_from = package_name if name in exported and getattr(package, name) is obj else module.__name__
            seen[key] = entry(name, obj, module, import_from, marker)
    return sorted(seen.values(), key=lambda e: (e.module, e.line))


def entry(name: str, obj: Any, module: ModuleType, import_from: str, marker: str | None) -> Entry:
    if inspect.isfunction(obj):
        node, source = parse_object(obj)
        kind = "hook" if marker and getattr(obj, marker, None) is not None else "function"
        prefix = "async def " if isinstance(node, ast.AsyncFunctionDef) else "def "
        sig = f"{prefix}{name}{signature_of(node, source)}"
        return Entry(name, module.__name__, kind, sig, ast.get_docstring(node), import_from, line_of(obj))
    if inspect.isclass(obj):
        node, source = parse_object(obj)
        if dataclasses.is_dataclass(obj):
            kind = "dataclass"
        elif any(c.__module__ == "msgspec" and c.__name__ == "Struct" for c in obj.__mro__[1:]):
            kind = "struct"
        else:
            kind = "class"
        decorators = [f"@{code(d, source)}\n" for d in node.decorator_list]
        bases = [code(b, source) for b in [*node.bases, *node.keywords]]
        sig = "".join(decorators) + f"class {name}" + (f"({', '.join(bases)})" if bases else "")
        members = class_members(node, source, plain=kind == "class")
        return Entry(name, module.__name__, kind, sig, ast.get_docstring(node), import_from, line_of(obj), members)
    stmt = module_assignment(module, name)
    source = inspect.getsource(module)
    doc = comment_for(stmt, comments(source), source.splitlines()) if stmt else None
    # a module-level statement as written, even over several lines: the docs' code blocks
    # then stay as `ruff format` (which also formats Markdown) leaves them
    text = (ast.get_source_segment(source, stmt) or ast.unparse(stmt)) if stmt else name
    return Entry(name, module.__name__, "value", text, doc, import_from, stmt.lineno if stmt else 0)


def undocumented(entries: list[Entry]) -> list[str]:
    """Hooks, functions, classes and their public methods and properties without a docstring."""
    out = []
    for e in entries:
        out += [f"{e.module}.{e.name}"] if e.kind != "value" and not e.doc else []
        out += [f"{e.module}.{e.name}.{m.name}" for m in e.members if m.kind != "attribute" and not m.doc]
    return out


# -- markdown -----------------------------------------------------------------------------


def markdown(doc: str | None) -> str:
    """A docstring (reStructuredText habits) as Markdown: ``x`` and :role:`x` become `x`, and
    a ``::`` paragraph's indented block becomes a fenced one."""
    if not doc:
        return ""
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", doc)
    text = re.sub(r"``([^`]+)``", r"`\1`", text)
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if line.endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            out += [line[:-1], ""]
            j = i + 2
            block = []
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith(" ")):
                block.append(lines[j])
                j += 1
            while block and not block[-1].strip():
                block.pop()
            out += ["```", *textwrap.dedent("\n".join(block)).splitlines(), "```"]
            if j < len(lines):
                out.append("")
            i = j
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


KIND_WORDS = {
    "hook": "hook",
    "class": "class",
    "struct": "msgspec Struct",
    "dataclass": "dataclass",
    "function": "function",
    "value": "value",
}


def render_entry(e: Entry) -> list[str]:
    if e.kind == "hook":  # implemented, never imported: a function of that name marked @hookimpl
        how = f"hook: implement it in your plugin module as `@hookimpl def {e.name}(...)`"
    else:
        how = f"{KIND_WORDS[e.kind]}, `from {e.import_from} import {e.name}`"
    out = [f"### `{e.name}`", "", how, ""]
    out += ["```python", e.signature, "```", ""]
    if e.doc:
        out += [markdown(e.doc), ""]
    attributes = [m for m in e.members if m.kind == "attribute"]
    if attributes:
        out += ["Fields:" if e.kind in ("struct", "dataclass") else "Attributes:", ""]
        out += [f"- `{m.name}{m.signature}`" + (f": {markdown(m.doc)}" if m.doc else "") for m in attributes]
        out.append("")
    for m in e.members:
        if m.kind == "attribute":
            continue
        prefix = "async " if m.kind == "async method" else ""
        head = f"`{prefix}{m.name}{m.signature}`" + (" (property)" if m.kind == "property" else "")
        out += [f"#### {head}", ""]
        if m.default:
            out += [f"*{m.default}*", ""]
        if m.doc:
            out += [markdown(m.doc), ""]
    return out


def render(package_name: str = PACKAGE) -> str:
    """The whole page, as committed in docs/plugin-reference.md."""
    package, *subs = public_modules(package_name)
    entries = walk(package_name)
    out = [
        "# Plugin reference",
        "",
        f"<!-- Generated from the docstrings of {package_name} by build/plugin_reference.py: do not",
        f"     edit by hand. After changing the contract run: {REGENERATE} -->",
        "",
        f"Every public name of `{package_name}`, the package a plugin depends on: the hooks, the",
        "classes a plugin subclasses and registers, and the data sac hands to them. The guide to",
        "writing a plugin is [plugins.md](plugins.md). A method of a base class either has a",
        "default (override it when you support more) or raises NotImplementedError (implement",
        "it to support that operation); each says which.",
        "",
        markdown(inspect.getdoc(package)),
        "",
    ]
    # The module that defines the hooks first; then the modules whose names the package
    # re-exports most (the classes plugins subclass), then the rest by name.
    exported = set(public_names(package))

    def rank(m: ModuleType) -> tuple[int, int, str]:
        mine = [e for e in entries if e.module == m.__name__]
        return (-any(e.kind == "hook" for e in mine), -sum(e.name in exported for e in mine), m.__name__)

    for module in sorted(subs, key=rank):
        mine = [e for e in entries if e.module == module.__name__]
        if not mine:
            continue
        out += [f"## `{module.__name__}`", ""]
        if module.__doc__:
            out += [markdown(inspect.getdoc(module)), ""]
        for e in mine:
            out += render_entry(e)
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the committed page differs")
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    text = render()
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date; run: {REGENERATE}", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
