"""The README's first agent runs as the README says, on any host: its code block, run by
bash with a `sac` on PATH, in a scratch SAC_HOME (issue 14)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parent.parent.parent


def test_the_readme_first_agent_block_runs_as_written():
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Your first agent: one that runs anywhere\n", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```bash\n(.*?)```", section, re.S)
    tmp_path = Path(tempfile.mkdtemp(prefix="sac-rd-"))  # short: the control socket's path has a limit
    home = tmp_path / "sac-first"
    script = block.replace("/tmp/sac-first", str(home))
    assert script != block  # the block names its scratch home, moved here into tmp_path
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sac").write_text(f'#!/bin/sh\nexec {sys.executable} -m sac "$@"\n')
    (bin_dir / "sac").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAC_")}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    try:
        done = subprocess.run(
            ["bash", "-e", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
    finally:
        subprocess.run(
            [sys.executable, "-m", "sac", "agents", "stop", "offline-agent-1"],
            env={**env, "SAC_HOME": str(home)},
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(tmp_path, ignore_errors=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 of 1 ready" in done.stdout and "\n4\n" in done.stdout
    assert "offline-agent-1: stopped" in done.stdout
