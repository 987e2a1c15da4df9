"""Apptainer as our HPC users have it: an unprivileged user, no root, no Docker, sac.pyz run
by the system's python3, a SIF mounted through FUSE (/dev/fuse 0666, as on HPC nodes).

The suite creates the user (useradd) and runs every sac command as that uid, with an empty
environment, exactly as the user would on a login node.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sac.testing import apptainer_ready, ensure_apptainer_image, wait_for

pytestmark = [pytest.mark.live, pytest.mark.slow]

USER = "sac-hpc"
PYTHON = "/usr/bin/python3"
SCRIPT = """\
rules:
  - match: "write who"
    tools:
      - name: Bash
        input: {command: "id -u > /work/who.txt; echo HOME=$HOME >> /work/who.txt"}
    then: "wrote who.txt"
"""
SPEC = """\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: apptainer
  claude:
    provider: {name: scripted, script: script.yaml}
    allowed_tools: [Bash]
  startup_prompts: ["Reply with the string 'up as a user' and nothing else."]
  health: {interval: 1}
"""


class User:
    """Runs sac.pyz as the unprivileged user, with nothing of root's environment."""

    def __init__(self, pw: pwd.struct_passwd, pyz: Path, home: Path, cli: Path) -> None:
        self.pw, self.pyz, self.home, self.cli = pw, pyz, home, cli

    def sac(self, *args: str, timeout: float = 180, cwd: Path | None = None) -> subprocess.CompletedProcess:
        env = [
            "env",
            "-i",
            f"HOME={self.pw.pw_dir}",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            f"SAC_HOME={self.home}",
            f"SAC_CLAUDE_CLI={self.cli}",
            f"SHIV_ROOT={self.pw.pw_dir}/.shiv",
        ]
        cmd = [
            "setpriv",
            f"--reuid={self.pw.pw_uid}",
            f"--regid={self.pw.pw_gid}",
            "--init-groups",
            *env,
            PYTHON,
            str(self.pyz),
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd or self.pw.pw_dir)

    def status(self, name: str) -> dict:
        done = self.sac("agents", "status", name, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def transcript(self, name: str) -> list[dict]:
        path = self.home / "runtime" / name / "session.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    from test_pyz import build_pyz

    from sac.claude_cli import find_claude

    if os.geteuid() != 0:
        pytest.skip("creating the unprivileged user needs root (CI runs as root)")
    why = apptainer_ready()
    if why:
        pytest.skip(why)
    if not Path(PYTHON).exists() or shutil.which("setpriv") is None:
        pytest.skip(f"needs {PYTHON} and setpriv")
    if Path("/dev/fuse").exists():
        os.chmod("/dev/fuse", 0o666)  # as HPC nodes have it: SIFs mount through squashfuse
    try:
        pw = pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", USER], check=True, capture_output=True)
        pw = pwd.getpwnam(USER)
    cli = find_claude()
    assert cli is not None, "the test venv bundles the claude CLI"
    mode = os.stat(cli).st_mode
    assert mode & 0o005 == 0o005, f"{cli} must be readable and executable by other users"
    base = Path(pw.pw_dir) / f"t{os.getpid()}"
    base.mkdir()
    pyz = build_pyz(tmp_path_factory.mktemp("pyz") / "sac-lean.pyz")
    shutil.copy(pyz, base / "sac.pyz")
    home = base / "sac-home"
    sif = ensure_apptainer_image(tmp_path_factory.mktemp("img"))
    (home / "containers").mkdir(parents=True)
    shutil.copy(sif.resolve(), home / "containers" / "sac-base.sif")  # the user's own copy, as scp would
    subprocess.run(["chown", "-R", f"{pw.pw_uid}:{pw.pw_gid}", str(base)], check=True)
    u = User(pw, base / "sac.pyz", home, cli)
    yield u
    runtime = home / "runtime"
    names = [p.name for p in runtime.iterdir()] if runtime.is_dir() else []
    if names:
        u.sac("agents", "stop", *names)
    shutil.rmtree(base, ignore_errors=True)


def make(u: User, name: str) -> None:
    folder = u.home / "agents" / name
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(SPEC)
    (folder / "script.yaml").write_text(SCRIPT)
    subprocess.run(["chown", "-R", f"{u.pw.pw_uid}:{u.pw.pw_gid}", str(u.home / "agents")], check=True)


def test_the_quickstart_as_an_unprivileged_user(user):
    make(user, "hpc1")
    done = user.sac("agents", "start", "hpc1")
    assert done.returncode == 0, done.stdout + done.stderr
    st = user.status("hpc1")
    assert (st["state"], st["runtime"], st["isolation"]) == ("ready", "apptainer", "hardened")
    assert [e["text"] for e in user.transcript("hpc1") if e["type"] == "text"] == ["up as a user"]
    assert user.sac("agents", "send", "hpc1", "What is 6*7?").stdout == "42\n"
    assert user.sac("agents", "send", "hpc1", "please write who").stdout == "wrote who.txt\n"
    who = (user.home / "runtime" / "hpc1" / "work" / "who.txt").read_text().split()
    assert who == [str(user.pw.pw_uid), "HOME=/home/agent"]  # the tool ran inside, as the user
    assert os.stat(user.home / "runtime" / "hpc1" / "work" / "who.txt").st_uid == user.pw.pw_uid
    tail = user.sac("agents", "tail", "hpc1")
    assert "< 42" in tail.stdout and "$ Bash" in tail.stdout

    session = user.status("hpc1")["session_id"]
    assert user.sac("agents", "restart", "hpc1").returncode == 0
    assert user.status("hpc1")["session_id"] == session  # restart resumes the conversation
    assert user.sac("agents", "stop", "hpc1").returncode == 0
    listed = user.sac("agents", "status", "hpc1", "--json")
    assert json.loads(listed.stdout)["state"] == "stopped"


def test_kill_9_of_the_runner_and_of_the_instance_lose_nothing(user):
    make(user, "hpc2")
    assert user.sac("agents", "start", "hpc2").returncode == 0
    assert user.sac("agents", "send", "hpc2", "What is 1+2?").stdout == "3\n"
    session = user.status("hpc2")["session_id"]

    # the instance's processes go (as its owner would see them die): the runner restarts it
    instance = json.loads((user.home / "runtime" / "hpc2" / "state.json").read_text())["instance"]["id"]
    stop = subprocess.run(
        [
            "setpriv",
            f"--reuid={user.pw.pw_uid}",
            f"--regid={user.pw.pw_gid}",
            "--init-groups",
            "env",
            "-i",
            f"HOME={user.pw.pw_dir}",
            "PATH=/usr/local/bin:/usr/bin:/bin",
            "apptainer",
            "instance",
            "stop",
            "--force",
            instance,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert stop.returncode == 0, stop.stderr
    wait_for(
        lambda: user.status("hpc2")["restarts"] >= 1 and user.status("hpc2")["state"] == "ready",
        timeout=60,
        what="the instance to be restarted",
    )
    assert user.sac("agents", "send", "hpc2", "What is 2+2?").stdout == "4\n"
    assert user.status("hpc2")["session_id"] == session

    # the runner itself: dead, then `start` recovers the same conversation
    runner = user.status("hpc2")["pid"]
    os.killpg(runner, signal.SIGKILL)
    wait_for(lambda: user.status("hpc2")["state"] == "dead", timeout=15, what="the runner to be seen dead")
    assert user.sac("agents", "start", "hpc2").returncode == 0
    time.sleep(0.5)
    assert user.sac("agents", "send", "hpc2", "What is 3+3?").stdout == "6\n"
    events = user.transcript("hpc2")
    prompts = [e["text"] for e in events if e["type"] == "prompt"]
    for asked in ("What is 1+2?", "What is 2+2?", "What is 3+3?"):
        assert asked in prompts  # nothing lost from the transcript
    assert user.status("hpc2")["session_id"] == session
    assert user.sac("agents", "stop", "hpc2").returncode == 0


def test_where_instances_cannot_run_each_cli_is_one_exec(user):
    """A host where `apptainer instance start` fails (here: the user's instance directory is
    unusable, as Apptainer finds it on some shared homes) falls back, by itself, to one
    `apptainer exec` per CLI process, as hardened, and says so in status."""
    instances = Path(user.pw.pw_dir) / ".apptainer" / "instances"
    aside = instances.with_name("instances.aside")
    if instances.exists():
        instances.rename(aside)
    instances.parent.mkdir(exist_ok=True)
    instances.write_text("")  # a file where Apptainer wants its directory
    os.chown(instances, user.pw.pw_uid, user.pw.pw_gid)
    try:
        make(user, "hpc3")
        done = user.sac("agents", "start", "hpc3")
        assert done.returncode == 0, done.stdout + done.stderr
        st = user.status("hpc3")
        assert (st["state"], st["isolation"]) == ("ready", "hardened")
        assert st["runtime_mode"].startswith("exec (instances cannot run here: "), st["runtime_mode"]
        assert "instance" in st["runtime_mode"][len("exec (") :]  # Apptainer's own reason, quoted
        assert user.sac("agents", "send", "hpc3", "please write who").stdout == "wrote who.txt\n"
        who = (user.home / "runtime" / "hpc3" / "work" / "who.txt").read_text().split()
        assert who == [str(user.pw.pw_uid), "HOME=/home/agent"]
        session = st["session_id"]
        assert user.sac("agents", "restart", "hpc3").returncode == 0
        assert user.status("hpc3")["session_id"] == session
        assert user.sac("agents", "stop", "hpc3").returncode == 0
    finally:
        instances.unlink(missing_ok=True)
        if aside.exists():
            aside.rename(instances)


def test_images_as_a_user_no_base_build_but_an_import(user):
    """debootstrap needs root: the user is told so before any work, and how to get an
    image instead (import one built elsewhere), which works unprivileged."""
    done = user.sac("image", "build", "base")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "needs root" in done.stderr and "--from FILE.sif" in done.stderr, done.stderr
    assert "debootstrap --variant" not in done.stderr and "Traceback" not in done.stderr
    plain = user.home / "containers" / "sac-base.sif"
    assert plain.is_file() and not plain.is_symlink()  # copied in by hand (the fixture did, as scp would)
    digest = hashlib.sha256(plain.read_bytes()).hexdigest()
    copied = user.home.parent / "from-elsewhere.sif"
    shutil.copy(user.home / "containers" / "sac-base.sif", copied)
    os.chown(copied, user.pw.pw_uid, user.pw.pw_gid)
    done = user.sac("image", "build", "--from", str(copied), "--json")
    assert done.returncode == 0, done.stderr
    v = json.loads(done.stdout)
    assert v["source"] == f"image file {copied}" and any(p.startswith("python3=") for p in v["packages"])
    assert os.readlink(plain) == f"sac-base-{v['version']}.sif"
    assert os.stat(user.home / "containers" / f"sac-base-{v['version']}.sif").st_uid == user.pw.pw_uid
    versions = json.loads(user.sac("image", "list", "--json").stdout)
    assert len(versions) == 2  # the hand-copied file became a version of its own: nothing replaced
    adopted = next(x for x in versions if x["version"] != v["version"])
    assert hashlib.sha256(Path(adopted["ref"]).read_bytes()).hexdigest() == digest


def test_a_user_builds_a_definition_file_with_fakeroot(user):
    """`sac image build FILE.def` as the user: Apptainer's --fakeroot (a user namespace; no
    root, no subuid entries needed) runs %post; the result is a new current version."""
    definition = user.home.parent / "marked.def"
    definition.write_text(
        f"Bootstrap: localimage\nFrom: {user.home / 'containers' / 'sac-base.sif'}\n\n"
        "%post\n    echo marked-by-$(id -u) > /etc/sac-marker\n"
    )
    os.chown(definition, user.pw.pw_uid, user.pw.pw_gid)
    done = user.sac("image", "build", str(definition), "--json", timeout=600)
    assert done.returncode == 0, done.stderr
    v = json.loads(done.stdout)
    assert v["definition"] == definition.read_text() and v["source"] == f"definition {definition}"
    current = json.loads(user.sac("image", "status", "--json").stdout)["current"]
    assert current == v["version"]
    make(user, "hpc4")
    assert user.sac("agents", "start", "hpc4").returncode == 0
    try:
        # the agent started after the build runs on it: %post ran as root in the user namespace
        assert user.sac("agents", "send", "hpc4", "please write who").stdout == "wrote who.txt\n"
        sif = Path(v["ref"])
        cat = subprocess.run(["apptainer", "exec", str(sif), "cat", "/etc/sac-marker"], capture_output=True, text=True)
        assert cat.stdout == "marked-by-0\n"
        state = json.loads((user.home / "runtime" / "hpc4" / "state.json").read_text())
        assert state["instance"]["data"]["image_ref"] == str(sif)
    finally:
        user.sac("agents", "stop", "hpc4")


def test_another_users_unreadable_project_above_breaks_nothing(user):
    """Review of issue 14's walk up: another user's 0700 `.scitex` in a shared folder made
    every sac run below it fail with "[Errno 13] Permission denied" (Path.is_dir raises
    EACCES). Now it is passed over, said once, and sac works, from below it and in it."""
    import tempfile

    scratch = Path(tempfile.mkdtemp(prefix="sac-scratch-"))  # root's, like /tmp: anyone may write to it
    scratch.chmod(0o1777)
    planted = scratch / ".scitex" / "agent-container"
    planted.mkdir(parents=True)
    (scratch / ".scitex").chmod(0o700)  # root's, unreadable to the user
    below = scratch / "mine"
    below.mkdir()
    os.chown(below, user.pw.pw_uid, user.pw.pw_gid)
    for cwd in (below, scratch):
        done = user.sac("agents", "status", cwd=cwd)
        assert done.returncode == 0, (cwd, done.stderr)
        assert "Permission denied" not in done.stderr.replace("(Permission denied)", ""), done.stderr
        assert f"{planted} is not used" in done.stderr, done.stderr
        shown = user.sac("config", "show", "--json", cwd=cwd)
        assert shown.returncode == 0 and json.loads(shown.stdout)["directories"]["project"] is None, shown.stderr
    shutil.rmtree(scratch)
