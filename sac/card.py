"""An agent's card as the control plane shows it: its A2A card when the agent serves one,
else a card made from its spec and state. Never a secret: names, skills, isolation."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from sac.state import AgentDir


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def agent_card(name: str) -> dict[str, Any]:
    st = AgentDir(name).read_state()
    url = st.a2a_url if st is not None else None
    if url and url.startswith("http://127.0.0.1:") and AgentDir(name).runner_alive(st):
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(url.rstrip("/") + "/.well-known/agent-card.json", timeout=5) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            pass  # fall back to the card made from the files
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
        "supportedInterfaces": [{"url": st.a2a_url, "protocolBinding": "JSONRPC", "protocolVersion": "1.0"}]
        if st is not None and st.a2a_url else [],
        "isolation": {"level": st.isolation if st else None, "runtime": st.runtime if st else None,
                      "relaxed": list(st.instance.relaxed) if st and st.instance else []},
    }  # fmt: skip
