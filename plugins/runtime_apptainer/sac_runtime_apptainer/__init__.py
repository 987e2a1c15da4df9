"""The ``apptainer`` runtime: rootless, daemonless, allowed on HPC nodes. Hardened by default.

This module is imported whenever sac loads plugins: it only declares the runtime and
its spec section. Argv building and the instance lifecycle live in their own modules.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Literal

import msgspec

from sac_hookspecs import Agent, CheckResult, Instance, Launch, Runtime, hookimpl
from sac_hookspecs.spec import Mount
from sac_hookspecs.toolkit.host import sac_home
from sac_hookspecs.toolkit.mounts import parse_mount
from sac_hookspecs.toolkit.proc import probe


class ApptainerSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """``spec.apptainer``."""

    image: str | None = None  # a .sif or sandbox dir; default: $SAC_HOME/containers/sac-base.sif
    binds: list[str | Mount] = msgspec.field(default_factory=list)  # like spec.mounts[]
    env: dict[str, str] = msgspec.field(default_factory=dict)  # set inside the container
    nv: bool = False  # NVIDIA GPUs (--nv)
    rocm: bool = False  # AMD GPUs (--rocm)
    overlay: bool | str | None = None  # true: a per-agent overlay in the runtime dir; or a path
    fakeroot: bool = False
    relaxed: bool = False  # opt out of --containall/--cleanenv hardening
    # instance: one `apptainer instance` per agent; exec: one `apptainer exec` per CLI process
    # (hosts where instances cannot start); auto: an instance, else exec, said in status
    mode: Literal["auto", "instance", "exec"] = "auto"
    raw_args: list[str] = msgspec.field(default_factory=list)  # verbatim, before the image


def _has_subids() -> bool:
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    try:
        return all(
            any(line.split(":")[0] in (user, str(os.getuid())) for line in Path(f).read_text().splitlines())
            for f in ("/etc/subuid", "/etc/subgid")
        )
    except OSError:
        return False


def default_image() -> Path:
    return sac_home() / "containers" / "sac-base.sif"


class ApptainerRuntime(Runtime):
    name = "apptainer"
    description = "one Apptainer instance per agent (rootless, no daemon)"
    isolation = "hardened"
    priority = 30

    def hosts_this_process(self) -> bool:
        return bool(os.environ.get("APPTAINER_CONTAINER") or os.environ.get("SINGULARITY_CONTAINER"))

    def available(self) -> str | None:
        if self.hosts_this_process():
            return "running inside an Apptainer container (nested Apptainer is not used)"
        return None if shutil.which("apptainer") else "apptainer is not on PATH"

    def check(self, agent: Agent) -> list[CheckResult]:
        cfg = agent.spec.section("apptainer", ApptainerSpec) or ApptainerSpec()
        ok, out = probe(["apptainer", "--version"])
        rows = [
            CheckResult(
                name="apptainer",
                ok=ok,
                detail=out,
                fix="" if ok else "install Apptainer (https://apptainer.org/docs/admin/main/installation.html)",
            )
        ]
        image = self.image(agent)
        present = image.exists()
        rows.append(
            CheckResult(
                name="image",
                ok=present,
                detail=str(image) if present else f"{image} does not exist",
                fix="" if present else "build it with `sac image build base`, or set spec.apptainer.image",
            )
        )
        if cfg.nv and shutil.which("nvidia-smi") is None:
            rows.append(
                CheckResult(
                    name="gpu (nv)",
                    ok=False,
                    detail="no NVIDIA driver here (nvidia-smi not found)",
                    fix="run on a GPU node, or remove spec.apptainer.nv",
                )
            )
        if cfg.rocm and not Path("/dev/kfd").exists():
            rows.append(
                CheckResult(
                    name="gpu (rocm)",
                    ok=False,
                    detail="no AMD GPU here (/dev/kfd not found)",
                    fix="run on a GPU node, or remove spec.apptainer.rocm",
                )
            )
        if cfg.fakeroot and os.geteuid() != 0 and not _has_subids():
            rows.append(
                CheckResult(
                    name="fakeroot",
                    ok=False,
                    detail="--fakeroot needs this user in /etc/subuid and /etc/subgid",
                    fix="ask an admin for `apptainer config fakeroot --add USER`, or remove fakeroot",
                )
            )
        missing = [m.source for m in self._binds(cfg) if not Path(m.source).expanduser().exists()]
        if missing:
            rows.append(
                CheckResult(
                    name="binds",
                    ok=False,
                    detail=f"source(s) missing: {', '.join(missing)}",
                    fix="create them, or fix spec.apptainer.binds",
                )
            )
        return rows

    # -- the lifecycle (engine.py runs the commands; argv.py decides every flag) --------

    def _cfg(self, agent: Agent) -> ApptainerSpec:
        return agent.spec.section("apptainer", ApptainerSpec) or ApptainerSpec()

    def _binds(self, cfg: ApptainerSpec) -> list[Mount]:
        out = []
        for b in cfg.binds:
            m = parse_mount(b)
            out.append(Mount(source=str(Path(m.source).expanduser()), target=m.target or m.source, mode=m.mode))
        return out

    def image(self, agent: Agent) -> Path:
        cfg = self._cfg(agent)
        image = Path(cfg.image).expanduser() if cfg.image else default_image()
        return image if image.is_absolute() else agent.spec_path.parent / image

    def start(self, agent: Agent, launch: Launch) -> Instance:
        from . import engine

        cfg = self._cfg(agent)
        missing = [m.source for m in self._binds(cfg) if not Path(m.source).exists()]
        if missing:
            raise RuntimeError(f"spec.apptainer.binds: source(s) missing: {', '.join(missing)}")
        return engine.start(agent.name, agent.runtime_dir, cfg, launch, str(self.image(agent)), self._binds(cfg))

    def command(self, agent: Agent, instance: Instance, args: list[str], env_names: list[str]) -> list[str]:
        from .argv import exec_argv, exec_image_argv

        cfg = self._cfg(agent)
        if instance.data.get("mode") == "exec":
            env_file = str(agent.runtime_dir / "apptainer.env")
            return exec_image_argv(
                cfg,
                self._launch_of(agent, instance),
                args,
                env_names,
                image=instance.data["image"],
                env_file=env_file,
                overlay=instance.data.get("overlay") or None,
                binds=self._binds(cfg),
            )
        return exec_argv(instance.id, args, env_names, clean=not cfg.relaxed)

    def _launch_of(self, agent: Agent, instance: Instance) -> Launch:
        return msgspec.convert(json.loads(instance.data["launch"]), Launch)

    def alive(self, agent: Agent, instance: Instance) -> bool:
        from . import engine

        if instance.data.get("mode") == "exec":
            return True  # nothing lives between CLI processes; the runner watches the CLI itself
        return engine.running(instance)

    def stop(self, agent: Agent, instance: Instance, grace: float) -> None:
        from . import engine

        if instance.data.get("mode") != "exec":
            engine.stop(instance)

    def images(self):
        from .images import SifImages

        return SifImages(default_image().parent)


@hookimpl
def sac_register_runtimes(register):
    register(ApptainerRuntime())


@hookimpl
def sac_register_spec_sections(register):
    register("apptainer", ApptainerSpec)
