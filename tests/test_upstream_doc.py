"""docs/coming-from-upstream.md is true of the real CLI: every `sac ...` command it says
exists answers `--help`, every upstream command it calls the same exists under that name,
and every one it says is renamed or not carried is indeed not a command here."""

from __future__ import annotations

import concurrent.futures
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "coming-from-upstream.md"
WORD = re.compile(r"^[a-z][a-z0-9-]*$")


def section(text: str, title: str) -> str:
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def rows(text: str) -> list[list[str]]:
    """The body rows of every table in ``text``, as cells (an escaped \\| stays in its cell)."""
    out = []
    for line in text.splitlines():
        if line.startswith("|") and not re.match(r"^\|[-| ]+\|$", line) and not line.startswith("| upstream"):
            out.append([c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return out


def command_path(words: list[str]) -> list[str]:
    """The command words of a command line (up to its first argument or option); a lone
    option of the group (``--help-recursive``) is kept."""
    if words and words[0].startswith("--"):
        return words[:1]
    path = []
    for w in words:
        if not WORD.match(w):
            break
        path.append(w)
    return path


def upstream_commands(cell: str) -> list[list[str]]:
    """`image build [base|scitex]`, `host list / add / remove`: one path per alternative
    (a bare word after " / " is a sibling of the first)."""
    out = []
    for item in re.findall(r"`([^`]+)`", cell):
        first, *others = [alt.split() for alt in item.split(" / ")]
        head = command_path(first)
        out.append(head)
        out += [head[:-1] + command_path(o) for o in others if command_path(o)]
    return out


def answers_help(path: list[str]) -> tuple[list[str], int, str]:
    args = path if path[0].startswith("--") else [*path, "--help"]
    done = subprocess.run([sys.executable, "-m", "sac", *args], capture_output=True, text=True, timeout=120)
    return path, done.returncode, done.stderr


def test_every_command_the_upstream_page_names_is_as_it_says():
    text = DOC.read_text()
    table = rows(section(text, "Commands"))
    assert len(table) >= 45
    exist, absent = set(), set()
    for upstream, here, verdict in table:
        for cmd in re.findall(r"`(sac [^`]+)`", here):
            exist.add(tuple(command_path(cmd.split()[1:])))
        if verdict.startswith("same"):
            exist |= {tuple(p) for p in upstream_commands(upstream)}
        elif verdict.startswith(("renamed", "not carried")):
            absent |= {tuple(p) for p in upstream_commands(upstream)}
            assert ":" in verdict and len(verdict.split(":", 1)[1].strip()) > 10, f"say why: {verdict}"
        else:
            assert verdict.startswith("new") and not upstream.strip(), verdict
    assert (
        ("agents", "start") in exist
        and ("fleet", "launch") in exist
        and ("fleet", "notify") in absent
        and ("--help-recursive",) in exist
    )
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        results = list(pool.map(answers_help, [list(p) for p in sorted(exist | absent)]))
    missing = [" ".join(p) for p, code, _ in results if tuple(p) in exist and code != 0]
    assert missing == [], "the page says these exist, but `sac ... --help` fails"
    present = [" ".join(p) for p, code, err in results if tuple(p) in absent and code == 0]
    assert present == [], "the page says these are not commands here, but they are"
    assert all(code == 2 and "No such command" in err for p, code, err in results if tuple(p) in absent)


def test_the_spec_fields_and_routes_it_maps_to_are_ours():
    text = DOC.read_text()
    spec_doc = (ROOT / "docs" / "spec.md").read_text()
    fields = {f for _, here in rows(section(text, "Spec fields")) for f in re.findall(r"`(spec\.[a-z_.]+)`", here)}
    assert len(fields) >= 5 and [f for f in fields if f"`{f}`" not in spec_doc] == []
    routes_doc = (ROOT / "docs" / "talking-to-agents.md").read_text()
    routes = {
        r for _, here, _ in rows(section(text, "HTTP routes")) for r in re.findall(r"`((?:GET|POST) [^`]+)`", here)
    }
    assert len(routes) >= 8 and [r for r in routes if r.split()[1] not in routes_doc] == []
