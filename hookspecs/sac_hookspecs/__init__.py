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
from .types import (
    Agent,
    AgentPort,
    CheckResult,
    CredentialStore,
    Images,
    ImageVersion,
    Instance,
    Isolation,
    Launch,
    Provider,
    ProviderContext,
    Runtime,
    Serving,
    Transport,
)

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .hookspecs import hookimpl, hookspec


def __getattr__(name: str) -> Any:
    # pluggy is imported with the markers, not with the types: reading an agent's state
    # (`sac agents status`) needs the types only.
    if name in ("hookimpl", "hookspec"):
        from . import hookspecs

        return getattr(hookspecs, name)
    raise AttributeError(f"module 'sac_hookspecs' has no attribute {name!r}")


__all__ = [
    "Agent",
    "AgentPort",
    "CheckResult",
    "CredentialStore",
    "Images",
    "ImageVersion",
    "Instance",
    "Isolation",
    "Launch",
    "Provider",
    "ProviderContext",
    "Runtime",
    "SacError",
    "Serving",
    "Transport",
    "hookimpl",
    "hookspec",
]
