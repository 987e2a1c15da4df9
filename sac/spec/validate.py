"""Check a composed YAML node tree against a msgspec type and collect *every* problem.

msgspec stops at the first error and knows nothing of lines; PyYAML knows lines but
not our types. This walker joins the two: it reads the types through
``msgspec.inspect`` (the Structs stay the single source of truth) and reports each
problem at the mark of the node that caused it. It is strict where YAML is loose:
no coercion (``flags: --x`` is not a list of characters), YAML 1.1 booleans
(``on``/``no``) in a text field are errors with a hint to quote them, and duplicate
keys are errors.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import msgspec.inspect as mi
import yaml
from yaml.constructor import SafeConstructor

from .errors import Problem

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MERGE = (_TAG + t for t in ("str", "int", "float", "bool", "null", "merge"))

_SCALAR_KINDS = (mi.StrType, mi.IntType, mi.FloatType, mi.BoolType, mi.NoneType, mi.LiteralType, mi.EnumType)
_SEQUENCE_KINDS = (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType, mi.TupleType)
_MAPPING_KINDS = (mi.StructType, mi.DictType)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def describe_node(node: yaml.Node) -> str:
    """What the user wrote, in words: "a list", "a string ('abc')", "a boolean (no)"."""
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    kind = {
        STR: "a string",
        INT: "an integer",
        FLOAT: "a number",
        BOOL: "a boolean",
        NULL: "nothing (null)",
        _TAG + "timestamp": "a date",
    }.get(node.tag, "a value")
    if node.tag == NULL:
        return kind
    text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
    return f"{kind} ({text!r})" if node.tag == STR else f"{kind} ({text})"


def describe_type(t: mi.Type) -> str:
    """What a type accepts, in words (the ``allowed`` text of its metadata if it has one)."""
    t, allowed = _unwrap(t)
    if allowed:
        return allowed
    if isinstance(t, mi.StrType):
        return "a string"
    if isinstance(t, mi.IntType):
        return "an integer"
    if isinstance(t, mi.FloatType):
        return "a number"
    if isinstance(t, mi.BoolType):
        return "true or false"
    if isinstance(t, mi.NoneType):
        return "nothing (null)"
    if isinstance(t, mi.LiteralType):
        return "one of " + ", ".join(str(v) for v in t.values)
    if isinstance(t, mi.EnumType):
        return "one of " + ", ".join(str(m.value) for m in t.cls)
    if isinstance(t, _SEQUENCE_KINDS) and hasattr(t, "item_type"):
        return f"a list of {_plural(describe_type(t.item_type))}"
    if isinstance(t, mi.DictType):
        return f"a mapping of names to {_plural(describe_type(t.value_type))}"
    if isinstance(t, mi.StructType):
        return "a mapping"
    if isinstance(t, mi.UnionType):
        parts = [describe_type(m) for m in t.types if not isinstance(m, mi.NoneType)]
        return " or ".join(dict.fromkeys(parts))
    return "a value"


def _plural(words: str) -> str:
    """ "a string or a mapping" -> "strings or mappings"."""
    many = {
        "a string": "strings",
        "an integer": "integers",
        "a number": "numbers",
        "a mapping": "mappings",
        "a list": "lists",
    }
    parts = []
    for part in words.split(" or "):
        for one, plural in many.items():
            if part.startswith(one):
                part = plural + part[len(one) :]
                break
        parts.append(part)
    return " or ".join(parts)


def _unwrap(t: mi.Type) -> tuple[mi.Type, str]:
    """Strip ``Annotated`` metadata; return the bare type and its human "allowed" text."""
    allowed = ""
    while isinstance(t, mi.Metadata):
        allowed = (t.extra or {}).get("allowed", allowed)
        t = t.type
    return t, allowed


def _kind_matches(t: mi.Type, node: yaml.Node) -> bool:
    t = _unwrap(t)[0]
    if isinstance(t, mi.AnyType):
        return True
    if isinstance(node, yaml.MappingNode):
        return isinstance(t, _MAPPING_KINDS)
    if isinstance(node, yaml.SequenceNode):
        return isinstance(t, _SEQUENCE_KINDS)
    return isinstance(t, _SCALAR_KINDS)


def _tag_fits(t: mi.Type, tag: str) -> bool:
    """Whether a scalar of YAML ``tag`` is the kind of value ``t`` holds (bounds aside)."""
    t = _unwrap(t)[0]
    if isinstance(t, mi.LiteralType):
        kinds = {type(v) for v in t.values}
        return (tag == STR and str in kinds) or (tag == INT and int in kinds)
    return {
        mi.StrType: tag == STR,
        mi.IntType: tag == INT,
        mi.FloatType: tag in (INT, FLOAT),
        mi.BoolType: tag == BOOL,
    }.get(type(t), False)


def _exponent_hint(m: re.Match, integer: bool) -> str:
    """What to write instead of a number YAML 1.1 reads as text (review D22: the old hint,
    1.0e3, is text too: PyYAML wants a dot *and* a signed exponent)."""
    value = float(m.group(0))
    if value != value or value in (float("inf"), float("-inf")):
        return " (a number too large to represent)"
    if integer:
        return (
            f" (YAML 1.1 reads this as text: write {int(value)})"
            if value.is_integer() and abs(value) < 1e18
            else " (not an integer)"
        )
    mantissa = m.group(1) + (m.group(2) if m.group(2) and len(m.group(2)) > 1 else ".0")
    return f" (YAML 1.1 reads this as text: write {mantissa}e{m.group(3) or '+'}{m.group(4)})"


class Validator:
    """Collects problems for one file; call :meth:`check` on the document's root node."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self._constructor = SafeConstructor()
        self._seen: set[tuple[int, int]] = set()  # (node, type) pairs done: aliases cost once

    def report(self, node: yaml.Node, path: str, message: str) -> None:
        mark = node.start_mark
        self.problems.append(
            Problem(file=self.file, line=mark.line + 1, col=mark.column + 1, path=path, message=message)
        )

    def check(self, node: yaml.Node, t: mi.Type, path: str) -> None:
        key = (id(node), id(t))
        if key in self._seen:
            return
        self._seen.add(key)
        bare, allowed = _unwrap(t)
        if isinstance(bare, mi.AnyType):
            return
        if isinstance(bare, mi.UnionType):
            self._union(node, bare, path)
        elif isinstance(bare, mi.StructType):
            self._struct(node, bare, path)
        elif isinstance(bare, mi.DictType):
            self._dict(node, bare, path)
        elif isinstance(bare, _SEQUENCE_KINDS):
            self._sequence(node, bare, path)
        else:
            self._scalar(node, bare, allowed, path)

    # -- containers -------------------------------------------------------------------

    def _pairs(self, node: yaml.Node, t: mi.Type, path: str) -> list[tuple[str, yaml.Node, yaml.Node]] | None:
        """The (key, key node, value node) of a mapping, after merge keys; None if not one."""
        if not isinstance(node, yaml.MappingNode):
            self.report(node, path, f"expected {describe_type(t)}, got {describe_node(node)}")
            return None
        explicit = sum(1 for k, _ in node.value if k.tag != MERGE)
        explicit_keys: set[yaml.Node] = set()
        node = yaml.MappingNode(node.tag, list(node.value), node.start_mark, node.end_mark)  # flatten a copy
        try:
            self._constructor.flatten_mapping(node)  # merged pairs first, then the explicit ones
        except yaml.YAMLError as e:
            self.report(node, path, f"bad merge key: {getattr(e, 'problem', e)}")
            return None
        merged = len(node.value) - explicit
        pairs: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for i, (knode, vnode) in enumerate(node.value):
            if not (isinstance(knode, yaml.ScalarNode) and knode.tag == STR):
                self.report(knode, path, f"keys must be strings, got {describe_node(knode)}")
                continue
            key = knode.value
            if i >= merged and key in pairs and pairs[key][0] in explicit_keys:
                line = pairs[key][0].start_mark.line + 1
                self.report(knode, join(path, key), f"duplicate key (first given at line {line})")
                continue
            pairs[key] = (knode, vnode)  # an explicit key overrides a merged one, as in YAML
            if i >= merged:
                explicit_keys.add(knode)
        return [(key, k, v) for key, (k, v) in pairs.items()]

    def _struct(self, node: yaml.Node, t: mi.StructType, path: str) -> None:
        pairs = self._pairs(node, t, path)
        if pairs is None:
            return
        fields = {f.encode_name: f for f in t.fields}
        given = set()
        for key, knode, vnode in pairs:
            given.add(key)
            field = fields.get(key)
            if field is None:
                close = difflib.get_close_matches(key, fields, n=1)
                hint = f"did you mean `{close[0]}`? " if close else ""
                self.report(knode, join(path, key), f"unknown field ({hint}allowed: {', '.join(fields)})")
                continue
            self.check(vnode, field.type, join(path, key))
        for name, field in fields.items():
            if field.required and name not in given:
                self.report(node, join(path, name), f"missing required field ({describe_type(field.type)})")

    def _dict(self, node: yaml.Node, t: mi.DictType, path: str) -> None:
        pairs = self._pairs(node, t, path)
        for key, knode, vnode in pairs or ():
            self.check(knode, t.key_type, join(path, key))
            self.check(vnode, t.value_type, join(path, key))

    def _sequence(
        self,
        node: yaml.Node,
        t: mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType | mi.TupleType,
        path: str,
    ) -> None:
        if not isinstance(node, yaml.SequenceNode):
            hint = " (write it as a list: `- item`)" if isinstance(node, yaml.ScalarNode) else ""
            self.report(node, path, f"expected {describe_type(t)}, got {describe_node(node)}{hint}")
            return
        if isinstance(t, mi.TupleType):
            if len(node.value) != len(t.item_types):
                self.report(node, path, f"expected a list of exactly {len(t.item_types)} items")
                return
            for i, (item, it) in enumerate(zip(node.value, t.item_types, strict=False)):
                self.check(item, it, join(path, i))
            return
        for i, item in enumerate(node.value):
            self.check(item, t.item_type, join(path, i))

    def _union(self, node: yaml.Node, t: mi.UnionType, path: str) -> None:
        if (
            isinstance(node, yaml.ScalarNode)
            and node.tag == NULL
            and any(isinstance(_unwrap(m)[0], mi.NoneType) for m in t.types)
        ):
            return
        candidates = [m for m in t.types if _kind_matches(m, node) and not isinstance(m, mi.NoneType)]
        if not candidates:
            self.report(node, path, f"expected {describe_type(t)}, got {describe_node(node)}")
            return
        if len(candidates) == 1:
            self.check(node, candidates[0], path)
            return
        trials: list[tuple[mi.Type, list[Problem]]] = []
        for member in candidates:
            trial = Validator(self.file)
            trial.check(node, member, path)
            if not trial.problems:
                return
            trials.append((member, trial.problems))
        if isinstance(node, yaml.ScalarNode):
            # a value of the right kind but out of bounds: say so, not just "expected X or Y"
            same_kind = [probs for member, probs in trials if _tag_fits(member, node.tag)]
            if len(same_kind) == 1:
                self.problems.extend(same_kind[0])
            else:
                self.report(node, path, f"expected {describe_type(t)}, got {describe_node(node)}")
        else:
            fewest = min((probs for _, probs in trials), key=len)
            self.problems.extend(fewest)

    # -- scalars ----------------------------------------------------------------------

    def _value(self, node: yaml.ScalarNode, path: str) -> tuple[bool, Any]:
        try:
            return True, self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as e:
            self.report(node, path, f"cannot read {node.value!r}: {getattr(e, 'problem', None) or e}")
            return False, None

    def _scalar(self, node: yaml.Node, t: mi.Type, allowed: str, path: str) -> None:
        expected = describe_type(t)
        if not isinstance(node, yaml.ScalarNode):
            self.report(node, path, f"expected {expected}, got {describe_node(node)}")
            return
        got = describe_node(node)
        if isinstance(t, mi.StrType):
            if node.tag != STR:
                quote = " (quote it to keep it as text)" if not node.style and node.tag != NULL else ""
                self.report(node, path, f"expected a string, got {got}{quote}")
                return
            self._text_constraints(node, t, allowed, path)
        elif isinstance(t, (mi.IntType, mi.FloatType)):
            tags = (INT,) if isinstance(t, mi.IntType) else (INT, FLOAT)
            if node.tag not in tags:
                hint = ""
                m = re.fullmatch(r"([-+]?\d+)(\.\d*)?[eE]([-+]?)(\d+)", node.value) if node.tag == STR else None
                if m and not node.style:
                    hint = _exponent_hint(m, isinstance(t, mi.IntType))
                self.report(node, path, f"expected {expected}, got {got}{hint}")
                return
            if ":" in node.value:  # YAML 1.1 reads 1:30 as 90 (base 60): never what was meant
                self.report(
                    node, path, f"{node.value!r} is a base-60 number in YAML 1.1 (quote it, or write the value)"
                )
                return
            ok, value = self._value(node, path)
            if ok:
                self._number_constraints(node, t, value, allowed, path)
        elif isinstance(t, mi.BoolType):
            if node.tag != BOOL:
                self.report(node, path, f"expected true or false, got {got}")
        elif isinstance(t, mi.NoneType):
            if node.tag != NULL:
                self.report(node, path, f"expected nothing (null), got {got}")
        elif isinstance(t, (mi.LiteralType, mi.EnumType)):
            values = t.values if isinstance(t, mi.LiteralType) else tuple(m.value for m in t.cls)
            ok, value = self._value(node, path)
            if ok and not any(type(value) is type(v) and value == v for v in values):
                names = [str(v) for v in values]
                close = difflib.get_close_matches(str(value), names, n=1)
                hint = f"did you mean `{close[0]}`? " if close else ""
                self.report(node, path, f"{node.value!r} is not allowed ({hint}allowed: {', '.join(names)})")
        else:  # a type the spec schema does not use; msgspec's own check runs later
            self._value(node, path)

    def _text_constraints(self, node: yaml.ScalarNode, t: mi.StrType, allowed: str, path: str) -> None:
        value = node.value
        if t.min_length is not None and len(value) < t.min_length:
            self.report(node, path, f"too short ({allowed or f'at least {t.min_length} characters'})")
        elif t.max_length is not None and len(value) > t.max_length:
            self.report(node, path, f"too long ({allowed or f'at most {t.max_length} characters'})")
        elif t.pattern is not None and not re.search(t.pattern, value):
            self.report(node, path, f"{value!r} is not allowed ({allowed or f'must match {t.pattern}'})")

    def _number_constraints(self, node: yaml.Node, t: Any, value: float, allowed: str, path: str) -> None:
        bounds = (
            ("gt", ">", lambda b: value > b),
            ("ge", ">=", lambda b: value >= b),
            ("lt", "<", lambda b: value < b),
            ("le", "<=", lambda b: value <= b),
        )
        for attr, sign, holds in bounds:
            bound = getattr(t, attr)
            if bound is not None and not holds(bound):
                self.report(node, path, f"{node.value} is out of range ({allowed or f'must be {sign} {bound}'})")
                return
