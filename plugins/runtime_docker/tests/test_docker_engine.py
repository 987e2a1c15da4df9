"""sac_runtime_docker.engine: the docker argv builders and container names (no Docker needed)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from sac_runtime_docker import DockerSpec
from sac_runtime_docker.engine import container_name, exec_argv, run_argv

from sac_hookspecs import Instance, Launch
from sac_hookspecs.spec import Mount

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
