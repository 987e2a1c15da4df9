#!/usr/bin/env python3
"""Build sac as one self-contained zipapp (shiv): ``python build/pyz.py [--lean] [-o OUT]``.

The pyz holds the core (``sac``), ``sac-hookspecs``, every first-party plugin under
``plugins/`` and all their dependencies from PyPI. Two variants:

* full (default, ``dist/sac.pyz``): claude-agent-sdk's platform wheel, which bundles the
  claude CLI binary (~380 MB unpacked); the pyz is ~185 MB.
* ``--lean`` (``dist/sac-lean.pyz``): the same locked claude-agent-sdk wheel with its
  bundled binary left out; the SDK then uses a ``claude`` found on PATH. The pyz is ~20 MB.
  (It used to build the SDK from its sdist; dropping the binary from the locked wheel keeps
  every byte hash-checked, needs no build backend, and gives both variants the same SDK.)

Every third-party package comes from ``uv.lock`` (exact versions, sha256 hashes); a lock that
is out of date with the pyproject files stops the build (``make lock`` updates it).

Steps:
1. ``uv export --locked``: the locked requirements with hashes (our own packages left out).
2. Build wheels of our own packages (``pip wheel --no-deps --no-build-isolation``: the
   build backend is the locked hatchling of this environment) into a fresh temporary dir.
   They are rebuilt every time because the sources change; they are cheap.
3. Download the locked wheels (``--only-binary :all: --require-hashes``) into
   ``build/.cache/wheels/``: offline from that cache first, from PyPI only for what it lacks.
4. ``pip install --no-index --require-hashes --target STAGING`` of the locked requirements
   plus our wheels *by file path* with their hashes: pip never looks anywhere else for our
   names (an unrelated project called ``sac`` is on PyPI), and every file is checked.
5. Strip what embeds the build machine: ``bin/`` (console scripts whose shebang is this
   interpreter's path) and ``direct_url.json`` (the wheel's file:// URL), and drop their
   lines from each RECORD so the metadata stays consistent. Write ``sac/_build.json``: the
   variant, commit, lock digest and every locked version (``sac --version --verbose``).
6. ``shiv --site-packages STAGING -c sac --reproducible`` with SOURCE_DATE_EPOCH fixed
   (the last commit's time): file order, timestamps and shiv's build id (a hash of the
   contents) are then deterministic, so two builds of one tree are byte-identical.

The pyz contains native modules (msgspec, ...) for the CPython minor version and platform
of the interpreter running this script, so it runs only on that minor version.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
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


def find_uv() -> str:
    """The pinned uv: $UV, the one `make` installs (build/.uv), or one on PATH (uv itself
    refuses to run when its version is not pyproject's [tool.uv] required-version)."""
    for candidate in (os.environ.get("UV"), str(ROOT / "build" / ".uv" / "bin" / "uv"), shutil.which("uv")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BuildError("uv not found: run `make dev` (it installs the pinned uv into build/.uv), or set UV=/path/to/uv")


def locked_requirements(uv: str, env: dict[str, str]) -> str:
    """uv.lock as a requirements file with hashes, without our own packages; refuses a lock
    that disagrees with the pyproject files."""
    check = subprocess.run([uv, "lock", "--check", "-q"], cwd=ROOT, env=env, capture_output=True, text=True)
    if check.returncode != 0:
        detail = (check.stderr.strip().splitlines() or ["(no detail)"])[-1]
        raise BuildError(
            f"uv.lock is out of date with the pyproject files: run `make lock` and commit uv.lock ({detail})"
        )
    out = subprocess.run(
        [
            uv,
            "export",
            "--locked",
            "--no-dev",
            "--all-packages",
            "--no-emit-workspace",
            "--format",
            "requirements-txt",
            "--no-header",
            "-q",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if out.returncode != 0:
        raise BuildError(f"uv export failed: {out.stderr.strip()}")
    return out.stdout


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def installed_versions(site: Path) -> dict[str, str]:
    """name -> version of every distribution in the staging site-packages."""
    versions = {}
    for metadata in site.glob("*.dist-info/METADATA"):
        head = metadata.read_text(encoding="utf-8").split("\n\n", 1)[0]
        fields = dict(re.findall(r"^(Name|Version): (.+)$", head, flags=re.M))
        versions[re.sub(r"[-_.]+", "-", fields["Name"]).lower()] = fields["Version"]
    return dict(sorted(versions.items()))


def git_commit() -> str | None:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.CalledProcessError):
        return None


def write_build_record(site: Path, variant: str, epoch: str) -> None:
    """sac/_build.json: what this pyz was built from, read by `sac --version --verbose`.
    Only inputs of the build go in it (no wall-clock time, no paths), so it stays reproducible."""
    record = {
        "variant": variant,
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "source_date_epoch": int(epoch),
        "commit": git_commit(),
        "lock_sha256": file_hash(ROOT / "uv.lock"),
        "packages": installed_versions(site),
    }
    (site / "sac" / "_build.json").write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")


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
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    log(f"variant {variant}, python {sys.version.split()[0]}, SOURCE_DATE_EPOCH={env['SOURCE_DATE_EPOCH']}")

    with tempfile.TemporaryDirectory(prefix="sac-pyz-") as tmp:
        local, site = Path(tmp, "local"), Path(tmp, "site-packages")

        # 1. The locked set (first: a stale lock fails before any slow work).
        log("exporting the locked requirements from uv.lock")
        locked = locked_requirements(find_uv(), env)
        locked_only = Path(tmp, "locked.txt")
        locked_only.write_text(locked, encoding="utf-8")

        # 2. Our own wheels.
        projects = first_party_projects()
        names = ", ".join(p.relative_to(ROOT).as_posix() for p in projects)
        log(f"building {len(projects)} first-party wheels: {names}")
        build_ours = [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(local), *map(str, projects)]
        run("building first-party wheels", build_ours, env)
        ours = sorted(local.glob("*.whl"))
        if len(ours) != len(projects):
            raise BuildError(f"expected {len(projects)} first-party wheels, got {[w.name for w in ours]}")
        requirements = Path(tmp, "requirements.txt")
        ours_pinned = "".join(f"{wheel} --hash=sha256:{file_hash(wheel)}\n" for wheel in ours)
        requirements.write_text(locked + ours_pinned, encoding="utf-8")

        # 3. Locked wheels into the cache: offline first, PyPI for what the cache lacks.
        download = [
            *pip,
            "download",
            "-q",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "-d",
            str(wheels),
            "-r",
            str(locked_only),
        ]
        log(f"collecting locked wheels in {wheels.relative_to(ROOT)}/")
        if not run("offline", [*download, "--no-index", "--find-links", str(wheels)], env, check=False):
            log("cache incomplete: downloading the locked wheels from PyPI")
            run("downloading locked wheels", download, env)

        # 4. Install everything into the staging site-packages, from local files only, hash-checked.
        log("installing into a staging site-packages")
        run(
            "installing",
            [
                *pip,
                "install",
                "-q",
                "--no-index",
                "--find-links",
                str(wheels),
                "--require-hashes",
                "--no-compile",
                "--no-warn-script-location",
                "--target",
                str(site),
                "-r",
                str(requirements),
            ],
            env,
        )

        # 5. Remove what embeds this machine (and, lean, the claude binary); record the build.
        bundled = site / "claude_agent_sdk" / "_bundled" / "claude"
        if not bundled.exists():
            raise BuildError("the locked claude-agent-sdk wheel has no _bundled/claude (no platform wheel here?)")
        if lean:
            bundled.unlink()
        strip_machine_specific(site)
        write_build_record(site, variant, env["SOURCE_DATE_EPOCH"])

        # 6. Zip it. Write next to the target and rename, so a failed build leaves no half file.
        log("zipping with shiv" + ("" if lean else " (~380 MB to compress: ~20 s)"))
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        try:
            run(
                "shiv",
                [
                    sys.executable,
                    "-m",
                    "shiv",
                    "--site-packages",
                    str(site),
                    "-c",
                    "sac",
                    "-p",
                    SHEBANG,
                    "--reproducible",
                    "-o",
                    str(partial),
                ],
                env,
            )
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)

    size = output.stat().st_size
    log(f"built {output} ({variant}): {size / 1e6:.1f} MB ({size} bytes) in {time.perf_counter() - START:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lean", action="store_true", help="no bundled claude CLI binary (~20 MB instead of ~185 MB)")
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
