"""Where a turn for an agent goes: the local control plane, a registered remote host's, or
an A2A URL; and the registry of remote hosts (``sac host add-peer``)."""

from __future__ import annotations

import json
from pathlib import Path

from sac.errors import NotFound, SacError, UsageError
from sac.names import check_name
from sac.paths import sac_home
from sac_hookspecs.toolkit.files import private_dirs, write_atomic


def peers_dir() -> Path:
    return sac_home() / "peers"


def add_peer(name: str, url: str, token: str) -> Path:
    check_name(name, "peer name")
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"{url!r} is not an http(s) URL", hint="the peer's `sac listen` URL, e.g. http://host:7878")
    private_dirs(peers_dir())
    path = peers_dir() / f"{name}.json"
    write_atomic(path, json.dumps({"url": url.rstrip("/"), "token": token}).encode(), mode=0o600)
    return path


def get_peer(name: str) -> dict[str, str]:
    try:
        return json.loads((peers_dir() / f"{check_name(name, 'peer name')}.json").read_text())
    except FileNotFoundError:
        raise NotFound(f"no peer host {name!r}", hint="`sac host add-peer NAME URL` registers one") from None


def list_peers() -> list[dict[str, str]]:
    d = peers_dir()
    return (
        [{"name": p.stem, "url": json.loads(p.read_text())["url"]} for p in sorted(d.glob("*.json"))]
        if d.is_dir()
        else []
    )


def remove_peer(name: str) -> bool:
    try:
        (peers_dir() / f"{check_name(name, 'peer name')}.json").unlink()
        return True
    except FileNotFoundError:
        return False


def local_token(url: str) -> str | None:
    """The token of a local agent of this user serving ``url`` (its runner recorded the
    token file in its state), so ``sac peer post-turn URL TEXT`` needs no token from the user."""
    from sac.lifecycle import status
    from sac_hookspecs.toolkit.nofollow import PlantedLink, read_bytes

    root = sac_home() / "runtime"
    wanted = url.rstrip("/")
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            st = status(d.name)
        except SacError:
            continue
        for transport, served in st.urls.items():
            file = st.token_files.get(transport)
            if served.rstrip("/") == wanted and file:
                try:
                    data = read_bytes(Path(file).parent, Path(file).name)
                except (PlantedLink, OSError):
                    return None
                return data.decode().strip() if data else None
    return None


#: What :func:`target` answers for an agent reached through its own control endpoint.
CONTROL = "sac-control:"
#: What :func:`target` answers for ``NAME@HOST`` of an ssh host (``sac-ssh:HOST/NAME``).
SSH = "sac-ssh:"


def target(agent: str) -> tuple[str, str | None]:
    """(URL a turn for ``agent`` is posted to, bearer token): ``NAME`` goes through this
    host's ``sac listen`` (or, for an agent placed on another node, to its runner's control
    endpoint: ``sac-control:NAME``), ``NAME@PEER`` through a registered peer's, a URL is A2A
    (with the token of the local agent serving it, when there is one)."""
    if agent.startswith(("http://", "https://")):
        return agent, local_token(agent)
    name, _, peer = agent.partition("@")
    check_name(name)
    if peer:
        check_name(peer, "host name")
        if not (peers_dir() / f"{peer}.json").exists():
            from sac.hosts import load_hosts

            if peer in load_hosts():
                return f"{SSH}{peer}/{name}", None
        p = get_peer(peer)
        return f"{p['url']}/v1/agents/{name}/send", p["token"]
    from sac.config import load_settings
    from sac.controlplane import read_token, running
    from sac.lifecycle import known_agents
    from sac.lookup import discover

    if name not in known_agents(dict(discover(load_settings()))):  # a usage error, as everywhere (exit 2)
        raise NotFound(
            f"no agent {name!r} on this host: no spec on the search path and no runtime state",
            hint="`sac agents status` lists the agents sac knows; NAME@PEER posts to a peer's",
        )
    from sac.state import AgentDir

    st = AgentDir(name).read_state()
    if st is not None and st.placement not in (None, "local") and st.control_url:
        # a placed runner (Slurm): straight to it, as `sac agents send` does (its Unix socket on
        # its own node, else its TCP endpoint with its owner's token), never through a listen
        # whose loopback URL (listen.json, on the shared filesystem) is another host's
        return f"{CONTROL}{name}", None
    info = running()
    if info is None and st is not None and AgentDir(name).socket.exists():
        # no listen here, but the agent's own socket (its owner's, 0700): as `sac agents send`
        # does; how a turn from another host's agent arrives (over ssh, as this user)
        return f"{CONTROL}{name}", None
    if info is None:
        raise SacError(
            "sac listen is not running on this host", hint="start it (`sac listen`), or use `sac agents send`"
        )
    return f"{info['url']}/v1/agents/{name}/send", read_token()
