"""The Debian mirror and release this host installs from, for building base images offline
from the same source (no registry, no other network)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

DEFAULT_MIRROR = "http://deb.debian.org/debian"


def host_mirror(root: Path = Path("/")) -> tuple[str, str]:
    """(mirror URL, suite) from the host's apt sources; Debian's defaults if none is found."""
    suite = _codename(root) or "bookworm"
    for path in sorted((root / "etc/apt/sources.list.d").glob("*.sources")):
        text = path.read_text(errors="replace")
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and suite in suites.group(1).split() and "security" not in uris.group(1):
                return uris.group(1).rstrip("/"), suite
    legacy = root / "etc/apt/sources.list"
    if legacy.is_file():
        for line in legacy.read_text(errors="replace").splitlines():
            m = re.match(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m and m.group(2) == suite and "security" not in m.group(1):
                return m.group(1).rstrip("/"), suite
    return DEFAULT_MIRROR, suite


def _codename(root: Path) -> str | None:
    try:
        text = (root / "etc/os-release").read_text()
    except OSError:
        return None
    m = re.search(r"^VERSION_CODENAME=\"?([a-z]+)", text, re.M)
    return m.group(1) if m else None


#: What an agent's tools expect beyond minbase (bash and coreutils are in it): python3 also
#: runs sac.pyz inside, for an agent that starts agents (SAC-from-SAC).
BASE_PACKAGES = ("python3", "git", "ca-certificates", "procps")


def debootstrap(root: Path, log: Callable[[str], None]) -> str:
    """A minimal Debian (``--variant=minbase`` plus BASE_PACKAGES) in ``root`` from the host's
    own mirror, with the progress lines shown; returns the suite. Needs root (debootstrap does)."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    mirror, suite = host_mirror()
    log(f"debootstrap --variant=minbase {suite} from {mirror} with {', '.join(BASE_PACKAGES)} (a minute or two)")
    proc = subprocess.Popen(
        ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", suite, str(root), mirror],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith(
            (
                "I: Retrieving",
                "I: Validating",
                "I: Extracting",
                "I: Installing",
                "I: Configuring",
                "I: Base system",
                "E:",
                "W:",
            )
        ):
            log(line.rstrip())
    if proc.wait() != 0:
        raise RuntimeError(f"debootstrap failed (exit {proc.returncode}); see the lines above")
    return suite
