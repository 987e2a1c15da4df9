"""What sac's core adds to a runtime's images (:class:`sac_hookspecs.Images`): the history
that ``rollback`` walks, which versions live agents use (never removed), the prune policy
and the reproducibility snapshot. The runtime builds, lists, switches and removes.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path

import msgspec

from sac.errors import SacError
from sac.paths import sac_home
from sac.state import AgentDir
from sac_hookspecs import Images, ImageVersion


@contextlib.contextmanager
def locked(runtime: str):
    """One `sac image` command at a time changes a runtime's images (two builds in one
    second would claim one version; a prune racing a switch could remove the new current
    one). A build holds it for its minute; the others wait."""
    import fcntl

    from sac.nofollow import open_append
    from sac_hookspecs.toolkit.files import private_dirs

    fd = open_append(private_dirs(sac_home() / "containers") / f".lock-{runtime}")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def history_path(runtime: str) -> Path:
    return sac_home() / "containers" / f"history-{runtime}.json"


class Switch(msgspec.Struct):
    version: str
    at: float


def history(runtime: str) -> list[Switch]:
    try:
        return msgspec.json.decode(history_path(runtime).read_bytes(), type=list[Switch])
    except (OSError, msgspec.DecodeError, msgspec.ValidationError):
        return []


def record(runtime: str, version: str, before: str | None) -> None:
    """``version`` became current, replacing ``before`` (kept first when the history is new,
    so the first rollback has somewhere to go)."""
    from sac_hookspecs.toolkit.files import write_atomic

    path = history_path(runtime)
    entries = history(runtime)
    if before and (not entries or entries[-1].version != before):
        entries.append(Switch(version=before, at=time.time()))
    entries = [*entries, Switch(version=version, at=time.time())][-200:]
    write_atomic(path, msgspec.json.encode(entries))


def find(images: Images, version: str) -> ImageVersion:
    versions = images.versions()
    match = [v for v in versions if v.version == version]
    if not match:
        known = ", ".join(v.version for v in versions) or "none: `sac image build base` makes one"
        raise SacError(f"no image version {version!r}", hint=f"known versions: {known}")
    return match[0]


def switch(runtime: str, images: Images, version: str) -> str | None:
    """Make ``version`` current; return the version that was."""
    find(images, version)
    before = images.current()
    try:
        images.switch(version)
    except (RuntimeError, OSError) as e:
        raise SacError(f"switch failed: {e}", hint=f"the current version is still {before}") from None
    record(runtime, version, before)
    return before


def rollback(runtime: str, images: Images) -> tuple[str | None, str]:
    """Back one step in the history of current versions: the one before the last switch or
    build; a second rollback goes one further back (the history is a stack)."""
    from sac_hookspecs.toolkit.files import write_atomic

    current = images.current()
    existing = {v.version for v in images.versions()}
    past = history(runtime)
    while past and (past[-1].version == current or past[-1].version not in existing):
        past.pop()
    if not past:
        raise SacError("nothing to roll back to", hint="no earlier version is recorded; see `sac image list`")
    target = past[-1].version
    try:
        images.switch(target)
    except (RuntimeError, OSError) as e:
        raise SacError(f"rollback failed: {e}", hint=f"the current version is still {current}") from None
    write_atomic(history_path(runtime), msgspec.json.encode(past))
    return current, target


def in_use(runtime: str) -> dict[str, list[str]]:
    """image ref -> the live agents whose instance runs it."""
    used: dict[str, list[str]] = {}
    root = sac_home() / "runtime"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            agent = AgentDir(d.name)
        except SacError:
            continue
        st = agent.read_state()
        if st is None or st.runtime != runtime or st.instance is None or not agent.runner_alive(st):
            continue
        ref = st.instance.data.get("image_ref")
        if ref:
            used.setdefault(ref, []).append(d.name)
    return used


def users(version: ImageVersion, used: dict[str, list[str]]) -> list[str]:
    return used.get(version.ref, [])


def removable(runtime: str, images: Images, versions: list[str]) -> None:
    """Raise if any of ``versions`` is current or used by a live agent: all reasons at once."""
    current, used = images.current(), in_use(runtime)
    refusals = []
    for name in versions:
        v = find(images, name)
        if name == current:
            refusals.append(f"{name} is the current version (switch to another first)")
        elif users(v, used):
            refusals.append(f"{name} is used by running agent(s) {', '.join(users(v, used))}")
    if refusals:
        raise SacError("prune refused: " + "; ".join(refusals), hint="stop those agents, or keep the version")


def prune_plan(runtime: str, images: Images, keep: int) -> tuple[list[str], dict[str, str]]:
    """(versions to remove, kept version -> why) for ``prune --keep N``: the N newest, the
    current one and every one a live agent uses are kept."""
    versions = sorted(images.versions(), key=lambda v: (v.created, v.version), reverse=True)
    current, used = images.current(), in_use(runtime)
    kept: dict[str, str] = {}
    remove = []
    for i, v in enumerate(versions):
        if v.version == current:
            kept[v.version] = "current"
        elif users(v, used):
            kept[v.version] = "used by " + ", ".join(users(v, used))
        elif i < keep:
            kept[v.version] = f"one of the {keep} newest"
        else:
            remove.append(v.version)
    return remove, kept


# -- the snapshot: a reproducibility capsule for a methods section --------------------------


class SnapshotAgent(msgspec.Struct, kw_only=True):
    name: str
    spec_path: str
    spec_sha256: str  # of the spec file as it is (its env values included)
    spec: str  # the spec file's text, with the values of `env` sections redacted


class Snapshot(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``sac image snapshot``: what an agent ran on, enough to rebuild it and to cite it.
    Nothing in it depends on when it was taken: two snapshots of one image are identical."""

    format: str = "sac-image-snapshot/1"
    runtime: str
    version: str
    digest: str
    size: int
    created: float  # when the image was built
    source: str
    definition: str
    packages: list[str]  # name=version, sorted
    built_with: dict[str, str]  # tool versions at build time
    tools: dict[str, str]  # sac, the runtime and the claude CLI that run it now
    agents: list[SnapshotAgent]  # agents whose last instance ran this version, by name


def redacted(spec_text: str) -> str:
    """The spec as YAML with the value of every ``env`` entry replaced: a snapshot is for a
    paper, and env sections may hold tokens (the runtimes keep them in 0600 files). Parsed,
    not edited as text, so no multi-line value slips through (comments do not survive)."""
    import yaml

    def walk(node):
        if isinstance(node, dict):
            return {
                k: ({n: "(redacted)" for n in v} if k == "env" and isinstance(v, dict) else walk(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(x) for x in node]
        return node

    try:
        return yaml.safe_dump(walk(yaml.safe_load(spec_text)), sort_keys=False)
    except yaml.YAMLError:
        return "(not shown: the spec is not valid YAML now)\n"


def snapshot(runtime: str, images: Images, version: str) -> Snapshot:
    from sac import __version__
    from sac.about import claude_cli

    v = find(images, version)
    agents = []
    root = sac_home() / "runtime"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            st = AgentDir(d.name).read_state()
        except SacError:
            continue
        if st is None or st.runtime != runtime or st.instance is None or st.instance.data.get("image_ref") != v.ref:
            continue
        spec = Path(st.spec_path)
        try:
            text = redacted(spec.read_text())
        except OSError:
            text = ""
        digest = hashlib.sha256(spec.read_bytes()).hexdigest() if text else ""
        agents.append(SnapshotAgent(name=d.name, spec_path=str(spec), spec=text, spec_sha256=digest))
    cli = claude_cli()
    tools = {"sac": __version__, runtime: images.runtime_version(), "claude_cli": cli.get("version") or "unknown"}
    return Snapshot(
        runtime=runtime,
        version=v.version,
        digest=v.digest,
        size=v.size,
        created=v.created,
        source=v.source,
        definition=v.definition,
        packages=sorted(v.packages or images.packages(version)),
        built_with=dict(sorted(v.tools.items())),
        tools=tools,
        agents=agents,
    )
