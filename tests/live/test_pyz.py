"""The zipapp: build the lean pyz (build/pyz.py), check it is reproducible, and run it the
way an air-gapped user would: empty environment, fresh HOME, no network (``unshare -n``).

Slow (two builds, ~15 s each with a warm build/.cache/, longer the first time): run with
``pytest tests/live/test_pyz.py`` or ``make test``; ``make test-fast`` skips it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sac

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "pyz.py"
MINIMAL_AGENT = REPO / "examples" / "agents" / "minimal-agent" / "spec.yaml"
FIRST_PARTY = {"apptainer", "docker", "deepseek", "a2a"}  # entry-point names under plugins/
DEFAULTS = {"runtime_local", "providers", "credentials"}  # built into the core

# The pyz holds native modules for this CPython minor, so run it with the interpreter this
# venv was made from (not the venv's, whose site-packages has sac installed editable).
BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"


def build_pyz(output: Path, lean: bool = True) -> Path:
    """As `make pyz-lean` builds it: SOURCE_DATE_EPOCH unset, so build/pyz.py takes the last
    commit's time (the path users take; a pinned epoch once hid a non-reproducible default).
    Do not commit while the suite runs: two builds either side of a commit differ, rightly."""
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    result = subprocess.run(
        [sys.executable, str(BUILD), *(["--lean"] if lean else []), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert result.returncode == 0, f"build failed:\n{result.stdout}\n{result.stderr}"
    return output


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def pyz(tmp_path_factory) -> Path:
    return build_pyz(tmp_path_factory.mktemp("pyz1") / "sac-lean.pyz")


@pytest.fixture(scope="module")
def air_gapped(tmp_path_factory, pyz):
    """run(*args, isolated=True): the pyz under ``env -i HOME=.. SHIV_ROOT=.. unshare -n``.

    One SHIV_ROOT for the module: the first call extracts, the others run warm.
    isolated adds python's -S, so nothing can come from the host interpreter's
    site-packages (pyenv's has click, pluggy, yaml) and hide something missing in the pyz.
    """
    if not BASE_PYTHON.exists():
        pytest.skip(f"no base interpreter at {BASE_PYTHON}")
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("unshare not installed")
    probe = subprocess.run([unshare, "-n", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"`unshare -n` not permitted here: {probe.stderr.strip()}")
    tmp = tmp_path_factory.mktemp("airgap")
    home, shiv_root = tmp / "home", tmp / "shiv"
    home.mkdir()
    shiv_root.mkdir()

    def run(*args: str, isolated: bool = True) -> subprocess.CompletedProcess:
        flags = ["-S"] if isolated else []
        cmd = [
            "env",
            "-i",
            f"HOME={home}",
            f"SHIV_ROOT={shiv_root}",
            unshare,
            "-n",
            str(BASE_PYTHON),
            *flags,
            str(pyz),
            *args,
        ]
        return subprocess.run(cmd, cwd=home, capture_output=True, text=True, timeout=300)

    run.pyz = pyz
    return run


def test_build_is_reproducible(pyz, tmp_path):
    second = build_pyz(tmp_path / "sac-lean.pyz")
    assert sha256(second) == sha256(pyz)


def test_version_air_gapped(air_gapped):
    result = air_gapped("--version", isolated=False)  # exactly as a user would run it
    assert result.returncode == 0, result.stderr
    assert sac.__version__ in result.stdout


def test_the_pyz_records_the_lock_it_was_built_from(air_gapped):
    """`sac --version --json` from the pyz names the commit and uv.lock it was built from, and
    every package in it is at its locked version; --verbose says the same for people."""
    from test_lock import OURS, locked_packages

    result = air_gapped("--version", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    build = info["build"]
    assert build["variant"] == "lean"
    assert build["lock_sha256"] == sha256(REPO / "uv.lock")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    assert build["commit"] == head
    locked = locked_packages()
    third_party = {n: v for n, v in info["packages"].items() if n not in OURS}
    assert {"claude-agent-sdk", "pyyaml", "a2a-sdk", "msgspec"} <= third_party.keys()
    for name, version in third_party.items():
        assert version in locked.get(name, ()), f"{name} {version} in the pyz; uv.lock has {locked.get(name)}"
    assert info["differ_from_lock"] == {}
    # The lean pyz bundles no CLI, and env -i leaves no PATH to find one on: said, not hidden.
    assert info["claude_cli"]["path"] is None and "none found" in info["claude_cli"]["error"]

    text = air_gapped("--version", "--verbose")
    assert text.returncode == 0, text.stderr
    assert f"lean pyz for Python {sys.version_info.major}.{sys.version_info.minor}, commit {head[:12]}" in text.stdout
    assert "claude-agent-sdk  " in text.stdout and info["packages"]["claude-agent-sdk"] in text.stdout


def test_plugins_list_has_every_first_party_plugin(air_gapped):
    result = air_gapped("plugins", "list", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert FIRST_PARTY | DEFAULTS <= plugins.keys()
    for name in FIRST_PARTY | DEFAULTS:
        assert plugins[name]["error"] is None, (name, plugins[name]["error"])
        assert plugins[name]["default"] is (name in DEFAULTS)


def test_agents_check_minimal_agent(air_gapped):
    assert MINIMAL_AGENT.exists(), f"missing example: {MINIMAL_AGENT}"
    result = air_gapped("agents", "check", str(MINIMAL_AGENT), "--json")
    # 0: ready; 1: a check failed (the lean pyz has no claude binary and env -i no PATH);
    # 2 would mean bad input, i.e. the pyz could not read or validate the spec.
    assert result.returncode in (0, 1), result.stdout + result.stderr
    [report] = json.loads(result.stdout)
    assert report["error"] is None
    assert report["exit_code"] == result.returncode
    assert (report["runtime"], report["provider"]) == ("local", "scripted")
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["spec"]["ok"] is True, checks["spec"]
    assert checks["spec"]["detail"] == "valid"
    failed = {name for name, c in checks.items() if not c["ok"]}
    assert failed <= {"claude CLI"}, report  # nothing else may fail, not even offline
    assert report["ok"] is (not failed)


def test_a_live_agent_air_gapped_from_the_pyz(air_gapped, tmp_path):
    """The pyz starts an agent, talks to it and stops it with no network at all: the
    scripted model on loopback (brought up inside the empty network namespace), the
    claude CLI given by SAC_CLAUDE_CLI as a site would (the lean pyz bundles none)."""
    from sac.claude_cli import find_claude

    cli = find_claude()
    assert cli is not None, "the test venv bundles the claude CLI"
    home = tmp_path / "sac-home"
    (home / "agents").mkdir(parents=True)
    shutil.copytree(MINIMAL_AGENT.parent, home / "agents" / "minimal-agent")
    shiv, user = tmp_path / "shiv", tmp_path / "user"
    user.mkdir()
    pyz_cmd = f"{BASE_PYTHON} -S {air_gapped.pyz}"
    script = (
        f"ip link set lo up && {pyz_cmd} agents start minimal-agent && "
        f"{pyz_cmd} agents send minimal-agent 'What is 2+2?' && {pyz_cmd} agents stop minimal-agent"
    )
    done = subprocess.run(
        [
            "env",
            "-i",
            f"HOME={user}",
            f"SAC_HOME={home}",
            f"SHIV_ROOT={shiv}",
            f"SAC_CLAUDE_CLI={cli}",
            "unshare",
            "-n",
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "4"
    assert "minimal-agent: ready on local" in done.stderr and "minimal-agent: stopped" in done.stdout


SIGN_IN = """\
import json, sys, time, urllib.request
for _ in range(200):  # the control plane comes up
    try:
        urllib.request.urlopen("http://127.0.0.1:7878/v1/health", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
import subprocess
link = json.loads(subprocess.run(sys.argv[1:] + ["listen", "open", "--json"], capture_output=True).stdout)["url"]
origin, path = link.split("/ui/", 1)
host = origin.split("//", 1)[1]
with urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:7878/ui/" + path, headers={"Host": host})) as r:
    page = r.read().decode()
    cookie = r.headers["Set-Cookie"].split(";")[0]
key = page.split('name="sac-key" content="')[1].split('"')[0]
for path in ("/ui/", "/ui/static/app.js", "/v1/agents"):
    req = urllib.request.Request("http://127.0.0.1:7878" + path, headers={"Host": host, "Cookie": cookie, "X-Sac-Key": key})
    with urllib.request.urlopen(req) as r:
        print(path, r.status, len(r.read()))
"""


def test_the_pyz_serves_the_dashboard_air_gapped(air_gapped, tmp_path):
    """The page's files are inside the pyz: signed in, the page, its script and the fleet
    answer with no network at all."""
    (tmp_path / "sign_in.py").write_text(SIGN_IN)
    pyz_cmd = f"{BASE_PYTHON} -S {air_gapped.pyz}"
    script = (
        f"ip link set lo up && ({pyz_cmd} listen --bind 127.0.0.1:7878 2>/dev/null &) && "
        f"{BASE_PYTHON} -S sign_in.py {pyz_cmd}; code=$?; {pyz_cmd} listen stop >/dev/null; exit $code"
    )
    done = subprocess.run(
        ["env", "-i", f"HOME={tmp_path}", f"SAC_HOME={tmp_path / 'home'}", f"SHIV_ROOT={tmp_path / 'shiv'}"]
        + ["unshare", "-n", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["/ui/"].startswith("200 ") and lines["/v1/agents"] == "200 2"  # [] : no agents here
    assert int(lines["/ui/static/app.js"].split()[1]) > 10_000


@pytest.mark.slow
def test_the_full_pyz_runs_an_agent_air_gapped_with_its_own_cli(tmp_path):
    """`dist/sac.pyz`, the one users copy: no SAC_CLAUDE_CLI, no claude on PATH, no network;
    the agent runs the claude CLI the pyz carries."""
    if shutil.which("unshare") is None or not BASE_PYTHON.exists():
        pytest.skip("needs unshare and the base interpreter")
    full = build_pyz(tmp_path / "sac.pyz", lean=False)
    home = tmp_path / "sac-home"
    (home / "agents").mkdir(parents=True)
    shutil.copytree(MINIMAL_AGENT.parent, home / "agents" / "minimal-agent")
    shiv, user = tmp_path / "shiv", tmp_path / "user"
    user.mkdir()
    pyz_cmd = f"{BASE_PYTHON} -S {full}"
    script = (
        f"ip link set lo up && {pyz_cmd} --version --json && {pyz_cmd} agents start minimal-agent && "
        f"{pyz_cmd} agents send minimal-agent 'What is 3+4?' && {pyz_cmd} agents stop minimal-agent"
    )
    done = subprocess.run(
        [
            "env",
            "-i",
            f"HOME={user}",
            f"SAC_HOME={home}",
            f"SHIV_ROOT={shiv}",
            "PATH=/usr/bin:/bin",
            "unshare",
            "-n",
            "sh",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    info, rest = done.stdout.split("\n}\n", 1)
    cli = json.loads(info + "}")["claude_cli"]
    assert cli["source"] == "bundled" and str(shiv) in cli["path"] and cli["version"], cli
    assert rest.splitlines()[0] == "7"
    assert "minimal-agent: ready on local" in done.stderr
