"""Image versions on real Apptainer: `sac image build base` from the host's apt mirror, an
agent on it, sandbox -> update -> freeze, switch and rollback around running agents, prune,
snapshots; and the failures (no root, no daemon, a corrupt SIF, a full disk).

One SAC_HOME serves the module, in order: each test builds on what the one before made
(a base build costs a minute; the tests read as the user's session would go).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import yaml

from sac.testing import apptainer_ready, docker_ready, ensure_apptainer_image, make_agent

pytestmark = [pytest.mark.live, pytest.mark.slow]

RUN_RULE = (
    '  - regex: "^run: (.*)$"\n    tools:\n      - name: Bash\n        input: {command: "{1}"}\n    then: "ran"\n'
)


class Home:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.env = {**os.environ, "SAC_HOME": str(path)}
        self.versions: list[str] = []  # in the order this module made them

    def sac(self, *args: str, env: dict | None = None, timeout: float = 1800) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "sac", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
            stdin=subprocess.DEVNULL,
        )

    def ok(self, *args: str) -> str:
        done = self.sac(*args)
        assert done.returncode == 0, f"sac {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    def listing(self) -> list[dict]:
        return json.loads(self.ok("image", "list", "--runtime", "apptainer", "--json"))

    def current(self) -> str:
        return next(v["version"] for v in self.listing() if v["current"])

    def image_ref(self, agent: str) -> str:
        state = json.loads((self.path / "runtime" / agent / "state.json").read_text())
        return state["instance"]["data"]["image_ref"]

    def run(self, agent: str, command: str) -> str:
        """What ``command`` printed in the agent's container (its Bash tool's result)."""
        assert self.ok("agents", "send", agent, f"run: {command}") == "ran\n"
        lines = (self.path / "runtime" / agent / "session.jsonl").read_text().splitlines()
        content = [json.loads(ln) for ln in lines if '"tool_result"' in ln][-1]["content"]
        return content if isinstance(content, str) else json.dumps(content)

    def agent(self, name: str) -> None:
        make_agent(self.path, name, "apptainer")
        script = self.path / "agents" / name / "script.yaml"
        script.write_text(script.read_text() + RUN_RULE)
        self.ok("agents", "start", name)


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    why = apptainer_ready()
    if why:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("building the base image needs root (debootstrap); CI runs as root")
    h = Home(tmp_path_factory.mktemp("images") / "sac-home")
    h.path.mkdir()
    yield h
    runtime = h.path / "runtime"
    names = [p.name for p in runtime.iterdir()] if runtime.is_dir() else []
    if names:
        h.sac("agents", "stop", *names)


def test_build_base_from_the_apt_mirror_and_run_an_agent_on_it(home):
    done = home.sac("image", "build", "base", "--runtime", "apptainer", "--json")
    assert done.returncode == 0, done.stderr
    v = json.loads(done.stdout)
    home.versions.append(v["version"])
    assert v["source"].startswith("debootstrap ") and "Bootstrap: debootstrap" in v["definition"]
    names = {p.split("=", 1)[0] for p in v["packages"]}
    assert {"bash", "coreutils", "python3", "git", "ca-certificates", "procps"} <= names
    sif = home.path / "containers" / f"sac-base-{v['version']}.sif"
    assert v["digest"] == "sha256:" + hashlib.sha256(sif.read_bytes()).hexdigest() and v["size"] == sif.stat().st_size
    assert os.readlink(home.path / "containers" / "sac-base.sif") == sif.name
    assert home.current() == v["version"]

    home.agent("on-base")  # the spec names no image: the current version
    assert home.ok("agents", "send", "on-base", "please write the proof") == "I wrote proof.txt in the workdir.\n"
    assert (home.path / "runtime" / "on-base" / "work" / "proof.txt").read_text() == "proof from HOME=/home/agent\n"
    assert home.image_ref("on-base") == str(sif)


def test_sandbox_update_freeze_gives_a_new_version_with_jq(home):
    sandbox = home.path.parent / "sb"
    home.ok("image", "sandbox", "--runtime", "apptainer", str(sandbox))
    assert (sandbox / "usr" / "bin" / "git").exists() and not (sandbox / "usr" / "bin" / "jq").exists()
    done = home.sac("image", "update", "--runtime", "apptainer", str(sandbox), "--apt", "jq")
    assert done.returncode == 0, done.stderr
    assert "Setting up jq" in done.stderr  # the installer's output, streamed
    done = home.sac("image", "update", "--runtime", "apptainer", str(sandbox), "-p", "rich")
    assert done.returncode == 1 and "pip is not in the image: add --apt python3-pip" in done.stderr, done.stderr
    done = home.sac("image", "freeze", "--runtime", "apptainer", str(sandbox), "--json")
    assert done.returncode == 0, done.stderr
    v = json.loads(done.stdout)
    home.versions.append(v["version"])
    assert home.current() == v["version"] and v["version"] != home.versions[0]
    assert any(p.startswith("jq=") for p in v["packages"])
    assert v["source"] == f"sandbox {sandbox} (from {home.versions[0]})"
    new, old = (home.path / "containers" / f"sac-base-{x}.sif" for x in (v["version"], home.versions[0]))
    assert subprocess.run(["apptainer", "exec", str(new), "jq", "--version"], capture_output=True).returncode == 0
    assert subprocess.run(["apptainer", "exec", str(old), "sh", "-c", "command -v jq"], capture_output=True).returncode


def test_switch_and_rollback_change_what_a_new_start_takes_not_what_runs(home):
    base, with_jq = home.versions
    base_sif = str(home.path / "containers" / f"sac-base-{base}.sif")
    jq_sif = str(home.path / "containers" / f"sac-base-{with_jq}.sif")
    home.agent("on-jq")  # started after the freeze: takes the version with jq
    assert home.image_ref("on-jq") == jq_sif
    assert "/usr/bin/jq" in home.run("on-jq", "command -v jq")

    assert home.ok("image", "rollback", "--runtime", "apptainer").startswith(f"current: {base} (was {with_jq})")
    home.agent("after-rollback")
    assert home.image_ref("after-rollback") == base_sif
    assert "no jq" in home.run("after-rollback", "command -v jq || echo no jq")
    # the running agents did not move: each still answers on the version it started with
    assert "/usr/bin/jq" in home.run("on-jq", "command -v jq")
    assert home.image_ref("on-jq") == jq_sif and home.image_ref("on-base") == base_sif

    assert home.ok("image", "switch", "--runtime", "apptainer", with_jq).startswith(f"current: {with_jq}")
    assert os.readlink(home.path / "containers" / "sac-base.sif") == Path(jq_sif).name
    listing = {v["version"]: v for v in home.listing()}
    assert listing[base]["used_by"] == ["after-rollback", "on-base"] and listing[with_jq]["used_by"] == ["on-jq"]
    # the same SAC_HOME reached through a symlink (as /home -> /gpfs/home on clusters): the
    # agents on each version are still seen, so prune cannot take an image from under one
    linked = home.path.parent / "linked-home"
    linked.symlink_to(home.path)
    through = json.loads(
        home.sac("image", "list", "--runtime", "apptainer", "--json", env={"SAC_HOME": str(linked)}).stdout
    )
    assert {v["version"]: v["used_by"] for v in through} == {k: v["used_by"] for k, v in listing.items()}
    status = json.loads(home.ok("image", "status", "--runtime", "apptainer", "--json"))
    assert status["current"] == with_jq and status["agents"] == {
        base: ["after-rollback", "on-base"],
        with_jq: ["on-jq"],
    }
    assert status["disk_bytes"] == sum(v["size"] for v in listing.values())


def test_prune_refuses_a_version_in_use_and_removes_one_that_is_not(home):
    base, with_jq = home.versions
    done = home.sac("image", "prune", "--runtime", "apptainer", base)
    assert done.returncode == 1
    assert f"{base} is used by running agent(s) after-rollback, on-base" in done.stderr
    assert (home.path / "containers" / f"sac-base-{base}.sif").exists()
    done = home.sac("image", "prune", "--runtime", "apptainer", "--keep", "0")
    assert done.returncode == 0, done.stderr
    assert f"kept {with_jq}: current" in done.stdout and f"kept {base}: used by after-rollback, on-base" in done.stdout
    assert {v["version"] for v in home.listing()} == {base, with_jq}

    home.ok("agents", "stop", "after-rollback", "on-base")
    assert home.ok("image", "prune", "--runtime", "apptainer", base) == f"removed {base}\n"
    assert {v["version"] for v in home.listing()} == {with_jq}
    assert not (home.path / "containers" / f"sac-base-{base}.sif").exists()
    assert "nothing to roll back to" in home.sac("image", "rollback", "--runtime", "apptainer").stderr


def test_snapshot_is_valid_and_the_same_twice(home):
    from sac.images import Snapshot

    with_jq = home.versions[1]
    out1, out2 = home.path.parent / "env1.json", home.path.parent / "env2.json"
    home.ok("image", "snapshot", "--runtime", "apptainer", "-o", str(out1))
    home.ok("image", "snapshot", "--runtime", "apptainer", with_jq, "-o", str(out2))
    assert out1.read_bytes() == out2.read_bytes()
    snap = msgspec.json.decode(out1.read_bytes(), type=Snapshot)  # strict: no unknown field, every type right
    sif = home.path / "containers" / f"sac-base-{with_jq}.sif"
    assert snap.version == with_jq and snap.digest == "sha256:" + hashlib.sha256(sif.read_bytes()).hexdigest()
    assert any(p.startswith("jq=") for p in snap.packages) and snap.packages == sorted(snap.packages)
    assert snap.tools["apptainer"].startswith("apptainer version ") and snap.tools["claude_cli"][0].isdigit()
    assert [a.name for a in snap.agents] == ["on-jq"]
    spec = home.path / "agents" / "on-jq" / "spec.yaml"
    assert yaml.safe_load(snap.agents[0].spec) == yaml.safe_load(spec.read_text())  # no env section to redact
    assert snap.agents[0].spec_sha256 == hashlib.sha256(spec.read_bytes()).hexdigest()
    schema = json.loads(home.ok("image", "snapshot", "--schema"))
    assert set(schema["$defs"]["Snapshot"]["required"]) >= {"digest", "packages", "tools", "agents"}


# -- failures: a clear error, and the current version still current ------------------------


def test_a_corrupt_sif_is_refused_and_nothing_changes(home, tmp_path):
    before = home.listing()
    garbage = tmp_path / "garbage.sif"
    garbage.write_bytes(os.urandom(4096))
    truncated = tmp_path / "truncated.sif"
    with open(ensure_apptainer_image(tmp_path), "rb") as f:
        truncated.write_bytes(f.read(200_000))  # a real SIF's header, its filesystem cut short
    for bad in (garbage, truncated):
        done = home.sac("image", "build", "--runtime", "apptainer", "--from", str(bad))
        assert done.returncode == 1, done.stderr
        assert "not a usable image" in done.stderr and "full log: " in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert home.listing() == before
    assert not list((home.path / "containers").glob(".*tmp"))


def test_a_planted_sandbox_marker_is_never_followed(tmp_path):
    """Anything run as root in a sandbox could make its marker a link to a host secret:
    freeze must not read through it into the version's metadata."""
    from sac_runtime_apptainer.images import MARKER, sandbox_origin

    secret = tmp_path / "host-secret"
    secret.write_text("20991231-235959\n")  # even a plausible version is not taken through a link
    sandbox = tmp_path / "sb"
    sandbox.mkdir()
    (sandbox / MARKER).symlink_to(secret)
    assert sandbox_origin(sandbox) == "?"
    (sandbox / MARKER).unlink()
    (sandbox / MARKER).write_text("not a version at all, maybe a key\n")
    assert sandbox_origin(sandbox) == "?"
    (sandbox / MARKER).write_text("20261202-062316\n")
    assert sandbox_origin(sandbox) == "20261202-062316"


def test_docker_daemon_down_is_one_line_everywhere(home):
    if shutil.which("docker") is None:
        pytest.skip(docker_ready() or "no docker client")
    env = {"DOCKER_HOST": f"unix://{home.path}/no-daemon.sock"}
    for args in (("list",), ("switch", "20260101-000000"), ("prune", "--keep", "1")):
        done = home.sac("image", *args, "--runtime", "docker", env=env, timeout=60)
        assert done.returncode == 1, (args, done.stdout)
        assert "the Docker daemon does not answer" in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_docker_daemon_down_fails_before_debootstrap(home):
    if shutil.which("docker") is None:
        pytest.skip(docker_ready() or "no docker client")
    done = home.sac(
        "image",
        "build",
        "base",
        "--runtime",
        "docker",
        env={"DOCKER_HOST": f"unix://{home.path}/no-daemon.sock"},
        timeout=60,
    )
    assert done.returncode == 1, done.stderr
    assert "the Docker daemon does not answer" in done.stderr and "start dockerd" in done.stderr, done.stderr
    assert "debootstrap" not in done.stderr  # nothing slow was started


def test_a_full_disk_fails_the_build_and_keeps_the_current_version(tmp_path):
    """A tmpfs too small for the second image: the build fails with the disk named, the
    first version stays current, no partial file is left."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    h = Home(tmp_path / "sac-home")
    containers = h.path / "containers"
    containers.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(containers)], check=True)
    try:
        small = tiny_rootfs(tmp_path / "small")
        v1 = json.loads(h.ok("image", "build", "--runtime", "apptainer", "--from", str(small), "--json"))
        big = tiny_rootfs(tmp_path / "big")
        (big / "blob").write_bytes(os.urandom(20 << 20))  # random: squashfs cannot shrink it
        done = h.sac("image", "build", "--runtime", "apptainer", "--from", str(big))
        assert done.returncode == 1
        assert "no space left on device" in done.stderr.lower() and "the disk is full" in done.stderr, done.stderr
        assert h.current() == v1["version"] and [v["version"] for v in h.listing()] == [v1["version"]]
        assert os.readlink(containers / "sac-base.sif") == f"sac-base-{v1['version']}.sif"
        assert not list(containers.glob(".*tmp"))
    finally:
        subprocess.run(["umount", str(containers)], check=False)


def tiny_rootfs(root: Path) -> Path:
    """A root filesystem with nothing but /bin/sh (the host's dash and its loader and libc)."""
    for f in ("/bin/dash", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
        dst = root / f.lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dst)
    (root / "bin" / "sh").symlink_to("dash")
    for d in ("etc", "tmp", "proc", "dev", "sys", "home"):
        (root / d).mkdir(exist_ok=True)
    return root


def test_docker_versions_are_tags_switch_rollback_prune(home, tmp_path):
    """Docker parity: an import is a new tag made current (`sac-base:latest`), rollback
    re-tags, a running container keeps its image, prune refuses the version it uses."""
    why = docker_ready()
    if why:
        pytest.skip(why)
    from sac.testing import ensure_docker_image

    def sac(*args: str) -> subprocess.CompletedProcess:
        return home.sac(*args, "--runtime", "docker")

    ensure_docker_image(lambda *a: home.sac(*a))
    listing = json.loads(sac("image", "list", "--json").stdout)
    base = next(v["version"] for v in listing if v["current"])
    try:
        make_agent(home.path, "dock", "docker")
        home.ok("agents", "start", "dock")
        state = json.loads((home.path / "runtime" / "dock" / "state.json").read_text())
        base_id = state["instance"]["data"]["image_ref"]
        assert next(v for v in listing if v["version"] == base)["ref"] == base_id

        done = sac("image", "build", "--from", str(tiny_rootfs(tmp_path / "rootfs")), "--json")
        assert done.returncode == 0, done.stderr
        tiny = json.loads(done.stdout)
        assert tiny["source"] == f"import {tmp_path / 'rootfs'}"
        latest = subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Id}}", "sac-base:latest"], capture_output=True, text=True
        ).stdout.strip()
        assert latest == tiny["ref"] != base_id
        assert home.ok("agents", "send", "dock", "What is 2+3?") == "5\n"  # the running agent is untouched

        done = sac("image", "prune", base)
        assert done.returncode == 1 and "used by running agent(s) dock" in done.stderr
        assert sac("image", "rollback").stdout == f"current: {base} (was {tiny['version']})\n"
        assert sac("image", "prune", tiny["version"]).stdout == f"removed {tiny['version']}\n"
        tags = subprocess.run(
            ["docker", "images", "sac-base", "--format", "{{.Tag}}"], capture_output=True, text=True
        ).stdout.split()
        assert tiny["version"] not in tags and base in tags and "latest" in tags
    finally:
        home.sac("agents", "stop", "dock")
        subprocess.run(["docker", "tag", f"sac-base:{base}", "sac-base:latest"], capture_output=True)
