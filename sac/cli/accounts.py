"""``sac accounts ...``: stored credentials, the default account, usage per account.

A secret is never an argument (argv is visible to every user of the host): ``save``
reads it from a variable, standard input, or your Claude login file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import msgspec

from sac.cli import context
from sac.cli.output import echo_json, table
from sac.cli.root import builtin_group
from sac.errors import SacError, UsageError
from sac_hookspecs import Usage


@builtin_group("accounts")
def accounts() -> None:
    pass


def _store(name: str | None):
    settings = context.settings()
    return context.plugins().credential_stores.get(name or settings.credential_store), settings


@accounts.command("list")
@click.option(
    "--json", "as_json", is_flag=True, help="Print the accounts (names, stores, defaults; no secrets) as JSON."
)
def list_(as_json: bool) -> None:
    """Accounts in every credential store (names only), and which is the default.

    \b
    Examples:
      sac accounts list
      sac accounts list --json
    """
    plugins, settings = context.plugins(), context.settings()
    rows = []
    for store_name, store in plugins.credential_stores.items():
        try:
            keys = store.list()
        except NotImplementedError:  # a store written for contract 0.1 said "cannot list" so
            keys = []
        # one account may be the default of several providers: each of them is listed
        rows += [
            {
                "name": k,
                "store": store_name,
                "default_for": sorted(p for p, v in settings.default_accounts.items() if v == k),
            }
            for k in keys
        ]
    if as_json:
        echo_json(rows)
    elif rows:
        click.echo(
            table(
                ("ACCOUNT", "STORE", "DEFAULT FOR"),
                [(r["name"], r["store"], ", ".join(r["default_for"])) for r in rows],
            )
        )
    else:
        click.echo("no accounts: `sac accounts save NAME --from-env VAR` stores one", err=True)


@accounts.command("save")
@click.argument("name")
@click.option("--from-env", "var", metavar="VAR", help="Read the secret from this environment variable.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the secret from standard input.")
@click.option("--login", is_flag=True, help="Store your Claude login (~/.claude/.credentials.json).")
@click.option("--store", help="The credential store (default: the credential_store setting, `file`).")
@click.option("--json", "as_json", is_flag=True, help="Print what was saved (never the secret) as JSON.")
def save(name: str, var: str | None, from_stdin: bool, login: bool, store: str | None, as_json: bool) -> None:
    """Store a secret under NAME (0600, written atomically).

    \b
    Examples:
      sac accounts save work --from-env ANTHROPIC_API_KEY
      pass show deepseek | sac accounts save ds --stdin
      sac accounts save me --login
    """
    from sac.names import check_name

    check_name(name, "account name")
    if sum(map(bool, (var, from_stdin, login))) != 1:
        raise UsageError("give exactly one of --from-env VAR, --stdin or --login")
    if var:
        value = os.environ.get(var, "")
        where = f"${var}"
    elif from_stdin:
        value = sys.stdin.read().strip()
        where = "standard input"
    else:
        path = Path("~/.claude/.credentials.json").expanduser()
        if not path.is_file():
            raise SacError(f"no Claude login at {path}", hint="run `claude /login` first")
        value, where = path.read_text(), str(path)
    if not value.strip():
        raise UsageError(f"the secret from {where} is empty; nothing saved")
    s, _ = _store(store)
    if not s.writable:
        raise UsageError(f"the {s.name} store is read-only")
    s.put(name, value)
    if as_json:
        echo_json({"account": name, "store": s.name, "from": where})
    else:
        click.echo(f"saved account {name!r} in the {s.name} store (from {where})")


@accounts.command("delete")
@click.argument("name")
@click.option("--store", help="The credential store (default: the credential_store setting).")
@click.option("--json", "as_json", is_flag=True, help="Print what was deleted as JSON.")
def delete(name: str, store: str | None, as_json: bool) -> None:
    """Forget a stored account.

    \b
    Examples:
      sac accounts delete work
    """
    s, settings = _store(store)
    if not s.delete(name):
        raise UsageError(f"no account {name!r} in the {s.name} store", hint="`sac accounts list`")
    stale = {p: a for p, a in settings.default_accounts.items() if a != name}
    no_longer_default_for = sorted(set(settings.default_accounts) - set(stale))
    if no_longer_default_for:
        from sac.config import set_user_setting

        set_user_setting("default_accounts", stale or None)
    if as_json:
        echo_json({"account": name, "store": s.name, "no_longer_default_for": no_longer_default_for})
    else:
        click.echo(f"deleted account {name!r}")


@accounts.command("switch")
@click.argument("name")
@click.option("--provider", help="The provider it is for (default: the default_provider setting).")
@click.option("--json", "as_json", is_flag=True, help="Print the new default (and the config file it is in) as JSON.")
def switch(name: str, provider: str | None, as_json: bool) -> None:
    """Make NAME the default account of a provider (for agents whose spec names none).

    \b
    Examples:
      sac accounts switch work
      sac accounts switch ds --provider deepseek
    """
    from sac.config import set_user_setting
    from sac.credentials import account_ref

    plugins, settings = context.plugins(), context.settings()
    provider = plugins.providers.get(provider or settings.default_provider).name
    store_name, key = account_ref(name, settings)
    store = plugins.credential_stores.get(store_name)
    if store.get(key) is None:
        raise UsageError(f"no account {key!r} in the {store_name} store", hint="`sac accounts save` it first")
    was = settings.default_accounts.get(provider)
    path = set_user_setting("default_accounts", {**settings.default_accounts, provider: name})
    if as_json:
        echo_json({"provider": provider, "account": name, "was": was, "config": str(path)})
    else:
        click.echo(f"default account for {provider}: {name} (in {path})")


class AccountUsage(Usage, kw_only=True):
    """One row of `sac accounts status`: what the agents on an account used."""

    account: str | None
    agents: list[str] = msgspec.field(default_factory=list)
    turns: int = 0


@accounts.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the usage per account as JSON.")
def status(as_json: bool) -> None:
    """Usage per account and per agent: turns, tokens and cost the runners recorded.

    \b
    Examples:
      sac accounts status
      sac accounts status --json
    """
    from sac.paths import sac_home
    from sac.state import AgentDir

    per_account: dict[str, AccountUsage] = {}
    root = sac_home() / "runtime"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        st = AgentDir(d.name, d).read_state()
        if st is None:
            continue
        key = st.account or f"({st.provider or 'default'} key)"
        acc = per_account.setdefault(key, AccountUsage(account=st.account))
        acc.agents.append(st.name)
        acc.turns += st.turns
        acc.add(st)
    if as_json:
        echo_json(per_account)
        return
    click.echo(
        table(
            ("ACCOUNT", "AGENTS", "TURNS", "TOKENS IN", "TOKENS OUT", "COST"),
            [
                (k, ",".join(v.agents), v.turns, v.input_tokens, v.output_tokens, f"${v.cost_usd:.4f}")
                for k, v in per_account.items()
            ],
        )
    )
