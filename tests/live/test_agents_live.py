"""Agents end to end: the real claude CLI, driven by the scripted model, on local and on a
real Docker Engine. Each test starts real runner processes and cleans up after itself."""

from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import time

import msgspec
import pytest

from sac.testing import RUNTIMES, make_agent, need_runtime, status, transcript, wait_for

pytestmark = pytest.mark.live


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_quickstart(fleet, sac, runtime):
    need_runtime(runtime, sac)
    home = fleet
    for n in (1, 2):
        make_agent(home, f"hello-agent-{n}", runtime)

    done = sac("agents", "start", "hello-agent-1", "hello-agent-2")
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(sac("agents", "status", "--json", check=True).stdout)}
    for n in (1, 2):
        row = rows[f"hello-agent-{n}"]
        assert (row["state"], row["runtime"]) == ("ready", runtime)
        assert row["isolation"] == ("none" if runtime == "local" else "hardened")
        texts = [e["text"] for e in transcript(home, f"hello-agent-{n}") if e["type"] == "text"]
        assert texts == [f"Hello! I am hello-agent-{n}"]  # the startup prompt's reply

    done = sac("agents", "send", "hello-agent-1", "What is 2+2?")
    assert (done.returncode, done.stdout) == (0, "4\n")

    done = sac("agents", "send", "hello-agent-1", "please write the proof")
    assert (done.returncode, done.stdout) == (0, "I wrote proof.txt in the workdir.\n"), done.stderr
    proof = (home / "runtime" / "hello-agent-1" / "work" / "proof.txt").read_text()
    agent_home = "/home/agent" if runtime != "local" else str(home / "runtime" / "hello-agent-1" / "home")
    assert proof == f"proof from HOME={agent_home}\n"  # the tool ran where the runtime puts the agent

    done = sac("agents", "tail", "hello-agent-1", "hello-agent-2", "--json", "-n", "0")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert {e["agent"] for e in events} == {"hello-agent-1", "hello-agent-2"}
    kinds = [e["type"] for e in events if e["agent"] == "hello-agent-1"]
    assert kinds.count("prompt") == 3 and "tool_use" in kinds and "tool_result" in kinds
    assert "[2] < 4" in sac("agents", "tail", "hello-agent-1").stdout

    recall = json.loads(sac("agents", "recall", "hello-agent-1", "--json", check=True).stdout)
    assert recall["turns"] == 3 and recall["tools"] == {"Bash": 1} and recall["session_id"]
    assert json.loads(sac("agents", "find", "arithmetic", "--json", check=True).stdout)[0]["state"] == "ready"

    health = json.loads(sac("agents", "health", "hello-agent-1", "--json", check=True).stdout)
    assert health["healthy"] is True and health["cli_alive"] is True

    assert sac("agents", "stop", "hello-agent-1", "hello-agent-2").returncode == 0
    assert status(sac, "hello-agent-1")["state"] == "stopped"
    if runtime == "docker":
        ps = subprocess.run(
            ["docker", "ps", "-q", "--filter", "label=sac.agent=hello-agent-1"], capture_output=True, text=True
        )
        assert ps.stdout.strip() == ""
    if runtime == "apptainer":  # no instance left behind
        listed = subprocess.run(["apptainer", "instance", "list", "--json"], capture_output=True, text=True).stdout
        assert "sac-hello-agent-1-" not in listed, listed
    done = sac("agents", "delete", "hello-agent-1", "hello-agent-2", "-y")
    assert done.returncode == 0
    assert not (home / "agents" / "hello-agent-1").exists() and not (home / "runtime" / "hello-agent-1").exists()


def test_second_start_of_a_running_agent_says_so(fleet, sac):
    make_agent(fleet, "a1", "local")
    sac("agents", "start", "a1", check=True)
    pid = status(sac, "a1")["pid"]
    done = sac("agents", "start", "a1")
    assert done.returncode == 0 and f"a1: already running (pid {pid})" in done.stderr
    assert status(sac, "a1")["pid"] == pid


def test_runtime_flag_runs_the_agent_there_whatever_the_spec_says(fleet, sac):
    """`start --runtime local` of a spec naming docker runs it on local, and says so; the
    runner itself gets the override (the status is what the runner recorded)."""
    make_agent(fleet, "rt1", "docker")
    done = sac("agents", "start", "rt1", "--runtime", "local")
    assert done.returncode == 0, done.stderr
    assert "rt1: --runtime local overrides spec.runtime docker for this run" in done.stderr
    assert status(sac, "rt1")["runtime"] == "local"
    assert sac("agents", "send", "rt1", "What is 2+2?").stdout == "4\n"


def test_the_scripted_model_costs_nothing(fleet, sac):
    """The CLI prices every turn by model name from its own table (the scripted model's tokens
    came to $0.0x as if Claude had answered): a provider that bills nothing records $0."""
    make_agent(fleet, "free1", "local")
    sac("agents", "start", "free1", check=True)
    answer = json.loads(sac("agents", "send", "free1", "What is 2+2?", "--json").stdout)
    assert answer["text"] == "4" and answer.get("cost_usd", 0.0) == 0.0 and answer["output_tokens"] > 0, answer
    st = status(sac, "free1")
    assert st["cost_usd"] == 0.0 and st["turns"] == 2 and st["output_tokens"] > 0, st
    results = [e for e in transcript(fleet, "free1") if e["type"] == "result"]
    assert [e["cost_usd"] for e in results] == [0.0, 0.0]


def test_start_shows_what_it_is_doing(fleet, sac):
    """Progress on a slow start (issue 14): piped, one line per step, in order, before the
    result; on a terminal one line rewritten in place with the elapsed time, cleared at the end."""
    make_agent(fleet, "p1", "local")
    done = sac("agents", "start", "p1")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    steps = [ln.split(": ", 1)[1] for ln in lines if ln.startswith("p1: ") and "ready on" not in ln]
    every = [
        "preflight",
        "starting its runner",
        "preparing its HOME and workdir",
        "setting up its model (scripted)",
        "starting its local instance",
        "opening the claude session",
        "startup prompt 1 of 1",
    ]
    # in order, each once; a fast step may pass between two polls (every 50 ms)
    assert steps == [s for s in every if s in steps] and len(steps) >= 4, lines
    assert steps[0] == "preflight" and steps[-1] == "startup prompt 1 of 1", lines
    assert lines[-1].startswith("p1: ready on local (pid "), lines
    assert "\r" not in done.stderr
    sac("agents", "stop", "p1", check=True)

    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sac", "agents", "start", "p1"], stdout=subprocess.PIPE, stderr=follower
    )
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal's other side closed: the start is over
            break
        if not chunk:
            break
        out += chunk
    assert proc.wait(timeout=60) == 0
    os.close(leader)
    text = out.decode()
    assert "\r\x1b[Kp1: preflight (0.0 s)" in text, text
    assert re.search(r"\r\x1b\[Kp1: startup prompt 1 of 1 \(\d+\.\d s\)", text), text
    assert re.search(r"\r\x1b\[K\r?\n?p1: ready on local \(pid \d+\)", text.replace("\r\n", "\n")), text


def test_two_concurrent_starts_make_one_agent(fleet, sac):
    make_agent(fleet, "c1", "local")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: sac("agents", "start", "c1"), range(2)))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    # the start that lost the race waited for the winner's runner: both say it is up (a
    # mutant that returned at once said "starting" and passed)
    for r in results:
        last = r.stderr.splitlines()[-1]
        assert last.startswith(("c1: ready on local", "c1: already running")), r.stderr
    st = status(sac, "c1")
    assert st["state"] == "ready"
    runners = subprocess.run(["pgrep", "-f", "_runner .*c1/spec.yaml"], capture_output=True, text=True)
    assert len(runners.stdout.split()) == 1, runners.stdout
    assert [e["text"] for e in transcript(fleet, "c1") if e["type"] == "prompt"] == [
        "Reply with the string 'Hello! I am c1' and nothing else."
    ]


def test_kill_9_of_a_runner_is_reported_and_start_recovers(fleet, sac):
    make_agent(fleet, "k1", "local")
    sac("agents", "start", "k1", check=True)
    before = status(sac, "k1")
    os.killpg(before["pid"], signal.SIGKILL)  # the runner and its CLI, as a crash would
    wait_for(lambda: status(sac, "k1")["state"] == "dead", what="status to say dead")
    st = status(sac, "k1")
    assert st["pid"] is None and "is gone" in st["last_error"]
    assert "dead" in sac("agents", "status").stdout
    done = sac("agents", "start", "k1")
    assert done.returncode == 0, done.stderr
    after = status(sac, "k1")
    assert after["state"] == "ready" and after["pid"] != before["pid"]
    assert after["session_id"] == before["session_id"]  # it died, it did not stop: the conversation goes on
    assert sac("agents", "send", "k1", "What is 3*4?").stdout == "12\n"


def test_stop_of_a_dead_agent_says_its_runner_was_gone(fleet, sac):
    """Nothing to stop, and why: it did not stop, it died (a mutant that swapped the two
    answers passed)."""
    make_agent(fleet, "k2", "local")
    sac("agents", "start", "k2", check=True)
    pid = status(sac, "k2")["pid"]
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: status(sac, "k2")["state"] == "dead", what="status to say dead")
    said = sac("agents", "stop", "k2")
    assert said.returncode == 0 and said.stdout.startswith(f"k2: not running (its runner, pid {pid}, was gone)")
    assert sac("agents", "stop", "k2").stdout == "k2: not running\n"  # stopped now: plainly not running


def status_instance(home, name: str) -> str:
    return json.loads((home / "runtime" / name / "state.json").read_text())["instance"]["id"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_dead_cli_or_container_is_restarted_and_the_session_resumed(fleet, sac, runtime):
    need_runtime(runtime, sac)
    make_agent(fleet, "r1", runtime, interval=0.5)
    sac("agents", "start", "r1", check=True)
    session = status(sac, "r1")["session_id"]
    assert session
    if runtime == "docker":
        container = subprocess.run(
            ["docker", "ps", "-q", "--filter", "label=sac.agent=r1"], capture_output=True, text=True
        ).stdout.split()
        assert len(container) == 1
        subprocess.run(["docker", "kill", container[0]], check=True, capture_output=True)
    elif runtime == "apptainer":  # the whole instance goes away
        instance = status_instance(fleet, "r1")
        subprocess.run(["apptainer", "instance", "stop", "--force", instance], check=True, capture_output=True)
    else:
        os.kill(int((fleet / "runtime" / "r1" / "cli.pid").read_text()), signal.SIGKILL)
    wait_for(
        lambda: status(sac, "r1")["restarts"] == 1 and status(sac, "r1")["state"] == "ready",
        timeout=60,
        what="a restart",
    )
    st = status(sac, "r1")
    assert st["session_id"] == session
    # what happened stays visible, as the past: LAST ERROR of a ready agent says it recovered
    assert st["last_error"].startswith("(recovered by a restart) "), st["last_error"]
    done = sac("agents", "send", "r1", "What is 5+5?")
    assert done.stdout == "10\n", done.stderr
    assert status(sac, "r1")["session_id"] == session  # the conversation goes on
    assert any(e["type"] == "restart" for e in transcript(fleet, "r1"))


def test_restart_policy_never_leaves_the_agent_failed(fleet, sac):
    make_agent(fleet, "n1", "local", restart="never", interval=0.5)
    sac("agents", "start", "n1", check=True)
    os.kill(int((fleet / "runtime" / "n1" / "cli.pid").read_text()), signal.SIGKILL)
    wait_for(lambda: status(sac, "n1")["state"] == "failed", what="failed state")
    assert "restart policy is never" in status(sac, "n1")["last_error"]


def test_model_failures_reach_the_caller_and_the_agent_stays_up(fleet, sac):
    make_agent(fleet, "m1", "local")
    spec = fleet / "agents" / "m1" / "spec.yaml"
    spec.write_text(
        spec.read_text().replace("    allowed_tools: [Bash]\n", "    allowed_tools: [Bash]\n    turn_timeout: 3\n")
    )
    sac("agents", "start", "m1", check=True)

    done = sac("agents", "send", "m1", "please fail")
    assert done.returncode == 1
    assert "sac: error: m1: HTTP 500 from the model API" in done.stderr

    t0 = time.monotonic()
    done = sac("agents", "send", "m1", "please hang")
    assert done.returncode == 1 and "the turn took longer than 3 s and was interrupted" in done.stderr
    assert time.monotonic() - t0 < 25

    assert status(sac, "m1")["state"] == "ready"
    done = sac("agents", "send", "m1", "What is 6*7?")
    assert (done.returncode, done.stdout) == (0, "42\n"), done.stderr


def test_stop_of_an_unknown_agent_is_a_clear_error(fleet, sac):
    done = sac("agents", "stop", "ghost")
    assert done.returncode == 2
    assert "sac: error: agent 'ghost' has never been started here" in done.stderr
    done = sac("agents", "send", "ghost", "hi")  # no spec, no state: a usage error, as for stop
    assert done.returncode == 2 and "no agent 'ghost': no spec on the search path" in done.stderr


def test_state_files_are_never_half_written(fleet, sac):
    make_agent(fleet, "w1", "local")
    sac("agents", "start", "w1", check=True)
    root = fleet / "runtime" / "w1"
    stop = time.monotonic() + 3
    reads = 0
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sends = pool.submit(lambda: [sac("agents", "send", "w1", f"What is {i}+1?") for i in range(5)])
        while time.monotonic() < stop or not sends.done():
            for name in ("state.json", "heartbeat.json"):
                msgspec.json.decode((root / name).read_bytes())  # never a partial file
                reads += 1
        assert [r.stdout for r in sends.result()] == [f"{i + 1}\n" for i in range(5)]
    assert reads > 100
    assert not list(root.glob(".*.tmp"))


def test_control_socket_and_secrets_stay_private(fleet, sac):
    import stat

    make_agent(fleet, "p1", "local")
    sac("agents", "start", "p1", check=True)
    root = fleet / "runtime" / "p1"
    assert stat.S_IMODE((root / "control.sock").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "home").stat().st_mode) == 0o700
    assert stat.S_IMODE(root.stat().st_mode) == 0o700  # transcripts hold prompts and tool output
    for name in ("state.json", "heartbeat.json", "session.jsonl", "runner.log", "lock"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o600, name
    cli_pid = int((root / "cli.pid").read_text())
    env = open(f"/proc/{cli_pid}/environ", "rb").read().decode(errors="replace")
    secret = next(v.split("=", 1)[1] for v in env.split("\0") if v.startswith("ANTHROPIC_API_KEY="))
    assert secret.startswith("sac-scripted-")
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                assert secret not in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
            except OSError:
                pass
    for name in ("state.json", "heartbeat.json", "session.jsonl", "runner.log", "model.log", "claude-wrapper"):
        assert secret not in (root / name).read_text(), name
    assert secret not in sac("agents", "status", "--json").stdout + sac("agents", "tail", "p1", "--json").stdout


def test_restart_command_resumes_the_session(fleet, sac):
    make_agent(fleet, "s1", "local")
    sac("agents", "start", "s1", check=True)
    session = status(sac, "s1")["session_id"]
    before = json.loads(sac("agents", "send", "s1", "What is 1+1?", "--json").stdout)["turn"]
    done = sac("agents", "restart", "s1", "--json")
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert (row["name"], row["ok"], row["state"], row["session_id"]) == ("s1", True, "ready", session)
    assert status(sac, "s1")["session_id"] == session
    after = json.loads(sac("agents", "send", "s1", "What is 9-2?", "--json").stdout)
    assert after["text"] == "7" and status(sac, "s1")["session_id"] == session
    # turn numbers go on across the restart (issue 14): the new run's startup prompt is the
    # next turn, then this one; no number is used twice
    assert after["turn"] == before + 2
    assert [e["turn"] for e in transcript(fleet, "s1") if e["type"] == "prompt"] == [1, 2, 3, 4]


def test_session_resume_by_id_and_fresh(fleet, sac):
    make_agent(fleet, "f1", "local")
    sac("agents", "start", "f1", check=True)
    first = status(sac, "f1")["session_id"]
    sac("agents", "stop", "f1", check=True)
    sac("agents", "start", "f1", check=True)  # session: fresh (the default) starts a new one
    second = status(sac, "f1")["session_id"]
    assert second and second != first
    sac("agents", "stop", "f1", check=True)
    spec = fleet / "agents" / "f1" / "spec.yaml"
    spec.write_text(spec.read_text().replace("    model: haiku\n", f"    model: haiku\n    session: resume {first}\n"))
    sac("agents", "start", "f1", check=True)
    assert status(sac, "f1")["session_id"] == first


def test_escape_interrupts_the_running_turn(fleet, sac):
    make_agent(fleet, "e1", "local")
    sac("agents", "start", "e1", check=True)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        hanging = pool.submit(sac, "agents", "send", "e1", "please hang")
        wait_for(lambda: status(sac, "e1")["state"] == "busy", what="the turn to start")
        done = sac("agents", "send", "e1", "--key", "ESC")
        assert (done.returncode, done.stdout) == (0, "interrupted\n")
        result = hanging.result(timeout=30)
    assert result.returncode == 1 and "interrupted" in result.stderr
    assert sac("agents", "send", "e1", "What is 2*2?").stdout == "4\n"


def test_sigterm_stops_gracefully(fleet, sac):
    make_agent(fleet, "t1", "local")
    sac("agents", "start", "t1", check=True)
    pid = status(sac, "t1")["pid"]
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: status(sac, "t1")["state"] == "stopped", what="a graceful stop")
    assert not (fleet / "runtime" / "t1" / "control.sock").exists()


def test_foreground_runs_in_this_process_until_stopped(fleet, sac, home):
    import sys

    make_agent(fleet, "g1", "local")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sac", "agents", "start", "--foreground", "g1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: status(sac, "g1")["state"] == "ready", what="ready")
    assert status(sac, "g1")["pid"] == proc.pid
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "startup: Hello! I am g1" in err


def test_foreground_runs_several_agents_with_prefixed_output_and_ctrl_c_stops_all(fleet, sac):
    """Issue 14, upstream's `sac agents start a b --foreground`: each runner a child of this
    command, every line it prints prefixed with its agent's name, Ctrl-C stops them all."""
    for name in ("f1", "fleet-two"):
        make_agent(fleet, name, "local")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sac", "agents", "start", "f1", "fleet-two", "--foreground"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: all(status(sac, n)["state"] == "ready" for n in ("f1", "fleet-two")), what="both ready")
        for name in ("f1", "fleet-two"):  # children of the foreground command, not detached strays
            pid = status(sac, name)["pid"]
            assert int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]) == proc.pid
        assert sac("agents", "send", "f1", "What is 2+3?").stdout == "5\n"  # they answer as any agent does
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == ""  # the runners' lines are progress: stderr
    assert "f1        | startup: Hello! I am f1" in err
    assert "fleet-two | startup: Hello! I am fleet-two" in err
    assert all(line.startswith(("f1        | ", "fleet-two | ", "stopping ")) for line in err.splitlines()), err
    assert [status(sac, n)["state"] for n in ("f1", "fleet-two")] == ["stopped", "stopped"]
    # one of them running already: refused before anything starts, with what to do instead
    sac("agents", "start", "f1", check=True)
    done = sac("agents", "start", "fleet-two", "f1", "--foreground")
    assert done.returncode == 1 and "agent f1 is already running" in done.stderr
    assert "sac agents stop f1" in done.stderr and status(sac, "fleet-two")["state"] == "stopped"


def test_foreground_runners_are_stopped_even_when_its_output_is_gone(fleet, sac):
    """Review: `start a b --foreground 2>&1 | tee log`, then Ctrl-C: tee dies too, the first
    write raised BrokenPipeError and both runners were left running. Now they are stopped."""
    for name in ("g2", "g3"):
        make_agent(fleet, name, "local")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sac", "agents", "start", "g2", "g3", "--foreground"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: all(status(sac, n)["state"] == "ready" for n in ("g2", "g3")), what="both ready")
    finally:
        assert proc.stderr is not None
        proc.stderr.close()  # the reader is gone: every write of the command now fails
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    assert [status(sac, n)["state"] for n in ("g2", "g3")] == ["stopped", "stopped"]


def test_sdk_alive_probe_restarts_a_hung_cli(fleet, sac):
    make_agent(fleet, "h1", "local", interval=0.5)
    spec = fleet / "agents" / "h1" / "spec.yaml"
    spec.write_text(spec.read_text().replace("    interval: 0.5\n", "    interval: 0.5\n    timeout: 1\n"))
    sac("agents", "start", "h1", check=True)
    session = status(sac, "h1")["session_id"]
    cli = int((fleet / "runtime" / "h1" / "cli.pid").read_text())
    os.kill(cli, signal.SIGSTOP)  # alive to the process table, deaf to the session
    try:
        wait_for(
            lambda: status(sac, "h1")["restarts"] == 1 and status(sac, "h1")["state"] == "ready",
            timeout=60,
            what="a restart",
        )
        assert "did not answer a health probe within 1 s" in json.dumps(transcript(fleet, "h1"))
        assert sac("agents", "send", "h1", "What is 3+4?").stdout == "7\n"
        assert status(sac, "h1")["session_id"] == session
    finally:
        try:
            os.kill(cli, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_the_heartbeat_survives_a_failed_write(fleet, sac):
    """D8: heartbeat.json unwritable for a moment (here a directory in its place; in life a
    full disk) must not end the heartbeat for the runner's life."""
    make_agent(fleet, "beat", "local")
    assert sac("agents", "start", "beat").returncode == 0
    beat = fleet / "runtime" / "beat" / "heartbeat.json"
    beat.unlink()
    beat.mkdir()
    time.sleep(2.5)  # a couple of ticks fail
    beat.rmdir()
    wait_for(
        lambda: beat.is_file() and time.time() - json.loads(beat.read_text())["time"] < 2,
        timeout=10,
        what="the heartbeat to resume",
    )
    assert status(sac, "beat")["state"] == "ready"


def test_a_reply_over_one_mebibyte_arrives_whole(fleet, sac):
    """D10: the SDK's 1 MiB message buffer killed the session and lost a 2 MiB reply."""
    make_agent(fleet, "big", "local")
    script = fleet / "agents" / "big" / "script.yaml"
    script.write_text(script.read_text() + '  - match: "BIGREPLY"\n    reply: "{prompt}"\n')
    assert sac("agents", "start", "big").returncode == 0
    prompt = "BIGREPLY " + "z" * (2 << 20)
    done = subprocess.run(
        [sys.executable, "-m", "sac", "agents", "send", "big"],
        input=prompt,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-500:]
    assert len(done.stdout) >= 2 << 20 and done.stdout.count("z") == 2 << 20
    assert sac("agents", "send", "big", "What is 1+1?").stdout == "2\n"
    assert status(sac, "big")["restarts"] == 0


def test_send_gives_up_on_a_hung_runner(fleet, sac):
    """D15: `send --timeout` to a runner that stopped answering (SIGSTOP) waited forever."""
    make_agent(fleet, "hung", "local")
    assert sac("agents", "start", "hung").returncode == 0
    runner = status(sac, "hung")["pid"]
    os.kill(runner, signal.SIGSTOP)
    try:
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "sac", "agents", "send", "hung", "What is 1+1?", "--timeout", "2"],
            capture_output=True,
            text=True,
            timeout=90,
        )
        waited = time.monotonic() - started
    finally:
        os.kill(runner, signal.SIGCONT)
    assert done.returncode == 1, done.stderr
    assert "did not answer within 32 s" in done.stderr or "cannot answer" in done.stderr, done.stderr
    assert waited < 60
    for bad in ("0", "-1", "nan"):
        assert sac("agents", "send", "hung", "hi", "--timeout", bad).returncode == 2
    assert sac("agents", "send", "hung", "   ").returncode == 2  # an empty prompt is bad input


def test_a_symlinked_agent_folder_keeps_the_name_it_is_called_by(fleet, sac, tmp_path):
    """D5: agents/lnk -> /elsewhere/real started as `real` while the CLI waited for `lnk`."""
    make_agent(fleet, "real", "local")
    target = tmp_path / "real"
    (fleet / "agents" / "real").rename(target)
    (fleet / "agents" / "lnk").symlink_to(target)
    done = sac("agents", "start", "lnk", "--timeout", "60")
    assert done.returncode == 0 and "lnk: ready" in done.stderr, done.stdout + done.stderr
    assert status(sac, "lnk")["state"] == "ready"
    assert not (fleet / "runtime" / "real").exists()
    assert sac("agents", "stop", "lnk").returncode == 0
    done = sac("agents", "delete", "-y", "lnk")
    assert done.returncode == 0, done.stderr
    assert not (fleet / "agents" / "lnk").exists() and (target / "spec.yaml").is_file()  # the link, not its target


def test_an_unreadable_state_file_hides_no_live_agent(fleet, sac):
    """D7: a garbled state.json made a live agent 'never-started': stop said 'not running'
    (the runner went on, out of reach) and start spawned a second runner and exited 0."""
    make_agent(fleet, "garbled", "local")
    assert sac("agents", "start", "garbled").returncode == 0
    runner = status(sac, "garbled")["pid"]
    (fleet / "runtime" / "garbled" / "state.json").write_text('{"state": garbage')
    st = status(sac, "garbled")
    assert (st["state"], st["pid"]) == ("unknown", runner) and "unreadable" in st["last_error"], st
    done = sac("agents", "start", "garbled", "--timeout", "20")
    assert done.returncode == 0 and "already running" in done.stderr, done.stderr
    assert sac("agents", "send", "garbled", "What is 1+1?").stdout == "2\n"  # the socket still works
    (fleet / "runtime" / "garbled" / "state.json").write_text('{"state": garbage')  # (the turn healed it)
    done = sac("agents", "stop", "garbled")
    assert done.returncode == 0 and "stopped" in done.stdout, done.stdout + done.stderr
    wait_for(lambda: not os.path.exists(f"/proc/{runner}"), timeout=15, what="the runner to end")


def test_one_badly_named_folder_does_not_break_the_fleet_view(fleet, sac):
    """D16: a folder 'my agent' made `status`/`list` exit 2 (and GET /v1/agents 500)."""
    make_agent(fleet, "good", "local")
    bad = fleet / "agents" / "my agent"
    bad.mkdir()
    (bad / "spec.yaml").write_text((fleet / "agents" / "good" / "spec.yaml").read_text())
    done = sac("agents", "status", "--json")
    assert done.returncode == 0, done.stderr
    assert [r["name"] for r in json.loads(done.stdout)] == ["good"]
    assert "skipped" in done.stderr and "my agent" in done.stderr and "invalid agent name" in done.stderr
    from sac.api import status as api_status

    assert [s.name for s in api_status()] == ["good"]


def test_session_fresh_never_resumes_the_previous_run(fleet, sac):
    """D21: a fresh start inherited the old session id, and a CLI that died before the first
    turn was restarted into the previous run's conversation."""
    spec = make_agent(fleet, "fresh", "local", interval=1)
    text = spec.read_text()
    spec.write_text(text[: text.index("  startup_prompts:")] + text[text.index("  health:") :])  # no turn at start
    sac("agents", "start", "fresh", check=True)
    first = json.loads(sac("agents", "send", "fresh", "What is 1+1?", "--json").stdout)["session_id"]
    sac("agents", "stop", "fresh", check=True)
    sac("agents", "start", "fresh", check=True)
    assert status(sac, "fresh")["session_id"] is None  # nothing said yet in this run
    os.kill(int((fleet / "runtime" / "fresh" / "cli.pid").read_text()), signal.SIGKILL)
    wait_for(
        lambda: status(sac, "fresh")["restarts"] >= 1 and status(sac, "fresh")["state"] == "ready",
        timeout=30,
        what="the CLI to be restarted",
    )
    second = json.loads(sac("agents", "send", "fresh", "What is 2+2?", "--json").stdout)["session_id"]
    assert first and second and second != first


def test_a_stopped_cli_is_not_leaked_by_restarts_or_stop(fleet, sac):
    """D20: a SIGSTOPped CLI ignored the SDK's disconnect and stayed (~200 MB) after the
    timeout restart and after `sac agents stop`."""
    spec = make_agent(fleet, "leak", "local", interval=2)
    spec.write_text(
        spec.read_text().replace("    allowed_tools: [Bash]\n", "    allowed_tools: [Bash]\n    turn_timeout: 5\n")
    )
    script = fleet / "agents" / "leak" / "script.yaml"
    script.write_text(script.read_text() + '  - match: "slow"\n    delay: 8\n    reply: ok\n')
    sac("agents", "start", "leak", check=True)
    cli = int((fleet / "runtime" / "leak" / "cli.pid").read_text())
    sender = subprocess.Popen(
        [sys.executable, "-m", "sac", "agents", "send", "leak", "slow please"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1)
        os.kill(cli, signal.SIGSTOP)
        wait_for(lambda: status(sac, "leak")["restarts"] >= 1, timeout=60, what="the CLI to be restarted")
        sac("agents", "stop", "leak", check=True)
        wait_for(
            lambda: not os.path.exists(f"/proc/{cli}") or open(f"/proc/{cli}/stat").read().split()[2] == "Z",
            timeout=10,
            what="the stopped CLI to be gone",
        )
    finally:
        sender.wait(timeout=120)
        if os.path.exists(f"/proc/{cli}"):
            os.kill(cli, signal.SIGKILL)


def test_the_transcript_survives_partial_lines_and_a_runner_killed_mid_turn(fleet, sac):
    """D25: a trailing partial line swallowed the next event (the prompt vanished from tail);
    a runner killed mid-turn left its prompt unanswered and the next runner restarted the
    turn numbers at 1."""
    make_agent(fleet, "tr", "local")
    sac("agents", "start", "tr", check=True)
    path = fleet / "runtime" / "tr" / "session.jsonl"
    with open(path, "ab") as f:
        f.write(b'{"type": "text", "trunc')  # what a crash mid-write leaves
    assert sac("agents", "send", "tr", "What is 5+6?").stdout == "11\n"
    assert any(e["type"] == "prompt" and e["text"] == "What is 5+6?" for e in transcript_tolerant(path))
    runner = status(sac, "tr")["pid"]
    hang = subprocess.Popen(
        [sys.executable, "-m", "sac", "agents", "send", "tr", "please hang"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: status(sac, "tr")["state"] == "busy", what="the turn to start")
        hung = max(e["turn"] for e in transcript_tolerant(path) if e["type"] == "prompt")
        os.killpg(runner, signal.SIGKILL)  # the runner and its CLI
    finally:
        hang.wait(timeout=60)
    sac("agents", "start", "tr", check=True)
    events = transcript_tolerant(path)
    assert any(e["type"] == "error" and e["turn"] == hung and "runner ended" in e["error"] for e in events)
    answer = json.loads(sac("agents", "send", "tr", "What is 1+1?", "--json").stdout)
    assert answer["turn"] > hung


def transcript_tolerant(path) -> list[dict]:
    out = []
    for line in path.read_bytes().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


def test_status_and_errors_say_what_happened(fleet, sac):
    """D26: stop during a turn told the caller the CLI died and would be restarted; a dead
    runner kept an older, unrelated last_error; with health off a dead CLI showed 'ready'."""
    spec = make_agent(fleet, "say", "local")
    spec.write_text(spec.read_text().replace("    enabled: true\n", "    enabled: false\n"))
    sac("agents", "start", "say", check=True)
    hang = subprocess.Popen(
        [sys.executable, "-m", "sac", "agents", "send", "say", "please hang"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_for(lambda: status(sac, "say")["state"] == "busy", what="the turn to start")
    sac("agents", "stop", "say", check=True)
    _, err = hang.communicate(timeout=60)
    assert "stopped during the turn" in err and "restarted per its policy" not in err, err
    sac("agents", "start", "say", check=True)
    os.kill(int((fleet / "runtime" / "say" / "cli.pid").read_text()), signal.SIGKILL)
    wait_for(lambda: status(sac, "say")["state"] == "unhealthy", timeout=10, what="status to notice the dead CLI")
    assert "claude CLI has exited" in status(sac, "say")["last_error"]
    runner = status(sac, "say")["pid"]
    os.killpg(runner, signal.SIGKILL)
    wait_for(lambda: status(sac, "say")["state"] == "dead", timeout=10, what="the runner to be seen dead")
    assert status(sac, "say")["last_error"].startswith(f"the runner (pid {runner}) is gone")


def test_deleting_the_runtime_dir_under_a_live_agent_never_makes_two_runners(fleet, sac):
    """D6: after `rm -rf runtime/NAME` status said never-started, stop said not running (and
    left the runner), and start spawned a second runner for the same agent."""
    make_agent(fleet, "gone", "local")
    sac("agents", "start", "gone", check=True)
    first = status(sac, "gone")["pid"]
    import shutil

    shutil.rmtree(fleet / "runtime" / "gone")
    wait_for(lambda: not os.path.exists(f"/proc/{first}"), timeout=15, what="the orphaned runner to stop")
    sac("agents", "start", "gone", check=True)
    second = status(sac, "gone")["pid"]
    time.sleep(1.5)
    runners = subprocess.run(["pgrep", "-f", f"_runner .*{fleet}/agents/gone/"], capture_output=True, text=True)
    assert runners.stdout.split() == [str(second)], runners.stdout
    assert sac("agents", "send", "gone", "What is 2+2?").stdout == "4\n"


def test_a_deleted_control_socket_is_served_again(fleet, sac):
    """N4 (found re-testing the review): with control.sock deleted, send said 'not running
    (state: ready)' and start 'already running'; only stop or restart recovered."""
    make_agent(fleet, "sock", "local")
    sac("agents", "start", "sock", check=True)
    sock = fleet / "runtime" / "sock" / "control.sock"
    sock.unlink()
    wait_for(sock.exists, timeout=10, what="the control socket to be served again")
    assert sac("agents", "send", "sock", "What is 4+4?").stdout == "8\n"
