"""An agent's card as the control plane shows it: the card a transport serves for it (A2A),
else one made from its spec and state. Never a secret: names, skills, isolation, URLs."""

from __future__ import annotations

from typing import Any

import msgspec

from sac.state import AgentDir
from sac_hookspecs.spec import Metadata


class CardDoc(msgspec.Struct, kw_only=True):
    """What a card reads of a spec: only metadata is checked, as it is all a card shows."""

    apiVersion: Any = None
    kind: Any = None
    metadata: Metadata = msgspec.field(default_factory=Metadata)
    spec: Any = None


def agent_card(name: str) -> dict[str, Any]:
    st = AgentDir(name).read_state()
    if st is not None and st.urls and AgentDir(name).runner_alive(st):
        from sac.plugins import get_plugins

        transports = get_plugins().transports
        for transport_name, url in st.urls.items():
            if transport_name in transports:
                card = transports.get(transport_name).card(url)
                if card:
                    return card
    return local_card(name)


def local_card(name: str) -> dict[str, Any]:
    from sac.config import load_settings
    from sac.errors import SacError
    from sac.lookup import resolve
    from sac.spec.load import load_file

    st = AgentDir(name).read_state()
    description, skills = "", []
    try:
        # sac's own loader: a broken, hostile or mistyped spec is a SpecError here, never a
        # 500 (raw yaml.safe_load met NULs, deep nesting and `capabilities: 5`; review D17)
        doc = load_file(resolve(name, load_settings())[1], CardDoc)
        description = doc.metadata.description or ""
        skills = [{"id": c, "name": c} for c in doc.metadata.capabilities]
    except (SacError, OSError):
        pass
    return {
        "name": name,
        "description": description or f"sac agent {name}",
        "skills": skills,
        "urls": dict(st.urls) if st is not None and AgentDir(name).runner_alive(st) else {},
        "isolation": {
            "level": st.isolation if st else None,
            "runtime": st.runtime if st else None,
            "relaxed": list(st.instance.relaxed) if st and st.instance else [],
        },
    }
