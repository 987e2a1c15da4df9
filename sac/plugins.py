"""The pluggy host: load plugins, build registries, and say who registered what.

The default plugins in :mod:`sac.defaults` are registered first, by module; every
other plugin, first-party or not, comes through the ``sac`` entry-point group. Nothing
is loaded at import time: :func:`get_plugins` builds the manager on first use, and each
registry is built the first time it is asked for.

Environment:

- ``SAC_PLUGINS``: comma-separated entry-point or distribution names to load (unset:
  all; empty: none besides the defaults).
- ``SAC_TRACE_HOOKS=1``: print every hook call and what it registered to stderr.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import pluggy

import sac
from sac.errors import NotFound, PluginError
from sac_hookspecs import CredentialStore, Placement, Provider, Runtime, Transport, hookspecs

if TYPE_CHECKING:
    import msgspec

    from sac_hookspecs.spec import AgentSpec

ENTRY_POINT_GROUP = "sac"
DEFAULT_PLUGINS = (
    "sac.defaults.runtime_local",
    "sac.defaults.providers",
    "sac.defaults.credentials",
    "sac.defaults.placement_local",
)

T = TypeVar("T")


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)  # a runtime, provider, transport or credential store


@dataclass
class PluginInfo:
    """One plugin as ``sac plugins list`` shows it."""

    name: str
    module: str
    distribution: str
    version: str
    default: bool = False
    error: str | None = None
    hooks: list[str] = field(default_factory=list)


class Registry(Generic[T]):
    """Objects of one kind by name, each remembering the plugin that registered it."""

    def __init__(self, kind: str, plugins: Plugins) -> None:
        self.kind = kind
        self._plugins = plugins
        self._items: dict[str, T] = {}
        self._owners: dict[str, str] = {}
        self._primary: list[str] = []

    def add(self, name: str, obj: T, owner: str, *, alias: bool = False) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {owner!r} registered a {self.kind} without a name: {obj!r}")
        if name in self._items:
            first, second = self._plugins.describe(self._owners[name]), self._plugins.describe(owner)
            raise PluginError(
                f"{self.kind} {name!r} is registered by two plugins: {first} and {second}",
                hint="uninstall one of them, or choose which load with SAC_PLUGINS=name,...",
            )
        self._items[name] = obj
        self._owners[name] = owner
        if not alias:
            self._primary.append(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._primary)

    def __len__(self) -> int:
        return len(self._primary)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self._primary) or "none"
            raise NotFound(
                f"unknown {self.kind} {name!r} (installed: {known})",
                hint="`sac plugins list` shows every plugin and what it registered",
            ) from None

    def owner(self, name: str) -> str:
        return self._owners[name]

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self._primary]


class Plugins:
    """A plugin manager with its registries. Build one with :func:`get_plugins`, or
    directly in tests (``Plugins(entry_points=False)`` loads the defaults only)."""

    def __init__(self, *, entry_points: bool = True, only: str | None = None) -> None:
        self.pm = pluggy.PluginManager("sac")
        self.pm.add_hookspecs(hookspecs)
        self.infos: dict[str, PluginInfo] = {}
        self.warnings: list[str] = []
        self._trace = bool(os.environ.get("SAC_TRACE_HOOKS"))
        for module_name in DEFAULT_PLUGINS:
            short = module_name.rsplit(".", 1)[-1]
            self.add(importlib.import_module(module_name), short, "sac", sac.__version__, default=True)
        if entry_points:
            self._load_entry_points(os.environ.get("SAC_PLUGINS") if only is None else only)

    # -- loading ----------------------------------------------------------------------

    def add(self, plugin: Any, name: str, distribution: str, version: str, *, default: bool = False) -> None:
        """Register a plugin object (a module, usually). A plugin whose hooks do not
        match the hook specifications is skipped with a warning."""
        module = getattr(plugin, "__name__", type(plugin).__name__)
        info = PluginInfo(name, module, distribution, version, default)
        try:
            self.pm.register(plugin, name=name)
            self.pm.check_pending()
        except (pluggy.PluginValidationError, ValueError) as e:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            self._failed(info, f"{type(e).__name__}: {e}")
            return
        info.hooks = sorted(h.name for h in self.pm.get_hookcallers(plugin) or ())
        self.infos[name] = info

    def _load_entry_points(self, only: str | None) -> None:
        from importlib.metadata import entry_points

        wanted = None if only is None else {w.strip() for w in only.split(",") if w.strip()}
        named: set[str] = set()  # what SAC_PLUGINS named that is installed
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else "?"
            version = ep.dist.version if ep.dist else "?"
            if wanted is not None and ep.name not in wanted and dist not in wanted:
                continue
            named |= {ep.name, dist}
            if ep.name in self.infos:
                self.warnings.append(
                    f"plugin {ep.name!r} from {dist} {version} skipped: the name is taken by {self.describe(ep.name)}"
                )
                continue
            try:
                plugin = ep.load()
            except Exception as e:  # a broken third-party plugin must not break sac
                self._failed(PluginInfo(ep.name, ep.value, dist, version), f"{type(e).__name__}: {e}")
                continue
            self.add(plugin, ep.name, dist, version)
        for missing in sorted((wanted or set()) - named):  # a typo must not silently load nothing
            installed = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
            self.warnings.append(
                f"SAC_PLUGINS names {missing!r}, but no installed plugin (entry point or distribution) "
                f"has that name; installed: {', '.join(installed) or 'none'}"
            )

    def _failed(self, info: PluginInfo, error: str) -> None:
        info.error = error
        self.infos[info.name] = info
        self.warnings.append(
            f"plugin {info.name!r} from {info.distribution} {info.version} failed to load ({error}); skipped"
        )

    def describe(self, plugin_name: str) -> str:
        info = self.infos.get(plugin_name)
        return f"{plugin_name!r} ({info.distribution} {info.version})" if info else repr(plugin_name)

    # -- calling registration hooks ---------------------------------------------------

    def call_each(self, hook_name: str, make_kwargs: Callable[[str], dict[str, Any]]) -> None:
        """Call every implementation of ``hook_name``, with kwargs made for its plugin.

        Registration hooks are called one plugin at a time (``HookCaller.get_hookimpls``
        is pluggy's public API) so that each registration is attributed to its plugin.
        """
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if self._trace:
                print(f"sac: hook {hook_name} -> plugin {impl.plugin_name!r}", file=sys.stderr)
            impl.function(**make_kwargs(impl.plugin_name))

    def _registry(self, hook_name: str, kind: str, base: type[N]) -> Registry[N]:
        registry: Registry[N] = Registry(kind, self)

        def make_kwargs(owner: str) -> dict[str, Any]:
            def register(obj: N) -> None:
                if not isinstance(obj, base):
                    raise PluginError(
                        f"plugin {self.describe(owner)} registered {obj!r} as a {kind}, "
                        f"but it is not a sac_hookspecs.{base.__name__}"
                    )
                registry.add(obj.name, obj, owner)
                for alias in getattr(obj, "aliases", ()):
                    registry.add(alias, obj, owner, alias=True)
                if self._trace:
                    print(f"sac:   {owner} registered {kind} {obj.name!r}", file=sys.stderr)

            return {"register": register}

        self.call_each(hook_name, make_kwargs)
        return registry

    @cached_property
    def runtimes(self) -> Registry[Runtime]:
        return self._registry("sac_register_runtimes", "runtime", Runtime)

    @cached_property
    def providers(self) -> Registry[Provider]:
        return self._registry("sac_register_providers", "provider", Provider)

    @cached_property
    def transports(self) -> Registry[Transport]:
        return self._registry("sac_register_transports", "transport", Transport)

    @cached_property
    def credential_stores(self) -> Registry[CredentialStore]:
        return self._registry("sac_register_credential_stores", "credential store", CredentialStore)

    @cached_property
    def placements(self) -> Registry[Placement]:
        return self._registry("sac_register_placements", "placement", Placement)

    @cached_property
    def spec_sections(self) -> Registry[type[msgspec.Struct]]:
        import msgspec

        from sac.spec.schema import CORE_FIELDS

        registry: Registry[type[msgspec.Struct]] = Registry("spec section", self)

        def make_kwargs(owner: str) -> dict[str, Any]:
            def register(name: str, struct: type) -> None:
                if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
                    raise PluginError(
                        f"plugin {self.describe(owner)} registered spec.{name} with {struct!r}, not a msgspec.Struct type"
                    )
                if name in CORE_FIELDS or name == "placement":
                    raise PluginError(
                        f"plugin {self.describe(owner)} registered spec.{name}, a core field of spec.yaml"
                    )
                registry.add(name, struct, owner)

            return {"register": register}

        self.call_each("sac_register_spec_sections", make_kwargs)
        return registry

    @cached_property
    def spec_type(self) -> type[AgentSpec]:
        """The full spec.yaml type: core fields plus every plugin section."""
        from sac.spec.schema import spec_type

        settings = {name: p.settings for name, p in self.placements.items() if p.settings is not None}
        return spec_type(dict(self.spec_sections.items()), settings)

    def add_commands(self, cli: Any) -> None:
        """Let plugins add CLI commands; a plugin command never replaces a built-in one."""
        import click

        builtin = set(cli.commands) | set(getattr(cli, "lazy_commands", ()))
        staged: list[tuple[str, Any]] = []

        def make_kwargs(owner: str) -> dict[str, Any]:
            staged.append((owner, click.Group(name=owner)))
            return {"cli": staged[-1][1]}

        self.call_each("sac_register_commands", make_kwargs)
        for owner, staging in staged:
            for name, cmd in staging.commands.items():
                if name in builtin or name in cli.commands:
                    self.warnings.append(f"plugin {self.describe(owner)} command {name!r} ignored: the name is taken")
                else:
                    cli.add_command(cmd, name)

    def registered_by(self) -> dict[str, dict[str, list[str]]]:
        """For each plugin name, the names it registered, by kind."""
        out: dict[str, dict[str, list[str]]] = {name: {} for name in self.infos}
        registries: dict[str, Registry[Any]] = {
            "runtimes": self.runtimes,
            "providers": self.providers,
            "transports": self.transports,
            "credential_stores": self.credential_stores,
            "spec_sections": self.spec_sections,
            "placements": self.placements,
        }
        for kind, registry in registries.items():
            for name in registry:
                out[registry.owner(name)].setdefault(kind, []).append(name)
        return out


@functools.cache
def get_plugins() -> Plugins:
    """The process-wide plugin manager, built on first use."""
    return Plugins()
