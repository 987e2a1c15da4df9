"""`sac image` through the Images contract, with a third-party runtime whose versions are
plain files: history and rollback, prune policy, in-use detection, one-line errors for what
a runtime does not implement. No container engine: the core's logic, fast; the Apptainer
and Docker stores are driven for real in test_images.py."""

from __future__ import annotations

import json
import os
import time

import pytest
from plugin_factory import make_plugin

TOY = """\
    import os, time
    from pathlib import Path
    from sac_hookspecs import Images, ImageVersion, Runtime, hookimpl

    class Files(Images):
        def __init__(self):
            self.dir = Path(os.environ["SAC_HOME"]) / "containers" / "toy"

        def versions(self):
            out = []
            for p in sorted(self.dir.glob("v*")) if self.dir.is_dir() else []:
                out.append(ImageVersion(version=p.name, ref=str(p), size=p.stat().st_size, created=p.stat().st_mtime,
                                        source="toy", packages=["toy=1"]))
            return out

        def current(self):
            link = self.dir / "current"
            return os.readlink(link) if link.is_symlink() else None

        def switch(self, version):
            tmp = self.dir / ".current"
            tmp.symlink_to(version)
            tmp.replace(self.dir / "current")

        def remove(self, version):
            (self.dir / version).unlink()

        def build_base(self, log):
            self.dir.mkdir(parents=True, exist_ok=True)
            version = f"v{len(self.versions()) + 1}"
            log(f"making {version}")
            time.sleep(float(os.environ.get("TOY_BUILD_SECONDS", "0")))  # a build takes time
            (self.dir / version).write_text(version * 100)
            self.switch(version)
            return next(v for v in self.versions() if v.version == version)

    class Toy(Runtime):
        name = "toy"

        def available(self):
            return "toys run nothing"

        def images(self):
            return Files()

    @hookimpl
    def sac_register_runtimes(register):
        register(Toy())
"""


@pytest.fixture
def toy(tmp_path, home, sac):
    path = make_plugin(tmp_path / "plugins", "sac-toy", "sac_toy", TOY)

    def run(*args: str):
        return sac("image", *args, "--runtime", "toy", env={"PYTHONPATH": str(path)})

    return run


def build(toy) -> str:
    done = toy("build", "base", "--json")
    assert done.returncode == 0, done.stderr
    assert "making " in done.stderr  # progress reached the user
    return json.loads(done.stdout)["version"]


def listing(toy) -> list[dict]:
    done = toy("list", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_builds_switch_and_rollback_walk_the_history_back(toy):
    assert [build(toy) for _ in range(3)] == ["v1", "v2", "v3"]
    assert [(v["version"], v["current"]) for v in listing(toy)] == [("v1", False), ("v2", False), ("v3", True)]
    assert toy("switch", "v1").stdout == "current: v1 (was v3)\n"
    assert toy("rollback").stdout == "current: v3 (was v1)\n"
    assert toy("rollback").stdout == "current: v2 (was v3)\n"  # a stack: each rollback one step further back
    assert toy("rollback").stdout == "current: v1 (was v2)\n"
    done = toy("rollback")
    assert done.returncode == 1 and "nothing to roll back to" in done.stderr


def test_rollback_skips_a_pruned_version(toy):
    for _ in range(3):
        build(toy)
    assert toy("prune", "v2").stdout == "removed v2\n"
    assert toy("rollback").stdout == "current: v1 (was v3)\n"


def test_switch_to_an_unknown_version_lists_the_known_ones(toy):
    build(toy)
    done = toy("switch", "v9")
    assert done.returncode == 1
    assert "no image version 'v9'" in done.stderr and "known versions: v1" in done.stderr


def test_prune_keeps_the_newest_the_current_and_those_in_use(toy, home):
    for _ in range(5):
        build(toy)
    toy("switch", "v2")
    live_agent(home, "user-of-v1", ref=str(home / "containers" / "toy" / "v1"))
    dead_agent(home, "was-on-v3", ref=str(home / "containers" / "toy" / "v3"))  # not running: no claim
    done = toy("prune", "--keep", "1", "--dry-run")
    assert done.stdout.splitlines() == [
        "kept v5: one of the 1 newest",
        "kept v2: current",
        "kept v1: used by user-of-v1",
        "would remove v4",
        "would remove v3",
    ]
    assert len(listing(toy)) == 5  # a dry run removes nothing
    assert toy("prune", "--keep", "1").returncode == 0
    assert [v["version"] for v in listing(toy)] == ["v1", "v2", "v5"]
    assert [v["used_by"] for v in listing(toy)] == [["user-of-v1"], [], []]


def test_prune_of_named_versions_refuses_all_reasons_at_once_and_removes_nothing(toy, home):
    for _ in range(3):
        build(toy)
    live_agent(home, "a1", ref=str(home / "containers" / "toy" / "v1"))
    done = toy("prune", "v1", "v2", "v3")
    assert done.returncode == 1
    assert "v1 is used by running agent(s) a1" in done.stderr and "v3 is the current version" in done.stderr
    assert len(listing(toy)) == 3


def test_status_counts_disk_and_agents(toy, home):
    build(toy)
    build(toy)
    live_agent(home, "a1", ref=str(home / "containers" / "toy" / "v1"))
    st = json.loads(toy("status", "--json").stdout)
    assert st == {"runtime": "toy", "current": "v2", "versions": 2, "disk_bytes": 400, "agents": {"v1": ["a1"]}}


def test_what_a_runtime_does_not_do_is_one_line(toy, sac, tmp_path):
    build(toy)
    for args in (("sandbox", str(tmp_path / "sb")), ("freeze", str(tmp_path)), ("build", "--from", str(tmp_path))):
        done = toy(*args)
        assert done.returncode == 1, args
        assert "Traceback" not in done.stderr and "full log" not in done.stderr, done.stderr
        assert done.stderr.splitlines()[-1].startswith("sac: error: this runtime "), done.stderr
    assert "this runtime has no sandbox workflow" in toy("sandbox", str(tmp_path / "sb")).stderr
    done = sac("image", "list", "--runtime", "local")
    assert done.returncode == 1 and "runtime 'local' has no images" in done.stderr


def test_a_failed_build_shows_the_log_path(toy, home):
    broken = home / "containers" / "toy"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text("a file where the store wants its directory")
    done = toy("build", "base")
    assert done.returncode == 1 and "full log: " in done.stderr
    log = done.stderr.split("full log: ", 1)[1].strip()
    assert "FAILED" in open(log).read()


def test_snapshot_schema_is_json_schema(sac):
    done = sac("image", "snapshot", "--schema")
    assert done.returncode == 0
    schema = json.loads(done.stdout)
    assert schema["$ref"] == "#/$defs/Snapshot"
    assert "packages" in schema["$defs"]["Snapshot"]["properties"]


def _state(home, name: str, ref: str, pid: int, pid_start: int | None) -> None:
    d = home / "runtime" / name
    d.mkdir(parents=True, exist_ok=True)
    state = {
        "name": name,
        "state": "ready",
        "pid": pid,
        "pid_start": pid_start,
        "spec_path": "x",
        "runtime": "toy",
        "started_at": time.time(),
        "updated_at": time.time(),
        "instance": {
            "runtime": "toy",
            "id": "",
            "cli": "claude",
            "home": "/h",
            "workdir": "/w",
            "data": {"image_ref": ref},
        },
    }
    (d / "state.json").write_text(json.dumps(state))


def live_agent(home, name: str, ref: str) -> None:
    """A runner's state as the runner writes it, whose pid is this (live) test process."""
    from sac.state import process_start

    _state(home, name, ref, os.getpid(), process_start(os.getpid()))


def dead_agent(home, name: str, ref: str) -> None:
    _state(home, name, ref, 0, None)


def test_a_snapshot_never_shows_env_values():
    from sac.images import redacted

    spec = """apiVersion: scitex-agent-container/v3
kind: Agent
spec:
  runtime: apptainer
  env: {TOKEN: tok-123}
  apptainer:
    env:
      KEY: |
        key-456
        more
    image: x.sif
  claude: {model: haiku}
"""
    out = redacted(spec)
    assert "tok-123" not in out and "key-456" not in out and "more" not in out
    assert "TOKEN: (redacted)" in out and "KEY: (redacted)" in out
    assert "image: x.sif" in out and "model: haiku" in out


def test_two_builds_at_once_make_two_versions(tmp_path, home, sac):
    """The core serialises a runtime's image commands: two builds that overlap do not both
    claim one version (without the lock, both made v1 and one overwrote the other)."""
    import concurrent.futures

    path = make_plugin(tmp_path / "plugins", "sac-toy", "sac_toy", TOY)
    env = {"PYTHONPATH": str(path), "TOY_BUILD_SECONDS": "1"}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(sac, "image", "build", "base", "--runtime", "toy", "--json", env=env) for _ in range(2)]
        made = sorted(json.loads(r.result().stdout)["version"] for r in runs)
    assert made == ["v1", "v2"]


def test_no_versions_is_an_empty_stdout_and_a_message_on_stderr(toy):
    done = toy("list")
    assert (done.returncode, done.stdout) == (0, "") and "no toy image versions yet" in done.stderr


def test_switch_rollback_and_prune_report_as_json(toy):
    for _ in range(3):
        build(toy)
    done = toy("switch", "v1", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"runtime": "toy", "current": "v1", "was": "v3"}
    done = toy("rollback", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"runtime": "toy", "current": "v3", "was": "v1"}
    done = toy("prune", "--keep", "1", "--dry-run", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {
        "runtime": "toy",
        "dry_run": True,
        "removed": ["v2", "v1"],
        "kept": {"v3": "current"},
    }
    done = toy("prune", "v2", "--json")
    assert json.loads(done.stdout)["removed"] == ["v2"] and [v["version"] for v in listing(toy)] == ["v1", "v3"]
