"""``spec.mounts[]`` entries (and a runtime's own bind lists, like ``spec.apptainer.binds``):
``{source, target, mode}`` or the short form ``"SRC[:DST][:ro|rw]"``."""

from __future__ import annotations

from ..spec import Mount, MountMode


def parse_mount(entry: str | Mount) -> Mount:
    """The Mount an entry means, with ``target`` filled in; ValueError says what is wrong."""
    mode: MountMode
    if isinstance(entry, Mount):
        source, target, mode = entry.source, entry.target, entry.mode
    else:
        parts = entry.split(":")
        mode = "ro"
        if len(parts) > 1 and parts[-1] in ("ro", "rw"):
            mode = "rw" if parts.pop() == "rw" else "ro"
        if len(parts) > 2:
            raise ValueError(f"{entry!r} has too many ':' (write SRC[:DST][:ro|rw])")
        source, target = parts[0], (parts[1] if len(parts) == 2 else None)
    if not source.startswith(("/", "~")):
        raise ValueError(f"source {source!r} must be an absolute path (or start with ~)")
    if target is not None and not target.startswith("/"):
        raise ValueError(f"target {target!r} must be an absolute path inside the container")
    return Mount(source=source, target=target or source, mode=mode)
