"""The spec reference documents every field the installed schema accepts."""

from __future__ import annotations

from pathlib import Path

import msgspec.inspect as mi

from sac.plugins import Plugins

SPEC_DOC = Path(__file__).resolve().parent.parent / "docs" / "spec.md"


def field_paths(t: mi.Type, prefix: str) -> list[str]:
    """Dotted paths of every Struct field reachable from ``t`` (dict values as NAME)."""
    while isinstance(t, mi.Metadata):
        t = t.type
    if isinstance(t, mi.UnionType):
        return [p for m in t.types for p in field_paths(m, prefix)]
    if isinstance(t, (mi.ListType, mi.VarTupleType)):
        return field_paths(t.item_type, prefix) if isinstance(t.item_type, mi.StructType) else []
    if isinstance(t, mi.DictType):
        return field_paths(t.value_type, f"{prefix}.NAME") if isinstance(t.value_type, mi.StructType) else []
    if not isinstance(t, mi.StructType):
        return []
    out = []
    for f in t.fields:
        path = f"{prefix}.{f.encode_name}" if prefix else f.encode_name
        out += [path, *field_paths(f.type, path)]
    return out


def test_every_spec_field_is_documented():
    paths = sorted(set(field_paths(mi.type_info(Plugins().spec_type), "")))
    # list entries (mounts, binds) share their parent's row
    paths = [p for p in paths if not p.startswith(("spec.mounts.", "spec.apptainer.binds."))]
    doc = SPEC_DOC.read_text()
    missing = [p for p in paths if f"`{p}`" not in doc]
    assert missing == []


def test_every_promise_names_a_test_that_exists():
    """docs/promises.md: each row's test is a real test function (a renamed or deleted test
    turns its promise into one with no test, and this fails)."""
    import re

    root = Path(__file__).resolve().parent.parent
    rows = [ln for ln in (root / "docs" / "promises.md").read_text().splitlines() if ln.startswith("| ") and "::" in ln]
    assert len(rows) >= 30
    missing = []
    for row in rows:
        for path, name in re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", row):
            source = root / path
            if not source.is_file() or not re.search(rf"^def {name}\(", source.read_text(), re.M):
                missing.append(f"{path}::{name}")
        assert re.search(r"`tests/[\w/]+\.py::test_\w+`", row), f"a row without a test: {row}"
    assert missing == []


# -- the plugin-author reference (docs/plugin-reference.md), generated from sac_hookspecs ----


def plugin_reference():
    """build/plugin_reference.py as a module (build/ is scripts, not a package)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parent.parent / "build" / "plugin_reference.py"
    spec = importlib.util.spec_from_file_location("plugin_reference", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def test_plugin_reference_is_what_the_code_says():
    """The committed page is exactly what the generator renders from the installed
    sac_hookspecs: a changed docstring, signature, default or new public name without
    `make docs` fails here, with the command that fixes it and the first lines that differ."""
    import difflib

    gen = plugin_reference()
    committed = gen.OUTPUT.read_text() if gen.OUTPUT.exists() else ""
    rendered = gen.render()
    if committed != rendered:
        diff = difflib.unified_diff(
            committed.splitlines(), rendered.splitlines(), "docs/plugin-reference.md", "rendered", lineterm="", n=1
        )
        excerpt = "\n".join(list(diff)[:40])
        raise AssertionError(f"docs/plugin-reference.md is stale; run: {gen.REGENERATE}\n{excerpt}")
    assert "(plugin-reference.md)" in (SPEC_DOC.parent / "plugins.md").read_text(), "link it from docs/plugins.md"
    # links into it (plugins.md, providers.md) name headings that exist (GitHub's anchors)
    import re

    anchors = {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^#+ (.+)$", rendered, re.M)}
    links = {
        (doc.name, a)
        for doc in SPEC_DOC.parent.glob("*.md")
        for a in re.findall(r"plugin-reference\.md#([\w-]+)", doc.read_text())
    }
    assert links and {(doc, a) for doc, a in links if a not in anchors} == set()


def test_every_hook_class_and_public_method_of_the_contract_has_a_docstring():
    gen = plugin_reference()
    entries = gen.walk()
    # the walk is generic; these prove it saw the contract rather than nothing
    kinds = {(e.name, e.kind) for e in entries}
    assert {
        ("sac_register_runtimes", "hook"),
        ("Runtime", "class"),
        ("Instance", "struct"),
        ("Agent", "dataclass"),
    } <= kinds
    missing = gen.undocumented(entries)
    assert not missing, f"write a docstring (docs/plugin-reference.md shows it) for: {', '.join(missing)}"


def test_the_reference_picks_up_new_names_and_says_what_the_base_does(tmp_path, monkeypatch):
    """Nothing in the generator lists classes by hand: a submodule's __all__ (or, without one,
    what it defines) is rendered, and a method or class without a docstring is named."""
    pkg = tmp_path / "contract_x"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""A contract."""\nfrom .kit import Base\n\n__all__ = ["Base"]\n')
    (pkg / "kit.py").write_text(
        '"""Helpers."""\n'
        "class Base:\n"
        '    """A base."""\n'
        "    name: str = 'x'  # what users write\n\n"
        "    def cheap(self) -> list[int]:\n"
        '        """Cheap."""\n'
        "        return []\n\n"
        "    async def needed(self, url: str, *, timeout: float = 5.0) -> bool:\n"
        '        """Needed."""\n'
        "        raise NotImplementedError(url)\n\n"
        "    def quiet(self):\n"
        "        pass\n\n"
        "def helper(a, b=1):\n"
        "    return a\n"
    )
    (pkg / "_private.py").write_text("def hidden():\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    gen = plugin_reference()
    entries = {e.name: e for e in gen.walk("contract_x")}
    assert set(entries) == {"Base", "helper"}
    assert entries["Base"].import_from == "contract_x" and entries["helper"].import_from == "contract_x.kit"
    members = {m.name: m for m in entries["Base"].members}
    assert members["name"].signature == ": str = 'x'" and members["name"].doc == "what users write"
    assert members["cheap"].default == "default: returns `[]`"
    assert members["needed"].kind == "async method"
    assert members["needed"].signature == "(self, url: str, *, timeout: float = 5.0) -> bool"
    assert members["needed"].default == "no default: the base class raises NotImplementedError"
    assert members["quiet"].default == "default: does nothing"
    assert gen.undocumented(list(entries.values())) == ["contract_x.kit.Base.quiet", "contract_x.kit.helper"]
    page = gen.render("contract_x")
    assert "#### `async needed(self, url: str, *, timeout: float = 5.0) -> bool`" in page
    assert "### `helper`" in page and "hidden" not in page


# -- README: getting in (issue 14) ----------------------------------------------------------

ROOT = SPEC_DOC.parent.parent


def readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    assert f"\n## {title}\n" in text, f"README.md has no '## {title}' section"
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_readme_says_how_sac_gets_on_path_from_a_clone_and_from_the_pyz():
    install = readme_section("Install")
    for needed in (
        "make dev",
        ".venv/bin/sac",
        'export PATH="$PWD/.venv/bin:$PATH"',  # from a clone
        "python3 sac.pyz",
        "alias sac=",  # from the pyz
        "`pip install sac` installs an **unrelated** project",
        'eval "$(sac completion bash)"',
        "sac completion fish",
        "docs/coming-from-upstream.md",
    ):
        assert needed in install, needed


def test_the_first_agent_the_readme_runs_is_one_that_runs_anywhere():
    """The first agent copied is the offline one, and it is offline: the scripted model, no
    runtime of its own (the README runs it on `local`)."""
    import re

    import yaml

    text = (ROOT / "README.md").read_text()
    copied = re.findall(r"cp -r examples/agents/([\w-]+)", text)
    assert copied and copied[0] == "offline-agent"
    assert text.index("offline-agent") < text.index("hello-agent")
    spec = yaml.safe_load((ROOT / "examples/agents/offline-agent/spec.yaml").read_text())["spec"]
    assert spec["claude"]["provider"]["name"] == "scripted" and "runtime" not in spec
    assert "SAC_RUNTIME=local" in readme_section("Your first agent: one that runs anywhere")


def test_readme_says_what_make_demo_leaves_behind_and_mentions_make_test_fast():
    import re

    demo = (ROOT / "examples" / "demo.sh").read_text()
    [home] = re.findall(r"SAC_HOME=\$\{SAC_HOME:-([^}]+)\}", demo)  # where demo.sh keeps its agents
    names = re.findall(r'agents/(offline-agent)-\$n"', demo)
    section = readme_section("Try it, test it")
    assert "make test-fast" in section
    assert f"SAC_HOME={home} .venv/bin/sac agents status" in section
    assert names and all(f"agents/{n}-1" in section and f"agents/{n}-2" in section for n in names)
    assert "make clean" in section and ".demo" in (ROOT / "Makefile").read_text().split("\nclean:", 1)[1]


def test_make_dev_says_what_it_does_before_each_slow_step():
    """`make dev` takes a minute the first time: a line on stderr before installing uv and
    before installing the packages (make -n -B: what it would run, without running it)."""
    import subprocess

    done = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", "dev"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for slow in ("-m pip install", "uv sync"):
        at = next(i for i, line in enumerate(lines) if slow in line)
        said = [line for line in lines[:at] if line.startswith("echo 'make: installing") and line.endswith(">&2")]
        assert said, f"nothing said on stderr before `{slow}`"
    assert lines[-1].startswith("echo 'make: done: run .venv/bin/sac")
