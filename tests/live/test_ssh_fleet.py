"""Agents on other machines over ssh (`sac host`, `sac fleet`, NAME@HOST), on two real
OpenSSH servers (build/ssh-hosts.sh: Debian's sshd in network namespaces sac-ssh1/2, hostnames
sshhost1/2, 10.78.0.11/12) reached with the real ssh client and a key this module makes.
Each host has its own SAC_HOME and its own sac.pyz, copied by `sac host install`; nothing
reaches a host but through ssh. The model is the scripted one; nothing else is a stand-in.

The tests run in order, as one story: hosts and installs, a fleet of four, talk across
hosts, drift, faults (a host vanishes, its sshd dies), stop; then no secret was ever in an
ssh command line (every ssh this side ran went through a logging shim in front of the real
one)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

from sac.testing import make_agent, wait_for

pytestmark = [pytest.mark.live, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
HOSTS_SH = REPO / "build" / "ssh-hosts.sh"
ADDRESS = {"h1": "10.78.0.11", "h2": "10.78.0.12"}
HOSTNAME = {"h1": "sshhost1", "h2": "sshhost2"}
BASE_PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"

ASKER = """\
rules:
  - match: "ask across"
    tools:
      - name: Bash
        input:
          command: "{sac} peer post-turn b1@h2 'what is 6 times 7' > peer.txt 2>&1; hostname > where.txt"
          description: ask the agent on the other host
    then: "I asked across."
"""
ANSWERER = """\
rules:
  - match: "what is 6 times 7"
    reply: "42, says b1 on h2"
"""


class World:
    """The laptop (this side: its own SAC_HOME, ssh through the logging shim) and two hosts."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.laptop = tmp / "laptop"
        self.key, self.known = tmp / "id_ed25519", tmp / "known_hosts"
        self.argv_log = tmp / "ssh-argv.log"
        self.shim = tmp / "bin"
        self.pyz = tmp / "sac.pyz"
        self.home = {h: tmp / h / "home" for h in ADDRESS}
        self.sac_at = {h: tmp / h / "sac.pyz" for h in ADDRESS}

    def sac(self, *args: str, input: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        env = {**os.environ, "SAC_HOME": str(self.laptop), "PATH": f"{self.shim}:{os.environ['PATH']}"}
        return subprocess.run(
            [sys.executable, "-m", "sac", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            cwd=self.tmp,
            stdin=None if input is not None else subprocess.DEVNULL,
        )

    def ok(self, *args: str, **kw) -> subprocess.CompletedProcess:
        done = self.sac(*args, **kw)
        assert done.returncode == 0, f"sac {' '.join(args)}: {done.stdout}\n{done.stderr}"
        return done

    def options(self) -> list[str]:
        return [f"IdentityFile={self.key}", f"UserKnownHostsFile={self.known}", "StrictHostKeyChecking=accept-new"]

    def fleet(self) -> dict:
        done = self.sac("fleet", "status", "--json", timeout=120)
        return json.loads(done.stdout)


def _build_full_pyz(out: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    done = subprocess.run(
        [sys.executable, str(REPO / "build" / "pyz.py"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert done.returncode == 0, f"pyz build failed:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the ssh test hosts need root (network namespaces, sshd): run as root or in CI")
    if shutil.which("ip") is None or shutil.which("ssh") is None:
        pytest.skip("needs iproute2 and the OpenSSH client")
    if not BASE_PYTHON.exists():
        pytest.skip(f"no base interpreter at {BASE_PYTHON} (the pyz runs with it)")
    # down first: a fresh pair of hosts, with nothing an earlier run left inside (a listen on :7878)
    subprocess.run(["bash", str(HOSTS_SH), "down"], capture_output=True, text=True, timeout=120)
    up = subprocess.run(["bash", str(HOSTS_SH), "up"], capture_output=True, text=True, timeout=900)
    assert up.returncode == 0, f"build/ssh-hosts.sh up failed:\n{up.stdout}\n{up.stderr}"
    w = World(tmp_path_factory.mktemp("ssh"))
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(w.key)], check=True)
    with open("/run/sac-ssh/authorized_keys", "a") as keys:  # appended: other sessions keep theirs
        keys.write(w.key.with_suffix(".pub").read_text())
    w.shim.mkdir()
    (w.shim / "ssh").write_text(
        f'#!/bin/sh\nprintf "%s\\0" "$@" >> {w.argv_log}\nprintf "\\n" >> {w.argv_log}\nexec /usr/bin/ssh "$@"\n'
    )
    (w.shim / "ssh").chmod(0o755)
    for h in ADDRESS:
        w.home[h].mkdir(parents=True)
    _build_full_pyz(w.pyz)
    yield w
    # stop whatever the story left running on the hosts, and close the masters
    for h in ADDRESS:
        w.sac("host", "exec", h, "--", "sac", "agents", "stop", "a1", "a2", "b1", "b2", timeout=120)
    w.sac("host", "exec", "h2", "--", "sac", "listen", "stop", timeout=60)
    w.sac("listen", "stop", timeout=60)
    for h in ADDRESS:
        w.sac("host", "remove", h, timeout=60)
    subprocess.run(["bash", str(HOSTS_SH), "link", "sshhost2", "up"], capture_output=True, timeout=60)
    subprocess.run(["bash", str(HOSTS_SH), "sshd", "sshhost1", "start"], capture_output=True, timeout=60)


def test_1_hosts_are_added_probed_and_given_sac(world):
    w = world
    for h, address in ADDRESS.items():
        opts = [x for o in w.options() for x in ("-o", o)]
        w.ok("host", "add", h, f"root@{address}", "--sac", str(w.sac_at[h]), "--home", str(w.home[h]),
             "--python", str(BASE_PYTHON), *opts)  # fmt: skip
    listed = json.loads(w.ok("host", "list", "--json").stdout)
    assert [(x["name"], x["target"]) for x in listed] == [("h1", "root@10.78.0.11"), ("h2", "root@10.78.0.12")]

    done = w.sac("host", "probe", "--json")  # reachable, but no sac there yet: exit 1, says so
    reports = {r["name"]: r for r in json.loads(done.stdout)}
    assert done.returncode == 1, done.stderr
    for h in ADDRESS:
        assert reports[h]["reachable"] is True and reports[h]["sac"] is None, reports[h]
        assert "no usable sac" in reports[h]["error"], reports[h]
        assert reports[h]["python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
        assert reports[h]["disk_free_gb"] > 0 and len(reports[h]["load"]) == 3

    # a pyz for another Python minor is refused before anything is copied
    fake = w.tmp / "other.pyz"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("site-packages/sac/_build.json", json.dumps({"python": "3.99", "variant": "full"}))
    done = w.sac("host", "install", "h1", "--pyz", str(fake))
    assert done.returncode == 1 and "built for Python 3.99" in done.stderr, done.stderr
    assert not w.sac_at["h1"].exists()

    for h in ADDRESS:
        got = json.loads(w.ok("host", "install", h, "--pyz", str(w.pyz), "--json", timeout=600).stdout)
        assert got["variant"] == "full" and got["version"] and Path(got["path"]) == w.sac_at[h], got
        assert w.sac_at[h].read_bytes() == w.pyz.read_bytes()
    reports = {r["name"]: r for r in json.loads(w.ok("host", "probe", "--json", timeout=300).stdout)}
    for h in ADDRESS:
        r = reports[h]
        assert r["sac"] and r["error"] is None and "local" in r["runtimes"], r
        assert r["sac_home"] == str(w.home[h]) and r["claude_cli"], r  # its own home, the pyz's own CLI
    table = w.ok("host", "probe").stdout
    assert "h1" in table and "REACHABLE" in table and "local" in table

    # exec: a command there, over the same master; `sac` is the host's sac
    assert w.ok("host", "exec", "h1", "--", "hostname").stdout.strip() == "sshhost1"
    assert json.loads(w.ok("host", "exec", "h2", "--", "sac", "config", "show", "--json").stdout)
    assert (w.laptop / "ssh").stat().st_mode & 0o777 == 0o700
    assert oct((w.laptop / "hosts.yaml").stat().st_mode & 0o777) == "0o600"


def test_2_a_fleet_of_four_on_two_hosts(world):
    w = world
    asker_sac = f"{BASE_PYTHON} {w.sac_at['h1']}"
    for name in ("a1", "a2", "b1", "b2"):
        make_agent(w.laptop, name, "local")
    (w.laptop / "agents" / "a1" / "script.yaml").write_text(ASKER.format(sac=asker_sac))
    (w.laptop / "agents" / "b1" / "script.yaml").write_text(ANSWERER)

    for h, names in (("h1", ["a1", "a2"]), ("h2", ["b1", "b2"])):
        done = w.ok("fleet", "launch", h, *names, "--json", timeout=600)
        rows = json.loads(done.stdout)
        assert sorted(r["name"] for r in rows) == names and all(r["ok"] for r in rows), rows

    fleet = w.fleet()
    mine = {(r["fleet_host"], r["name"]): r["state"] for r in fleet["agents"]}
    assert {k: v for k, v in mine.items() if k[0] != "local"} == {
        ("h1", "a1"): "ready",
        ("h1", "a2"): "ready",
        ("h2", "b1"): "ready",
        ("h2", "b2"): "ready",
    }, fleet
    assert all(h["reachable"] for h in fleet["hosts"]), fleet
    assert (w.home["h1"] / "agents" / "a1" / "spec.yaml").read_text() == (
        w.laptop / "agents" / "a1" / "spec.yaml"
    ).read_text()
    table = w.ok("fleet", "status").stdout
    assert table.splitlines()[0].split()[:2] == ["HOST", "NAME"] and "h2" in table
    also = json.loads(w.ok("agents", "status", "--all-hosts", "--json").stdout)
    assert {(r["fleet_host"], r["name"]) for r in also["agents"]} == set(mine)

    # send NAME@HOST: the answer comes back; the prompt went on standard input
    done = w.ok("agents", "send", "a2@h1", "What is 19+23?")
    assert done.stdout.strip() == "42"
    done = w.ok("agents", "send", "b2@h2", input="What is 1+2?")
    assert done.stdout.strip() == "3"
    assert "What is 1+2?" in w.ok("agents", "tail", "b2@h2", "-n", "0").stdout

    # an agent on h1 asks one on h2 (h1's own sac, over its own ssh to h2, into h2's `sac listen`,
    # loopback-only in h2's network namespace)
    w.ok("host", "exec", "h2", "--", "sac", "listen", "restart")
    opts = [x for o in w.options() for x in ("-o", o)]
    w.ok("host", "exec", "h1", "--", "sac", "host", "add", "h2", f"root@{ADDRESS['h2']}", "--sac",
         str(w.sac_at["h2"]), "--home", str(w.home["h2"]), "--python", str(BASE_PYTHON), *opts)  # fmt: skip
    done = w.ok("agents", "send", "a1@h1", "ask across")
    assert "I asked across." in done.stdout
    work = w.home["h1"] / "runtime" / "a1" / "work"
    assert (work / "where.txt").read_text().strip() == "sshhost1"
    assert (work / "peer.txt").read_text().strip() == "42, says b1 on h2"
    events = [json.loads(x) for x in (w.home["h2"] / "runtime" / "b1" / "session.jsonl").read_text().splitlines()]
    # it came in through h2's listen (the route `sac peer post-turn` takes on its own host)
    assert any(
        e.get("type") == "prompt" and e["text"] == "what is 6 times 7" and e["source"] == "listen" for e in events
    )


def test_2b_the_dashboard_shows_the_agents_of_every_host(world):
    """The laptop's `sac listen` asks each host's sac (as `fleet status` does); its page
    shows their agents beside the local ones, in a real browser."""
    w = world
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("no /usr/bin/chromium: apt-get install chromium")
    from playwright.sync_api import expect, sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    w.ok("listen", "restart", "--bind", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}"
    token = (w.laptop / "listen" / "token").read_text().strip()
    req = urllib.request.Request(url + "/v1/hosts", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=120) as r:
        answer = json.loads(r.read())
    assert {(a["fleet_host"], a["name"], a["state"]) for a in answer["agents"]} == {
        ("h1", "a1", "ready"),
        ("h1", "a2", "ready"),
        ("h2", "b1", "ready"),
        ("h2", "b2", "ready"),
    }, answer
    assert [(h["name"], h["reachable"]) for h in answer["hosts"]] == [("h1", True), ("h2", True)]
    link = json.loads(w.ok("listen", "open", "--json").stdout)["url"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(link)
        for name in ("a1@h1", "a2@h1", "b1@h2", "b2@h2"):
            expect(page.locator(f'tr[data-name="{name}"] .state')).to_have_text("ready", timeout=30_000)
        expect(page.locator("#summary")).to_contain_text("2 hosts")
        browser.close()
    w.ok("listen", "stop")


def test_3_sync_finds_a_changed_spec_and_push_fixes_it(world):
    w = world
    assert w.ok("fleet", "sync").stdout.count("in sync") == 4
    spec = w.laptop / "agents" / "a2" / "spec.yaml"
    spec.write_text(spec.read_text().replace("capabilities: [greeting, arithmetic]", "capabilities: [greeting]"))
    done = w.sac("fleet", "sync")
    assert done.returncode == 1, done.stderr
    assert "h1: a2: differs" in done.stdout
    assert "-    capabilities: [greeting, arithmetic]" in done.stdout and "+    capabilities: [greeting]" in done.stdout
    rows = json.loads(w.sac("fleet", "sync", "h1", "--json").stdout)
    assert {r["agent"]: r["state"] for r in rows} == {"a1": "same", "a2": "differs"}
    w.ok("fleet", "sync", "--push")
    assert w.ok("fleet", "sync").stdout.count("in sync") == 4
    assert "[greeting]" in (w.home["h1"] / "agents" / "a2" / "spec.yaml").read_text()


def test_4_a_host_that_vanishes_is_unreachable_in_bounded_time_and_comes_back(world):
    w = world
    for fault, restore in (
        (["link", "sshhost2", "down"], ["link", "sshhost2", "up"]),
        (["sshd", "sshhost1", "stop"], ["sshd", "sshhost1", "start"]),
    ):
        gone, kept = ("h2", "h1") if "sshhost2" in fault else ("h1", "h2")
        subprocess.run(["bash", str(HOSTS_SH), *fault], check=True, capture_output=True, timeout=60)
        began = time.monotonic()
        done = w.sac("fleet", "status", "--json", timeout=120)
        took = time.monotonic() - began
        # the bound sac promises (QUICK, 20 s, for any host) and start-up; not a speed claim
        assert took < 45, f"fleet status took {took:.1f} s with {gone} gone"
        assert done.returncode == 1, done.stderr
        fleet = json.loads(done.stdout)
        hosts = {h["name"]: h for h in fleet["hosts"]}
        assert hosts[gone]["reachable"] is False and gone in hosts[gone]["error"], hosts
        assert hosts[kept]["reachable"] is True
        assert {r["name"] for r in fleet["agents"] if r["fleet_host"] == kept} >= (
            {"a1", "a2"} if kept == "h1" else {"b1", "b2"}
        )
        table = w.sac("fleet", "status", timeout=120).stdout
        assert any(line.split()[:1] == [gone] and "unreachable" in line for line in table.splitlines()), table
        # the other host's agents are not held up
        other = "a2@h1" if kept == "h1" else "b2@h2"
        assert w.ok("agents", "send", other, "What is 2+2?", timeout=120).stdout.strip() == "4"
        done = w.sac("agents", "send", f"{'b2' if gone == 'h2' else 'a2'}@{gone}", "What is 2+2?", timeout=120)
        assert done.returncode == 1 and f"host {gone}" in done.stderr and "Traceback" not in done.stderr

        subprocess.run(["bash", str(HOSTS_SH), *restore], check=True, capture_output=True, timeout=60)
        wait_for(lambda: all(h["reachable"] for h in w.fleet()["hosts"]), 90, f"{gone} to answer again")
        states = {(r["fleet_host"], r["name"]): r["state"] for r in w.fleet()["agents"]}
        assert states[(gone, "a1" if gone == "h1" else "b1")] == "ready", states  # its agents ran on


def test_5_stop_them_all(world):
    w = world
    rows = json.loads(w.ok("agents", "stop", "a1@h1", "a2@h1", "b1@h2", "b2@h2", "--json", timeout=300).stdout)
    assert sorted((r["fleet_host"], r["name"], r["ok"]) for r in rows) == [
        ("h1", "a1", True),
        ("h1", "a2", True),
        ("h2", "b1", True),
        ("h2", "b2", True),
    ], rows
    states = {(r["fleet_host"], r["name"]): r["state"] for r in w.fleet()["agents"] if r["fleet_host"] != "local"}
    assert set(states.values()) == {"stopped"}, states

    # `agents start NAME@HOST`: the same as `fleet launch` for one agent (its folder copied first)
    spec = w.laptop / "agents" / "a2" / "spec.yaml"
    spec.write_text(spec.read_text().replace("capabilities: [greeting]", "capabilities: [greeting, tea]"))
    w.ok("agents", "start", "a2@h1", timeout=300)
    assert json.loads(w.ok("agents", "status", "a2@h1", "--json").stdout)["state"] == "ready"
    assert "tea" in (w.home["h1"] / "agents" / "a2" / "spec.yaml").read_text()
    # an agent with no folder here starts from the host's own folder (nothing copied)
    shutil.rmtree(w.laptop / "agents" / "b2")
    w.ok("agents", "start", "b2@h2", timeout=300)
    assert json.loads(w.ok("agents", "status", "b2@h2", "--json").stdout)["state"] == "ready"
    w.ok("agents", "stop", "a2@h1", "b2@h2")


def test_6_no_secret_was_in_any_ssh_command_line(world):
    w = world
    calls = [c.split("\0")[:-1] for c in w.argv_log.read_text().split("\0\n") if c]
    assert len(calls) > 20, "the shim saw the story's ssh calls"
    secrets = set()
    for root in (w.laptop, *w.home.values()):
        for path in root.rglob("*"):
            if path.is_file() and (path.name == "token" or path.name.endswith(".token") or "brokers" in path.parts):
                secrets.add(path.read_text().strip())
    secrets.discard("")
    prompts = {"What is 19+23?", "What is 1+2?", "ask across", "what is 6 times 7"}
    for argv in calls:
        line = " ".join(argv)
        for s in secrets | prompts:
            assert s not in line, f"{s!r} in ssh argv: {argv}"
        assert "BatchMode=yes" in line, argv  # never a prompt
    for h in ("h1",):  # h1's own master (to h2) sits under h1's SAC_HOME, private
        assert (w.home[h] / "ssh").stat().st_mode & 0o777 == 0o700
