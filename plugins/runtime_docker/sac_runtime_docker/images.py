"""The Docker base images: immutable tags ``sac-base:VERSION``; ``sac-base:latest`` (what
specs name by default) is the current one. A switch re-tags ``latest``; a running
container keeps the image id it started with. No registry is involved.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sac_hookspecs import Images, ImageVersion
from sac_hookspecs.toolkit.debian import BASE_PACKAGES, debootstrap, host_mirror
from sac_hookspecs.toolkit.host import sac_version

from .engine import docker, fail

REPO = "sac-base"
VERSION_RE = re.compile(r"\d{8}-\d{6}(?:-\d+)?")


def daemon_answers() -> None:
    """Before any slow work: a daemon that does not answer fails the build at once."""
    try:
        done = docker("version", "--format", "{{.Server.Version}}", timeout=10)
    except FileNotFoundError:
        raise RuntimeError("docker is not installed") from None
    if done.returncode != 0:
        raise fail("the Docker daemon does not answer", done, "start dockerd, or build for another runtime")


class DockerImages(Images):
    def _inspect(self, ref: str) -> dict | None:
        done = docker("image", "inspect", ref, timeout=30)
        if done.returncode != 0:
            return None
        try:
            return (json.loads(done.stdout) or [None])[0]
        except ValueError:
            return None

    def versions(self) -> list[ImageVersion]:
        daemon_answers()  # "no versions yet" must not be what a stopped daemon looks like
        done = docker("images", REPO, "--format", "{{.Tag}}", timeout=30)
        if done.returncode != 0:
            raise fail("docker could not list the images", done, "see `docker images`")
        out = []
        # only the tags sac makes (VERSION): a `sac-base:dev` of the user's is not a version to prune
        for tag in sorted(t for t in set(done.stdout.split()) if VERSION_RE.fullmatch(t)):
            info = self._inspect(f"{REPO}:{tag}")
            if info is None:
                continue
            labels = (info.get("Config") or {}).get("Labels") or {}
            out.append(
                ImageVersion(
                    version=tag,
                    ref=info["Id"],
                    digest=info["Id"],
                    size=info.get("Size", 0),
                    created=_created(info.get("Created", "")),
                    source=labels.get("sac.source", ""),
                    # a LABEL keeps `\n` as two characters
                    definition=labels.get("sac.definition", "").replace("\\n", "\n"),
                    tools={k[len("sac.tool.") :]: v for k, v in labels.items() if k.startswith("sac.tool.")},
                )
            )
        return out

    def current(self) -> str | None:
        latest = self._inspect(f"{REPO}:latest")
        if latest is None:
            return None
        # two versions of one image id (a re-tag): the newest, so that `list` and `rollback` agree
        same = [v.version for v in self.versions() if v.ref == latest["Id"]]
        return max(same) if same else None

    def switch(self, version: str) -> None:
        done = docker("tag", f"{REPO}:{version}", f"{REPO}:latest")
        if done.returncode != 0:
            raise fail(f"docker could not tag {REPO}:{version}", done, "see `sac image list --runtime docker`")

    def remove(self, version: str) -> None:
        done = docker("rmi", f"{REPO}:{version}")
        if done.returncode != 0:
            raise fail(f"docker could not remove {REPO}:{version}", done, "see `docker ps -a`")

    def runtime_version(self) -> str:
        return "docker " + docker("version", "--format", "{{.Server.Version}}", timeout=10).stdout.strip()

    def packages(self, version: str) -> list[str]:
        done = docker(
            "run",
            "--rm",
            "--network",
            "none",
            f"{REPO}:{version}",
            "sh",
            "-c",
            "dpkg-query -W -f='${Package}=${Version}\\n' 2>/dev/null || true",
            timeout=120,
        )
        return sorted(done.stdout.split())

    def import_image(self, source: str, log: Callable[[str], None]) -> ImageVersion:
        """A root filesystem directory or a tarball of one, as ``docker import`` takes it."""
        import subprocess

        daemon_answers()
        path = Path(source).expanduser().absolute()
        if not path.exists():
            raise RuntimeError(f"{path} does not exist")
        version = new_version(self)
        log(f"docker import {path} as {REPO}:{version}")
        changes = ["-c", 'CMD ["sleep", "infinity"]', "-c", f"LABEL sac.source={json.dumps(f'import {path}')}"]
        if path.is_dir():
            tar = subprocess.Popen(["tar", "-C", str(path), "-c", "."], stdout=subprocess.PIPE)
            assert tar.stdout is not None
            try:
                done = subprocess.run(
                    ["docker", "import", *changes, "-", f"{REPO}:{version}"],
                    stdin=tar.stdout,
                    capture_output=True,
                    text=True,
                )
            finally:
                tar.stdout.close()
                tar.wait()
        else:
            done = docker("import", *changes, str(path), f"{REPO}:{version}", timeout=1800)
        if done.returncode != 0:
            raise fail("docker import failed", done, "is it a root filesystem (a directory or a tarball)?")
        # a `docker save` archive imports "fine" as a file tree that cannot run: check before it is current
        probe = docker(
            "run",
            "--rm",
            "--network",
            "none",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            f"{REPO}:{version}",
            "sh",
            "-c",
            "true",
            timeout=120,
        )
        if probe.returncode != 0:
            docker("rmi", f"{REPO}:{version}")
            raise fail(
                f"not a usable image: {path} has no working /bin/sh",
                probe,
                "import a root filesystem (a `docker save` archive is not one: use `docker load`)",
            )
        return self._made_current(version)

    def _made_current(self, version: str) -> ImageVersion:
        self.switch(version)
        made = [v for v in self.versions() if v.version == version]
        if not made:
            raise RuntimeError(f"{REPO}:{version} vanished right after it was made; see `docker images`")
        return made[0]

    def build_base(self, log: Callable[[str], None]) -> ImageVersion:

        daemon_answers()
        if os.geteuid() != 0:  # before any slow work: debootstrap chroots, as root only
            raise RuntimeError(
                "building the base image needs root (debootstrap); build it as root, or import a "
                "root filesystem with `sac image build --from DIR --runtime docker`"
            )
        version = new_version(self)
        mirror, suite = host_mirror()
        labels = {
            "sac.source": f"debootstrap {suite} from {mirror}",
            "sac.tool.sac": sac_version(),
            "sac.tool.docker": self.runtime_version(),
            "sac.definition": f"Bootstrap: debootstrap\nOSVersion: {suite}\nMirrorURL: {mirror}\n"
            f"Include: {' '.join(BASE_PACKAGES)}\n",
        }
        with tempfile.TemporaryDirectory(prefix="sac-rootfs-") as tmp:
            root = Path(tmp) / "rootfs"
            debootstrap(root, log)
            log(f"docker import as {REPO}:{version}")
            import subprocess

            changes = ["-c", 'CMD ["sleep", "infinity"]']
            for k, v in labels.items():
                changes += ["-c", f"LABEL {k}={json.dumps(v)}"]
            tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
            assert tar.stdout is not None
            try:
                done = subprocess.run(
                    ["docker", "import", *changes, "-", f"{REPO}:{version}"],
                    stdin=tar.stdout,
                    capture_output=True,
                    text=True,
                )
            finally:
                tar.stdout.close()  # if import stopped reading, tar gets SIGPIPE instead of blocking
                tar.wait()
            if done.returncode != 0:
                raise fail("docker import failed", done, "is dockerd running? is the disk full?")
        return self._made_current(version)


def new_version(images: DockerImages) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    taken = {v.version for v in images.versions()}
    version, n = stamp, 1
    while version in taken:
        n += 1
        version = f"{stamp}-{n}"
    return version


def _created(stamp: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00").timestamp()
    except ValueError:
        return 0.0
