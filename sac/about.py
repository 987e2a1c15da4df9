"""What this sac runs on: ``sac --version --verbose`` (and ``--json``).

On an air-gapped node a user must be able to tell which claude CLI and which libraries an
agent runs on. A pyz carries ``sac/_build.json`` (written by build/pyz.py from uv.lock: the
variant, commit, lock digest and every locked version); a checkout or an installed wheel
has none, and the versions come from the installed distributions alone. Either way the
packages listed are the ones *beside sac* (same site-packages), read from their metadata,
so what is shown is what runs, and a package that differs from the lock is flagged.

Imports nothing heavy: not the SDK (0.5 s), only its location on disk.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import sac

PACKAGE_DIR = Path(sac.__file__).resolve().parent


def build_record() -> dict[str, Any] | None:
    """sac/_build.json of a pyz build, or None outside one."""
    try:
        return json.loads((PACKAGE_DIR / "_build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def packages_beside_sac() -> dict[str, str]:
    """name -> version of every distribution installed in the same place as sac. In a dev
    checkout (sac installed editable) that is the venv's site-packages."""
    dist = importlib.metadata.distribution("sac")
    site = Path(str(dist.locate_file(""))).resolve()
    found: dict[str, str] = {}
    for d in importlib.metadata.distributions():
        try:
            if Path(str(d.locate_file(""))).resolve() == site and d.metadata["Name"]:
                found.setdefault(_normal(d.metadata["Name"]), d.version)
        except (OSError, KeyError, TypeError):
            continue
    return dict(sorted(found.items()))


def claude_cli() -> dict[str, Any]:
    """The claude CLI agents would run (sac.claude_cli: SAC_CLAUDE_CLI, the SDK's bundled
    binary, PATH) and what it says its version is (it runs, so only on --verbose)."""
    from sac.claude_cli import find_claude

    found = find_claude()
    path = str(found) if found else None
    source = (
        "SAC_CLAUDE_CLI"
        if os.environ.get("SAC_CLAUDE_CLI")
        else "bundled"
        if found and found.parent.name == "_bundled"
        else "PATH"
    )
    info: dict[str, Any] = {"path": path, "source": source, "version": None, "error": None}
    if path is None:
        info["error"] = "none found: no SAC_CLAUDE_CLI, no binary bundled in the SDK, no `claude` on PATH"
        return info
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "DISABLE_AUTOUPDATER": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, env=env)
        first = (out.stdout.strip().splitlines() or [""])[0]
        match = re.match(r"(\d+\.\d+\.\d+\S*)", first)
        info["version"] = match.group(1) if match else first or None
        if out.returncode != 0:
            info["error"] = f"`claude --version` exited {out.returncode}: {out.stderr.strip()[:200]}"
    except (OSError, subprocess.TimeoutExpired) as e:
        info["error"] = f"`claude --version` failed: {e}"
    return info


def describe() -> dict[str, Any]:
    record = build_record()
    installed = packages_beside_sac()
    locked = (record or {}).get("packages", {})
    differ = {n: {"locked": v, "installed": installed.get(n)} for n, v in locked.items() if installed.get(n) != v}
    return {
        "sac": sac.__version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "build": {k: v for k, v in record.items() if k != "packages"} if record else None,
        "claude_cli": claude_cli(),
        "packages": installed,
        "differ_from_lock": differ,
    }


def render(info: dict[str, Any]) -> str:
    lines = [f"sac {info['sac']}", f"python {info['python']} ({info['executable']})"]
    build = info["build"]
    if build:
        commit = (build.get("commit") or "unknown")[:12]
        lines.append(
            f"built: {build['variant']} pyz for Python {build['python']}, commit {commit}, "
            f"uv.lock sha256 {build['lock_sha256'][:16]}"
        )
    else:
        lines.append("built: not a pyz (versions below are the installed ones)")
    cli = info["claude_cli"]
    if cli["path"]:
        lines.append(f"claude CLI: {cli['version'] or 'unknown version'} ({cli['source']}: {cli['path']})")
    if cli["error"]:
        lines.append(f"claude CLI: {cli['error']}")
    lines.append(f"packages ({len(info['packages'])}):")
    width = max((len(n) for n in info["packages"]), default=0)
    for name, version in info["packages"].items():
        mark = ""
        if name in info["differ_from_lock"]:
            mark = f"  (locked {info['differ_from_lock'][name]['locked']})"
        lines.append(f"  {name:<{width}}  {version}{mark}")
    for name, d in info["differ_from_lock"].items():
        if d["installed"] is None:
            lines.append(f"  {name:<{width}}  missing (locked {d['locked']})")
    return "\n".join(lines)
