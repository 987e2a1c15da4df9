"""The Apptainer base images: immutable SIF versions in ``$SAC_HOME/containers/``.

    sac-base-20261202-062316.sif    one version (never written again)
    sac-base-20261202-062316.json   what it is: source, definition, digest, size, packages
    sac-base.sif -> sac-base-...    the current version: the path specs name by default

A build writes a hidden temporary file in the same directory, checks that the image
mounts and runs, records its metadata, renames it into place and only then moves the
``sac-base.sif`` link (atomically: a running agent keeps the SIF it started with). So a
failed build, a corrupt import or a full disk leaves the current version as it was.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

from sac_hookspecs import Images, ImageVersion
from sac_hookspecs.toolkit.debian import BASE_PACKAGES, debootstrap, host_mirror
from sac_hookspecs.toolkit.files import private_dirs, write_atomic
from sac_hookspecs.toolkit.host import sac_version
from sac_hookspecs.toolkit.nofollow import PlantedLink, read_bytes, write_file

from .engine import apptainer, reason

LINE = "sac-base"
VERSION_RE = re.compile(rf"^{LINE}-(\d{{8}}-\d{{6}}(?:-\d+)?)\.sif$")
PACKAGES = "command -v dpkg-query >/dev/null && dpkg-query -W -f='${Package}=${Version}\\n' || true"


def disk_hint(why: str) -> str:
    if "no space left" in why.lower():
        return "the disk is full: free space there, or point TMPDIR/SAC_HOME at a bigger one"
    return "see the build log"


class SifImages(Images):
    def __init__(self, directory: Path) -> None:
        self.dir = directory

    # -- the line ---------------------------------------------------------------------

    def path(self, version: str) -> Path:
        return self.dir / f"{LINE}-{version}.sif"

    def link(self) -> Path:
        return self.dir / f"{LINE}.sif"

    def versions(self) -> list[ImageVersion]:
        out = []
        for sif in sorted(self.dir.glob(f"{LINE}-*.sif")) if self.dir.is_dir() else []:
            m = VERSION_RE.match(sif.name)
            if not m or sif.is_symlink():
                continue
            meta = sif.with_suffix(".json")
            try:
                # the ref is where the file really is now, as a started agent records it (a SAC_HOME
                # may have been moved, or sit under a symlink such as /home -> /gpfs/home)
                out.append(
                    msgspec.structs.replace(
                        msgspec.json.decode(meta.read_bytes(), type=ImageVersion), ref=os.path.realpath(sif)
                    )
                )
                continue
            except (OSError, msgspec.DecodeError):  # built before versions had metadata: what the file says
                st = sif.stat()
                out.append(
                    ImageVersion(
                        version=m.group(1),
                        ref=os.path.realpath(sif),
                        created=st.st_mtime,
                        size=st.st_size,
                        source="(no metadata)",
                    )
                )
        return sorted(out, key=lambda v: v.version)

    def current(self) -> str | None:
        link = self.link()
        if not link.is_symlink():
            return None
        m = VERSION_RE.match(os.readlink(link).rsplit("/", 1)[-1])
        return m.group(1) if m and self.path(m.group(1)).exists() else None

    def switch(self, version: str) -> None:
        if not self.path(version).is_file():
            raise RuntimeError(f"no version {version} in {self.dir}")
        self._adopt_plain_file()
        tmp = self.dir / f".{LINE}.sif.tmp"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(self.path(version).name)
        tmp.replace(self.link())

    def _adopt_plain_file(self) -> None:
        """A ``sac-base.sif`` that is a file, not our link (copied in by hand, or built before
        versions existed), becomes a version of its own instead of being replaced: nothing lost."""
        link = self.link()
        if link.is_symlink() or not link.is_file():
            return
        version = time.strftime("%Y%m%d-%H%M%S", time.localtime(link.stat().st_mtime))
        n, base = 1, version
        while self.path(version).exists():
            n += 1
            version = f"{base}-{n}"
        link.rename(self.path(version))

    def remove(self, version: str) -> None:
        self.path(version).unlink(missing_ok=True)
        self.path(version).with_suffix(".json").unlink(missing_ok=True)

    def runtime_version(self) -> str:
        return apptainer("--version", timeout=30).stdout.strip()

    # -- new versions -----------------------------------------------------------------

    def _new_version(self) -> str:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        version, n = stamp, 1
        while self.path(version).exists():
            n += 1
            version = f"{stamp}-{n}"
        return version

    def _build(
        self,
        source_args: list[str],
        log: Callable[[str], None],
        *,
        source: str,
        definition: str = "",
        fakeroot: bool = False,
    ) -> ImageVersion:
        """``apptainer build`` into a temporary file beside the line, then :meth:`_keep`."""
        private_dirs(self.dir)
        version = self._new_version()
        tmp = self.dir / f".{LINE}-{version}.sif.tmp"
        log(f"apptainer build {self.path(version).name}")
        try:
            flags = ["--fakeroot"] if fakeroot else []
            done = apptainer("build", "--force", *flags, str(tmp), *source_args, timeout=3600)
            if done.returncode != 0:
                for line in (done.stdout + done.stderr).splitlines():  # all of it into the build log
                    log(line.rstrip())
                why = reason(done)
                raise RuntimeError(f"apptainer build failed: {why} ({disk_hint(why)})")
            return self._keep(tmp, version, log, source=source, definition=definition)
        finally:
            tmp.unlink(missing_ok=True)

    def _keep(
        self, tmp: Path, version: str, log: Callable[[str], None], *, source: str, definition: str = ""
    ) -> ImageVersion:
        """Check that ``tmp`` mounts and runs, record what it is, make it the current version."""
        log("checking the image runs, listing its packages")
        # the image may come from anywhere: its /bin/sh runs with no privileges at all
        done = apptainer(
            "exec", "--containall", "--cleanenv", "--no-privs", str(tmp), "sh", "-c", PACKAGES, timeout=300
        )
        if done.returncode != 0:
            raise RuntimeError(f"not a usable image: {reason(done)} (is it a complete SIF with /bin/sh?)")
        digest = hashlib.sha256()
        with open(tmp, "rb") as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)

        tools = {"sac": sac_version(), "apptainer": self.runtime_version()}
        meta = ImageVersion(
            version=version,
            ref=str(self.path(version)),
            created=time.time(),
            source=source,
            definition=definition,
            digest=f"sha256:{digest.hexdigest()}",
            size=tmp.stat().st_size,
            tools=tools,
            packages=sorted(done.stdout.split()),
        )
        try:
            write_atomic(self.path(version).with_suffix(".json"), msgspec.json.encode(meta), mode=0o644)
            os.chmod(tmp, 0o755)
            tmp.replace(self.path(version))
        except OSError as e:
            self.remove(version)
            raise RuntimeError(
                f"could not keep {self.path(version)}: {e.strerror} ({disk_hint(str(e.strerror))})"
            ) from None
        self.switch(version)
        return meta

    def build_base(self, log: Callable[[str], None]) -> ImageVersion:

        if os.geteuid() != 0:  # before any slow work: debootstrap chroots and chowns, as root only
            raise RuntimeError(
                "building the base image needs root: debootstrap chroots, and fakeroot cannot "
                "do that for it. Build it where you are root and copy the SIF here with "
                "`sac image build --from FILE.sif`"
            )
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
        mirror, suite = host_mirror()
        definition = (
            f"Bootstrap: debootstrap\nOSVersion: {suite}\nMirrorURL: {mirror}\nInclude: {' '.join(BASE_PACKAGES)}\n"
        )
        with tempfile.TemporaryDirectory(prefix="sac-rootfs-") as tmp:
            root = Path(tmp) / "rootfs"
            debootstrap(root, log)
            return self._build([str(root)], log, source=f"debootstrap {suite} from {mirror}", definition=definition)

    def build_definition(self, path: Path, log: Callable[[str], None]) -> ImageVersion:
        text = path.read_text()
        return self._build([str(path)], log, source=f"definition {path}", definition=text, fakeroot=os.geteuid() != 0)

    def import_image(self, source: str, log: Callable[[str], None]) -> ImageVersion:
        path = Path(source.removeprefix("docker-archive:")).expanduser().absolute()
        if not path.exists():
            raise RuntimeError(f"{path} does not exist")
        if path.is_dir():
            return self._build([str(path)], log, source=f"directory {path}")
        if source.startswith("docker-archive:") or path.name.endswith((".tar", ".tar.gz", ".tgz")):
            return self._build([f"docker-archive:{path}"], log, source=f"docker-archive {path}")
        private_dirs(self.dir)
        version = self._new_version()
        tmp = self.dir / f".{LINE}-{version}.sif.tmp"
        log(f"copying {path} to {self.path(version).name}")
        try:
            try:
                shutil.copyfile(path, tmp)
            except OSError as e:
                raise RuntimeError(f"could not copy {path}: {e.strerror} ({disk_hint(str(e.strerror))})") from None
            return self._keep(tmp, version, log, source=f"image file {path}")
        finally:
            tmp.unlink(missing_ok=True)

    # -- the sandbox workflow -----------------------------------------------------------

    def sandbox(self, version: str, directory: Path, log: Callable[[str], None]) -> None:
        """The SIF's squashfs unpacked on the host with ``unsquashfs -o OFFSET`` (Apptainer's
        own ``build --sandbox`` unpacks inside a container, where root without capabilities
        (``root default capabilities = no``) cannot chown: it fails on these hosts)."""
        if directory.exists() and any(directory.iterdir()):
            raise RuntimeError(f"{directory} exists and is not empty: name a new directory")
        if shutil.which("unsquashfs") is None:
            raise RuntimeError("unsquashfs is not installed (apt-get install squashfs-tools)")
        sif = self.path(version)
        offset = squashfs_offset(sif)
        log(f"unpacking {sif.name} into {directory}")
        if directory.exists():
            directory.rmdir()  # unsquashfs makes it
        done = subprocess.run(
            ["unsquashfs", "-q", "-n", "-o", str(offset), "-d", str(directory), str(sif)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            shutil.rmtree(directory, ignore_errors=True)  # a partial tree (gigabytes, on a full disk) helps nobody
            why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
            raise RuntimeError(f"unsquashfs failed: {why} ({disk_hint(why)})")
        # freeze records where it came from; the tree came from an image: never follow a link in it
        write_file(directory, MARKER, (version + "\n").encode())

    def update(self, directory: Path, apt: list[str], pip: list[str], log: Callable[[str], None]) -> None:
        if not (directory / "etc").is_dir():
            raise RuntimeError(f"{directory} is not a sandbox (make one with `sac image sandbox DIR`)")
        steps = []
        if apt:
            # apt drops to its _apt user to download; root without capabilities (these hosts'
            # `root default capabilities = no`, or --fakeroot) cannot, so it downloads as root
            apt_get = "apt-get -o APT::Sandbox::User=root"
            steps.append(
                f"export DEBIAN_FRONTEND=noninteractive; {apt_get} update && {apt_get} install -y "
                "--no-install-recommends " + " ".join(_quote(apt))
            )
        if pip:
            steps.append(
                "command -v pip3 >/dev/null || python3 -m pip --version >/dev/null 2>&1 || "
                "{ echo 'pip is not in the image: add --apt python3-pip' >&2; exit 3; }; "
                "python3 -m pip install --break-system-packages " + " ".join(_quote(pip))
            )
        # --containall: the installers see none of the host's /tmp, HOME or working directory
        flags = ["--writable", "--containall"] + (["--fakeroot"] if os.geteuid() != 0 else [])
        proc = subprocess.Popen(
            ["apptainer", "exec", *flags, str(directory), "sh", "-c", " && ".join(steps)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            log(line.rstrip())
            tail = [*tail[-4:], line.strip()]
        if proc.wait() != 0:
            raise RuntimeError(f"the update failed (exit {proc.returncode}): {(tail or [''])[-1]}")

    def freeze(self, directory: Path, log: Callable[[str], None]) -> ImageVersion:
        if not (directory / "etc").is_dir():
            raise RuntimeError(f"{directory} is not a sandbox (make one with `sac image sandbox DIR`)")
        return self._build([str(directory)], log, source=f"sandbox {directory} (from {sandbox_origin(directory)})")


MARKER = ".sac-sandbox-of"


def sandbox_origin(directory: Path) -> str:
    """The version a sandbox was unpacked from, or "?": the marker is read without following
    a link (anything run as root in the sandbox could have made it one to a host secret)."""
    try:
        text = (read_bytes(directory, MARKER) or b"")[:64].decode("ascii", "replace").strip()
    except (PlantedLink, OSError):
        return "?"
    return text if re.fullmatch(r"\d{8}-\d{6}(?:-\d+)?", text) else "?"


def squashfs_offset(sif: Path) -> int:
    """Where the root filesystem starts in a SIF (``apptainer sif list``)."""
    done = apptainer("sif", "list", str(sif), timeout=30)
    for line in done.stdout.splitlines():
        cols = [c.strip() for c in line.split("|")]
        if len(cols) >= 5 and cols[4].startswith("FS (Squashfs"):
            return int(cols[3].split("-")[0])
    raise RuntimeError(f"{sif} has no squashfs root filesystem ({reason(done)})")


def _quote(names: list[str]) -> list[str]:
    import shlex

    return [shlex.quote(n) for n in names]
