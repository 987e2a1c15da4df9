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
