"""Apptainer commands for an agent's instance: start (adopting nothing stale), alive, stop.

One ``apptainer instance`` per agent, named ``sac-NAME-HASH`` (the hash of the runtime dir,
so two SAC_HOMEs of one user never take each other's instances; Apptainer keeps instances
per user anyway). The argv comes from :mod:`.argv`, the single place that decides flags.
Failures become one line: Apptainer's own ``FATAL:`` reason and what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
from pathlib import Path

import msgspec

from sac_hookspecs import Instance, Launch
from sac_hookspecs.toolkit.files import write_atomic

from . import argv as A


def instance_name(agent: str, runtime_dir: Path) -> str:
    return f"sac-{agent}-{hashlib.sha256(str(runtime_dir).encode()).hexdigest()[:8]}"


def apptainer(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["apptainer", *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env
    )


def reason(done: subprocess.CompletedProcess) -> str:
    """Apptainer's own words: its last FATAL/ERROR line, else the last line it printed."""
    lines = [ln.strip() for ln in (done.stderr + "\n" + done.stdout).splitlines() if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith(("FATAL", "ERROR"))]
    line = (fatal or lines or [f"exit {done.returncode}"])[-1]
    return line.split(":", 1)[1].strip() if line.startswith(("FATAL", "ERROR")) and ":" in line else line


def hint_for(why: str, image: str) -> str:
    if "no such file" in why.lower() and image in why:
        return "build the image with `sac image build base`, or set spec.apptainer.image"
    if "/dev/fuse" in why:
        return "mounting a SIF unprivileged needs FUSE: ask for /dev/fuse mode 0666, or use a sandbox dir as image"
    if "capability" in why.lower():
        return "as root, set `root default capabilities = no` in apptainer.conf"
    if "bind" in why.lower() or "mount" in why.lower():
        return "check spec.mounts and spec.apptainer.binds: every source must exist"
    return "see `apptainer instance list` and the agent's runner.log"


def list_instances() -> dict[str, dict]:
    done = apptainer("instance", "list", "--json", timeout=30)
    if done.returncode != 0:
        return {}
    try:
        return {i["instance"]: i for i in json.loads(done.stdout or "{}").get("instances", [])}
    except (ValueError, AttributeError, KeyError, TypeError):
        return {}


def overlay_path(cfg, runtime_dir: Path) -> str | None:
    """spec.apptainer.overlay: true makes a per-agent overlay once (kept across restarts)."""
    if not cfg.overlay:
        return None
    if isinstance(cfg.overlay, str):
        return str(Path(cfg.overlay).expanduser())
    path = runtime_dir / "overlay.img"
    if not path.exists():
        done = apptainer("overlay", "create", "--size", "1024", str(path), timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"apptainer could not create the overlay {path}: {reason(done)}")
    return str(path)


def relaxed_of(cfg) -> list[str]:
    """What hardening the spec turned off, for status and the card."""
    out = [f"--{h.lstrip('-')}" for h in A.HARDENING] if cfg.relaxed else []
    out += [what for what, on in (("fakeroot", cfg.fakeroot), ("raw_args set", bool(cfg.raw_args))) if on]
    return out


def start(agent: str, runtime_dir: Path, cfg, launch: Launch, image: str, binds: list) -> Instance:
    name = instance_name(agent, runtime_dir)
    # the version, not the `sac-base.sif` link: exec mode keeps running it after a switch,
    # and `sac image` sees which version this agent uses (data["image_ref"])
    image = os.path.realpath(image)
    if name in list_instances():  # a killed runner's instance: never adopted half-known, never leaked
        apptainer("instance", "stop", "--force", name, timeout=60)
    env = {**launch.env, **cfg.env}
    if os.geteuid() == 0:
        env.setdefault("IS_SANDBOX", "1")  # the container is the sandbox: the CLI may bypass permissions as root
    env_file = runtime_dir / "apptainer.env"  # values in a 0600 file, never in argv (`ps` shows argv to all)
    write_atomic(env_file, "".join(f"{k}={shlex.quote(v)}\n" for k, v in env.items()).encode(), mode=0o600)
    overlay = overlay_path(cfg, runtime_dir)
    relaxed = relaxed_of(cfg)
    data = {
        "image": image,
        "image_ref": image,
        "mode": "instance",
        "overlay": overlay or "",
        "launch": json.dumps(msgspec.to_builtins(launch)),
    }
    if cfg.mode != "exec":
        argv = A.start_argv(
            cfg, launch, image=image, instance=name, env_file=str(env_file), overlay=overlay, binds=binds
        )
        done = apptainer(*argv[1:], timeout=300)
        if done.returncode != 0 or name not in list_instances():
            why = reason(done)
            if cfg.mode == "instance" or not instance_unsupported(why):
                raise RuntimeError(
                    f"apptainer could not start the instance for {agent}: {why} ({hint_for(why, image)})"
                )
            data["fallback"] = why  # this host cannot run instances: one exec per CLI process
            data["mode"] = "exec"
    else:
        data["mode"] = "exec"
    if data["mode"] == "exec":
        probe = apptainer(
            "exec",
            *A.container_flags(cfg, launch, env_file=str(env_file), overlay=overlay, binds=binds),
            image,
            "true",
            timeout=300,
        )
        if probe.returncode != 0:
            why = reason(probe)
            raise RuntimeError(f"apptainer could not run the image for {agent}: {why} ({hint_for(why, image)})")
    mode = (
        "instance"
        if data["mode"] == "instance"
        else (f"exec (instances cannot run here: {data['fallback']})" if "fallback" in data else "exec")
    )
    return Instance(
        runtime="apptainer",
        id=name if data["mode"] == "instance" else "",
        cli=A.CLI,
        home=A.HOME,
        workdir=A.WORKDIR,
        isolation="custom" if relaxed else "hardened",
        relaxed=relaxed,
        data=data,
        mode=mode,
    )


def instance_unsupported(why: str) -> bool:
    """Apptainer's words for a host where instances cannot run (no systemd, cgroups, or
    the instance directory), as opposed to a problem with the spec or the image."""
    return any(w in why.lower() for w in ("cgroup", "systemd", "instance", "dbus"))


def running(instance: Instance) -> bool:
    return instance.id in list_instances()


def stop(instance: Instance) -> None:
    done = apptainer("instance", "stop", instance.id, timeout=60)
    if done.returncode != 0 and instance.id in list_instances():
        apptainer("instance", "stop", "--force", instance.id, timeout=60)
