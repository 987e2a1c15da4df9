"""No behaviour is chosen by searching the text of an error (issue 13): what failed travels as
a type (an exception class, ``TurnResult.reason``, an exit status), so rewording a message can
never change what sac does. This reads the code of sac, its contract and its plugins for
``"words" in <an error, a message, a reason, a program's output>``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "sac", ROOT / "hookspecs" / "sac_hookspecs", *sorted((ROOT / "plugins").glob("*/sac_*"))]
#: Names of what holds an error's words.
WORDY = ("error", "message", "reason", "why", "stderr", "stdout", "detail", "str(e", "output", "text")
#: Functions that turn a foreign program's words (Apptainer's, which has no error codes) into a
#: hint for people; they never choose what sac does.
HINTS_ONLY = {"hint_for", "disk_hint"}


def text_searches(path: Path, root: Path = ROOT) -> list[str]:
    source = path.read_text()
    tree = ast.parse(source, str(path))
    found = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if (
            isinstance(node, ast.Compare)
            and isinstance(node.left, ast.Constant)
            and isinstance(node.left.value, str)
            and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops)
        ):
            searched = " ".join(ast.unparse(c) for c in node.comparators).lower()
            if any(w in searched for w in WORDY) and function not in HINTS_ONLY:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(node)}")
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, None)
    return found


def test_no_behaviour_is_chosen_by_searching_error_text():
    files = [p for root in SOURCES for p in sorted(root.rglob("*.py")) if "tests" not in p.parts]
    assert len(files) > 50  # it read the code, not nothing
    assert [hit for f in files for hit in text_searches(f)] == []


def test_the_check_sees_a_planted_search(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def send(answer):\n"
        "    error = answer.error\n"
        "    return 504 if 'took longer' in error else 502\n"
        "def hint_for(why):\n"
        "    return 'x' if 'fuse' in why else 'y'\n"
    )
    hits = [h.split(": ", 1)[1] for h in text_searches(planted, tmp_path)]
    assert hits == ["'took longer' in error"]
