"""Other machines reached over ssh (``sac host add``): the registry in ``$SAC_HOME/hosts.yaml``
and the one way sac talks to them, the system OpenSSH client.

Why the system client and not a Python ssh library: it honours the user's ``~/.ssh/config``
untouched (aliases, ProxyJump, GSSAPI, agents, MFA prompts already answered once), and its
ControlMaster lets one login serve every later command, which sites with MFA tell users to
use. sac adds only what keeps it safe and bounded:

- ``BatchMode=yes``: ssh never waits on a prompt (a password, a new host key); it fails, and
  the failure is one line naming the host and ssh's own reason;
- one master per host, its socket under ``$SAC_HOME/ssh`` (0700, checked), kept for
  :data:`PERSIST` after the last use;
- ``ConnectTimeout`` and ``ServerAlive*``, plus a deadline on every command: a host that
  vanished costs seconds, never a hang.

Nothing secret is ever an argument: what a remote sac needs (a prompt, a folder) goes on
standard input.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import stat
import subprocess
from pathlib import Path

import msgspec

from sac.errors import NotFound, SacError, UsageError
from sac.names import check_name
from sac.paths import sac_home

#: Seconds an idle master stays up after its last command.
PERSIST = 600
#: Seconds to set up a new connection (TCP and the handshake).
CONNECT_TIMEOUT = 8
#: A silent server is given up after ALIVE_INTERVAL * ALIVE_COUNT seconds.
ALIVE_INTERVAL, ALIVE_COUNT = 3, 2
#: Seconds a quick remote command (status, probe) may take, connecting included.
QUICK = 20.0
#: The longest Unix socket path (sun_path 108 on Linux, less on others; ssh adds a 17-char suffix while binding).
_SOCKET_MAX = 104 - 17


class Host(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """One registered machine: ``target`` is what ``ssh`` is given (``user@host`` or a
    ``~/.ssh/config`` alias); ``sac`` the remote sac (a ``.pyz`` is run with ``python3``);
    ``home`` the remote ``SAC_HOME`` (default: the remote user's); ``options`` extra ``-o``
    settings for ssh (``IdentityFile=...``)."""

    target: str
    sac: str | None = None
    home: str | None = None
    python: str = "python3"
    options: list[str] = msgspec.field(default_factory=list)


class Unreachable(SacError):
    """ssh could not reach the host (or it stopped answering): status shows it unreachable."""


def hosts_file() -> Path:
    return sac_home() / "hosts.yaml"


def load_hosts() -> dict[str, Host]:
    import yaml

    try:
        data = yaml.safe_load(hosts_file().read_text()) or {}
    except FileNotFoundError:
        return {}
    except yaml.YAMLError as e:
        raise UsageError(f"{hosts_file()}: not valid YAML: {e}", hint="fix or remove the file") from None
    try:
        return msgspec.convert(data, dict[str, Host])
    except msgspec.ValidationError as e:
        raise UsageError(f"{hosts_file()}: {e}", hint="`sac host list` shows what sac expects") from None


def save_hosts(hosts: dict[str, Host]) -> None:
    import yaml

    from sac_hookspecs.toolkit.files import write_atomic

    text = yaml.safe_dump(msgspec.to_builtins(dict(sorted(hosts.items()))), sort_keys=False)
    write_atomic(
        hosts_file(),
        ("# sac's ssh hosts: `sac host add` and `sac host remove` edit this file\n" + text).encode(),
        mode=0o600,
    )


def get_host(name: str) -> Host:
    host = load_hosts().get(check_name(name, "host name"))
    if host is None:
        raise NotFound(f"no host {name!r}", hint="`sac host list` shows them; `sac host add NAME SSH-TARGET` adds one")
    return host


def check_option(option: str) -> str:
    """An extra ssh ``-o`` setting: ``Key=Value``, never one of the settings sac owns."""
    key, eq, value = option.partition("=")
    if not eq or not key.isalnum() or not value:
        raise UsageError(f"ssh option {option!r} is not KEY=VALUE", hint="e.g. IdentityFile=~/.ssh/id_lab")
    if key.lower() in {k.lower() for k in OWNED}:
        raise UsageError(f"ssh option {key} is sac's to set (it keeps ssh bounded and prompt-free)")
    return option


#: Settings sac always gives ssh; a user's -o cannot change them (ssh takes the first value).
OWNED = ("BatchMode", "ControlMaster", "ControlPath", "ControlPersist")


def socket_dir() -> Path:
    """``$SAC_HOME/ssh``: 0700 and ours, or sac refuses (another user must not reach a master).
    A folder that was ever open to others is emptied of what others put there: a socket
    planted at a master's path would be handed every prompt and folder sent to that host."""
    d = sac_home() / "ssh"
    from sac_hookspecs.toolkit.files import private_dirs

    private_dirs(d)
    st = os.lstat(d)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
        raise SacError(f"{d} is not a directory of this user's", hint="remove it; sac makes it again")
    if st.st_mode & 0o077:
        os.chmod(d, 0o700)
        for entry in os.scandir(d):
            if entry.stat(follow_symlinks=False).st_uid != os.getuid():
                os.unlink(entry.path)
    return d


def control_path(name: str, host: Host) -> Path:
    """The master's socket: a short hash of what the connection is (not ssh's %C, which is 40
    characters and would not fit a deep SAC_HOME), so a changed target gets a new master.
    Anything at that path that is not a socket of this user's is removed first."""
    key = msgspec.json.encode([name, host.target, host.options])
    path = socket_dir() / hashlib.sha256(key).hexdigest()[:16]
    if len(str(path)) > _SOCKET_MAX:
        raise SacError(
            f"the ssh control socket path is too long for Unix sockets: {path}",
            hint="set SAC_HOME to a shorter directory",
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return path
    if not stat.S_ISSOCK(st.st_mode) or st.st_uid != os.getuid():
        os.unlink(path)
    return path


def ssh_options(name: str, host: Host, master: str = "auto") -> list[str]:
    """Every option sac gives ssh for ``name`` (the target not included)."""
    owned = {
        "BatchMode": "yes",
        "ControlMaster": master,
        "ControlPath": str(control_path(name, host)),
        "ControlPersist": str(PERSIST),
    }
    defaults = {  # the user's options come first and win (ssh keeps the first value it gets)
        "ConnectTimeout": str(CONNECT_TIMEOUT),
        "ServerAliveInterval": str(ALIVE_INTERVAL),
        "ServerAliveCountMax": str(ALIVE_COUNT),
    }
    argv: list[str] = []
    for key, value in owned.items():
        argv += ["-o", f"{key}={value}"]
    for option in host.options:
        argv += ["-o", option]
    given = {o.partition("=")[0].lower() for o in host.options}
    for key, value in defaults.items():
        if key.lower() not in given:
            argv += ["-o", f"{key}={value}"]
    return argv


def ssh_argv(name: str, host: Host, remote: list[str] | None = None) -> list[str]:
    """``ssh OPTIONS TARGET -- 'REMOTE'``: the remote command quoted for the remote shell."""
    argv = ["ssh", *ssh_options(name, host), "-T", "--", host.target]
    if remote:
        argv.append(shlex.join(remote))
    return argv


def sac_command(host: Host) -> list[str]:
    """How the remote sac is run: with the host's SAC_HOME, a .pyz with the host's python."""
    env = ["env", f"SAC_HOME={host.home}"] if host.home else []
    exe = host.sac or "sac"
    return [*env, *([host.python, exe] if exe.endswith(".pyz") else [exe])]


#: The most a remote command may answer on stdout (a hostile host could send forever).
MAX_ANSWER = 1 << 30


def run(
    name: str,
    host: Host,
    remote: list[str],
    *,
    input: bytes | None = None,
    timeout: float | None = QUICK,
    capture: bool = True,
    stdin: bool = False,
) -> subprocess.CompletedProcess:
    """Run ``remote`` on the host; raises :class:`Unreachable` when ssh itself failed (exit
    255) or the deadline passed. Any other exit status is the remote command's own.
    ``capture=False`` streams the remote output here; ``stdin=True`` passes ours through.

    ssh's stderr goes to a file, never a pipe: a ControlPersist master or a ProxyCommand
    left in the background may keep a pipe open long after the command ended. Captured
    stdout is read up to :data:`MAX_ANSWER`."""
    import tempfile
    import threading

    ensure_master(name, host)
    argv = ssh_argv(name, host, remote)
    with tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if input is not None else None if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE if capture else None,
                stderr=err if capture else None,
            )
        except FileNotFoundError:
            raise SacError(
                "ssh is not installed here", hint="install the OpenSSH client (Debian: openssh-client)"
            ) from None
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(timeout, expire) if timeout else None
        if timer:
            timer.daemon = True
            timer.start()
        try:
            if input is not None:
                feeder = threading.Thread(target=_feed, args=(proc, input), daemon=True)
                feeder.start()
            out = bytearray()
            if proc.stdout is not None:
                while chunk := proc.stdout.read(1 << 16):
                    out += chunk
                    if len(out) > MAX_ANSWER:
                        proc.kill()
                        raise SacError(f"host {name}: an answer larger than {MAX_ANSWER >> 20} MB; refused")
            code = proc.wait()
        finally:
            if timer:
                timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if expired.is_set():
            raise Unreachable(
                f"host {name} ({host.target}): no answer within {timeout:.0f} s",
                hint=f"check the network; `sac host probe {name}`",
            )
        err.seek(0)
        errors = err.read(1 << 20) if capture else b""
    if code == 255:
        raise Unreachable(f"host {name} ({host.target}): {ssh_reason(errors)}", hint=f"`sac host probe {name}`")
    return subprocess.CompletedProcess(argv, code, bytes(out) if capture else None, errors if capture else None)


def _feed(proc: subprocess.Popen, data: bytes) -> None:
    assert proc.stdin is not None
    try:
        proc.stdin.write(data)
    except (BrokenPipeError, OSError):
        pass  # the remote side ended first: its exit status says why
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass


def ensure_master(name: str, host: Host) -> None:
    """Open the host's master once, under a lock, before the first command: many commands
    at once would otherwise each log in (MFA, MaxStartups). A running master is left be."""
    import fcntl

    path = control_path(name, host)
    if path.exists():
        return
    fd = os.open(f"{path}.lock", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if control_path(name, host).exists():
            return
        import tempfile

        with tempfile.TemporaryFile() as err:
            argv = ["ssh", *ssh_options(name, host, master="yes"), "-N", "-f", "--", host.target]
            try:
                code = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, timeout=CONNECT_TIMEOUT * 3
                ).returncode
            except FileNotFoundError:
                raise SacError(
                    "ssh is not installed here", hint="install the OpenSSH client (Debian: openssh-client)"
                ) from None
            except subprocess.TimeoutExpired:
                raise Unreachable(f"host {name} ({host.target}): no answer within {CONNECT_TIMEOUT * 3} s") from None
            if code != 0:
                err.seek(0)
                raise Unreachable(
                    f"host {name} ({host.target}): {ssh_reason(err.read(1 << 20))}", hint=f"`sac host probe {name}`"
                )


def printable(text: str, keep: str = "") -> str:
    """``text`` from another machine, safe to print: control characters (a terminal's escape
    sequences) shown as ``\\xNN``, except those in ``keep`` (a diff keeps newlines)."""
    return "".join(
        c if (c.isprintable() or c in keep) else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
        for c in text
    )


def last_line(stderr: bytes | None, default: str) -> str:
    """The last non-empty line a command wrote to stderr (its reason), printable; ``default``
    when it wrote none."""
    lines = [ln.strip() for ln in (stderr or b"").decode(errors="replace").splitlines() if ln.strip()]
    return printable(lines[-1]) if lines else default


def ssh_reason(stderr: bytes | None) -> str:
    """ssh's own last words, one line, printable."""
    return last_line(stderr, "ssh failed (exit 255)")


def drop_master(name: str, host: Host) -> None:
    """Close the host's master, if one runs (``ssh -O exit``)."""
    subprocess.run(
        ["ssh", *ssh_options(name, host), "-O", "exit", "--", host.target],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=10,
    )
