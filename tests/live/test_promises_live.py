"""Promises of the README and docs that had no test (issue 19): each test drives the real
thing and looks at the world (the processes, the container, the order of the transcript),
never at a label sac wrote about itself."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from sac.testing import docker_ready, ensure_docker_image, make_agent, status, transcript, wait_for

pytestmark = pytest.mark.live


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()


def test_stop_kills_a_runner_that_does_not_stop_and_its_cli(fleet, sac):
    """`stop`: SIGKILL after 5 s. A stopped (SIGSTOP) runner answers neither its socket nor
    SIGTERM; stop must kill it and the CLI it leads."""
    make_agent(fleet, "k1", "local")
    sac("agents", "start", "k1", check=True)
    runner = status(sac, "k1")["pid"]
    cli = int((fleet / "runtime" / "k1" / "cli.pid").read_text())
    os.kill(runner, signal.SIGSTOP)
    try:
        done = sac("agents", "stop", "k1")
        assert done.returncode == 0, done.stderr
        assert "killed (it did not stop within 5 s)" in done.stdout + done.stderr
        # still stopped: only SIGKILL can have ended it (a SIGCONT would let it obey the SIGTERM)
        wait_for(lambda: not alive(runner) and not alive(cli), timeout=5, what="runner and CLI killed")
    finally:
        if alive(runner):
            os.kill(runner, signal.SIGCONT)


def test_health_exits_1_unless_the_agent_is_alive(fleet, sac):
    make_agent(fleet, "hz", "local")
    assert sac("agents", "health", "hz").returncode == 1  # never started
    sac("agents", "start", "hz", check=True)
    done = sac("agents", "health", "hz")
    assert done.returncode == 0, done.stdout + done.stderr
    os.killpg(status(sac, "hz")["pid"], signal.SIGKILL)
    wait_for(lambda: status(sac, "hz")["state"] == "dead", what="the runner seen dead")
    done = sac("agents", "health", "hz")
    assert done.returncode == 1 and "Traceback" not in done.stderr


def broken_cli(tmp_path: Path) -> Path:
    """A SAC_CLAUDE_CLI that works until the test removes it (a broken install)."""
    from sac.claude_cli import find_claude

    link = tmp_path / "bin" / "claude"
    link.parent.mkdir()
    link.symlink_to(find_claude())
    return link


def delays(fleet: Path, name: str) -> list[float]:
    log = (fleet / "runtime" / name / "runner.log").read_text()
    return [float(x) for x in re.findall(r"restarting in ([0-9.]+) s", log)]


def test_the_supervisor_gives_up_after_max_retries_with_growing_delays(fleet, sac, tmp_path):
    link = broken_cli(tmp_path)
    make_agent(fleet, "sv", "local", interval=0.3)  # restart: on-failure, max_retries 3, backoff 0.2 x2 <= 1
    sac("agents", "start", "sv", check=True, env={"SAC_CLAUDE_CLI": str(link)})
    link.unlink()  # every restart from now on fails
    os.kill(int((fleet / "runtime" / "sv" / "cli.pid").read_text()), signal.SIGKILL)
    wait_for(lambda: status(sac, "sv")["state"] == "failed", timeout=60, what="the supervisor to give up")
    st = status(sac, "sv")
    assert "3 restarts did not help" in st["last_error"], st
    assert delays(fleet, "sv") == [0.2, 0.4, 0.8]  # one per retry, each longer, within the cap


def test_policy_always_keeps_restarting_past_max_retries(fleet, sac, tmp_path):
    link = broken_cli(tmp_path)
    make_agent(fleet, "al", "local", restart="always", interval=0.3)
    sac("agents", "start", "al", check=True, env={"SAC_CLAUDE_CLI": str(link)})
    session = status(sac, "al")["session_id"]
    target = link.resolve()
    link.unlink()
    os.kill(int((fleet / "runtime" / "al" / "cli.pid").read_text()), signal.SIGKILL)
    wait_for(lambda: len(delays(fleet, "al")) >= 5, timeout=60, what="more restarts than max_retries (3)")
    assert status(sac, "al")["state"] != "failed"
    assert max(delays(fleet, "al")) == 1.0  # the cap holds
    link.symlink_to(target)  # repaired: the next attempt succeeds
    wait_for(lambda: status(sac, "al")["state"] == "ready", timeout=30, what="recovery")
    assert status(sac, "al")["session_id"] == session
    assert sac("agents", "send", "al", "What is 8+8?").stdout == "16\n"


def test_turns_are_answered_in_the_order_they_arrived(fleet, sac):
    """First come, first served: while a slow turn runs, later turns wait in arrival order."""
    make_agent(fleet, "q1", "local")
    script = fleet / "agents" / "q1" / "script.yaml"
    script.write_text(script.read_text() + '  - match: "slow one"\n    reply: "slow done"\n    delay: 2\n')
    sac("agents", "start", "q1", check=True)
    prompts = ["slow one", *(f"What is {i}+{i}?" for i in range(1, 6))]
    with concurrent.futures.ThreadPoolExecutor(len(prompts)) as pool:
        futures = [pool.submit(sac, "agents", "send", "q1", prompts[0])]
        wait_for(lambda: status(sac, "q1")["state"] == "busy", what="the slow turn to start")
        for p in prompts[1:]:  # each one arrives after the one before it
            futures.append(pool.submit(sac, "agents", "send", "q1", p))
            time.sleep(0.25)
        replies = [f.result(timeout=60).stdout for f in futures]
    assert replies == ["slow done\n", *(f"{2 * i}\n" for i in range(1, 6))]
    asked = [e["text"] for e in transcript(fleet, "q1") if e["type"] == "prompt" and e.get("source") != "startup"]
    assert asked[-len(prompts) :] == prompts


def test_a_docker_container_is_hardened_as_docker_sees_it(fleet, sac):
    """Not sac's "hardened" label: the container's own HostConfig, from `docker inspect`."""
    why = docker_ready()
    if why:
        pytest.skip(why)
    ensure_docker_image(sac)
    make_agent(fleet, "dh", "docker", extra=f"  mounts: ['{fleet}:/data:ro']\n")
    sac("agents", "start", "dh", check=True)
    state = json.loads((fleet / "runtime" / "dh" / "state.json").read_text())
    info = json.loads(
        subprocess.run(
            ["docker", "inspect", state["instance"]["id"]], capture_output=True, text=True, check=True
        ).stdout
    )[0]
    host = info["HostConfig"]
    assert host["CapDrop"] == ["ALL"] and not host.get("CapAdd")
    assert "no-new-privileges" in host["SecurityOpt"] and host["PidsLimit"] == 4096
    assert not host["Privileged"]
    assert info["Config"]["User"] == f"{os.getuid()}:{os.getgid()}"
    binds = {m["Destination"]: (m["Source"], m["RW"]) for m in info["Mounts"]}
    root = fleet / "runtime" / "dh"
    from sac.claude_cli import find_claude

    assert binds == {
        "/opt/sac/bin/claude": (str(find_claude()), False),
        "/home/agent": (str(root / "home"), True),
        "/work": (str(root / "work"), True),
        "/data": (str(fleet), False),
    }


@pytest.mark.slow
def test_make_demo_runs_as_the_readme_says(tmp_path):
    """The README's first command, on the best runtime here (Apptainer in CI), offline.
    The base SIF is the suite's (building it is `sac image build base`, tested on its own)."""
    import tempfile

    from sac.testing import apptainer_ready, ensure_apptainer_image

    root = Path(__file__).resolve().parents[2]
    # as a user's would be: short (pytest's tmp_path is too deep for the agents' Unix sockets)
    home = Path(tempfile.mkdtemp(prefix="sac-demo-")) / "home"
    if apptainer_ready() is None:
        ensure_apptainer_image(home)
    env = {**os.environ, "SAC_HOME": str(home)}
    done = subprocess.run(["make", "demo"], cwd=root, capture_output=True, text=True, timeout=900, env=env)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    runtime = re.search(r"best available runtime here: (\S+)", out).group(1)
    assert runtime == ("apptainer" if apptainer_ready() is None else runtime)
    assert "offline-agent-1: ready" in out + done.stderr and "offline-agent-2: ready" in out + done.stderr
    assert (home / "runtime" / "offline-agent-2" / "work" / "hello.txt").exists()
    assert "\n4\n" in out  # offline-agent-1's answer to "What is 2+2?"
    final = subprocess.run(
        [str(root / ".venv" / "bin" / "sac"), "agents", "status", "--json"], capture_output=True, text=True, env=env
    ).stdout
    assert [a["state"] for a in json.loads(final)] == ["stopped", "stopped"]
    import shutil

    shutil.rmtree(home.parent, ignore_errors=True)


def test_a_failed_startup_prompt_is_said_and_fails_start(fleet, sac):
    """`start` printed "ready" when a startup prompt timed out (seen only in LAST ERROR)."""
    make_agent(fleet, "sp", "local")
    spec = fleet / "agents" / "sp" / "spec.yaml"
    spec.write_text(
        spec.read_text()
        .replace("  startup_prompts:\n", '  startup_prompts:\n    - "please hang"\n')
        .replace("    model: haiku\n", "    model: haiku\n    turn_timeout: 1\n")
    )
    done = sac("agents", "start", "sp")
    assert done.returncode == 1, done.stderr
    assert "sp: ready on local" in done.stderr and "but its startup prompts failed" in done.stderr, done.stderr
    assert "startup prompt 1:" in done.stderr
    assert status(sac, "sp")["startup_errors"][0].startswith("startup prompt 1:")
    assert sac("agents", "send", "sp", "What is 1+1?").stdout == "2\n"  # it runs all the same
    sac("agents", "stop", "sp", check=True)
    done = sac("agents", "start", "sp", "--ignore-startup-errors")
    assert done.returncode == 0 and "but its startup prompts failed" in done.stderr, done.stderr
