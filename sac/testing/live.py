"""Helpers for tests that run real agents: the real claude CLI, the scripted model (sac's
``scripted`` provider plays ``SCRIPT``), a real runtime (local, Docker or Apptainer)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """\
rules:
  - match: "write the proof"
    tools:
      - name: Bash
        input:
          command: "echo \\"proof from HOME=$HOME\\" > proof.txt"
          description: write a proof file
    then: "I wrote proof.txt in the workdir."
  - match: "please fail"
    status: 500
  - match: "please hang"
    stall: 30
"""


def agent_spec(name: str, runtime: str, *, restart: str = "on-failure", interval: float = 60, extra: str = "") -> str:
    """A spec on the scripted model (script.yaml beside it), with health checks, a restart
    policy with short backoff, and ``extra`` appended under ``spec:``."""
    return f"""\
apiVersion: scitex-agent-container/v3
kind: Agent
metadata:
  labels:
    capabilities: [greeting, arithmetic]
spec:
  runtime: {runtime}
  claude:
    model: haiku
    provider: {{name: scripted, script: script.yaml}}
    allowed_tools: [Bash]
  startup_prompts:
    - "Reply with the string 'Hello! I am {name}' and nothing else."
  health:
    enabled: true
    interval: {interval}
  restart:
    policy: {restart}
    max_retries: 3
    backoff: {{initial: 0.2, factor: 2, max: 1}}
{extra}"""


def make_agent(home: Path, name: str, runtime: str, **kw) -> Path:
    """home/agents/NAME/spec.yaml (``agent_spec``) and its script.yaml (``SCRIPT``); the spec path."""
    folder = home / "agents" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "spec.yaml").write_text(agent_spec(name, runtime, **kw))
    (folder / "script.yaml").write_text(SCRIPT)
    return folder / "spec.yaml"


def docker_ready() -> str | None:
    """None if a Docker Engine answers, else why not."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    done = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    return None if done.returncode == 0 else f"no Docker Engine: {done.stderr.strip()[:200]}"


def ensure_docker_image(sac) -> None:
    """sac-base:latest in the Docker Engine, built with ``sac`` (the ``sac_cli`` fixture) if missing."""
    if subprocess.run(["docker", "image", "inspect", "sac-base:latest"], capture_output=True).returncode == 0:
        return
    # debootstrap from the apt mirror: minutes on a fresh, busy 2-core machine (60 s was not enough)
    done = sac("image", "build", "base", "--runtime", "docker", timeout=900)
    assert done.returncode == 0, done.stderr


RUNTIMES = ["local", "docker", "apptainer"]


def apptainer_ready() -> str | None:
    if shutil.which("apptainer") is None:
        return "apptainer is not installed (build/install-apptainer.sh builds it)"
    done = subprocess.run(["apptainer", "--version"], capture_output=True, text=True)
    return None if done.returncode == 0 else f"apptainer does not run: {done.stderr.strip()[:200]}"


#: Where the one base SIF of a test run is kept between runs (debootstrap + apptainer build,
#: ~40 s): a SAC_HOME of its own, $SAC_TEST_IMAGE_CACHE or ~/.cache/sac-testing/apptainer-home.
IMAGE_CACHE_ENV = "SAC_TEST_IMAGE_CACHE"


def apptainer_cache() -> Path:
    return Path(os.environ.get(IMAGE_CACHE_ENV) or "~/.cache/sac-testing/apptainer-home").expanduser()


def ensure_apptainer_image(home: Path) -> Path:
    """$SAC_HOME/containers/sac-base.sif of this test, linked to the cached SIF (built once)."""
    cache = apptainer_cache()
    cached = cache / "containers" / "sac-base.sif"
    if not cached.exists():
        done = subprocess.run(
            [sys.executable, "-m", "sac", "image", "build", "base", "--runtime", "apptainer"],
            capture_output=True,
            text=True,
            timeout=1800,
            env={**os.environ, "SAC_HOME": str(cache)},
        )
        assert done.returncode == 0, done.stderr
    target = home / "containers" / "sac-base.sif"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(cached.resolve())
    return target


def need_runtime(runtime: str, sac) -> None:
    """Skip the test (pytest.skip, a failure under SAC_NO_SKIP=1) unless ``runtime`` works
    here; make sure its base image exists."""
    import pytest

    if runtime == "docker":
        why = docker_ready()
        if why:
            pytest.skip(why)
        ensure_docker_image(sac)
    elif runtime == "apptainer":
        why = apptainer_ready()
        if why:
            pytest.skip(why)
        ensure_apptainer_image(Path(os.environ["SAC_HOME"]))


def status(sac, name: str) -> dict:
    """``sac agents status NAME --json``, decoded."""
    done = sac("agents", "status", name, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_for(predicate, timeout: float = 30, what: str = "condition") -> None:
    """Poll ``predicate`` every 0.1 s until it is true; AssertionError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def transcript(home: Path, name: str) -> list[dict]:
    """The agent's session.jsonl events ([] before its first)."""
    path = home / "runtime" / name / "session.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def assert_in_no_argv(secret: str) -> None:
    """``secret`` is in no process's command line on this host (`ps` shows argv to every user)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except OSError:
            continue
        assert secret not in cmdline, f"pid {pid}: {cmdline!r}"
