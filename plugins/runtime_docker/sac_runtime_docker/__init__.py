"""The ``docker`` runtime: one long-lived container per agent, hardened by default."""

from __future__ import annotations

import os
import shutil
from typing import Annotated

import msgspec

from sac_hookspecs import Agent, CheckResult, Instance, Launch, Runtime, hookimpl
from sac_hookspecs.toolkit.proc import probe

DEFAULT_IMAGE = "sac-base:latest"


class DockerSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """``spec.docker``."""

    image: str = DEFAULT_IMAGE  # built locally by `sac image build base --runtime docker`
    env: dict[str, str] = msgspec.field(default_factory=dict)
    network: str = "host"  # the scripted model and the A2A port live on the host's loopback
    gpus: str | None = None  # passed to --gpus, e.g. "all"
    user: str | None = None
    memory: str | None = None  # e.g. "4g"
    cpus: Annotated[float, msgspec.Meta(gt=0, extra={"allowed": "a number of CPUs > 0"})] | None = None
    relaxed: bool = False  # opt out of --cap-drop ALL, no-new-privileges and the pids limit
    raw_args: list[str] = msgspec.field(default_factory=list)  # verbatim, before the image


def _socket_reachable() -> str | None:
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if host.startswith("unix://") and not os.path.exists(host[len("unix://") :]):
        return f"no Docker daemon socket at {host[len('unix://') :]}"
    return None


class DockerRuntime(Runtime):
    name = "docker"
    description = "one Docker container per agent (needs a Docker Engine)"
    isolation = "hardened"
    priority = 20

    def available(self) -> str | None:
        if not shutil.which("docker"):
            return "docker is not on PATH"
        return _socket_reachable()

    def check(self, agent: Agent) -> list[CheckResult]:
        cfg = agent.spec.section("docker", DockerSpec) or DockerSpec()
        ok, out = probe(["docker", "version", "--format", "{{.Server.Version}}"])
        rows = [
            CheckResult(
                name="docker engine",
                ok=ok,
                detail=f"server {out}" if ok else out,
                fix="" if ok else "start the Docker daemon (dockerd), or use the apptainer or local runtime",
            )
        ]
        if ok:
            present, out = probe(["docker", "image", "inspect", "--format", "{{.Id}}", cfg.image])
            rows.append(
                CheckResult(
                    name="image",
                    ok=present,
                    detail=f"{cfg.image} {out[:19]}" if present else f"{cfg.image} is not present",
                    fix="" if present else "build it with `sac image build base --runtime docker`",
                )
            )
        return rows

    def _cfg(self, agent: Agent) -> DockerSpec:
        return agent.spec.section("docker", DockerSpec) or DockerSpec()

    def start(self, agent: Agent, launch: Launch) -> Instance:
        from . import engine

        cfg = self._cfg(agent)
        relaxed = list(engine.HARDENING) if cfg.relaxed else []
        relaxed += [f"{what} set" for what, given in (("raw_args", cfg.raw_args), ("user", cfg.user)) if given]
        return engine.start(agent.name, agent.runtime_dir, cfg, launch, relaxed)

    def command(self, agent: Agent, instance: Instance, args: list[str], env_names: list[str]) -> list[str]:
        from . import engine

        return engine.exec_argv(instance, args, env_names)

    def alive(self, agent: Agent, instance: Instance) -> bool:
        from . import engine

        return engine.running(instance)

    def stop(self, agent: Agent, instance: Instance, grace: float) -> None:
        from . import engine

        engine.remove(instance, 0)  # the CLI has been told to stop already; the container only sleeps

    def images(self):
        from .images import DockerImages

        return DockerImages()


@hookimpl
def sac_register_runtimes(register):
    register(DockerRuntime())


@hookimpl
def sac_register_spec_sections(register):
    register("docker", DockerSpec)
