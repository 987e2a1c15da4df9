"""Plugins use sac through its contract only: ``sac_hookspecs`` (hooks, types, the toolkit), their
own package, the standard library and third-party packages; never ``sac`` or ``sac.*``. So a
third-party author can do whatever a first-party plugin does with the contract alone, and the
core can change its internals without breaking a plugin."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRST_PARTY = {
    "sac_runtime_apptainer",
    "sac_runtime_docker",
    "sac_provider_deepseek",
    "sac_transport_a2a",
    "sac_placement_slurm",
}


def _is_core(module: str) -> bool:
    return module == "sac" or module.startswith("sac.")


def core_imports(path: Path) -> list[str]:
    """``file:line: what`` for every import of the core in ``path``: ``import sac...``, ``from
    sac... import``, at any depth (inside functions too), and ``importlib.import_module`` or
    ``__import__`` of a literal name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else []  # relative: the plugin's own
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0].value
            names = [arg] if called in ("import_module", "__import__") and isinstance(arg, str) else []
        else:
            continue
        found += [(node.lineno, name) for name in names if _is_core(name)]
    return [f"{path}:{line}: imports {name}" for line, name in sorted(found)]


def plugin_packages() -> list[Path]:
    return sorted(p.parent for p in REPO.glob("plugins/*/*/__init__.py"))


def test_plugins_import_nothing_of_the_core():
    packages = plugin_packages()
    assert FIRST_PARTY <= {p.name for p in packages}  # the glob found them: the check is not vacuous
    found = [hit for package in packages for path in sorted(package.rglob("*.py")) for hit in core_imports(path)]
    assert not found, (
        "plugins may use sac only through sac_hookspecs (and its toolkit):\n  "
        + "\n  ".join(found)
        + "\n  hint: move what they need into sac_hookspecs.toolkit (docs/plugins.md), or pass it through the hook"
    )


def test_core_imports_finds_every_form_and_nothing_else(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import os, sac\n"
        "import sac_hookspecs\n"
        "from sac_hookspecs.toolkit.files import write_atomic\n"
        "from . import engine\n"
        "from .sac import x\n"
        "def f():\n"
        "    from sac.paths import sac_home\n"
        "    import sac.proc as p\n"
        "    import importlib\n"
        "    importlib.import_module('sac.atomic')\n"
        "    __import__('sac')\n"
        "    importlib.import_module('sac_hookspecs')\n"
    )
    assert core_imports(planted) == [
        f"{planted}:1: imports sac",
        f"{planted}:7: imports sac.paths",
        f"{planted}:8: imports sac.proc",
        f"{planted}:10: imports sac.atomic",
        f"{planted}:11: imports sac",
    ]
