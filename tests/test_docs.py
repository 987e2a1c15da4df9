"""The spec reference documents every field the installed schema accepts."""

from __future__ import annotations

from pathlib import Path

import msgspec.inspect as mi

from sac.plugins import Plugins

SPEC_DOC = Path(__file__).resolve().parent.parent / "docs" / "spec.md"


def field_paths(t: mi.Type, prefix: str) -> list[str]:
    """Dotted paths of every Struct field reachable from ``t`` (dict values as NAME)."""
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        return [p for m in t.types for p in field_paths(m, prefix)]
    if isinstance(t, (mi.ListType, mi.VarTupleType)):
        return field_paths(t.item_type, prefix) if isinstance(t.item_type, mi.StructType) else []
    if isinstance(t, mi.DictType):
        return field_paths(t.value_type, f"{prefix}.NAME") if isinstance(t.value_type, mi.StructType) else []
    if not isinstance(t, mi.StructType):
        return []
    out = []
    for f in t.fields:
        path = f"{prefix}.{f.encode_name}" if prefix else f.encode_name
        out += [path, *field_paths(f.type, path)]
    return out


def test_every_spec_field_is_documented():
    paths = sorted(set(field_paths(mi.type_info(Plugins().spec_type), "")))
    # list entries (mounts, binds) share their parent's row
    paths = [p for p in paths if not p.startswith(("spec.mounts.", "spec.apptainer.binds."))]
    doc = SPEC_DOC.read_text()
    missing = [p for p in paths if f"`{p}`" not in doc]
    assert missing == []


def test_every_promise_names_a_test_that_exists():
    """docs/promises.md: each row's test is a real test function (a renamed or deleted test
    turns its promise into one with no test, and this fails)."""
    import re

    root = Path(__file__).resolve().parent.parent
    rows = [ln for ln in (root / "docs" / "promises.md").read_text().splitlines() if ln.startswith("| ") and "::" in ln]
    assert len(rows) >= 30
    missing = []
    for row in rows:
        for path, name in re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", row):
            source = root / path
            if not source.is_file() or not re.search(rf"^def {name}\(", source.read_text(), re.M):
                missing.append(f"{path}::{name}")
        assert re.search(r"`tests/[\w/]+\.py::test_\w+`", row), f"a row without a test: {row}"
    assert missing == []
