"""An agent from a reference: find its spec.yaml, validate it completely, resolve names.

Structural problems come from the schema (:mod:`sac.spec.load`); the checks here add
what only the installed plugins know (runtime and provider names) and rules a type
cannot say (mount syntax, what each MCP server type needs). All are reported together.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sac.config import Settings
from sac.errors import SacError
from sac.lookup import resolve
from sac.paths import runtime_dir
from sac.plugins import Plugins
from sac.spec.load import Check, load_file
from sac_hookspecs import Agent, Runtime
from sac_hookspecs.spec import ProviderConfig, Spec
from sac_hookspecs.toolkit import layout
from sac_hookspecs.toolkit.mounts import parse_mount

Found = Iterable[tuple[tuple[Any, ...], str]]


def provider_name(spec: Spec, settings: Settings, plugins: Plugins) -> str:
    """The provider a spec names; an inline ``{base_url: ...}`` goes to the provider that
    declares ``inline = True``."""
    p = spec.claude.provider
    if p is None:
        return settings.default_provider
    if isinstance(p, ProviderConfig):
        if p.name:
            return p.name
        inline = [name for name, prov in plugins.providers.items() if prov.inline]
        return inline[0] if inline else "(a provider for inline base_url; none is installed)"
    return p


def spec_checks(plugins: Plugins, settings: Settings) -> list[Check]:
    def names(kind: str, registry: Any) -> str:
        return f"installed {kind}s: {', '.join(registry) or 'none'}; see `sac plugins list`"

    def runtime(doc: Any) -> Found:
        name = doc.spec.runtime
        if name is not None and name not in plugins.runtimes:
            yield ("spec", "runtime"), f"unknown runtime {name!r} ({names('runtime', plugins.runtimes)})"

    def provider(doc: Any) -> Found:
        p = doc.spec.claude.provider
        if isinstance(p, ProviderConfig) and p.name is None and p.base_url is None:
            yield ("spec", "claude", "provider"), "needs `name` (a registered provider) or `base_url` (a gateway)"
            return
        name = provider_name(doc.spec, settings, plugins)
        if p is not None and name not in plugins.providers:
            yield ("spec", "claude", "provider"), f"unknown provider {name!r} ({names('provider', plugins.providers)})"

    def mounts(doc: Any) -> Found:
        for i, entry in enumerate(doc.spec.mounts):
            try:
                target = parse_mount(entry).target
            except ValueError as e:
                yield ("spec", "mounts", i), str(e)
                continue
            assert target is not None  # parse_mount fills it in (the source when not given)
            # where every runtime puts the workdir, the agent's HOME and the claude CLI
            if target in layout.RESERVED or target.startswith(f"{layout.SAC_DIR}/"):
                yield ("spec", "mounts", i), f"target {target} is where sac mounts its own (use a path below it)"

    def mcp(doc: Any) -> Found:
        for name, server in doc.spec.mcp_servers.items():
            if server.type == "stdio" and not server.command:
                yield ("spec", "mcp_servers", name), "a stdio server needs `command`"
            if server.type != "stdio" and not server.url:
                yield ("spec", "mcp_servers", name), f"an {server.type} server needs `url`"

    def flags(doc: Any) -> Found:
        for i, flag in enumerate(doc.spec.claude.flags):
            if not flag.startswith("--") or len(flag) < 3 or flag[2] in "= ":
                yield (
                    ("spec", "claude", "flags", i),
                    f"{flag!r} is not a flag (write --name, --name=value or --name value)",
                )

    return [runtime, provider, mounts, mcp, flags]


def load_agent(ref: str, plugins: Plugins, settings: Settings) -> Agent:
    """The agent ``ref`` names (name, folder or spec file), fully validated.

    Raises NotFound, UsageError (bad name) or SpecError (every problem of the file).
    """
    name, path = resolve(ref, settings)
    what = " (expected an agent spec: apiVersion, kind, spec)"
    document = load_file(path, plugins.spec_type, spec_checks(plugins, settings), what=what)
    return Agent(name=name, document=document, spec_path=path, runtime_dir=runtime_dir(name))


def can_start(rt: Runtime) -> bool:
    """Whether a runtime implements the lifecycle (a plugin may only declare itself)."""
    return type(rt).start is not Runtime.start


def choose_runtime(agent: Agent, plugins: Plugins, settings: Settings, override: str | None = None) -> Runtime:
    """``override`` (``--runtime``: this run, whatever the spec says), else the spec's runtime,
    else the configured default, else the best available here."""
    return pick_runtime(override or agent.spec.runtime or settings.default_runtime, plugins)


def override_note(agent: Agent, override: str | None) -> str | None:
    """What to tell the user when ``--runtime`` overrides the runtime the spec names."""
    if override and agent.spec.runtime and override != agent.spec.runtime:
        return f"--runtime {override} overrides spec.runtime {agent.spec.runtime} for this run"
    return None


def pick_runtime(name: str | None, plugins: Plugins) -> Runtime:
    """The runtime ``name``, or (None) the available one with the highest priority."""
    if name:
        return plugins.runtimes.get(name)
    ranked = sorted((rt for _, rt in plugins.runtimes.items()), key=lambda rt: -rt.priority)
    reasons = []
    for rt in ranked:
        why = rt.available() if can_start(rt) else "it cannot start agents yet"
        if why is None:
            return rt
        reasons.append(f"{rt.name}: {why}")
    raise SacError("no runtime is available on this host:\n  " + "\n  ".join(reasons))
