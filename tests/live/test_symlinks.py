"""The host side never follows a link an agent could plant (review D2).

An agent's workdir and HOME are bind-mounted into its container, so an agent can leave
symbolic links there before its next start. For every place the host side reads or writes
under an agent's directories, a link is planted pointing into a decoy tree (standing in for
the owner's ~/.ssh or ~/.bashrc); the agent is started; then:

* the decoy tree is byte-for-byte what it was (a checksum of every file and mode),
* no secret of the decoy shows up in the agent's directories,
* and where sac had to go *through* the link, the start is refused naming the link; where a
  rename simply replaces the name (state files, cli.pid), the agent starts and the link is gone.

The local runtime runs the same host-side code as Docker and Apptainer (it runs before the
runtime starts), so it is the runtime used here.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from sac.testing import make_agent

pytestmark = pytest.mark.live

SECRET = "PRIVATE-KEY-MATERIAL-4242"


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        h.update(f"{path.relative_to(root)}:{st.st_mode:o}\n".encode())
        if path.is_file() and not path.is_symlink():
            h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture
def decoy(tmp_path) -> Path:
    d = tmp_path / "decoy"
    (d / "dir").mkdir(parents=True)
    (d / "secret").write_text(SECRET + "\n")
    (d / "secret").chmod(0o600)
    (d / "bashrc").write_text("ORIGINAL\n")
    (d / "dir" / "keep.txt").write_text("untouched\n")
    return d


def agent_with_everything(home: Path, name: str) -> Path:
    """An agent whose start writes at every place the host side writes: dot_claude/ (CLAUDE.md,
    .mcp.json, .env, state.md, commands/), to_home/ (a file and a folder), spec.mcp_servers."""
    spec = make_agent(home, name, "local", extra="  mcp_servers:\n    extra: {command: /bin/true}\n")
    folder = spec.parent
    dot = folder / "dot_claude"
    (dot / "commands").mkdir(parents=True)
    (dot / "CLAUDE.md").write_text("managed by the spec\n")
    (dot / ".mcp.json").write_text('{"mcpServers": {"m": {"command": "/bin/true"}}}\n')
    (dot / ".env").write_text("A=1\n")
    (dot / "state.md").write_text("state\n")
    (dot / "commands" / "hello.md").write_text("say hello\n")
    to_home = folder / "to_home"
    (to_home / "sub").mkdir(parents=True)
    (to_home / ".bashrc").write_text("FROM SPEC\n")
    (to_home / "sub" / "file.txt").write_text("from spec\n")
    return spec


# (where, relative to runtime/<name>/; what in the decoy it points at)
REFUSED = [
    ("work/CLAUDE.md", "secret"),  # read (merged) and written
    ("work/.mcp.json", "secret"),  # read (merged) and written
    ("work/.env", "bashrc"),
    ("work/state.md", "bashrc"),
    ("work/.claude", "dir"),
    ("work/.claude/commands", "dir"),
    ("work/.claude/commands/hello.md", "bashrc"),
    ("work", "dir"),  # the workdir itself
    ("home/.bashrc", "bashrc"),
    ("home/sub", "dir"),
    ("home/sub/file.txt", "bashrc"),
    ("home", "dir"),  # HOME itself
    ("runner.log", "bashrc"),  # appended by the CLI that spawns the runner
    ("session.jsonl", "bashrc"),  # the transcript, appended from the first startup prompt on
]
REPLACED = [("state.json", "bashrc"), ("heartbeat.json", "bashrc"), ("cli.pid", "bashrc")]


def plant(runtime: Path, where: str, target: Path) -> Path:
    link = runtime / where
    link.parent.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    link.symlink_to(target)
    return link


def no_secret_in(*roots: Path) -> None:
    for root in roots:
        for path in root.rglob("*") if root.is_dir() and not root.is_symlink() else []:
            if path.is_file() and not path.is_symlink():
                assert SECRET not in path.read_text(errors="replace"), f"the decoy's secret leaked into {path}"


def start_with_link(home: Path, sac, name: str, where: str, decoy: Path, target: str):
    """Plant a link to decoy/target, start the agent (always stopped after); (link, the
    start's CompletedProcess, the decoy's digest before)."""
    agent_with_everything(home, name)
    link = plant(home / "runtime" / name, where, decoy / target)
    before = tree_digest(decoy)
    try:
        done = sac("agents", "start", name, "--timeout", "60")
    finally:
        sac("agents", "stop", name)
    return link, done, before


@pytest.mark.parametrize("where, target", REFUSED, ids=[w for w, _ in REFUSED])
def test_a_planted_link_is_refused_and_nothing_outside_changes(home, sac, decoy, where, target):
    runtime = home / "runtime" / "planted"
    link, done, before = start_with_link(home, sac, "planted", where, decoy, target)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{link} is a symbolic link" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert tree_digest(decoy) == before
    assert link.is_symlink(), "the link is the user's to look at and remove"
    no_secret_in(runtime / "work", runtime / "home")


@pytest.mark.parametrize("where, target", REPLACED, ids=[w for w, _ in REPLACED])
def test_a_link_over_a_state_file_is_replaced_not_written_through(home, sac, decoy, where, target):
    link, done, before = start_with_link(home, sac, "replaced", where, decoy, target)
    assert done.returncode == 0, done.stdout + done.stderr
    assert tree_digest(decoy) == before
    assert not link.is_symlink()


def test_the_runtime_dir_itself_as_a_link_is_refused(home, sac, decoy):
    agent_with_everything(home, "moved")
    (home / "runtime").mkdir()
    (home / "runtime" / "moved").symlink_to(decoy / "dir")
    before = tree_digest(decoy)
    done = sac("agents", "start", "moved", "--timeout", "60")
    assert done.returncode == 1 and "is a symbolic link" in done.stderr, done.stdout + done.stderr
    assert tree_digest(decoy) == before


def test_a_planted_claude_dir_in_home_never_receives_the_login(home, sac, decoy, tmp_path):
    """The anthropic provider copies the owner's Claude login into the agent's HOME (0600):
    a link at home/.claude must not carry the login out of the agent's directory."""
    user = tmp_path / "user"
    (user / ".claude").mkdir(parents=True)
    (user / ".claude" / ".credentials.json").write_text('{"claudeAiOauth": {"accessToken": "' + SECRET + '"}}')
    make_agent(home, "login", "local")
    spec = home / "agents" / "login" / "spec.yaml"
    spec.write_text(spec.read_text().replace("provider: {name: scripted, script: script.yaml}", "provider: anthropic"))
    runtime = home / "runtime" / "login"
    link = plant(runtime, "home/.claude", decoy / "dir")
    before = tree_digest(decoy)
    env = {"HOME": str(user), "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": "", "CLAUDE_CODE_OAUTH_TOKEN": ""}
    try:
        done = sac("agents", "start", "login", "--timeout", "60", env=env)
    finally:
        sac("agents", "stop", "login")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{link} is a symbolic link" in done.stdout + done.stderr
    assert tree_digest(decoy) == before
    assert not list((decoy / "dir").glob(".credentials*"))


@pytest.mark.parametrize("rel", ["..", "a/../b", "../x", "/etc/passwd", "a/b/../../.."])
def test_a_path_that_leaves_the_directory_is_refused_before_any_io(tmp_path, rel):
    from sac_hookspecs.toolkit.nofollow import read_bytes, write_file

    (tmp_path / "inside").mkdir()
    with pytest.raises(ValueError, match="not a relative path inside"):
        write_file(tmp_path / "inside", rel, b"x")
    with pytest.raises(ValueError, match="not a relative path inside"):
        read_bytes(tmp_path / "inside", rel)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["inside"]


def test_a_write_that_fails_midway_leaves_no_temp_file_and_no_open_fd(tmp_path):
    """A full disk during write_file: the error reaches the caller, the temp file is gone and
    its descriptor closed (a runner writes state for days: a leak per failure adds up)."""
    import errno
    import subprocess

    from sac_hookspecs.toolkit.nofollow import write_file

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        write_file(small, "ok.txt", b"fits")
        before = sorted(os.listdir("/proc/self/fd"))
        with pytest.raises(OSError) as failed:
            write_file(small, "big.bin", b"x" * (1 << 20))
        assert failed.value.errno == errno.ENOSPC
        assert sorted(os.listdir(small)) == ["ok.txt"]
        assert sorted(os.listdir("/proc/self/fd")) == before
    finally:
        subprocess.run(["umount", "--lazy", str(small)], check=False)  # lazy: even if a descriptor leaked


def test_a_fifo_or_device_where_a_file_belongs_is_a_planted_link_not_a_crash(tmp_path):
    """read_bytes never blocks on a fifo an agent planted, and says what it found."""
    from sac_hookspecs.toolkit.nofollow import PlantedLink, read_bytes

    os.mkfifo(tmp_path / "state.json")
    with pytest.raises(PlantedLink) as found:
        read_bytes(tmp_path, "state.json")
    assert str(tmp_path / "state.json") in str(found.value)


def test_write_file_never_replaces_a_fifo_or_a_directory_an_agent_put_there(tmp_path):
    from sac_hookspecs.toolkit.nofollow import PlantedLink, write_file

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    for name in ("fifo", "dir"):
        with pytest.raises(PlantedLink):
            write_file(tmp_path, name, b"data")
    assert (tmp_path / "dir").is_dir() and not (tmp_path / "fifo").is_file()


def test_read_bytes_reads_the_file_at_its_nested_path(tmp_path):
    """Not a same-named file higher up (a mutant that opened the top directory for a nested
    path passed the suite)."""
    from sac_hookspecs.toolkit.nofollow import read_bytes, write_file

    write_file(tmp_path, "state.json", b"top")
    write_file(tmp_path, "sub/deeper/state.json", b"nested")
    assert read_bytes(tmp_path, "sub/deeper/state.json") == b"nested"
    assert read_bytes(tmp_path, "state.json") == b"top"
    assert read_bytes(tmp_path, "sub/missing.json") is None
    assert (
        read_bytes(tmp_path, "nodir/missing.json") is None and not (tmp_path / "nodir").exists()
    )  # reads make nothing


def test_names_that_sort_before_dots_are_ordinary_names(tmp_path):
    """to_home/ and dot_claude/ carry the user's own file names: '-draft', '+x', '!a' are
    names, not a way out (a '..' check written as `<=` refused them)."""
    from sac_hookspecs.toolkit.nofollow import read_bytes, write_file

    for rel in ("-draft.md", "notes/+x", "notes/!a", "a-b/-c.json"):
        write_file(tmp_path, rel, rel.encode())
        assert read_bytes(tmp_path, rel) == rel.encode()
