"""Every Apptainer command line for an agent, built by pure functions from the spec.

Hardened by default: ``--containall`` (own PID/IPC namespaces, a clean environment, no host
HOME, /tmp or /dev beyond the minimum), ``--cleanenv`` (spelled out, so a relaxed spec's
opt-out is visible), ``--writable-tmpfs`` (a scratch root that vanishes; or a persistent
``--overlay``). The agent sees only: its HOME (persisted from the runtime dir) at
/home/agent, its workdir at /work, the claude CLI read-only at /opt/sac/bin/claude, and
what ``spec.mounts[]`` / ``spec.apptainer.binds[]`` declare. Environment values go through
a 0600 ``--env-file``; variables for the CLI pass by name (``APPTAINERENV_NAME="$NAME"``
exported by a shell from its own environment), never as values in argv.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from sac_hookspecs import Launch
from sac_hookspecs.spec import Mount
from sac_hookspecs.toolkit.layout import CLI, HOME, WORKDIR

HARDENING = ("--containall", "--cleanenv")


def bind(m: Mount) -> str:
    return f"{m.source}:{m.target or m.source}:{m.mode}"


def start_argv(
    cfg,
    launch: Launch,
    *,
    image: str,
    instance: str,
    env_file: str | None = None,
    overlay: str | None = None,
    binds: Sequence[Mount] = (),
) -> list[str]:
    """``apptainer instance start ... IMAGE INSTANCE``; raw_args last before the image, with
    no flag repeated that sac already gave."""
    flags = container_flags(cfg, launch, env_file=env_file, overlay=overlay, binds=binds)
    return ["apptainer", "instance", "start", *flags, image, instance]


def exec_image_argv(
    cfg,
    launch: Launch,
    args: list[str],
    env_names: list[str],
    *,
    image: str,
    env_file: str | None = None,
    overlay: str | None = None,
    binds: Sequence[Mount] = (),
) -> list[str]:
    """The fallback where ``instance start`` cannot work (hosts without systemd/cgroups
    support for instances): one ``apptainer exec`` of the image per CLI process, with the
    very same container flags, and the CLI's variables by name as in :func:`exec_argv`."""
    flags = container_flags(cfg, launch, env_file=env_file, overlay=overlay, binds=binds)
    return ["sh", "-c", _by_name(env_names), "sh", "apptainer", "exec", "--pwd", WORKDIR, *flags, image, CLI, *args]


def container_flags(
    cfg, launch: Launch, *, env_file: str | None = None, overlay: str | None = None, binds: Sequence[Mount] = ()
) -> list[str]:
    """Every flag of the agent's container, the same for an instance and for an exec;
    raw_args last, with no flag repeated that sac already gave."""
    argv: list[str] = []
    if not cfg.relaxed:
        argv += list(HARDENING)
    argv += ["--overlay", overlay] if overlay else ["--writable-tmpfs"]
    argv += [
        "--home",
        f"{launch.home}:{HOME}",  # (--pwd belongs to exec: instance start refuses it)
        "--bind",
        f"{launch.workdir}:{WORKDIR}:rw",
        "--bind",
        f"{launch.claude_cli}:{CLI}:ro",
    ]
    for m in [*launch.mounts, *binds]:
        argv += ["--bind", bind(m)]
    if env_file:
        argv += ["--env-file", env_file]
    for flag, on in (("--nv", cfg.nv), ("--rocm", cfg.rocm), ("--fakeroot", cfg.fakeroot)):
        if on:
            argv.append(flag)
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    repeatable = {"--bind", "--env", "--overlay"}
    argv += [a for a in cfg.raw_args if not (a.startswith("--") and a.split("=", 1)[0] in given - repeatable)]
    return argv


def _by_name(env_names: list[str]) -> str:
    """A shell script exporting ``APPTAINERENV_<NAME>="$NAME"`` for each name (Apptainer
    passes those through --cleanenv) and running its arguments: values stay in the environment."""
    exports = " ".join(f'APPTAINERENV_{n}="${{{n}}}"' for n in env_names if n.isidentifier())
    return (f"export {exports}; " if exports else "") + 'exec "$@"'


def exec_argv(instance: str, args: list[str], env_names: list[str], clean: bool = True) -> list[str]:
    """Run the CLI in the instance. A shell exports ``APPTAINERENV_<NAME>="$NAME"`` for each
    name (Apptainer passes those through --cleanenv), so values stay in the environment.
    ``--cleanenv`` here too (unless relaxed): an exec into an instance otherwise inherits
    the whole environment of the runner, host secrets included."""
    clean_flag = ["--cleanenv"] if clean else []
    return [
        "sh",
        "-c",
        _by_name(env_names),
        "sh",
        "apptainer",
        "exec",
        *clean_flag,
        "--pwd",
        WORKDIR,
        f"instance://{instance}",
        CLI,
        *args,
    ]


def describe(argv: list[str]) -> str:
    return shlex.join(argv)
