"""The ``a2a`` transport: each agent with ``spec.a2a.port`` answers the A2A protocol.

Only the spec section and the preflight live here; the server (a2a-sdk, granian) is
imported by the runner when an agent with a port starts, never by ``sac --help``.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from typing import Annotated, Literal, Union

import msgspec
from sac_hookspecs import Agent, AgentPort, CheckResult, Serving, Transport, hookimpl

Port = Annotated[int, msgspec.Meta(ge=1, le=65535, extra={"allowed": "a TCP port 1-65535"})]


class A2ASpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """``spec.a2a``: where the agent's A2A endpoint and ``POST /v1/turn`` listen."""

    host: str = "127.0.0.1"
    port: Union[Port, Literal["auto"], None] = None  # auto: a free port, recorded in state
    auth_token_env: str | None = None  # require this bearer token (read from the variable)


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
        cfg = agent.spec.section("a2a")
        if cfg is None or cfg.port is None:
            return []
        rows = []
        if not _is_loopback(cfg.host) and not cfg.auth_token_env:
            rows.append(
                CheckResult(
                    name="a2a exposure",
                    ok=False,
                    detail=f"{cfg.host} is not loopback and no auth_token_env is set",
                    fix="set spec.a2a.auth_token_env, or bind 127.0.0.1",
                )
            )
        if cfg.auth_token_env and not os.environ.get(cfg.auth_token_env):
            rows.append(CheckResult(name="a2a token", ok=False, detail=f"${cfg.auth_token_env} is not set",
                                    fix=f"export {cfg.auth_token_env}=<a token callers will send>"))  # fmt: skip
        if cfg.port != "auto":
            rows.append(_port_free(cfg.host, cfg.port))
        return rows

    async def serve(self, agent: Agent, port: AgentPort) -> Serving | None:
        cfg = agent.spec.section("a2a")
        if cfg is None or cfg.port is None:
            return None
        from .server import serve

        token = os.environ.get(cfg.auth_token_env) if cfg.auth_token_env else None
        if cfg.auth_token_env and not token:
            raise RuntimeError(f"spec.a2a.auth_token_env: ${cfg.auth_token_env} is not set")
        if not token and not _is_loopback(cfg.host):  # enforced here, not only in the preflight
            raise RuntimeError(f"spec.a2a.host {cfg.host} is not loopback: set spec.a2a.auth_token_env")
        return await serve(port, cfg.host, None if cfg.port == "auto" else cfg.port, token)

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
            with urllib.request.build_opener(NoRedirect).open(url.rstrip("/") + "/.well-known/agent-card.json",
                                                               timeout=5) as r:  # fmt: skip
                return json.loads(r.read())
        except (OSError, ValueError):
            return None

    def post_turn(self, url: str, text: str, timeout: float | None) -> str:
        from .server import post_turn

        return post_turn(url, text, timeout, os.environ.get("SAC_A2A_TOKEN"))


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
