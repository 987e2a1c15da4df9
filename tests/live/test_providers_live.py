"""Providers end to end: the scripted model stands in for each vendor's endpoint, and the
real claude CLI inside Docker must send it the right auth header and model name. The
secret must appear nowhere but in the CLI's environment."""

from __future__ import annotations

import json
import os

import pytest
import yaml

from sac.model.script import Script
from sac.model.server import ModelServer
from sac.testing import assert_in_no_argv, need_runtime, status, transcript

pytestmark = pytest.mark.live

SECRET = "sk-test-provider-secret-7q4z"

# provider in the spec, config override, the variable with the key, expected model, header
CASES = {
    "deepseek": ({"deepseek": {}}, "DEEPSEEK_API_KEY", "deepseek-v4-pro", "x-api-key"),
    "mimo": ({"mimo": {}}, "MIMO_API_KEY", "mimo-v2.5-pro", "authorization"),
    "xiaomi": ({"xiaomi": {"model": "mimo-custom"}}, "MIMO_API_KEY", "mimo-custom", "authorization"),
    "litellm": ({"litellm": {"model": "local-llama"}}, "LITELLM_API_KEY", "local-llama", "authorization"),
    "gateway": ({}, "GW_TOKEN", "gw-model", "authorization"),
}


@pytest.fixture
def vendor(tmp_path):
    server = ModelServer(Script(), log=tmp_path / "vendor.log").start()
    yield server
    server.stop()


def requests(server: ModelServer) -> list[dict]:
    return [json.loads(line) for line in server.log.read_text().splitlines()]


def write(home, name: str, provider_yaml: str, runtime: str = "docker", extra: str = "") -> None:
    folder = home / "agents" / name
    folder.mkdir(parents=True)
    (folder / "spec.yaml").write_text(f"""\
apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: {runtime}
  a2a: {{port: auto}}
  claude:
    model: sonnet
    provider: {provider_yaml}
{extra}""")


def assert_secret_nowhere(home, sac, name: str, secret: str) -> None:
    assert_in_no_argv(secret)
    root = home / "runtime" / name
    scanned = set()
    for path in root.rglob("*"):
        # the agent's HOME may hold the CLI's own 0600 credentials file: by design
        if (
            path.is_file()
            and path.suffix in (".json", ".jsonl", ".log", "")
            and path.relative_to(root).parts[0] != "home"
        ):
            assert secret not in path.read_text(errors="replace"), path
            scanned.add(path.name)
    assert {"state.json", "runner.log"} <= scanned  # the scan saw the files that matter
    outputs = [sac("agents", "status", "--json"), sac("agents", "tail", name, "--json"), sac("accounts", "status")]
    assert all(secret not in o.stdout + o.stderr for o in outputs)
    from sac.listen.card import agent_card

    os.environ["SAC_HOME"] = str(home)
    card = agent_card(name)  # the A2A card when the agent serves one
    assert card["name"] == name and secret not in json.dumps(card)


@pytest.mark.parametrize("runtime", ["docker", "apptainer"])
@pytest.mark.parametrize("provider", list(CASES))
def test_vendor_gets_its_header_and_model_from_the_cli_in_a_container(home, sac, vendor, provider, runtime):
    need_runtime(runtime, sac)
    overrides, var, model, header = CASES[provider]
    providers = {name: {**cfg, "base_url": vendor.url} for name, cfg in overrides.items()}
    (home / "config.yaml").write_text(yaml.safe_dump({"providers": providers}))
    inline = (
        provider
        if provider != "gateway"
        else f"{{base_url: '{vendor.url}', auth_token_env: GW_TOKEN, model: gw-model}}"
    )
    write(home, "v1", inline, runtime=runtime)
    try:
        done = sac("agents", "start", "v1", env={var: SECRET})
        assert done.returncode == 0, done.stderr
        assert sac("agents", "send", "v1", "What is 2+2?").stdout == "4\n"
        sent = [r for r in requests(vendor) if r["prompt"] == "What is 2+2?"]
        assert sent, requests(vendor)
        assert sent[-1]["model"] == model
        want = "...7q4z" if header == "x-api-key" else "Bearer ...7q4z"
        assert sent[-1][header] == want
        other = "authorization" if header == "x-api-key" else "x-api-key"
        assert sent[-1][other] is None
        assert status(sac, "v1")["runtime"] == runtime
        assert_secret_nowhere(home, sac, "v1", SECRET)
    finally:
        sac("agents", "stop", "v1")


@pytest.mark.parametrize("runtime", ["docker", "apptainer"])
def test_anthropic_with_a_stored_account(home, sac, vendor, runtime):
    need_runtime(runtime, sac)
    (home / "config.yaml").write_text(yaml.safe_dump({"providers": {"anthropic": {"base_url": vendor.url}}}))
    done = sac("accounts", "save", "work", "--from-env", "K", env={"K": SECRET})
    assert done.returncode == 0 and SECRET not in done.stdout
    write(home, "a1", "anthropic", runtime=runtime)
    spec = home / "agents" / "a1" / "spec.yaml"
    spec.write_text(spec.read_text().replace("    model: sonnet\n", "    model: haiku\n    account: work\n"))
    env = {k: "" for k in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN")}
    try:
        assert sac("agents", "start", "a1", env=env).returncode == 0
        assert sac("agents", "send", "a1", "What is 2+2?", env=env).stdout == "4\n"
        sent = [r for r in requests(vendor) if r["prompt"] == "What is 2+2?"][-1]
        assert sent["model"].startswith("claude-haiku") and sent["x-api-key"] == "...7q4z"
        usage = json.loads(sac("accounts", "status", "--json").stdout)
        assert usage["work"]["agents"] == ["a1"] and usage["work"]["turns"] == 1 and usage["work"]["input_tokens"] > 0
        assert_secret_nowhere(home, sac, "a1", SECRET)
    finally:
        sac("agents", "stop", "a1")


def test_missing_key_message_names_the_variable(home, sac, monkeypatch):
    monkeypatch.delenv("DEEPSEEK_API_KEY", raising=False)
    write(home, "nokey", "deepseek", runtime="local")
    for env, args in (({}, ()), ({"DEEPSEEK_API_KEY": ""}, ()), ({}, ("--foreground",))):
        done = sac("agents", "start", *args, "nokey", env=env)  # --foreground: the same preflight
        assert done.returncode == 1
        assert "agent nokey cannot start" in done.stderr and "$DEEPSEEK_API_KEY" in done.stderr
        assert "fix: export DEEPSEEK_API_KEY=<your key>" in done.stderr
        assert not (home / "runtime" / "nokey" / "state.json").exists()  # no runner was spawned
    assert transcript(home, "nokey") == []


def test_unknown_account_is_a_clear_error(home, sac):
    write(home, "acc", "deepseek", runtime="local")
    spec = home / "agents" / "acc" / "spec.yaml"
    spec.write_text(spec.read_text().replace("    model: sonnet\n", "    model: sonnet\n    account: nobody\n"))
    done = sac("agents", "start", "acc")
    assert done.returncode == 1
    assert "no key: account 'nobody' in the file store (not found)" in done.stderr


def test_host_credentials_never_reach_another_vendor(home, sac, vendor):
    """On the host (local runtime) the CLI inherits the runner's environment: sac blanks
    every credential variable the provider did not set."""
    (home / "config.yaml").write_text(yaml.safe_dump({"providers": {"deepseek": {"base_url": vendor.url}}}))
    write(home, "leak", "deepseek", runtime="local")
    env = {
        "DEEPSEEK_API_KEY": SECRET,
        "ANTHROPIC_AUTH_TOKEN": "host-oauth-token-1111",
        "ANTHROPIC_API_KEY": "host-anthropic-key-2222",
        "CLAUDE_CODE_OAUTH_TOKEN": "host-oauth-3333",
    }
    try:
        assert sac("agents", "start", "leak", env=env).returncode == 0
        assert sac("agents", "send", "leak", "What is 2+2?").stdout == "4\n"
        for r in requests(vendor):
            assert r["x-api-key"] == "...7q4z" and r["authorization"] is None, r
        # the CLI's own environment, not only what the vendor saw: a host credential that
        # reached the CLI unused would still be in reach of its Bash tool
        environ = cli_environ(home, "leak")
        assert environ["ANTHROPIC_API_KEY"] == SECRET
        for name in ("ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
            assert environ.get(name, "") == "", (name, environ.get(name))
        assert not {k for k, v in environ.items() if v.startswith("host-")}, environ
    finally:
        sac("agents", "stop", "leak")


def cli_environ(home, name: str) -> dict[str, str]:
    cli = int((home / "runtime" / name / "cli.pid").read_text())
    return dict(v.split("=", 1) for v in open(f"/proc/{cli}/environ").read().split("\0") if "=" in v)


def test_other_vendors_keys_never_reach_an_agents_tools(home, sac):
    """D12: the CLI's own environment (what its Bash tool inherits) holds no credential of
    another provider, nor sac's client token, on an agent of the scripted provider."""
    write(home, "blank", "scripted", runtime="local")
    host = {
        "DEEPSEEK_API_KEY": "ds-HOST-1",
        "MIMO_API_KEY": "mimo-HOST-2",
        "LITELLM_API_KEY": "llm-HOST-3",
        "SAC_A2A_TOKEN": "a2a-HOST-4",
        "ANTHROPIC_API_KEY": "sk-ant-HOST-5",
    }
    try:
        assert sac("agents", "start", "blank", env=host).returncode == 0
        environ = cli_environ(home, "blank")
        # every agent's CLI: no telemetry, no self-update, no traffic but the model's
        for switch in ("DISABLE_TELEMETRY", "DISABLE_AUTOUPDATER", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"):
            assert environ.get(switch) == "1", switch
        leaked = {k: v for k, v in environ.items() if v in host.values()}
        assert leaked == {}, leaked
        assert all(environ.get(k, "") == "" for k in host if k != "ANTHROPIC_API_KEY"), environ
    finally:
        sac("agents", "stop", "blank")


def test_a_default_account_is_per_provider(home, sac):
    assert sac("accounts", "save", "work", "--from-env", "K", env={"K": SECRET}).returncode == 0
    done = sac("accounts", "switch", "work", "--provider", "anthropic")
    assert done.returncode == 0 and "default account for anthropic: work" in done.stdout
    write(home, "other", "deepseek", runtime="local")
    done = sac("agents", "check", "other", "--json", env={"DEEPSEEK_API_KEY": ""})
    creds = [c for c in json.loads(done.stdout)[0]["checks"] if c["name"] == "credentials"][0]
    assert creds["ok"] is False and "$DEEPSEEK_API_KEY" in creds["detail"]  # the anthropic key is not borrowed
    # one account, the default of two providers: both are listed (only the last one was)
    assert sac("accounts", "switch", "work", "--provider", "deepseek").returncode == 0
    listed = json.loads(sac("accounts", "list", "--json").stdout)
    assert [(a["name"], a["default_for"]) for a in listed] == [("work", ["anthropic", "deepseek"])]
    assert "anthropic, deepseek" in sac("accounts", "list").stdout


def test_claude_login_is_copied_into_the_agent_home_0600(home, sac, vendor, tmp_path):
    import stat

    user = tmp_path / "user"
    (user / ".claude").mkdir(parents=True)
    login = '{"claudeAiOauth": {"accessToken": "sk-ant-oat-test-9z9z", "expiresAt": 4102444800000}}'
    (user / ".claude" / ".credentials.json").write_text(login)
    (home / "config.yaml").write_text(yaml.safe_dump({"providers": {"anthropic": {"base_url": vendor.url}}}))
    write(home, "login1", "anthropic", runtime="local")
    env = {"HOME": str(user), "ANTHROPIC_API_KEY": "", "ANTHROPIC_AUTH_TOKEN": "", "CLAUDE_CODE_OAUTH_TOKEN": ""}
    report = json.loads(sac("agents", "check", "login1", "--json", env=env).stdout)[0]
    creds = next(c for c in report["checks"] if c["name"] == "credentials")
    assert creds["ok"] and creds["detail"].startswith("your Claude login")
    try:
        assert sac("agents", "start", "login1", env=env).returncode == 0
        copied = home / "runtime" / "login1" / "home" / ".claude" / ".credentials.json"
        assert copied.read_text() == login and stat.S_IMODE(copied.stat().st_mode) == 0o600
        assert_secret_nowhere(home, sac, "login1", "sk-ant-oat-test-9z9z")
    finally:
        sac("agents", "stop", "login1", env=env)


def test_a_gateway_without_a_key_answers_turns(home, sac, vendor):
    """D23: an inline gateway with no auth_token_env (docs: the key only 'if given') was
    'ready' and answered every turn 'Not logged in'."""
    write(home, "nokey", f"{{base_url: '{vendor.url}', model: gw-model}}", runtime="local")
    try:
        done = sac("agents", "start", "nokey")
        assert done.returncode == 0, done.stderr
        assert sac("agents", "send", "nokey", "What is 2+2?").stdout == "4\n"
        sent = [r for r in requests(vendor) if r["prompt"] == "What is 2+2?"]
        assert sent and sent[-1]["model"] == "gw-model"
    finally:
        sac("agents", "stop", "nokey")
