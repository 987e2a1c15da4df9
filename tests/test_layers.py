"""The core's import graph: no circle, and no import from a lower layer up to a higher one.

Every module of ``sac`` has a layer below; a module may import (at the top or inside a
function: a lazy import is still a dependency) only modules of its own layer or lower. A new
module must be given a layer here, which is the moment to decide where it belongs.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SAC = Path(__file__).resolve().parent.parent / "sac"

#: Lowest first. Within a layer modules may import each other (without a circle).
LAYERS: list[tuple[str, list[str]]] = [
    (
        "foundations: no sac state, no plugins",
        [
            "sac",
            "sac.errors",
            "sac.paths",
            "sac.names",
            "sac.trust",
            "sac.nofollow",
            "sac.claude_cli",
            "sac.concurrently",
            "sac.hostlimits",
            "sac.relaunch",
            "sac.spec",
            "sac.spec.errors",
            "sac.spec.validate",
            "sac.spec.load",
            "sac.spec.schema",
        ],
    ),
    (
        "what sac keeps and reads: settings, agent state, transcripts, the control plane's files",
        [
            "sac.config",
            "sac.lookup",
            "sac.state",
            "sac.transcript",
            "sac.controlplane",
            "sac.hosts",
            "sac.images",
            "sac.about",
            "sac.model",
            "sac.model.script",
            "sac.model.server",
        ],
    ),
    (
        "plugins and what they are given",
        [
            "sac.plugins",
            "sac.defaults",
            "sac.defaults.credentials",
            "sac.defaults.providers",
            "sac.defaults.runtime_local",
            "sac.defaults.placement_local",
            "sac.placing",
            "sac.credentials",
            "sac.agent",
        ],
    ),
    (
        "the runner (one agent's process)",
        [
            "sac.runner",
            "sac.runner.__main__",
            "sac.runner.entry",
            "sac.runner.control",
            "sac.runner.session",
            "sac.runner.home",
            "sac.runner.runner",
            "sac.runner.forkserver",
        ],
    ),
    ("driving agents", ["sac.preflight", "sac.lifecycle", "sac.foreground", "sac.peers", "sac.fleet"]),
    (
        "the Python API and the control plane",
        ["sac.api", "sac.listen", "sac.listen.server", "sac.listen.card", "sac.listen.routes", "sac.listen.openapi"]
        + ["sac.listen.app", "sac.listen.status_cache", "sac.listen.web", "sac.listen.loopback"],
    ),
    ("the CLI", ["sac.cli", "sac.__main__"]),  # and every sac.cli.* module
    (
        "the pytest plugin (it drives sac as its users do)",
        ["sac.testing", "sac.testing.home", "sac.testing.live", "sac.testing.plugin"],
    ),
]


def layer_of(module: str) -> int:
    for i, (_, members) in enumerate(LAYERS):
        if module in members or (module.startswith("sac.cli.") and "sac.cli" in members):
            return i
    raise KeyError(module)


def modules(root: Path = SAC) -> dict[str, Path]:
    found = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> dict[str, int]:
    """The sac modules ``name`` imports (anywhere in it), each with the line of its import."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        else:
            continue
        for c in candidates:
            if c in known and c != name:
                found.setdefault(c, node.lineno)
    return found


def graph(root: Path = SAC) -> tuple[dict[str, dict[str, int]], dict[str, Path]]:
    mods = modules(root)
    return {name: imports(name, path, set(mods)) for name, path in mods.items()}, mods


def circles(edges: dict[str, dict[str, int]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), as sorted lists."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def upward(edges: dict[str, dict[str, int]], mods: dict[str, Path]) -> list[str]:
    bad = []
    for name, targets in sorted(edges.items()):
        for target, line in sorted(targets.items()):
            if layer_of(target) > layer_of(name):
                bad.append(
                    f"{mods[name].relative_to(SAC.parent)}:{line}: {name} ({LAYERS[layer_of(name)][0]}) "
                    f"imports {target} ({LAYERS[layer_of(target)][0]})"
                )
    return bad


def test_every_module_has_a_layer():
    unplaced = [m for m in sorted(modules()) if not _placed(m)]
    assert not unplaced, f"give these modules a layer in tests/test_layers.py: {unplaced}"


def _placed(module: str) -> bool:
    try:
        layer_of(module)
    except KeyError:
        return False
    return True


def test_no_import_circle():
    edges, _ = graph()
    assert circles(edges) == []


def test_no_import_from_a_lower_layer_up():
    edges, mods = graph()
    assert upward(edges, mods) == []


@pytest.mark.parametrize(
    ("planted", "expect"),
    [
        ("from sac.cli import main\n", "upward"),  # the state imports the CLI
        ("def f():\n    from sac import lifecycle\n", "upward"),  # lazily: still a dependency
        ("from sac.state import AgentDir\n", "circle"),  # sac.transcript <-> sac.state
    ],
)
def test_the_checks_catch_a_planted_import(tmp_path, planted, expect):
    """The checks above fail on a bad import (run on a copy of sac/ with one planted)."""
    import shutil

    copy = tmp_path / "sac"
    shutil.copytree(SAC, copy, ignore=shutil.ignore_patterns("__pycache__"))
    target = copy / ("state.py" if expect == "upward" else "transcript.py")
    if expect == "circle":
        (copy / "state.py").write_text((copy / "state.py").read_text() + "\nfrom sac.transcript import Event\n")
    target.write_text(target.read_text() + "\n" + planted)
    edges, mods = graph(copy)
    if expect == "circle":
        assert ["sac.state", "sac.transcript"] in circles(edges)
    else:
        assert any(line.startswith("sac/state.py:") for line in _upward_in(edges, mods, copy))


def _upward_in(edges, mods, root: Path) -> list[str]:
    out = []
    for name, targets in edges.items():
        for target, line in targets.items():
            if layer_of(target) > layer_of(name):
                out.append(f"{mods[name].relative_to(root.parent)}:{line}: {name} imports {target}")
    return out
