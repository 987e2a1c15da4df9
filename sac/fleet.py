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

import msgspec

from sac.errors import SacError, UsageError
from sac.hosts import QUICK, Host, Unreachable, get_host, last_line, printable, run, sac_command
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
            f"host {name}: no sac there ({last_line(done.stderr, 'no reason given')})",
            hint=f"`sac host install {name}` copies this machine's sac.pyz",
        )
    return done.returncode, done.stdout, done.stderr


def remote_json(name: str, host: Host, args: list[str], **kw) -> object:
    code, out, err = remote_sac(name, host, args, **kw)
    try:
        return json.loads(out)
    except ValueError:
        raise SacError(f"host {name}: its sac failed ({' '.join(args)}): {last_line(err, f'exit {code}')}") from None


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
# (this interpreter's version is what a pyz needs; the remote sac's own facts never replace it)
facts = {"python": ".".join(map(str, sys.version_info[:3])), "load": list(os.getloadavg()),
         "claude_on_path": shutil.which("claude")}
d = os.path.expanduser(home or "~")
while not os.path.isdir(d):
    d = os.path.dirname(d) or "/"
facts["disk_free_gb"] = shutil.disk_usage(d).free / 1e9
try:
    done = subprocess.run(sac + ["host", "facts"], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    if done.returncode == 0:
        theirs = json.loads(done.stdout)
        theirs["sac_python"] = theirs.pop("python", None)
        facts.update((k, v) for k, v in theirs.items() if k not in facts)
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
        # the script on stdin: one line of argv survives any login shell (csh included)
        argv = [host.python, "-", json.dumps(sac_command(host)), host.home or ""]
        done = run(name, host, argv, input=_PROBE.encode())
    except SacError as e:
        report["error"] = e.message
        return report
    report["reachable"] = True
    try:
        answer = json.loads(done.stdout)
        if not isinstance(answer, dict):
            raise ValueError(answer)
        report.update((k, v) for k, v in answer.items() if k not in ("name", "target", "reachable"))
    except ValueError:
        report["error"] = f"{host.python}: {last_line(done.stderr, f'exit {done.returncode}')}"
        return report
    if report.get("sac_error"):
        report["error"] = printable(f"no usable sac: {report.pop('sac_error')}")
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
    # the CLI a full pyz carries does not count: replacing it with a lean one would leave none
    source = _pick_pyz(pyz, wants_full=not report.get("claude_on_path"))
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
    # written beside, run once, and only then put in place: a copy that does not run there
    # never replaces a sac that does
    script = (
        'umask 022; mkdir -p "$(dirname "$1")" && cat > "$1.part" && chmod 755 "$1.part" && '
        '"$2" "$1.part" --version && mv -f "$1.part" "$1"'
    )
    done = run(name, host, ["sh", "-c", script, "sh", dest, host.python], input=source.read_bytes(), timeout=SLOW)
    if done.returncode != 0:
        raise SacError(f"host {name}: the copied sac does not run there: {last_line(done.stderr, 'no reason given')}")
    host.sac = dest
    out = done.stdout
    hosts = load_hosts()
    hosts[name] = host
    save_hosts(hosts)
    return {"host": name, "path": dest, "variant": built.get("variant"), "version": out.decode().split()[-1]}


# -- agent folders as tar streams ---------------------------------------------------------


def pack_folder(folder: Path, arcname: str, tar: tarfile.TarFile) -> None:
    """Add ``folder`` (regular files and folders only) to ``tar`` under ``arcname``: names,
    contents and whether a file is executable; nothing of its owner or times."""
    total = 0

    def entry(path: Path, name: str) -> None:
        nonlocal total
        st = path.lstat()
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
            raise UsageError(
                f"{path}: only files and folders travel with an agent (this is a link or a special file)",
                hint="replace it with the file itself",
            )
        info = tarfile.TarInfo(name)
        info.mode = 0o755 if stat.S_ISDIR(st.st_mode) or st.st_mode & 0o100 else 0o644
        if stat.S_ISDIR(st.st_mode):
            info.type = tarfile.DIRTYPE
            tar.addfile(info)
            return
        total += st.st_size
        if total > MAX_FOLDER:
            raise UsageError(f"{folder} holds more than {MAX_FOLDER >> 20} MB; an agent folder must be smaller")
        # opened without following a link, and the same file that was looked at (no swap between)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            now = os.fstat(fd)
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) or not stat.S_ISREG(now.st_mode):
                raise UsageError(f"{path} changed while it was being read; try again")
            data = f.read(MAX_FOLDER + 1)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    entry(folder, arcname)
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in [*dirs, *sorted(files)]:
            path = Path(root, name)
            entry(path, f"{arcname}/{path.relative_to(folder).as_posix()}")


def pack(folders: dict[str, Path]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, folder in sorted(folders.items()):
            pack_folder(folder, check_name(name), tar)
    return buf.getvalue()


#: What a folder stream may hold: regular files and folders, nothing else (no links,
#: devices, FIFOs, sparse files).
_TYPES = (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE)


def unpack(data: bytes, executable: set[tuple[str, str]] | None = None) -> dict[str, dict[str, bytes | None]]:
    """name -> {relative path: content (None for a folder)}: read, never extracted. The
    stream may come from a hostile host: each entry is checked, and the whole is bounded.
    ``executable`` (if given) receives the (name, path) of executable files."""
    agents: dict[str, dict[str, bytes | None]] = {}
    sizes: dict[str, int] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for m in tar:
                name, _, rel = m.name.partition("/")
                if not name:
                    raise SacError(f"refused a folder entry {m.name!r} (not a plain relative path)")
                check_name(name)
                parts = rel.split("/") if rel else []
                if any(p in ("", ".", "..") for p in parts):
                    raise SacError(f"refused a folder entry {m.name!r} (not a plain relative path)")
                if m.type not in _TYPES or m.issparse():
                    raise SacError(f"refused {m.name!r}: only files and folders travel with an agent")
                files = agents.setdefault(name, {})
                if not rel:
                    continue
                if rel in files or any("/".join(parts[:i]) in files and files["/".join(parts[:i])] is not None
                                       for i in range(1, len(parts))):  # fmt: skip
                    raise SacError(f"refused {m.name!r}: it is there twice, or under a file")
                if m.isfile():
                    sizes[name] = sizes.get(name, 0) + m.size
                    if sizes[name] > MAX_FOLDER:
                        raise SacError(f"refused agent folder {name}: more than {MAX_FOLDER >> 20} MB")
                    f = tar.extractfile(m)
                    body = f.read(m.size + 1) if f else b""
                    if len(body) != m.size:
                        raise SacError(f"refused {m.name!r}: its content is not its declared size")
                    files[rel] = body
                    if executable is not None and m.mode & 0o100:
                        executable.add((name, rel))
                else:
                    files[rel] = None
    except tarfile.TarError as e:
        raise SacError(f"an agent folder stream that is not a plain tar: {e}") from None
    for name, files in agents.items():
        for rel in files:
            parent = rel.rpartition("/")[0]
            if parent and files.get(parent, None) is not None:
                raise SacError(f"refused {name}/{rel}: it is under a file")
    return agents


def receive(data: bytes, keep_running: bool = False) -> dict[str, list[str]]:
    """Install the agent folders in ``data`` under ``$SAC_HOME/agents``, each replaced whole
    (a folder swapped in by rename: never half old, half new). ``keep_running``: the folder
    of an agent running here is kept as it is (``start NAME@HOST`` of a running agent).
    Returns {"installed": [...], "kept": [...]}."""
    from sac_hookspecs.toolkit.files import private_dirs

    agents_dir = private_dirs(sac_home() / "agents")
    executable: set[tuple[str, str]] = set()
    got = unpack(data, executable)
    result: dict[str, list[str]] = {"installed": [], "kept": []}
    for name, files in sorted(got.items()):
        if keep_running and _running(name):
            result["kept"].append(name)
            continue
        new = Path(tempfile.mkdtemp(prefix=f".{name}.incoming-", dir=agents_dir))
        try:
            for rel, content in sorted(files.items()):
                path = new / rel
                if content is None:
                    path.mkdir(mode=0o700, exist_ok=True)
                    continue
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                mode = 0o700 if (name, rel) in executable else 0o600
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
                with os.fdopen(fd, "wb") as f:  # a fresh folder: nothing to follow
                    f.write(content)
            old = agents_dir / name
            trash = None
            if old.is_symlink() or old.exists():
                trash = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=agents_dir)) / name
                os.rename(old, trash)  # a planted link is moved aside, never followed
            os.rename(new, old)
            if trash is not None:
                shutil.rmtree(trash.parent, ignore_errors=True)
        except OSError as e:
            raise SacError(f"could not install agent folder {name}: {e}") from None
        finally:
            if new.exists():
                shutil.rmtree(new, ignore_errors=True)
        result["installed"].append(name)
    return result


def _running(name: str) -> bool:
    from sac.lifecycle import status

    return not status(name).state.can_start  # as `start` decides: it would leave this one be


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


def has_folder(ref: str) -> bool:
    """Whether ``ref`` names an agent folder here (else `start NAME@HOST` uses the host's)."""
    from sac.config import load_settings
    from sac.errors import NotFound
    from sac.lookup import resolve

    try:
        resolve(ref, load_settings())
        return True
    except NotFound:
        return False


def local_folders(names: Iterable[str]) -> dict[str, Path]:
    from sac.config import load_settings
    from sac.lookup import resolve

    settings = load_settings()
    folders = {}
    for ref in names:
        name, spec = resolve(ref, settings)
        if spec.name != "spec.yaml":  # the folder travels; there, sac finds NAME/spec.yaml
            raise UsageError(f"{spec}: only an agent folder with a spec.yaml travels to a host")
        folders[name] = spec.parent
    return folders


def send_folders(
    host_name: str, refs: list[str], progress: Callable[[str], None], keep_running: bool = False
) -> list[str]:
    """Copy the agents' folders (found here by name, folder or spec path) into the host's
    ``$SAC_HOME/agents``, each replacing the one there (``keep_running``: not the folder of
    an agent running there, which a start would leave be): their names."""
    host = get_host(host_name)
    folders = local_folders(refs)
    data = pack(folders)
    progress(f"copying {len(folders)} agent folder(s) ({len(data) / 1e3:.0f} kB) to {host_name} ...")
    args = ["fleet", "receive", "--json", *(["--keep-running"] if keep_running else [])]
    code, out, err = remote_sac(host_name, host, args, input=data, timeout=SLOW)
    if code != 0:
        raise SacError(f"host {host_name}: could not install the folders: {last_line(err, 'no reason given')}")
    try:
        kept = json.loads(out).get("kept", [])
    except (ValueError, AttributeError):
        kept = []
    for name in kept:
        if isinstance(name, str):
            progress(
                f"{printable(name)} runs on {host_name}: its folder there was kept (`sac fleet sync` shows any drift)"
            )
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
        if name not in mine and name not in theirs:
            rows.append({"host": host_name, "agent": name, "state": "unknown", "diff": ""})
            continue
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
        raise SacError(f"host {host_name}: could not read its agent folders: {last_line(err, 'no reason given')}")
    return out


class _Row(msgspec.Struct):
    """What `fleet status` shows of a host's status row: a row of another shape is refused."""

    name: str
    state: str
    runtime: str | None = None
    uptime_s: float | None = None
    restarts: int = 0
    turns: int = 0
    cost_usd: float | None = None
    last_error: str | None = None


def host_status(host_name: str, host: Host) -> list[dict]:
    """The host's own `sac agents status --json`, each row with its host; an answer of
    another shape is that host's error, never a crash of the whole view."""
    rows = remote_json(host_name, host, ["agents", "status", "--json"])
    try:
        msgspec.convert(rows, list[_Row])
    except msgspec.ValidationError as e:
        raise SacError(f"host {host_name}: an unexpected status answer ({e})") from None
    assert isinstance(rows, list)
    return [{**r, "fleet_host": host_name} for r in rows]


def hosts_status(hosts: dict[str, Host]) -> tuple[list[dict], list[dict]]:
    """Every host asked at once (`sac fleet status`, the dashboard): one report per host
    (``name``, ``reachable``, ``error``) and every agent row, each with its ``fleet_host``."""
    from sac.concurrently import each

    answers: dict[str, list[dict] | SacError] = {}
    for out in each(sorted(hosts), lambda n: host_status(n, hosts[n]), jobs=32):
        e = out.error
        answers[out.item] = (
            (out.result or []) if e is None else e if isinstance(e, SacError) else SacError(f"{type(e).__name__}: {e}")
        )
    reports: list[dict] = [
        {"name": n, "reachable": not isinstance(a, SacError), "error": a.message if isinstance(a, SacError) else None}
        for n, a in sorted(answers.items())
    ]
    rows = [r for n in sorted(answers) if not isinstance(a := answers[n], SacError) for r in a]
    return reports, rows
