"""Where the Claude Code CLI binary is, found without importing claude_agent_sdk (~0.5 s)."""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path


def find_claude() -> Path | None:
    """``SAC_CLAUDE_CLI``, else the binary bundled in the claude-agent-sdk wheel, else PATH."""
    override = os.environ.get("SAC_CLAUDE_CLI")
    if override:
        return Path(override)
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "_bundled" / "claude"
        if bundled.is_file():
            return bundled
    found = shutil.which("claude")
    return Path(found) if found else None
