"""sac's plugin contract: hook specifications, the objects plugins register, the spec schema.

A third-party plugin depends on this package only (pluggy + msgspec)::

    from sac_hookspecs import hookimpl, Runtime

    class Podman(Runtime):
        name = "podman"

    @hookimpl
    def sac_register_runtimes(register):
        register(Podman())
"""

from .hookspecs import hookimpl, hookspec
from .types import Agent, AgentPort, CheckResult, CredentialStore, Instance, Isolation, Launch, Provider, ProviderContext, Runtime, Serving, Transport

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentPort",
    "CheckResult",
    "CredentialStore",
    "Instance",
    "Isolation",
    "Launch",
    "Provider",
    "ProviderContext",
    "Runtime",
    "Serving",
    "Transport",
    "hookimpl",
    "hookspec",
]
