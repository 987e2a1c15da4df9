"""Pure parts of the runner and runtimes: backoff, argv builders, mirrors, transcripts."""

from __future__ import annotations

from pathlib import Path

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from sac_runtime_docker import DockerSpec
from sac_runtime_docker.engine import container_name, exec_argv, run_argv

from sac.runner.runner import backoff_delay
from sac.transcript import Event, render, summarize
from sac_hookspecs import Instance, Launch
from sac_hookspecs.spec import Backoff, Mount
from sac_hookspecs.toolkit.debian import host_mirror


@given(st.floats(0.01, 10), st.floats(1, 4), st.floats(0.01, 600), st.integers(0, 50))
def test_backoff_grows_and_is_capped(initial, factor, cap, n):
    b = Backoff(initial=initial, factor=factor, max=cap)
    assert backoff_delay(b, n) <= cap
    assert backoff_delay(b, n + 1) >= backoff_delay(b, n)
    assert backoff_delay(b, 0) == min(initial, cap)
    assert backoff_delay(initial, 0) == min(initial, 300.0)  # a number means `initial`


@given(st.floats(0.01, 10), st.floats(1, 1.0e308), st.floats(0.01, 600), st.integers(0, 10**9))
def test_backoff_never_overflows(initial, factor, cap, n):
    """D19: any valid factor and any number of attempts (policy: always runs forever)."""
    b = Backoff(initial=initial, factor=factor, max=cap)
    assert min(initial, cap) <= backoff_delay(b, n) <= cap
    assert backoff_delay(b, n + 1) >= backoff_delay(b, n)


LAUNCH = Launch(
    claude_cli="/venv/claude",
    home="/rt/a/home",
    workdir="/rt/a/work",
    mounts=[Mount(source="/data", target="/data", mode="ro")],
    env={},
)


@given(
    relaxed=st.booleans(),
    gpus=st.sampled_from([None, "all"]),
    raw=st.lists(st.sampled_from(["--shm-size=1g", "--ipc=host"]), max_size=2),
)  # noqa: E501
def test_docker_run_argv_is_hardened_unless_relaxed(relaxed, gpus, raw):
    cfg = DockerSpec(relaxed=relaxed, gpus=gpus, raw_args=raw, env={"TZ": "UTC"})
    argv = run_argv("a", "sac-a-1", cfg, LAUNCH, uid=1000, gid=1000, env_file="/rt/a/docker.env")
    assert "TZ=UTC" not in " ".join(argv) and argv[argv.index("--env-file") + 1] == "/rt/a/docker.env"
    hardened = ["--security-opt", "no-new-privileges", "--cap-drop", "ALL"]
    joined = " ".join(argv)
    assert (" ".join(hardened) in joined) is (not relaxed)
    assert argv[-3:] == [cfg.image, "sleep", "infinity"]
    assert argv[-3 - len(raw) : -3] == raw  # raw args go last, right before the image
    assert "/venv/claude:/opt/sac/bin/claude:ro" in argv and "/data:/data:ro" in argv
    assert "/rt/a/work:/work:rw" in argv and "--user" in argv and "1000:1000" in argv
    assert ("--gpus" in argv) is bool(gpus)


def test_docker_exec_passes_variables_by_name_only():
    inst = Instance(runtime="docker", id="sac-a-1", cli="/opt/sac/bin/claude", home="/home/agent", workdir="/work")
    argv = exec_argv(inst, ["--print"], ["ANTHROPIC_API_KEY", "HOME"])
    assert argv == [
        "docker",
        "exec",
        "-i",
        "-w",
        "/work",
        "-e",
        "ANTHROPIC_API_KEY",
        "-e",
        "HOME",
        "sac-a-1",
        "/opt/sac/bin/claude",
        "--print",
    ]
    assert not any("=" in a for a in argv)


def test_container_names_differ_per_sac_home():
    assert container_name("a", Path("/h1/runtime/a")) != container_name("a", Path("/h2/runtime/a"))
    assert container_name("a", Path("/h1/runtime/a")).startswith("sac-a-")


def test_host_mirror_reads_deb822_and_legacy_sources(tmp_path):
    (tmp_path / "etc/apt/sources.list.d").mkdir(parents=True)
    (tmp_path / "etc/os-release").write_text("VERSION_CODENAME=bookworm\n")
    assert host_mirror(tmp_path) == ("http://deb.debian.org/debian", "bookworm")
    (tmp_path / "etc/apt/sources.list").write_text("deb [arch=amd64] http://mirror.example/debian/ bookworm main\n")
    assert host_mirror(tmp_path) == ("http://mirror.example/debian", "bookworm")
    (tmp_path / "etc/apt/sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://local.mirror/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert host_mirror(tmp_path) == ("http://local.mirror/debian", "bookworm")


def test_transcript_render_and_summary():
    events = [
        {"type": "prompt", "turn": 1, "text": "hi"},
        {"type": "tool_use", "turn": 1, "name": "Bash", "input": {"command": "ls"}},
        {"type": "tool_result", "turn": 1, "content": "a\nb", "is_error": False},
        {"type": "text", "turn": 1, "text": "done"},
        {
            "type": "result",
            "turn": 1,
            "ok": True,
            "text": "done",
            "cost_usd": 0.5,
            "duration_ms": 12,
            "session_id": "s1",
            "input_tokens": 10,
            "output_tokens": 2,
        },
        {"type": "error", "error": "the CLI exited"},
    ]
    events = msgspec.convert(events, list[Event])  # as read_events decodes each line
    assert [render(e) for e in events] == [
        "[1] > hi",
        '[1] $ Bash {"command": "ls"}',
        "[1] = a b",
        "[1] < done",
        "[1] # ok, $0.5000, 12 ms",
        "! the CLI exited",
    ]
    s = summarize(events)
    assert (s["turns"], s["errors"], s["cost_usd"], s["tools"], s["session_id"]) == (1, 1, 0.5, {"Bash": 1}, "s1")
