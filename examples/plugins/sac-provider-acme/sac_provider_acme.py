"""A provider for the ACME gateway: Anthropic-compatible, bearer tokens, its own models.

    spec:
      claude:
        model: sonnet                 # mapped to acme-large (haiku -> acme-small)
        provider: acme                # or {name: acme, base_url: https://acme.internal}

The key comes from $ACME_TOKEN, or from an account (`sac accounts save`); sac resolves it
and hands it over in ``ctx.secret``. Never print it: name ``ctx.secret_source``.
"""

from __future__ import annotations

from sac_hookspecs import CheckResult, Provider, hookimpl

MODELS = {"opus": "acme-large", "sonnet": "acme-large", "haiku": "acme-small"}


class Acme(Provider):
    name = "acme"
    description = "the ACME model gateway (example plugin)"
    key_env = "ACME_TOKEN"
    base_url = "https://gateway.acme.example/anthropic"

    def check(self, agent, ctx):
        if ctx.secret:
            return [CheckResult(name="credentials", ok=True, detail=ctx.secret_source)]
        return [
            CheckResult(
                name="credentials",
                ok=False,
                detail=f"no key: {ctx.secret_source}",
                fix="export ACME_TOKEN=<your token>",
            )
        ]

    def environment(self, agent, ctx):
        model = agent.spec.claude.model.removesuffix("[1m]")
        return {
            "ANTHROPIC_BASE_URL": ctx.options.base_url or self.base_url,
            "ANTHROPIC_AUTH_TOKEN": ctx.secret or "",  # sent as "Authorization: Bearer ..."
            "ANTHROPIC_MODEL": ctx.options.model or MODELS.get(model, model),
            "ANTHROPIC_DEFAULT_HAIKU_MODEL": MODELS["haiku"],
        }


@hookimpl
def sac_register_providers(register):
    register(Acme())
