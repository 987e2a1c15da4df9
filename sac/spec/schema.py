"""The full spec type: the core Structs of sac_hookspecs plus the plugin sections."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import msgspec

from sac_hookspecs.spec import AgentSpec, Spec

CORE_FIELDS = frozenset(f.name for f in msgspec.structs.fields(Spec))


def spec_type(
    sections: Mapping[str, type[msgspec.Struct]], placements: Mapping[str, type[msgspec.Struct]] | None = None
) -> type[AgentSpec]:
    """``AgentSpec`` whose ``spec`` also accepts each ``spec.<name>`` section (absent: None),
    and ``spec.placement.<name>`` for each placement that takes settings."""
    return _spec_type(tuple(sorted(sections.items())), tuple(sorted((placements or {}).items())))


@lru_cache(maxsize=8)
def _spec_type(
    sections: tuple[tuple[str, type[msgspec.Struct]], ...],
    placements: tuple[tuple[str, type[msgspec.Struct]], ...] = (),
) -> type[AgentSpec]:
    if placements:
        placement = msgspec.defstruct(
            "Placement",
            [(name, settings | None, None) for name, settings in placements],
            module=__name__,
            forbid_unknown_fields=True,
            kw_only=True,
            omit_defaults=True,
        )
        sections = (*sections, ("placement", placement))
    if not sections:
        return AgentSpec
    spec = msgspec.defstruct(
        "Spec",
        [(name, section | None, None) for name, section in sections],
        bases=(Spec,),
        module=__name__,
        forbid_unknown_fields=True,
        kw_only=True,
        omit_defaults=True,
    )
    agent_spec = msgspec.defstruct(
        "AgentSpec",
        [("spec", spec, msgspec.field(default_factory=spec))],
        bases=(AgentSpec,),
        module=__name__,
        forbid_unknown_fields=True,
        kw_only=True,
        omit_defaults=True,
    )
    assert issubclass(agent_spec, AgentSpec)  # bases=(AgentSpec,); defstruct is typed type[Struct]
    return agent_spec


def json_schema(type_: type) -> dict:
    """The JSON Schema of a spec type, titled for editors' YAML completion."""
    schema = msgspec.json.schema(type_)
    schema["title"] = "sac agent spec (scitex-agent-container/v3)"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
