"""The CLI's help has one source: what `sac --help` lists for a command is the first line of
that command's own help, and listing it imports none of the command modules."""

from __future__ import annotations

import re
import subprocess
import sys

from sac.cli import COMMANDS


def listed(help_text: str) -> dict[str, str]:
    """The Commands section of a group's help: name -> summary (wrapped lines joined)."""
    rows: dict[str, str] = {}
    section = help_text.split("\nCommands:\n", 1)[1]
    name = None
    for line in section.splitlines():
        m = re.match(r"^  (\S+)\s{2,}(.*)$", line)
        if m:
            name, rows[m[1]] = m[1], m[2]
        elif line.startswith("    ") and name:  # click wraps a long summary under itself
            rows[name] += " " + line.strip()
    return rows


def first_line(help_text: str) -> str:
    """The first paragraph of a command's description, below its Usage line."""
    description = help_text.split("\n\n", 1)[1]
    return " ".join(description.split("\n\n", 1)[0].split())


def test_sac_help_lists_what_each_command_says_of_itself(sac):
    rows = listed(sac("--help", check=True).stdout)
    assert set(COMMANDS) <= set(rows)  # plugin commands, if any, are held to the same rule
    differ = {}
    for name, summary in rows.items():
        own = first_line(sac(name, "--help", check=True).stdout)
        summary = " ".join(summary.split())
        if name not in COMMANDS:  # a plugin's row is click's short help: the first sentence, cut to fit
            summary = summary.removesuffix("...")
        if own != summary and not (name not in COMMANDS and own.startswith(summary)):
            differ[name] = (summary, own)
    assert differ == {}, "sac --help and a command's own --help disagree (the summary lives in sac/cli COMMANDS)"


def test_sac_help_imports_no_command_module(home):
    code = (
        "import sys\nsys.argv = ['sac', '--help']\nfrom sac.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('LOADED=' + ','.join(sorted(m for m in sys.modules if m.startswith('sac.cli.'))), file=sys.stderr)\n"
    )
    for _ in range(2):  # the first run may fill the plugin-command cache, the second uses it
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    loaded = done.stderr.rsplit("LOADED=", 1)[1].split()
    # help_cache is the plugin-command cache reader, not a command group
    assert [m for m in ",".join(loaded).split(",") if m and m != "sac.cli.help_cache"] == []
