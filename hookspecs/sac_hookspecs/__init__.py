"""sac's plugin contract: hook specifications, the objects plugins register, the spec schema.

A third-party plugin depends on this package only (pluggy + msgspec); what it may use of
sac beyond hooks and types is in :mod:`sac_hookspecs.toolkit`, and its errors for people are
:class:`SacError` (message and hint, printed by the CLI like sac's own)::

    from sac_hookspecs import hookimpl, Runtime

    class Podman(Runtime):
        name = "podman"

    @hookimpl
    def sac_register_runtimes(register):
        register(Podman())
"""

from typing import TYPE_CHECKING, Any

from .errors import SacError

__version__ = "0.3.0"  # hookspecs/CHANGELOG.md says what changed for plugin authors

if TYPE_CHECKING:
    from .hookspecs import hookimpl, hookspec
    from .turn import Reason, TurnResult, Usage
    from .types import (
        Agent,
        AgentPort,
        CheckResult,
        CredentialStore,
        Here,
        Images,
        ImageVersion,
        Instance,
        Isolation,
        Job,
        Launch,
        Placement,
        Provider,
        ProviderContext,
        Runtime,
        Serving,
        Transport,
    )

#: Names imported on first use, and their modules: the types bring msgspec, the markers pluggy,
#: and a module that needs only the toolkit or SacError (``sac --help`` reads SAC_HOME) neither;
#: reading an agent's state (``sac agents status``) needs the types but not pluggy.
_LAZY = {
    **dict.fromkeys(
        (
            "Agent",
            "AgentPort",
            "CheckResult",
            "CredentialStore",
            "Here",
            "Images",
            "ImageVersion",
            "Instance",
            "Isolation",
            "Job",
            "Launch",
            "Placement",
            "Provider",
            "ProviderContext",
            "Runtime",
            "Serving",
            "Transport",
        ),
        "types",
    ),
    **dict.fromkeys(("Reason", "TurnResult", "Usage"), "turn"),
    "hookimpl": "hookspecs",
    "hookspec": "hookspecs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'sac_hookspecs' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # once: later lookups are plain attributes
    return value


__all__ = [
    "Agent",
    "AgentPort",
    "CheckResult",
    "CredentialStore",
    "Here",
    "Images",
    "ImageVersion",
    "Instance",
    "Isolation",
    "Job",
    "Launch",
    "Placement",
    "Provider",
    "ProviderContext",
    "Reason",
    "Runtime",
    "SacError",
    "Serving",
    "Transport",
    "TurnResult",
    "Usage",
    "hookimpl",
    "hookspec",
]
