"""Agents on other machines (``sac fleet``, ``sac host probe`` and ``install``, ``NAME@HOST``): every
operation is the host's own sac, run over ssh (:mod:`sac.hosts`), so a remote agent is kept
by its host exactly as a local one is here. What crosses ssh: agent folders as tar streams
on standard input (never arguments), and JSON answers.

An agent folder travels whole (spec.yaml, script.yaml, to_home/, dot_claude/, ...): regular
files and folders only. A link is refused on both ends, so neither side can be made to write
or read outside the folder it owns.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from sac.errors import SacError, UsageError
from sac.hosts import QUICK, Host, Unreachable, get_host, run, sac_command
from sac.names import check_name
from sac.paths import sac_home

#: The largest agent folder sac copies (its files; a workdir never travels).
MAX_FOLDER = 64 * 1024 * 1024
#: Seconds to copy folders and start agents on a host (a start waits for each to be ready).
SLOW = 600.0


# -- the remote sac ----------------------------------------------------------------------


def remote_sac(
    name: str, host: Host, args: list[str], *, input: bytes | None = None, timeout: float | None = QUICK
) -> tuple[int, bytes, bytes]:
    """Run the host's sac with ``args``: (exit status, stdout, stderr). A missing sac (127)
    is an error that says how to install one."""
    done = run(name, host, [*sac_command(host), *args], input=input, timeout=timeout)
    if done.returncode == 127:
        raise SacError(
            f"host {name}: no sac there ({(done.stderr or b'').decode(errors='replace').strip()[-200:]})",
            hint=f"`sac host install {name}` copies this machine's sac.pyz",
        )
    return done.returncode, done.stdout, done.stderr


def remote_json(name: str, host: Host, args: list[str], **kw) -> object:
    code, out, err = remote_sac(name, host, args, **kw)
    try:
        return json.loads(out)
    except ValueError:
        why = err.decode(errors="replace").strip().splitlines()
        raise SacError(
            f"host {name}: its sac failed ({' '.join(args)}): {why[-1] if why else f'exit {code}'}"
        ) from None


# -- probe and install -------------------------------------------------------------------


def local_facts() -> dict:
    """What this host offers (asked by `sac host probe` from another machine)."""
    from sac import __version__
    from sac.about import build_record
    from sac.agent import can_start
    from sac.claude_cli import find_claude
    from sac.plugins import get_plugins

    runtimes, unavailable = [], {}
    for name, rt in sorted(get_plugins().runtimes.items()):
        why = rt.available() if can_start(rt) else "it cannot start agents yet"
        if why is None:
            runtimes.append(name)
        else:
            unavailable[name] = why
    cli = find_claude()
    build = build_record()
    return {
        "sac": __version__,
        "variant": build["variant"] if build else None,
        "python": ".".join(map(str, sys.version_info[:3])),
        "runtimes": runtimes,
        "unavailable": unavailable,
        "claude_cli": str(cli) if cli else None,
        "sac_home": str(sac_home()),
    }


#: Run by the host's Python (on standard input): what it has, with or without sac.
_PROBE = r"""
import json, os, shutil, subprocess, sys
sac, home = json.loads(sys.argv[1]), sys.argv[2]
facts = {"python": ".".join(map(str, sys.version_info[:3])), "load": list(os.getloadavg()),
         "claude_on_path": shutil.which("claude")}
d = os.path.expanduser(home or "~")
while not os.path.isdir(d):
    d = os.path.dirname(d) or "/"
facts["disk_free_gb"] = shutil.disk_usage(d).free / 1e9
try:
    done = subprocess.run(sac + ["host", "facts"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    if done.returncode == 0:
        facts.update(json.loads(done.stdout))
    else:
        facts["sac_error"] = (done.stderr.decode(errors="replace").strip().splitlines() or ["exit %d" % done.returncode])[-1]
except (OSError, ValueError, subprocess.SubprocessError) as e:
    facts["sac_error"] = str(e)
print(json.dumps(facts))
"""


def probe(name: str, host: Host) -> dict:
    """One host's report; never raises for the host's own failures (they are the report)."""
    report: dict = {"name": name, "target": host.target, "reachable": False, "sac": None, "error": None}
    try:
        done = run(name, host, [host.python, "-c", _PROBE, json.dumps(sac_command(host)), host.home or ""])
    except SacError as e:
        report["error"] = e.message
        return report
    report["reachable"] = True
    try:
        report.update(json.loads(done.stdout))
    except ValueError:
        why = (done.stderr or b"").decode(errors="replace").strip().splitlines()
        report["error"] = f"{host.python}: {why[-1] if why else f'exit {done.returncode}'}"
        return report
    if report.get("sac_error"):
        report["error"] = f"no usable sac: {report.pop('sac_error')}"
    return report


def _pyz_facts(path: Path) -> dict:
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith("sac/_build.json"))
            return json.loads(z.read(name))
    except (OSError, StopIteration, ValueError, zipfile.BadZipFile):
        raise UsageError(f"{path} is not a sac.pyz (no sac/_build.json in it)", hint="`make pyz` builds one") from None


def _pick_pyz(pyz: str | None, wants_full: bool) -> Path:
    if pyz:
        return Path(pyz)
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0].endswith(".pyz") else None
    if script is None:
        raise UsageError(
            "this sac is not a sac.pyz: say which to copy with --pyz", hint="`make pyz` builds dist/sac.pyz"
        )
    if wants_full and _pyz_facts(script).get("variant") == "lean":
        full = script.with_name("sac.pyz")
        if full != script and full.is_file():
            return full
        raise UsageError(
            "the host has no claude CLI and this sac.pyz is the lean one", hint="copy the full one: --pyz .../sac.pyz"
        )
    return script


def install(name: str, pyz: str | None, dest: str | None, progress: Callable[[str], None]) -> dict:
    """Copy a sac.pyz to the host, check it runs there, record it as the host's sac."""
    from sac.hosts import load_hosts, save_hosts

    host = get_host(name)
    if pyz and not Path(pyz).is_file():
        raise UsageError(f"no file {pyz}", hint="`make pyz` builds dist/sac.pyz")
    report = probe(name, host)
    if not report["reachable"]:
        raise Unreachable(report["error"] or f"host {name} is unreachable")
    if "python" not in report:
        raise SacError(f"host {name}: {report['error']}", hint="--python names the host's Python 3 (`sac host add`)")
    source = _pick_pyz(pyz, wants_full=not (report.get("claude_cli") or report.get("claude_on_path")))
    built = _pyz_facts(source)
    theirs = ".".join(report["python"].split(".")[:2])
    if built.get("python") != theirs:
        raise SacError(
            f"{source} is built for Python {built.get('python')}; host {name} has {host.python} {report['python']}",
            hint=f"build a pyz with Python {theirs} (`make pyz PYTHON=python{theirs}`), or point --python at a {built.get('python')}",
        )
    dest = dest or (host.sac if host.sac and host.sac.endswith(".pyz") else ".local/bin/sac.pyz")
    size = source.stat().st_size
    progress(f"copying {source.name} ({built.get('variant')}, {size / 1e6:.1f} MB) to {name}:{dest} ...")
    script = 'umask 022; mkdir -p "$(dirname "$1")" && cat > "$1.part" && chmod 755 "$1.part" && mv -f "$1.part" "$1"'
    done = run(name, host, ["sh", "-c", script, "sh", dest], input=source.read_bytes(), timeout=SLOW)
    if done.returncode != 0:
        raise SacError(f"host {name}: could not write {dest}: {(done.stderr or b'').decode(errors='replace').strip()}")
    host.sac = dest
    code, out, err = remote_sac(name, host, ["--version"], timeout=60)
    if code != 0:
        raise SacError(f"host {name}: the copied sac does not run: {err.decode(errors='replace').strip()[-300:]}")
    hosts = load_hosts()
    hosts[name] = host
    save_hosts(hosts)
    return {"host": name, "path": dest, "variant": built.get("variant"), "version": out.decode().split()[-1]}


# -- agent folders as tar streams ---------------------------------------------------------


def pack_folder(folder: Path, arcname: str, tar: tarfile.TarFile) -> None:
    """Add ``folder`` (regular files and folders only) to ``tar`` under ``arcname``."""
    total = 0

    def entry(path: Path, name: str) -> None:
        nonlocal total
        st = path.lstat()
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise UsageError(
                f"{path}: only files and folders travel with an agent (this is a link or a special file)",
                hint="replace it with the file itself",
            )
        info = tar.gettarinfo(str(path), arcname=name)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0  # what matters is the content: the same folder packs the same
        if info.isfile():
            total += st.st_size
            if total > MAX_FOLDER:
                raise UsageError(f"{folder} holds more than {MAX_FOLDER >> 20} MB; an agent folder must be smaller")
            with open(path, "rb") as f:
                tar.addfile(info, f)
        else:
            tar.addfile(info)

    entry(folder, arcname)
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in [*dirs, *sorted(files)]:
            path = Path(root, name)
            entry(path, f"{arcname}/{path.relative_to(folder).as_posix()}")


def pack(folders: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, folder in sorted(folders.items()):
            pack_folder(folder, check_name(name), tar)
    return buf.getvalue()


def unpack(data: bytes) -> dict[str, dict[str, bytes | None]]:
    """name -> {relative path: content (None for a folder)}: read, never extracted."""
    agents: dict[str, dict[str, bytes | None]] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for m in tar:
            name, _, rel = m.name.partition("/")
            check_name(name)
            parts = rel.split("/") if rel else []
            if m.name.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise SacError(f"refused a folder entry {m.name!r} (not a plain relative path)")
            if not (m.isfile() or m.isdir()):
                raise SacError(f"refused {m.name!r}: only files and folders travel with an agent")
            files = agents.setdefault(name, {})
            if rel:
                f = tar.extractfile(m) if m.isfile() else None
                files[rel] = f.read() if f else None
    return agents


def receive(data: bytes) -> list[str]:
    """Install the agent folders in ``data`` under ``$SAC_HOME/agents`` (each replaced whole)."""
    from sac_hookspecs.toolkit.files import private_dirs

    agents_dir = private_dirs(sac_home() / "agents")
    got = unpack(data)
    for name, files in got.items():
        new = Path(tempfile.mkdtemp(prefix=f".{name}.incoming-", dir=agents_dir))
        for rel, content in sorted(files.items()):
            path = new / rel
            if content is None:
                path.mkdir(mode=0o700, exist_ok=True)
            else:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                with open(path, "xb") as f:  # a fresh folder: nothing to follow
                    f.write(content)
        old = agents_dir / name
        trash = None
        if old.is_symlink() or old.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=agents_dir)) / name
            os.rename(old, trash)
        os.rename(new, old)
        if trash is not None:
            shutil.rmtree(trash.parent, ignore_errors=True)
    return sorted(got)


def pack_installed(names: Iterable[str]) -> bytes:
    """The folders of ``names`` (all, when none) under ``$SAC_HOME/agents``."""
    from sac.names import is_valid_name

    agents_dir = sac_home() / "agents"
    wanted = list(names) or (
        sorted(p.name for p in agents_dir.iterdir() if is_valid_name(p.name) and (p / "spec.yaml").is_file())
        if agents_dir.is_dir()
        else []
    )
    folders = {}
    for n in wanted:
        d = agents_dir / check_name(n)
        if d.is_dir() and not d.is_symlink():
            folders[n] = d
    return pack(folders)


# -- launch, sync, status -------------------------------------------------------------------


def local_folders(names: Iterable[str]) -> dict[str, Path]:
    from sac.config import load_settings
    from sac.lookup import resolve

    settings = load_settings()
    folders = {}
    for ref in names:
        name, spec = resolve(ref, settings)
        folders[name] = spec.parent
    return folders


def send_folders(host_name: str, refs: list[str], progress: Callable[[str], None]) -> list[str]:
    """Copy the agents' folders (found here by name, folder or spec path) into the host's
    ``$SAC_HOME/agents``, each replacing the one there: their names."""
    host = get_host(host_name)
    folders = local_folders(refs)
    data = pack(folders)
    progress(f"copying {len(folders)} agent folder(s) ({len(data) / 1e3:.0f} kB) to {host_name} ...")
    code, _, err = remote_sac(host_name, host, ["fleet", "receive"], input=data, timeout=SLOW)
    if code != 0:
        raise SacError(f"host {host_name}: could not install the folders: {err.decode(errors='replace').strip()}")
    return sorted(folders)


def drift(host_name: str, host: Host, names: list[str]) -> list[dict]:
    """Per agent on the host (or ``names``): same, differs (with a diff), or missing on one side."""
    import difflib

    theirs = unpack(_pack_remote(host_name, host, names))
    from sac.config import load_settings
    from sac.lookup import discover

    mine = dict(discover(load_settings()))
    rows = []
    for name in sorted(set(theirs) | set(names)):
        if name not in mine:
            rows.append({"host": host_name, "agent": name, "state": "only-there", "diff": ""})
            continue
        if name not in theirs:
            rows.append({"host": host_name, "agent": name, "state": "missing-there", "diff": ""})
            continue
        here = unpack(pack({name: mine[name].parent}))[name]
        there = theirs[name]
        diff: list[str] = []
        for rel in sorted(set(here) | set(there)):
            a, b = there.get(rel), here.get(rel)
            if a == b:
                continue
            label = f"{name}/{rel}"
            try:
                la = (a or b"").decode().splitlines(keepends=True) if rel in there else []
                lb = (b or b"").decode().splitlines(keepends=True) if rel in here else []
                diff += difflib.unified_diff(la, lb, f"{host_name}:{label}", f"local:{label}")
            except UnicodeDecodeError:
                diff.append(f"Binary files {host_name}:{label} and local:{label} differ\n")
        rows.append({"host": host_name, "agent": name, "state": "differs" if diff else "same", "diff": "".join(diff)})
    return rows


def _pack_remote(host_name: str, host: Host, names: list[str]) -> bytes:
    code, out, err = remote_sac(host_name, host, ["fleet", "pack", *names], timeout=120)
    if code != 0:
        raise SacError(f"host {host_name}: could not read its agent folders: {err.decode(errors='replace').strip()}")
    return out


def host_status(host_name: str, host: Host) -> list[dict]:
    """The host's own `sac agents status --json`, each row with its host."""
    rows = remote_json(host_name, host, ["agents", "status", "--json"])
    if not isinstance(rows, list):
        raise SacError(f"host {host_name}: an unexpected status answer")
    return [{**r, "fleet_host": host_name} for r in rows]
