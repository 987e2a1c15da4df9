"""Mirror ``to_home/`` and ``dot_claude/`` (beside spec.yaml) into an agent at start.

``to_home/`` is copied into the agent's HOME and ``dot_claude/`` into its workdir. In
both, a few files have their own rule; everything else is copied over:

==========================  ======================  ==================================
source                      destination             rule
==========================  ======================  ==================================
CLAUDE.md                   CLAUDE.md               marker-protected append: sac owns
                                                    the block between its markers and
                                                    replaces only that; the rest of the
                                                    file is the agent's
.mcp.json                   .mcp.json               per-server merge (plus
                                                    ``spec.mcp_servers``)
.env                        .env                    overwrite, mode 0600
state.md                    state.md                overwrite
commands/ skills/ hooks/    .claude/<same>/         recursive copy (dot_claude/ only)
==========================  ======================  ==================================

A server defined differently in two sources (``dot_claude/.mcp.json`` and
``spec.mcp_servers``) is a conflict: sac refuses to guess and names both.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path, PurePosixPath
from typing import Any

import msgspec

from sac.errors import UsageError
from sac.nofollow import ensure_dir
from sac_hookspecs.spec import McpServer
from sac_hookspecs.toolkit.nofollow import opened_dir, read_bytes, write_file

BEGIN, END = "<!-- sac:begin (managed by sac; edit the agent's dot_claude/CLAUDE.md instead) -->", "<!-- sac:end -->"
CLAUDE_DIRS = ("commands", "skills", "hooks", "agents")


def merge_claude_md(existing: str, block: str) -> str:
    """``existing`` with sac's block set to ``block`` (appended the first time)."""
    managed = f"{BEGIN}\n{block.rstrip()}\n{END}\n"
    start, end = existing.find(BEGIN), existing.find(END)
    if start != -1 and end > start:
        return existing[:start] + managed + existing[end + len(END) :].lstrip("\n")
    if start != -1 or end != -1:
        raise UsageError(
            "CLAUDE.md has a broken sac block (one marker without the other)",
            hint="remove the stray <!-- sac:... --> marker line",
        )
    sep = "" if not existing or existing.endswith("\n\n") else ("\n" if existing.endswith("\n") else "\n\n")
    return existing + sep + managed


def merge_mcp(existing: dict[str, Any], *sources: tuple[str, dict[str, Any]]) -> dict[str, Any]:
    """Merge ``mcpServers`` per server: the sources may not disagree on one server;
    servers already in the file (added by the agent or by hand) are kept unless a source
    redefines them."""
    merged = dict(existing.get("mcpServers", {}))
    owner: dict[str, str] = {}
    for label, servers in sources:
        for name, server in servers.items():
            if name in owner and merged[name] != server:
                raise UsageError(
                    f"MCP server {name!r} is defined differently in {owner[name]} and {label}",
                    hint="keep one definition",
                )
            merged[name], owner[name] = server, label
    return {**existing, "mcpServers": merged}


def mcp_entry(server: McpServer) -> dict[str, Any]:
    """A spec.mcp_servers entry as Claude Code's .mcp.json writes it."""
    entry = msgspec.to_builtins(server)
    if server.type == "stdio":
        entry.pop("type", None)
    return {k: v for k, v in entry.items() if v not in (None, [], {})}


def _read_json(data: bytes | None, where: Path | str, what: str) -> dict[str, Any]:
    if data is None:
        return {}
    try:
        parsed = json.loads(data)
    except ValueError as e:
        raise UsageError(f"{where}: not valid JSON ({e})", hint=f"fix or remove the {what}") from None
    if not isinstance(parsed, dict):
        raise UsageError(f"{where}: expected a JSON object", hint=f"fix or remove the {what}")
    return parsed


def _copy_file(item: Path, dst: Path, rel: PurePosixPath) -> None:
    """Copy one source file (the owner's definition folder) to ``dst/rel``, never through a
    link in ``dst`` (the agent's); the file keeps its permission bits (hooks stay executable)."""
    write_file(dst, rel, item.read_bytes(), mode=stat.S_IMODE(item.stat().st_mode))


def _copy_tree(src: Path, dst: Path, into: PurePosixPath) -> None:
    for item in sorted(src.rglob("*")):
        rel = into / item.relative_to(src).as_posix()
        if item.is_dir():
            with opened_dir(dst, rel, create=True):
                pass
        else:
            _copy_file(item, dst, rel)


def mirror(src: Path, dst: Path, *, claude_dirs: bool, mcp_servers: dict[str, McpServer] | None = None) -> None:
    """Apply the rules of this module's table from ``src`` into ``dst``. ``dst`` (the agent's
    HOME or workdir) is the agent's own: nothing in it is read or written through a link
    (sac_hookspecs.toolkit.nofollow); a planted link stops the start with its path named."""
    ensure_dir(dst, mode=0o755)
    exists = src.is_dir()
    special = {"CLAUDE.md", ".mcp.json", ".env", "state.md"}
    if exists:
        for item in sorted(src.iterdir()):
            if item.name in special:
                continue
            if claude_dirs and item.is_dir() and item.name in CLAUDE_DIRS:
                _copy_tree(item, dst, PurePosixPath(".claude", item.name))
            elif item.is_dir():
                _copy_tree(item, dst, PurePosixPath(item.name))
            else:
                _copy_file(item, dst, PurePosixPath(item.name))
        if (src / "CLAUDE.md").is_file():
            old = (read_bytes(dst, "CLAUDE.md") or b"").decode("utf-8", "replace")
            write_file(dst, "CLAUDE.md", merge_claude_md(old, (src / "CLAUDE.md").read_text()).encode())
        for name, mode in (("state.md", 0o644), (".env", 0o600)):
            if (src / name).is_file():
                write_file(dst, name, (src / name).read_bytes(), mode=mode)
    sources = []
    if exists and (src / ".mcp.json").is_file():
        source = src / ".mcp.json"
        sources.append((str(source), _read_json(source.read_bytes(), source, "file").get("mcpServers", {})))
    if mcp_servers:
        sources.append(("spec.mcp_servers", {n: mcp_entry(s) for n, s in mcp_servers.items()}))
    if sources:
        merged = merge_mcp(_read_json(read_bytes(dst, ".mcp.json"), dst / ".mcp.json", "agent's .mcp.json"), *sources)
        write_file(dst, ".mcp.json", json.dumps(merged, indent=2).encode() + b"\n")
