#!/usr/bin/env python3
"""Build sac as one self-contained zipapp (shiv): ``python build/pyz.py [--lean] [-o OUT]``.

The pyz holds the core (``sac``), ``sac-hookspecs``, every first-party plugin under
``plugins/`` and all their dependencies from PyPI. Two variants:

* full (default, ``dist/sac.pyz``): claude-agent-sdk's platform wheel, which bundles the
  claude CLI binary (~380 MB unpacked); the pyz is ~185 MB.
* ``--lean`` (``dist/sac-lean.pyz``): claude-agent-sdk built from its sdist
  (``--no-binary claude-agent-sdk``), which has no bundled binary; the SDK then uses a
  ``claude`` found on PATH. The pyz is ~11 MB.

Steps:
1. Build wheels of our own packages (``pip wheel --no-deps``) into a fresh temporary dir.
   They are rebuilt every time because the sources change; they are cheap.
2. Collect third-party wheels into ``build/.cache/wheels-<variant>/``: first offline from
   that cache (fast, and pins what was resolved before), and only if that fails (first
   build, or a new dependency) from PyPI. Delete build/.cache/ to re-resolve from scratch.
3. ``pip install --no-index --target STAGING`` of our wheels, *by file path*: pip then never
   looks anywhere else for those names (an unrelated project called ``sac`` is on PyPI).
4. Strip what embeds the build machine: ``bin/`` (console scripts whose shebang is this
   interpreter's path) and ``direct_url.json`` (the wheel's file:// URL), and drop their
   lines from each RECORD so the metadata stays consistent.
5. ``shiv --site-packages STAGING -c sac --reproducible`` with SOURCE_DATE_EPOCH fixed
   (the last commit's time): file order, timestamps and shiv's build id (a hash of the
   contents) are then deterministic, so two builds of one tree are byte-identical.

The pyz contains native modules (msgspec, ...) for the CPython minor version and platform
of the interpreter running this script, so it runs only on that minor version.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / ".cache"
SHEBANG = "/usr/bin/env python3"
# Used when neither SOURCE_DATE_EPOCH nor git gives a time: 1980-01-01, the zip epoch.
FALLBACK_EPOCH = 315532800
START = time.perf_counter()


class BuildError(Exception):
    pass


def log(msg: str) -> None:
    print(f"[pyz {time.perf_counter() - START:6.1f}s] {msg}", flush=True)


def run(step: str, cmd: list[str], env: dict[str, str], check: bool = True) -> bool:
    """Run a command. check=True: its output goes to ours and a failure raises BuildError;
    check=False: an expected, tolerated failure, so its output is hidden."""
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=not check)
    if result.returncode != 0 and check:
        raise BuildError(f"{step} failed (exit {result.returncode}): {' '.join(cmd)}")
    return result.returncode == 0


def source_date_epoch() -> str:
    """SOURCE_DATE_EPOCH if set, else the last commit's time, else a constant."""
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return os.environ["SOURCE_DATE_EPOCH"]
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        return str(max(int(out), FALLBACK_EPOCH))
    except (OSError, subprocess.CalledProcessError, ValueError):
        return str(FALLBACK_EPOCH)


def first_party_projects() -> list[Path]:
    """hookspecs, the core, then every plugin (each folder of plugins/ with a pyproject.toml)."""
    plugins = sorted(p.parent for p in (ROOT / "plugins").glob("*/pyproject.toml"))
    return [ROOT / "hookspecs", ROOT, *plugins]


def is_inside(site: Path, relpath: str) -> bool:
    """Does this RECORD path name an existing file inside site (not ../../bin/sac)?"""
    path = (site / relpath).resolve()
    return path.is_relative_to(site.resolve()) and path.exists()


def strip_machine_specific(site: Path) -> None:
    """Remove files that embed build paths, and their RECORD lines (see step 4 above)."""
    shutil.rmtree(site / "bin", ignore_errors=True)
    for direct_url in site.glob("*.dist-info/direct_url.json"):
        direct_url.unlink()
    for pycache in list(site.rglob("__pycache__")):  # none with --no-compile; be sure anyway
        shutil.rmtree(pycache)
    for record in site.glob("*.dist-info/RECORD"):
        lines = record.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [ln for ln in lines if is_inside(site, ln.split(",", 1)[0])]
        if kept != lines:
            record.write_text("".join(kept), encoding="utf-8")


def build(output: Path, lean: bool) -> None:
    variant = "lean" if lean else "full"
    if importlib.util.find_spec("shiv") is None:
        raise BuildError(f"shiv is not installed for {sys.executable}: run `make dev`, then use .venv/bin/python")
    # SOURCE_DATE_EPOCH reaches shiv and the wheel builds (hatchling honours it); a fixed
    # hash seed keeps any set-ordering in a build backend's output stable.
    env = dict(os.environ, SOURCE_DATE_EPOCH=source_date_epoch(), PYTHONHASHSEED="0")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    wheels = CACHE / f"wheels-{variant}"
    wheels.mkdir(parents=True, exist_ok=True)
    log(f"variant {variant}, python {sys.version.split()[0]}, SOURCE_DATE_EPOCH={env['SOURCE_DATE_EPOCH']}")

    with tempfile.TemporaryDirectory(prefix="sac-pyz-") as tmp:
        local, site = Path(tmp, "local"), Path(tmp, "site-packages")

        # 1. Our own wheels.
        projects = first_party_projects()
        names = ", ".join(p.relative_to(ROOT).as_posix() for p in projects)
        log(f"building {len(projects)} first-party wheels: {names}")
        build_ours = [*pip, "wheel", "-q", "--no-deps", "-w", str(local), *map(str, projects)]
        run("building first-party wheels", build_ours, env)
        ours = sorted(local.glob("*.whl"))
        if len(ours) != len(projects):
            raise BuildError(f"expected {len(projects)} first-party wheels, got {[w.name for w in ours]}")

        # 2. Third-party wheels into the cache: offline first, PyPI if the cache lacks something.
        #    The lean cache only ever receives claude-agent-sdk built from its sdist, so the
        #    offline attempt can't pick the binary wheel.
        collect = [*pip, "wheel", "-q", "-w", str(wheels), "--find-links", str(wheels), *map(str, ours)]
        log(f"collecting dependency wheels from the cache {wheels.relative_to(ROOT)}/")
        if not run("offline", [*collect, "--no-index"], env, check=False):
            log("cache incomplete: resolving from PyPI (slow the first time)")
            no_binary = ["--no-binary", "claude-agent-sdk"] if lean else []
            run("downloading dependency wheels", [*collect, *no_binary], env)
        for wheel in ours:  # pip wheel copied ours into the cache too; keep it third-party only
            (wheels / wheel.name).unlink(missing_ok=True)

        # 3. Install everything into the staging site-packages, from local files only.
        log("installing into a staging site-packages")
        run(
            "installing",
            [*pip, "install", "-q", "--no-index", "--find-links", str(wheels), "--no-compile",
             "--no-warn-script-location", "--target", str(site), *map(str, ours)],
            env,
        )

        # 4. Remove what embeds this machine; check the claude binary is (or isn't) there.
        strip_machine_specific(site)
        bundled = site / "claude_agent_sdk" / "_bundled" / "claude"
        if lean and bundled.exists():
            raise BuildError(f"lean build still has the bundled claude binary: {bundled}")
        if not lean and not bundled.exists():
            raise BuildError("full build lacks claude_agent_sdk/_bundled/claude (no platform wheel for this machine?)")

        # 5. Zip it. Write next to the target and rename, so a failed build leaves no half file.
        log("zipping with shiv" + ("" if lean else " (~380 MB to compress: ~20 s)"))
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        try:
            run(
                "shiv",
                [sys.executable, "-m", "shiv", "--site-packages", str(site), "-c", "sac", "-p", SHEBANG,
                 "--reproducible", "-o", str(partial)],
                env,
            )
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)

    size = output.stat().st_size
    log(f"built {output} ({variant}): {size / 1e6:.1f} MB ({size} bytes) in {time.perf_counter() - START:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lean", action="store_true", help="no bundled claude CLI binary (~11 MB instead of ~185 MB)")
    parser.add_argument("-o", "--output", type=Path, help="output file (default dist/sac.pyz or dist/sac-lean.pyz)")
    args = parser.parse_args()
    output = (args.output or ROOT / "dist" / ("sac-lean.pyz" if args.lean else "sac.pyz")).absolute()
    try:
        build(output, args.lean)
    except BuildError as exc:
        print(f"pyz: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
