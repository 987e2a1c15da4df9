"""Docker commands for an agent: the pure argv builders, and the calls that run them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from sac_hookspecs import Instance, Launch
from sac_hookspecs.toolkit.files import write_atomic
from sac_hookspecs.toolkit.layout import CLI, HOME, WORKDIR

HARDENING = ("no-new-privileges", "cap-drop ALL", "pids-limit")


def container_name(agent: str, runtime_dir: Path) -> str:
    """``sac-NAME-HASH``: the hash of the agent's runtime dir keeps two SAC_HOMEs on one
    Docker host (two users, two test runs) from taking each other's containers."""
    import hashlib

    return f"sac-{agent}-{hashlib.sha256(str(runtime_dir).encode()).hexdigest()[:8]}"


def run_argv(
    agent: str, name: str, cfg, launch: Launch, *, uid: int, gid: int, env_file: str | None = None
) -> list[str]:
    """``docker run`` for the agent's long-lived container ``name`` (it only sleeps; the
    CLI is started in it with ``docker exec``)."""
    argv = [
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--label",
        f"sac.agent={agent}",
        "--network",
        cfg.network,
        "--init",
        "--user",
        cfg.user or f"{uid}:{gid}",
        "-v",
        f"{launch.claude_cli}:{CLI}:ro",
        "-v",
        f"{launch.workdir}:{WORKDIR}:rw",
        "-v",
        f"{launch.home}:{HOME}:rw",
        "-w",
        WORKDIR,
        "-e",
        f"HOME={HOME}",
        # the container is the sandbox: let the CLI accept bypassPermissions as root in it
        "-e",
        "IS_SANDBOX=1",
    ]
    for m in launch.mounts:
        argv += ["-v", f"{m.source}:{m.target}:{m.mode}"]
    if env_file:  # spec.docker.env: a 0600 file, never values in argv (`ps` shows argv to everyone)
        argv += ["--env-file", env_file]
    if not cfg.relaxed:
        argv += ["--security-opt", "no-new-privileges", "--cap-drop", "ALL", "--pids-limit", "4096"]
    if cfg.gpus:
        argv += ["--gpus", cfg.gpus]
    if cfg.memory:
        argv += ["--memory", cfg.memory]
    if cfg.cpus:
        argv += ["--cpus", f"{cfg.cpus:g}"]
    argv += list(cfg.raw_args)
    return [*argv, cfg.image, "sleep", "infinity"]


def exec_argv(instance: Instance, args: list[str], env_names: list[str]) -> list[str]:
    """``docker exec`` of the CLI; ``-e NAME`` passes each variable from the caller's
    environment by name, so no value is ever in the argv."""
    argv = ["docker", "exec", "-i", "-w", instance.workdir]
    for name in env_names:
        argv += ["-e", name]
    return [*argv, instance.id, instance.cli, *args]


def docker(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def fail(what: str, done: subprocess.CompletedProcess, hint: str) -> RuntimeError:
    detail = (done.stderr or done.stdout).strip().splitlines()
    return RuntimeError(f"{what}: {detail[-1] if detail else f'exit {done.returncode}'} ({hint})")


def start(agent: str, runtime_dir: Path, cfg, launch: Launch, relaxed: list[str]) -> Instance:
    name = container_name(agent, runtime_dir)
    docker("rm", "-f", name)  # a leftover of a killed runner
    env = {**launch.env, **cfg.env}
    env_file = runtime_dir / "docker.env"
    write_atomic(env_file, "".join(f"{k}={v}\n" for k, v in env.items()).encode(), mode=0o600)
    argv = run_argv(agent, name, cfg, launch, uid=os.getuid(), gid=os.getgid(), env_file=str(env_file))
    done = docker(*argv[1:], timeout=120)
    if done.returncode != 0:
        # ask Docker (exit statuses, not its error's words): does the daemon answer, is the image there
        answers = docker("version", "--format", "{{.Server.Version}}", timeout=30).returncode == 0
        missing = answers and docker("image", "inspect", cfg.image, timeout=30).returncode != 0
        hint = (
            "build the image with `sac image build base --runtime docker`"
            if missing
            else "see `docker info`; is dockerd running?"
        )
        raise fail(f"docker could not start the container for {agent}", done, hint)
    image_id = docker("inspect", "--format", "{{.Image}}", name, timeout=30).stdout.strip()
    return Instance(
        runtime="docker",
        id=name,
        cli=CLI,
        home=HOME,
        workdir=WORKDIR,
        isolation="custom" if relaxed else "hardened",
        relaxed=relaxed,
        data={"image": cfg.image, "image_ref": image_id},
    )


def running(instance: Instance) -> bool:
    done = docker("inspect", "-f", "{{.State.Running}}", instance.id, timeout=15)
    return done.returncode == 0 and done.stdout.strip() == "true"


def remove(instance: Instance, grace: float) -> None:
    if grace > 0:
        docker("stop", "-t", str(int(grace)), instance.id, timeout=grace + 30)
    docker("rm", "-f", instance.id, timeout=60)
