"""The worked example of docs/providers.md, installed the way a user installs a plugin
(pip, into its own directory) and used by a real agent. Its fixtures (sac_home, sac_cli) are
sac's pytest plugin, as any third-party plugin's suite gets them (docs/plugins.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sac.model.script import Script
from sac.model.server import ModelServer

pytestmark = pytest.mark.live
EXAMPLE = Path(__file__).resolve().parents[1]  # the plugin's own folder


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return target


def test_example_provider_plugin_installs_and_serves_an_agent(sac_home, sac_cli, installed, tmp_path):
    env = {"PYTHONPATH": str(installed), "ACME_TOKEN": "acme-token-55aa"}
    listed = {p["name"]: p for p in json.loads(sac_cli("plugins", "list", "--json", env=env, check=True).stdout)}
    assert listed["acme"]["distribution"] == "sac-provider-acme"
    assert listed["acme"]["registered"] == {"providers": ["acme"]}

    server = ModelServer(Script(), log=tmp_path / "acme.log").start()
    try:
        (sac_home / "config.yaml").write_text(yaml.safe_dump({"providers": {"acme": {"base_url": server.url}}}))
        spec = sac_home / "agents" / "ac1" / "spec.yaml"
        spec.parent.mkdir(parents=True)
        spec.write_text(
            "apiVersion: scitex-agent-container/v3\nkind: Agent\n"
            "spec:\n  runtime: local\n  claude: {model: haiku, provider: acme}\n"
        )
        assert sac_cli("agents", "check", "ac1", env=env).returncode == 0
        assert sac_cli("agents", "start", "ac1", env=env).returncode == 0
        assert sac_cli("agents", "send", "ac1", "What is 8/2?", env=env).stdout == "4\n"
        sent = [json.loads(line) for line in (tmp_path / "acme.log").read_text().splitlines()]
        last = [r for r in sent if r["prompt"] == "What is 8/2?"][-1]
        assert (last["model"], last["authorization"]) == ("acme-small", "Bearer ...55aa")
    finally:
        sac_cli("agents", "stop", "ac1", env=env)
        server.stop()
    done = sac_cli("agents", "check", "ac1", env={"PYTHONPATH": str(installed), "ACME_TOKEN": ""})
    assert done.returncode == 1 and "fix: export ACME_TOKEN=<your token>" in done.stdout
