"""Throwaway third-party plugins: a module plus a dist-info with a ``sac`` entry point,
placed in a directory that goes on sys.path (in process) or PYTHONPATH (subprocess).
importlib.metadata finds it exactly as it finds a pip-installed distribution."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_plugin(
    root: Path, dist: str, module: str, source: str, *, entry_point: str | None = None, version: str = "1.0"
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[sac]\n{entry_point or module} = {module}\n")
    return root


PODMAN = """\
    from sac_hookspecs import CheckResult, Instance, Runtime, hookimpl

    class Podman(Runtime):
        name = "podman"
        description = "a third-party runtime"
        priority = 99

        def check(self, agent):
            return [CheckResult(name="podman", ok=True, detail=f"ready for {agent.name}")]

        def start(self, agent, launch):  # a stand-in: runs the CLI on the host
            return Instance(runtime="podman", id="", cli=launch.claude_cli, home=launch.home,
                            workdir=launch.workdir, env={"HOME": launch.home})

        def command(self, agent, instance, args, env_names):
            return [instance.cli, *args]

    @hookimpl
    def sac_register_runtimes(register):
        register(Podman())
"""
