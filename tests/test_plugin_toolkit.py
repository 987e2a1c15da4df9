"""The contract's side of the plugin toolkit, seen through the real ``sac`` CLI: a plugin's
SacError prints like sac's own, ``sac peer post-turn URL`` asks each transport whether it
speaks the URL, a store that cannot list keys lists none, transports get sac's located body
problems through their AgentPort."""

from __future__ import annotations

import json

import msgspec
from plugin_factory import make_plugin

from sac_hookspecs import AgentPort, CredentialStore, SacError

FAILING = """\
    import click
    from sac_hookspecs import CheckResult, Runtime, SacError, hookimpl

    @click.command()
    def boom():
        raise SacError("the widget is unplugged", hint="plug it in, then run `sac boom` again")

    class Flaky(Runtime):
        name = "flaky"

        def check(self, agent):
            raise SacError(f"flaky cannot look at {agent.name}", hint="ask the flaky admin")

    @hookimpl
    def sac_register_commands(cli):
        cli.add_command(boom)

    @hookimpl
    def sac_register_runtimes(register):
        register(Flaky())
"""


def test_a_plugins_sac_error_prints_like_sacs_own(home, tmp_path, sac):
    root = make_plugin(tmp_path / "site", "sac-flaky", "sac_flaky", FAILING, entry_point="flaky")
    done = sac("boom", env={"PYTHONPATH": str(root)})
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "sac: error: the widget is unplugged\n  hint: plug it in, then run `sac boom` again\n"

    # a check that fails with a SacError is a failed row in the plugin's words, not "crashed"
    spec = tmp_path / "a1" / "spec.yaml"
    spec.parent.mkdir()
    spec.write_text("apiVersion: scitex-agent-container/v3\nkind: Agent\nspec: {runtime: flaky}\n")
    done = sac("agents", "check", str(spec), "--json", env={"PYTHONPATH": str(root)})
    report = json.loads(done.stdout)[0]
    assert report["ok"] is False and done.returncode == 1, done.stderr
    assert {
        "name": "runtime flaky",
        "ok": False,
        "detail": "flaky cannot look at a1",
        "fix": "ask the flaky admin",
    } in (report["checks"])


TRANSPORTS = """\
    from sac_hookspecs import SacError, Transport, hookimpl

    class Mute(Transport):
        name = "mute"  # speaks nothing: post_turn must never be called

        def post_turn(self, url, text, timeout, token=None):
            raise SacError("mute was asked to post")

    class Toy(Transport):
        name = "toy"

        def speaks(self, url):
            return url.startswith("http://toy.invalid/")

        def post_turn(self, url, text, timeout, token=None):
            return f"toy heard {text!r} at {url}"

    @hookimpl
    def sac_register_transports(register):
        register(Mute())
        register(Toy())
"""


def test_peer_post_turn_posts_through_the_transport_that_speaks_the_url(home, tmp_path, sac):
    root = make_plugin(tmp_path / "site", "sac-toy", "sac_toy", TRANSPORTS, entry_point="toy")
    env = {"PYTHONPATH": str(root), "SAC_PLUGINS": "toy"}  # the A2A transport speaks every http URL
    done = sac("peer", "post-turn", "http://toy.invalid/a", "hi", env=env)
    assert (done.returncode, done.stdout) == (0, "toy heard 'hi' at http://toy.invalid/a\n"), done.stderr

    done = sac("peer", "post-turn", "http://elsewhere.invalid/", "hi", env=env)
    assert done.returncode == 1
    assert done.stderr == (
        "sac: error: no installed transport can post to http://elsewhere.invalid/\n  hint: see `sac plugins list`\n"
    )


def test_a_store_that_cannot_enumerate_lists_no_keys():
    class Vault(CredentialStore):
        name = "vault"

        def get(self, key):
            return "s3cret" if key == "work" else None

    assert Vault().list() == []


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: str
    timeout: float | None = None


def test_body_problems_the_runner_offers_locate_every_problem():
    from sac.spec.load import body_problems

    body = b'{"text": 1, "extra": 2}'
    assert body_problems(body, Body) == [
        "body:1:10: text: expected a string, got an integer (1) (quote it to keep it as text)",
        "body:1:13: extra: unknown field (did you mean `text`? allowed: text, timeout)",
    ]
    assert body_problems(b'{"text": "hi"}', Body) == []
    # a port that is not sac's runner says msgspec's first problem: still a reason, never []
    assert AgentPort().body_problems(body, Body) == ["Expected `str`, got `int` - at `$.text`"]
    assert AgentPort().body_problems(b'{"text": "hi"}', Body) == []


def test_sac_error_is_one_type_for_the_core_and_plugins():
    from sac.errors import SacError as CoreSacError
    from sac.errors import UsageError
    from sac_hookspecs.toolkit.nofollow import PlantedLink

    assert CoreSacError is SacError and issubclass(UsageError, SacError) and issubclass(PlantedLink, SacError)
    assert SacError("no", hint="try").render() == "no\n  hint: try" and SacError("no").exit_code == 1
