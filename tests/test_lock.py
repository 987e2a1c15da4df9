"""The dependency lock (uv.lock): main installs the same set on every machine.

Checked here: the lock agrees with the pyproject files (and every tool that installs refuses
when it does not), the environment the suite runs in is the locked one, and the installer
itself is pinned. The pyz side (built from the lock, records it) is in test_pyz.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parent.parent
UV = REPO / "build" / ".uv" / "bin" / "uv"
OURS = {
    "sac",
    "sac-hookspecs",
    "sac-runtime-apptainer",
    "sac-runtime-docker",
    "sac-provider-deepseek",
    "sac-transport-a2a",
    "sac-placement-slurm",
}
STALE = "uv.lock is out of date with the pyproject files: run `make lock`"


@pytest.fixture(scope="module")
def uv() -> str:
    found = os.environ.get("UV") or (str(UV) if UV.exists() else shutil.which("uv"))
    if not found:
        pytest.skip("uv not installed: run `make dev`")
    return found


def locked_packages() -> dict[str, set[str]]:
    """name -> versions in uv.lock (a name may have several, one per Python range)."""
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    out: dict[str, set[str]] = {}
    for package in lock["package"]:
        if "version" in package:
            out.setdefault(package["name"], set()).add(package["version"])
    return out


def copy_workspace(dest: Path) -> Path:
    """The files that decide the lock and the install (pyproject files, uv.lock, Makefile,
    build/, sources), without the venv or caches."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for rel in files.splitlines():
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    # Files not committed yet (a change under test) count too.
    for rel in ("uv.lock", "pyproject.toml", "Makefile", "build/pyz.py", "build/uv-requirements.txt"):
        shutil.copy2(REPO / rel, dest / rel)
    return dest


def test_lock_agrees_with_the_pyproject_files(uv):
    """Fails the moment a dependency is added, dropped or re-bounded in any pyproject.toml of
    the workspace without `make lock`."""
    done = subprocess.run(
        [uv, "lock", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert done.returncode == 0, f"{STALE}\n{done.stderr}"


def test_every_package_is_pinned_with_hashes():
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    third_party = [p for p in lock["package"] if "registry" in p.get("source", {})]
    assert len(third_party) > 50  # direct and transitive
    for package in third_party:
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        assert files, package["name"]
        assert all(f["hash"].startswith("sha256:") for f in files), package["name"]
    # Our own distributions are never resolved from an index (an unrelated `sac` is on PyPI).
    sources = {p["name"]: p["source"] for p in lock["package"] if p["name"] in OURS}
    assert sources.keys() == OURS
    assert all("registry" not in s for s in sources.values()), sources


def test_lock_covers_every_python_the_project_supports():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    lock = tomllib.loads((REPO / "uv.lock").read_text(encoding="utf-8"))
    assert lock["requires-python"] == pyproject["project"]["requires-python"]


@pytest.mark.parametrize("change", ["new-dependency", "raised-floor"])
def test_a_stale_lock_stops_make_dev_and_the_pyz_build(uv, tmp_path, change):
    """Edit a pyproject without re-locking: `make dev` and build/pyz.py both refuse, say
    what to run, and install or build nothing."""
    work = copy_workspace(tmp_path / "repo")
    target = work / "plugins" / "provider_deepseek" / "pyproject.toml"
    text = target.read_text(encoding="utf-8")
    if change == "new-dependency":
        text = text.replace('dependencies = ["sac", "sac-hookspecs"]', 'dependencies = ["sac", "sac-hookspecs", "six"]')
    else:
        target = work / "pyproject.toml"
        text = target.read_text(encoding="utf-8").replace('"pyyaml>=6.0"', '"pyyaml>=6.0.1"')
    assert text != target.read_text(encoding="utf-8"), "the edit did not apply"
    target.write_text(text, encoding="utf-8")

    env = {**os.environ, "UV": uv, "UV_PYTHON_DOWNLOADS": "never"}
    make = subprocess.run(["make", "dev", f"UV={uv}"], cwd=work, capture_output=True, text=True, timeout=300, env=env)
    assert make.returncode != 0
    assert STALE in make.stderr, make.stdout + make.stderr
    assert not (work / ".venv").exists()

    build = subprocess.run(
        [sys.executable, str(work / "build" / "pyz.py"), "--lean", "-o", str(tmp_path / "x.pyz")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert build.returncode == 1
    assert STALE in build.stderr, build.stdout + build.stderr
    assert "Traceback" not in build.stderr
    assert not (tmp_path / "x.pyz").exists()


def test_this_environment_is_the_locked_one(sac):
    """`make dev` installed exactly the locked versions: what `sac --version --json` reports
    for each package beside sac is the version uv.lock holds."""
    info = json.loads(sac("--version", "--json", check=True).stdout)
    locked = locked_packages()
    for name, version in info["packages"].items():
        if name in OURS:
            continue  # editable, from this checkout
        assert name in locked, f"{name} {version} is installed but not in uv.lock"
        assert version in locked[name], f"{name}: installed {version}, locked {sorted(locked[name])}"
    for must in ("claude-agent-sdk", "pyyaml", "a2a-sdk", "msgspec", "pluggy", "click", "granian"):
        assert must in info["packages"], must


def test_the_installer_is_pinned_like_what_it_installs():
    """uv comes from build/uv-requirements.txt by hash, at the version pyproject requires
    (uv itself refuses to run at any other)."""
    pinned = (REPO / "build" / "uv-requirements.txt").read_text(encoding="utf-8")
    [version] = re.findall(r"^uv==(\S+)", pinned, flags=re.M)
    assert re.findall(r"--hash=sha256:[0-9a-f]{64}", pinned)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["uv"]["required-version"] == f"=={version}"


def test_version_verbose_names_the_claude_cli_agents_run(sac):
    """The CLI version shown is what that very binary says, and it is the one agents use."""
    from sac.claude_cli import find_claude

    cli = find_claude()
    assert cli is not None, "the test venv bundles the claude CLI"
    said = subprocess.run([str(cli), "--version"], capture_output=True, text=True, timeout=60).stdout.split()[0]
    info = json.loads(sac("--version", "--json", check=True).stdout)["claude_cli"]
    assert (info["path"], info["version"], info["source"], info["error"]) == (str(cli), said, "bundled", None)
    text = sac("--version", "--verbose", check=True).stdout
    assert f"claude CLI: {said} (bundled: {cli})" in text
