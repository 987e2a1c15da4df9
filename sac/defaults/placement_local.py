"""The ``local`` placement: the runner runs on the host that starts it, as a detached process.

It places nothing itself: :mod:`sac.lifecycle` spawns (or forks) local runners directly,
which is what every start did before placements existed. It is registered so that ``--on
local`` is a placement like any other (``sac plugins list`` shows it)."""

from __future__ import annotations

from sac.placing import LOCAL
from sac_hookspecs import Placement, hookimpl


class LocalPlacement(Placement):
    name = LOCAL
    description = "a detached runner process on this host"


@hookimpl
def sac_register_placements(register):
    register(LocalPlacement())
