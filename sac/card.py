"""An agent's card as the control plane shows it: the card a transport serves for it (A2A),
else one made from its spec and state. Never a secret: names, skills, isolation, URLs."""

from __future__ import annotations

from typing import Any

from sac.state import AgentDir


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

    st = AgentDir(name).read_state()
    description, skills = "", []
    try:
        import yaml

        doc = yaml.safe_load(resolve(name, load_settings())[1].read_text()) or {}
        meta = doc.get("metadata") or {}
        description = meta.get("description") or ""
        caps = (meta.get("labels") or {}).get("capabilities") or []
        skills = [{"id": c, "name": c} for c in ([caps] if isinstance(caps, str) else caps)]
    except (SacError, OSError, ValueError, AttributeError):
        pass
    return {
        "name": name,
        "description": description or f"sac agent {name}",
        "skills": skills,
        "urls": dict(st.urls) if st is not None and AgentDir(name).runner_alive(st) else {},
        "isolation": {"level": st.isolation if st else None, "runtime": st.runtime if st else None,
                      "relaxed": list(st.instance.relaxed) if st and st.instance else []},
    }  # fmt: skip
