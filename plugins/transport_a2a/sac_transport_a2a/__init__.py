"""The ``a2a`` transport: each agent with ``spec.a2a.port`` answers the A2A protocol.

Only the spec section and the preflight live here; the server (a2a-sdk, granian) is
imported by the runner when an agent with a port starts, never by ``sac --help``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated, Literal

import msgspec

from sac_hookspecs import Agent, AgentPort, CheckResult, Serving, Transport, hookimpl

Port = Annotated[int, msgspec.Meta(ge=1, le=65535, extra={"allowed": "a TCP port 1-65535"})]


TOKEN_FILE = "a2a.token"  # in the agent's runtime dir (0700; never bind-mounted into its container)


class A2ASpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """``spec.a2a``: where the agent's A2A endpoint and ``POST /v1/turn`` listen.

    Every caller needs a bearer token unless ``auth: none`` (loopback only): the token is the
    value of ``auth_token_env`` if set, else one sac generates for the agent and keeps in
    ``runtime/<name>/a2a.token`` (0600, the same across restarts). On a shared host any
    local user can reach a loopback port, so the token is what keeps them out."""

    #: None (the default): loopback, or, on a node a placement runs the agent on (Slurm), that
    #: node's address, so the submitting host reaches it. An address given here is kept as is:
    #: an explicit 127.0.0.1 stays loopback on a node too.
    host: str | None = None
    port: Port | Literal["auto"] | None = None  # auto: a free port, recorded in state
    auth: Literal["token", "none"] = "token"  # none: anyone on this host may drive the agent
    auth_token_env: str | None = None  # the token callers must send (else a generated one)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class A2ATransport(Transport):
    name = "a2a"
    description = "A2A protocol 1.0 (JSON-RPC) and POST /v1/turn on spec.a2a.port"

    def check(self, agent: Agent) -> list[CheckResult]:
        cfg = agent.spec.section("a2a", A2ASpec)
        if cfg is None or cfg.port is None:
            return []
        rows = []
        if cfg.host is not None and cfg.host != "localhost" and not _is_ip(cfg.host):
            rows.append(
                CheckResult(
                    name="a2a host",
                    ok=False,
                    detail=f"{cfg.host!r} is not an IP address",
                    fix="set spec.a2a.host to an address, e.g. 127.0.0.1",
                )
            )
            return rows
        if cfg.auth == "none":
            if cfg.auth_token_env:
                rows.append(
                    CheckResult(
                        name="a2a auth",
                        ok=False,
                        detail="auth: none, yet auth_token_env is set",
                        fix="remove one of spec.a2a.auth and spec.a2a.auth_token_env",
                    )
                )
            elif cfg.host is not None and not _is_loopback(cfg.host):
                rows.append(
                    CheckResult(
                        name="a2a exposure",
                        ok=False,
                        detail=f"{cfg.host} is not loopback and spec.a2a.auth is none",
                        fix="remove `auth: none` (a token is then required), or bind 127.0.0.1",
                    )
                )
            else:
                rows.append(
                    CheckResult(
                        name="a2a auth",
                        ok=True,
                        warn=True,
                        detail="no token (auth: none): every user of this host can drive this agent",
                        fix="remove `auth: none` unless this host has a single user",
                    )
                )
        if cfg.auth_token_env and not os.environ.get(cfg.auth_token_env):
            rows.append(
                CheckResult(
                    name="a2a token",
                    ok=False,
                    detail=f"${cfg.auth_token_env} is not set",
                    fix=f"export {cfg.auth_token_env}=<a token callers will send>",
                )
            )
        host = "127.0.0.1" if cfg.host in (None, "localhost") else cfg.host
        if cfg.port != "auto":
            rows.append(_port_free(host, cfg.port))
        else:  # an address that is not this host's fails at start ("Cannot assign requested address")
            free = _port_free(host, 0)
            if not free.ok:
                rows.append(
                    CheckResult(
                        name="a2a host",
                        ok=False,
                        detail=f"{host} is not an address of this host",
                        fix="set spec.a2a.host to one of this host's addresses, e.g. 127.0.0.1",
                    )
                )
        return rows

    async def serve(self, agent: Agent, port: AgentPort) -> Serving | None:
        cfg = agent.spec.section("a2a", A2ASpec)
        if cfg is None or cfg.port is None:
            return None
        from .server import serve
        from .token import agent_token

        if cfg.host is None:  # loopback here; placed on a node (Slurm): where the submitting host reaches it
            host = port.address
        else:
            host = "127.0.0.1" if cfg.host == "localhost" else cfg.host  # servers bind addresses (D18)
        if not _is_ip(host):
            raise RuntimeError(f"spec.a2a.host {cfg.host!r} is not an IP address")

        # Enforced here, not only in the preflight: `start --foreground` and the API come here too.
        if cfg.auth == "none" and cfg.auth_token_env:
            raise RuntimeError("spec.a2a: auth: none, yet auth_token_env is set; remove one")
        if cfg.auth == "none" and not _is_loopback(host):
            raise RuntimeError(f"spec.a2a.host {host} is not loopback: `auth: none` is allowed on loopback only")
        token_file = None
        token = None
        if cfg.auth == "token":
            if cfg.auth_token_env:
                token = os.environ.get(cfg.auth_token_env)
                if not token:
                    raise RuntimeError(f"spec.a2a.auth_token_env: ${cfg.auth_token_env} is not set")
            path = agent.runtime_dir / TOKEN_FILE
            token = agent_token(path, token)
            token_file = str(path)
        serving = await serve(port, host, None if cfg.port == "auto" else cfg.port, token)
        serving.token_file = token_file
        return serving

    def card(self, url: str) -> dict | None:
        """The agent card from the runner's own A2A server (loopback, no redirects)."""
        import json
        import urllib.request

        if not url.startswith(("http://127.0.0.1:", "http://[::1]:", "http://localhost:")):
            return None

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        try:
            with urllib.request.build_opener(NoRedirect).open(
                url.rstrip("/") + "/.well-known/agent-card.json", timeout=5
            ) as r:
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def speaks(self, url: str) -> bool:
        return url.startswith(("http://", "https://"))

    def post_turn(self, url: str, text: str, timeout: float | None, token: str | None = None) -> str:
        from .server import post_turn

        return post_turn(url, text, timeout, token or os.environ.get("SAC_A2A_TOKEN"))


def _port_free(host: str, port: int) -> CheckResult:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            return CheckResult(
                name="a2a port",
                ok=False,
                detail=f"{host}:{port} is not free ({e.strerror})",
                fix="choose another spec.a2a.port, or `auto`",
            )
    return CheckResult(name="a2a port", ok=True, detail=f"{host}:{port} is free")


@hookimpl
def sac_register_transports(register):
    register(A2ATransport())


@hookimpl
def sac_register_spec_sections(register):
    register("a2a", A2ASpec)
