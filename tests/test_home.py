"""to_home/ and dot_claude/ mirroring rules."""

from __future__ import annotations

import json
import os
import stat

import pytest

from sac.errors import UsageError
from sac.runner.home import BEGIN, END, merge_claude_md, mirror
from sac_hookspecs.spec import McpServer


def test_claude_md_block_is_appended_once_then_replaced():
    first = merge_claude_md("# Mine\nkeep me\n", "rules v1")
    assert first == f"# Mine\nkeep me\n\n{BEGIN}\nrules v1\n{END}\n"
    second = merge_claude_md(first + "agent notes\n", "rules v2")
    assert second == f"# Mine\nkeep me\n\n{BEGIN}\nrules v2\n{END}\nagent notes\n"
    assert merge_claude_md("", "x") == f"{BEGIN}\nx\n{END}\n"
    with pytest.raises(UsageError, match="broken sac block"):
        merge_claude_md(f"{BEGIN}\nno end", "x")


def test_dot_claude_rules(tmp_path):
    src, work = tmp_path / "dot_claude", tmp_path / "work"
    (src / "commands").mkdir(parents=True)
    (src / "commands" / "hi.md").write_text("say hi")
    (src / "CLAUDE.md").write_text("be brief")
    (src / ".env").write_text("TOKEN=abc\n")
    (src / "state.md").write_text("new state")
    (src / "notes.txt").write_text("plain copy")
    (src / ".mcp.json").write_text(json.dumps({"mcpServers": {"fs": {"command": "npx", "args": ["fs"]}}}))
    work.mkdir()
    (work / "state.md").write_text("old state")
    (work / ".mcp.json").write_text(json.dumps({"mcpServers": {"mine": {"command": "x"}}, "other": 1}))

    mirror(src, work, claude_dirs=True, mcp_servers={"web": McpServer(type="http", url="http://127.0.0.1:9")})
    assert (work / ".claude" / "commands" / "hi.md").read_text() == "say hi"
    assert BEGIN in (work / "CLAUDE.md").read_text()
    assert stat.S_IMODE((work / ".env").stat().st_mode) == 0o600
    assert (work / "state.md").read_text() == "new state"
    assert (work / "notes.txt").read_text() == "plain copy"
    mcp = json.loads((work / ".mcp.json").read_text())
    assert mcp == {
        "mcpServers": {
            "mine": {"command": "x"},
            "fs": {"command": "npx", "args": ["fs"]},
            "web": {"type": "http", "url": "http://127.0.0.1:9"},
        },
        "other": 1,
    }

    mirror(src, work, claude_dirs=True)  # again: idempotent
    assert (work / "CLAUDE.md").read_text().count(BEGIN) == 1


def test_what_sac_writes_has_its_modes_whatever_the_umask(tmp_path):
    """The workdir may be shared (and bound into a container as another uid): CLAUDE.md and
    .mcp.json are 0644 and the folders sac creates 0755, exactly, under a strict or an open
    umask (mutants that made them 0643, or created folders 0754 or 0756, passed the suite)."""
    src, work = tmp_path / "dot_claude", tmp_path / "work"
    (src / "commands" / "deep").mkdir(parents=True)
    (src / "commands" / "deep" / "x.md").write_text("x")
    (src / "notes").mkdir()  # its folder is made by the file's write (write_file's dir_mode)
    (src / "notes" / "a.txt").write_text("a")
    (src / "CLAUDE.md").write_text("rules")
    (src / ".mcp.json").write_text(json.dumps({"mcpServers": {"fs": {"command": "npx"}}}))
    for umask in (0o077, 0o000):
        old = os.umask(umask)
        try:
            mirror(src, work / oct(umask), claude_dirs=True)
        finally:
            os.umask(old)
        out = work / oct(umask)
        modes = {p.relative_to(out).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in [out, *out.rglob("*")]}
        assert modes == {
            ".": 0o755,
            "CLAUDE.md": 0o644,
            ".mcp.json": 0o644,
            ".claude": 0o755,
            ".claude/commands": 0o755,
            ".claude/commands/deep": 0o755,
            ".claude/commands/deep/x.md": stat.S_IMODE((src / "commands/deep/x.md").stat().st_mode),
            "notes": 0o755,
            "notes/a.txt": stat.S_IMODE((src / "notes/a.txt").stat().st_mode),
        }, (oct(umask), {k: oct(v) for k, v in modes.items()})


def test_conflicting_mcp_definitions_are_an_error(tmp_path):
    src = tmp_path / "dot_claude"
    src.mkdir()
    (src / ".mcp.json").write_text(json.dumps({"mcpServers": {"fs": {"command": "npx"}}}))
    with pytest.raises(
        UsageError, match=r"MCP server 'fs' is defined differently in .*\.mcp\.json and spec.mcp_servers"
    ):
        mirror(src, tmp_path / "w", claude_dirs=True, mcp_servers={"fs": McpServer(command="other")})


def test_to_home_goes_to_home_without_claude_dir_mapping(tmp_path):
    src = tmp_path / "to_home"
    (src / "commands").mkdir(parents=True)
    (src / "commands" / "x").write_text("1")
    (src / ".bashrc").write_text("alias ll='ls -l'")
    mirror(src, tmp_path / "home", claude_dirs=False)
    assert (tmp_path / "home" / "commands" / "x").exists()
    assert (tmp_path / "home" / ".bashrc").read_text() == "alias ll='ls -l'"
