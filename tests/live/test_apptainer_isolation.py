"""Isolation on real Apptainer, one test per leak path. The agent's own tools probe from
inside: the real claude CLI runs a Bash tool call that the scripted model asks for
(``run: COMMAND``), and the tool's output is read from the transcript.

One agent serves the module (starting one costs seconds); the relaxed agent is its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from sac.testing import apptainer_ready, assert_in_no_argv, ensure_apptainer_image, make_agent

pytestmark = pytest.mark.live

HOST_SECRET = "host-only-value-5150"
PROBE_RULE = (
    '  - regex: "^run: (.*)$"\n    tools:\n      - name: Bash\n        input: {command: "{1}"}\n    then: "ran"\n'
)


class Agent:
    def __init__(self, home: Path, name: str) -> None:
        self.home, self.name = home, name
        self.env = {**os.environ, "SAC_HOME": str(home), "SAC_TEST_HOST_SECRET": HOST_SECRET}

    def sac(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sac", *args], capture_output=True, text=True, timeout=180, env=self.env
        )

    def run(self, command: str) -> str:
        """What ``command`` printed inside the agent's container (its Bash tool's result)."""
        done = self.sac("agents", "send", self.name, f"run: {command}")
        assert done.returncode == 0, done.stderr
        path = self.home / "runtime" / self.name / "session.jsonl"
        results = [json.loads(line) for line in path.read_text().splitlines() if '"tool_result"' in line]
        content = results[-1]["content"]
        return content if isinstance(content, str) else json.dumps(content)

    def status(self) -> dict:
        return json.loads(self.sac("agents", "status", self.name, "--json").stdout)

    def card(self) -> dict:
        """The agent card as any A2A client gets it (it is public: no token)."""
        url = self.status()["urls"]["a2a"]
        with urllib.request.urlopen(url + ".well-known/agent-card.json", timeout=10) as r:
            return json.loads(r.read())

    def card_isolation(self) -> dict:
        exts = self.card()["capabilities"]["extensions"]
        return next(e["params"] for e in exts if e["uri"] == "urn:sac:a2a:ext:isolation:v1")


def cli_environ(agent: str) -> dict[str, str]:
    """The environment of the agent's claude CLI inside its container (a host process too)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            if argv[0] != b"/opt/sac/bin/claude":
                continue
            env = dict(
                v.split("=", 1) for v in open(f"/proc/{pid}/environ", "rb").read().decode().split("\0") if "=" in v
            )
        except OSError:
            continue
        if env.get("SAC_AGENT_NAME") == agent:
            return env
    raise AssertionError(f"no claude CLI of {agent} runs")


def start(home: Path, name: str, extra: str = "") -> Agent:
    why = apptainer_ready()
    if why:
        pytest.skip(why)
    ensure_apptainer_image(home)
    make_agent(home, name, "apptainer", extra=extra)
    script = home / "agents" / name / "script.yaml"
    script.write_text(script.read_text() + PROBE_RULE)
    agent = Agent(home, name)
    done = agent.sac("agents", "start", name)
    assert done.returncode == 0, done.stderr
    return agent


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A host marker in /tmp and in HOME, a read-only and an undeclared host directory."""
    base = tmp_path_factory.mktemp("iso")
    ro, undeclared = base / "ro-data", base / "undeclared"
    ro.mkdir()
    (ro / "input.txt").write_text("read me\n")
    undeclared.mkdir()
    (undeclared / "private.txt").write_text("not for the agent\n")
    marker = Path("/tmp") / f"sac-host-marker-{os.getpid()}"
    marker.write_text("host /tmp\n")
    home_marker = Path.home() / f".sac-host-home-marker-{os.getpid()}"
    home_marker.write_text("host HOME\n")
    yield {"base": base, "ro": ro, "undeclared": undeclared, "marker": marker, "home_marker": home_marker}
    marker.unlink(missing_ok=True)
    home_marker.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def agent(world):
    home = world["base"] / "sac-home"
    home.mkdir()
    a = start(home, "iso", extra=f"  mounts: ['{world['ro']}:/data:ro']\n  a2a: {{port: auto}}\n")
    yield a
    a.sac("agents", "stop", "iso")


def test_a_host_environment_variable_is_absent_inside(agent):
    # names only: the agent's own key is in its environment, and this transcript must not hold it
    out = agent.run("env | cut -d= -f1; echo HOME=$HOME; echo value=$SAC_TEST_HOST_SECRET")
    assert "ANTHROPIC_API_KEY" in out  # the listing is real
    assert "SAC_TEST_HOST_SECRET" not in out and HOST_SECRET not in out
    assert "HOME=/home/agent" in out  # the agent's own HOME, not the host's


def test_the_host_home_and_tmp_are_invisible(agent, world):
    home_marker, marker = world["home_marker"], world["marker"]
    out = agent.run(f"cat {home_marker} 2>&1; ls -A {home_marker.parent} 2>&1; cat {marker} 2>&1; ls -A /tmp")
    assert "host HOME" not in out and "host /tmp" not in out, out
    assert home_marker.name not in out.replace(f"{home_marker}:", ""), out  # only in the error about it
    assert marker.name not in out.replace(f"{marker}:", ""), out


def test_only_declared_binds_exist(agent, world):
    assert "read me" in agent.run("cat /data/input.txt")
    out = agent.run(f"ls {world['undeclared']} 2>&1; ls /work/main 2>&1 | head -3; echo END")
    assert "private.txt" not in out and "pyproject.toml" not in out, out


def test_a_read_only_bind_is_not_writable(agent, world):
    out = agent.run("touch /data/new.txt 2>&1; echo rc=$?")
    assert "rc=0" not in out and "Read-only file system" in out, out
    assert not (world["ro"] / "new.txt").exists()


def test_the_workdir_is_the_agents_and_rw(agent):
    agent.run("echo from-inside > /work/inside.txt")
    assert (agent.home / "runtime" / "iso" / "work" / "inside.txt").read_text() == "from-inside\n"


def test_the_cli_is_bound_read_only(agent):
    out = agent.run("test -w /opt/sac/bin/claude && echo WRITABLE || echo readonly")
    assert "readonly" in out and "WRITABLE" not in out


def test_the_isolation_level_is_reported(agent):
    st = agent.status()
    assert (st["runtime"], st["isolation"], st["runtime_mode"]) == ("apptainer", "hardened", "instance")
    state = json.loads((agent.home / "runtime" / "iso" / "state.json").read_text())
    assert state["instance"]["relaxed"] == []
    card = agent.card_isolation()
    assert (card["level"], card["runtime"], list(card["relaxed"])) == ("hardened", "apptainer", [])


def test_the_secret_is_in_no_argv_log_status_tail_or_card(agent):
    """The provider's key reaches the CLI inside by name, through the environment of the
    `apptainer exec` process, and nowhere else: no argv, no file, no output."""
    root = agent.home / "runtime" / "iso"
    env_file = root / "apptainer.env"  # the launch's plain values: 0600 all the same
    assert oct(env_file.stat().st_mode & 0o777) == "0o600"
    secret = cli_environ(agent.name)["ANTHROPIC_API_KEY"]  # as the CLI inside has it
    assert secret.startswith("sac-scripted-")
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert digest in agent.run('printf %s "$ANTHROPIC_API_KEY" | sha256sum')  # it does reach the CLI inside
    assert_in_no_argv(secret)
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]
    assert {"runner.log", "session.jsonl", "state.json"} <= {p.name for p in files}
    assert [p.name for p in files if secret.encode() in p.read_bytes()] == []
    outputs = agent.sac("agents", "status", "--json").stdout + agent.sac("agents", "tail", "iso", "--json").stdout
    assert secret not in outputs
    assert secret not in json.dumps(agent.card())


def test_relaxed_drops_exactly_the_hardening_it_names(world):
    home = world["base"] / "sac-home-relaxed"
    home.mkdir()
    a = start(home, "loose", extra="  apptainer: {relaxed: true}\n  a2a: {port: auto}\n")
    try:
        st = a.status()
        assert st["isolation"] == "custom"
        state = json.loads((home / "runtime" / "loose" / "state.json").read_text())
        assert state["instance"]["relaxed"] == ["--containall", "--cleanenv"]
        card = a.card_isolation()
        assert (card["level"], list(card["relaxed"])) == ("custom", ["--containall", "--cleanenv"])
        out = a.run("env")
        assert HOST_SECRET in out  # --cleanenv is off: the host environment comes in, as asked
        assert "read me" not in a.run("cat /data/input.txt 2>&1")  # still only declared binds
    finally:
        a.sac("agents", "stop", "loose")


def test_exec_mode_runs_each_cli_in_a_fresh_hardened_container(world):
    """Where `apptainer instance start` cannot work, each CLI process is one `apptainer exec`
    of the image with the same flags; status says which mode runs."""
    home = world["base"] / "sac-home-exec"
    home.mkdir()
    a = start(home, "ex", extra="  apptainer: {mode: exec}\n" + f"  mounts: ['{world['ro']}:/data:ro']\n")
    try:
        st = a.status()
        assert (st["state"], st["runtime_mode"], st["isolation"]) == ("ready", "exec", "hardened")
        out = a.run("env; cat /data/input.txt; touch /data/x 2>&1")
        assert HOST_SECRET not in out and "HOME=/home/agent" in out and "read me" in out, out
        assert "Read-only file system" in out
        listed = subprocess.run(["apptainer", "instance", "list", "--json"], capture_output=True, text=True).stdout
        assert "sac-ex-" not in listed  # no instance at all
        session = st["session_id"]
        assert a.sac("agents", "restart", "ex").returncode == 0
        assert a.status()["session_id"] == session
    finally:
        a.sac("agents", "stop", "ex")
