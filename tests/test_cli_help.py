"""The CLI's help has one source: what `sac --help` lists for a command is the first line of
that command's own help, and listing it imports none of the command modules."""

from __future__ import annotations

import re
import subprocess
import sys

from sac.cli.root import COMMANDS


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
    assert differ == {}, "sac --help and a command's own --help disagree (the summary is in COMMANDS)"


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


# -- sac --help from the help cache (issue 15): no click, nothing heavy ------------------

#: What a plain `sac --help` must not import once a previous run saved its help: click costs
#: more than the interpreter's start-up, and each of the others a noticeable part of it.
NOT_FOR_HELP = (
    "click",
    "sac.cli.root",
    "sac.plugins",
    "importlib.metadata",
    "msgspec",
    "json",
    "re",
    "pathlib",
    "typing",
    "hashlib",
    "shutil",
)


def run_help(env: dict[str, str] | None = None, args: tuple[str, ...] = ("--help",)) -> tuple[str, list[str]]:
    """`sac --help` in a fresh interpreter: what it printed, and which of NOT_FOR_HELP it
    imported beyond what the bare interpreter had already."""
    import os

    code = (
        f"import sys\nbare = set(sys.modules)\nsys.argv = ['sac', *{list(args)!r}]\nfrom sac.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nsys.stdout.flush()\n"
        f"print('HEAVY=' + ','.join(m for m in {NOT_FOR_HELP!r} if m in sys.modules and m not in bare), "
        "file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )
    heavy = done.stderr.rsplit("HEAVY=", 1)[1].strip()
    return done.stdout, heavy.split(",") if heavy else []


def test_a_second_sac_help_prints_the_first_ones_text_without_click(home):
    first, heavy = run_help()
    assert "click" in heavy and "\nCommands:\n" in first  # click rendered it
    for args in (("--help",), ("-h",)):
        again, heavy = run_help(args=args)
        assert heavy == [], f"sac {args[0]} imported {heavy}"
        assert again == first


def test_the_saved_help_is_printed_only_while_what_it_shows_is_unchanged(home):
    """The copy is what is printed (a marked copy shows), and anything the help depends on
    (the plugins, the language, the terminal's width) makes click render it again."""
    run_help()
    [saved] = (home / "cache").glob("help-*.txt")
    key, _, text = saved.read_text().partition("\n")
    saved.write_text(key + "\n" + text.replace("Commands:", "Commands (saved):"))
    assert "Commands (saved):" in run_help()[0]
    for env in ({"SAC_PLUGINS": ""}, {"LANGUAGE": "fr"}, {"COLUMNS": "60"}):
        shown, heavy = run_help(env)
        assert "Commands (saved):" not in shown and "\nCommands:\n" in shown and "click" in heavy, env


def test_a_saved_help_that_is_not_sacs_own_is_never_printed(home, tmp_path):
    """Review: SAC_HOME can sit where others write; the copy was opened as any file: a link to
    a fifo hung `sac --help`, /dev/zero ate the memory, a planted text reached the terminal
    with its escapes. Only a regular file of this user's, writable by no one else, with no
    control characters, is printed."""
    import os

    run_help()
    [saved] = (home / "cache").glob("help-*.txt")
    assert oct(saved.stat().st_mode & 0o777) == oct(0o600)
    key, _, text = saved.read_text().partition("\n")
    planted = key + "\n" + text.replace("Commands:", "Commands (planted):")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for plant in ("link-to-fifo", "link-to-file", "escapes", "others-may-write"):
        saved.unlink()
        if plant == "link-to-fifo":
            saved.symlink_to(fifo)
        elif plant == "link-to-file":
            (tmp_path / "text").write_text(planted)
            saved.symlink_to(tmp_path / "text")
        elif plant == "escapes":
            saved.write_text(planted.replace("Commands (planted):", "Commands (planted):\x1b]52;c;aGk=\x07"))
        else:
            saved.write_text(planted)
            saved.chmod(0o666)
        shown, heavy = run_help()  # (a hang fails run_help's timeout)
        assert "(planted)" not in shown and "\nCommands:\n" in shown and "click" in heavy, plant


def test_python_m_sac_help_keeps_one_copy_whatever_the_directory(home, tmp_path):
    for n in range(3):
        where = tmp_path / f"d{n}"
        where.mkdir()
        subprocess.run([sys.executable, "-m", "sac", "--help"], cwd=where, capture_output=True, check=True)
    assert len(list((home / "cache").glob("help-*.txt"))) == 1


def test_a_full_disk_under_the_saved_help_is_one_line(home):
    subprocess.run([sys.executable, "-m", "sac", "--help"], capture_output=True, check=True)  # saved
    assert run_help()[1] == []  # the next one prints the copy
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "sac", "--help"], stdout=full, stderr=subprocess.PIPE, text=True)
    assert done.returncode == 1 and done.stderr.startswith("sac: error: ") and "Traceback" not in done.stderr


def test_a_help_click_renders_at_a_forced_width_is_not_saved(home):
    """click's test runner wraps help to 80 columns, which no terminal gets (78 at most):
    that text must never be what `sac --help` prints."""
    from click.testing import CliRunner

    from sac.cli.root import cli

    assert "\nCommands:\n" in CliRunner().invoke(cli, ["--help"], prog_name="sac").output
    assert list((home / "cache").glob("help-*.txt")) == []


def test_the_help_width_is_clicks(monkeypatch):
    """help_cache.width() finds the width click wraps help to, without shutil."""
    import click

    from sac.cli import help_cache

    for columns in ("100", "80", "79", "60", "51", "30", "0", "-4", "wide", None):
        if columns is None:
            monkeypatch.delenv("COLUMNS", raising=False)
        else:
            monkeypatch.setenv("COLUMNS", columns)
        assert help_cache.width() == click.HelpFormatter().width, columns


def test_the_help_cache_lives_in_sac_home(monkeypatch, tmp_path):
    from sac.cli import help_cache
    from sac_hookspecs.toolkit.host import sac_home

    for value in (str(tmp_path / "h"), "", "~/elsewhere", None):
        if value is None:
            monkeypatch.delenv("SAC_HOME", raising=False)
        else:
            monkeypatch.setenv("SAC_HOME", value)
        assert help_cache.cache_dir() == str(sac_home() / "cache"), value


# -- sac --help-recursive and sac completion (issue 14) ---------------------------------


def test_help_recursive_shows_every_command_with_its_usage_and_one_line(sac):
    """Every command and subcommand (those each group's own --help lists, walked here with
    click's test runner) appears with the usage line its --help shows and its summary."""
    from click.testing import CliRunner

    from sac.cli.root import cli

    out = sac("--help-recursive", check=True).stdout
    lines = out.splitlines()
    runner = CliRunner()
    expected, todo = [], [[]]
    while todo:
        path = todo.pop()
        shown = runner.invoke(cli, [*path, "--help"], prog_name="sac")
        assert shown.exit_code == 0, (path, shown.output)
        usage = shown.output.split("\n\n", 1)[0].removeprefix("Usage: ")
        expected.append((" ".join(usage.split()), path))
        if "\nCommands:\n" in shown.output:
            todo += [[*path, name] for name in listed(shown.output)]
    assert len(expected) > 40
    missing = [u for u, _ in expected if u not in lines]
    assert missing == [], "--help-recursive leaves these out"
    # each usage line is followed by that command's one line
    for usage, path in expected:
        if path:
            summary = first_line(runner.invoke(cli, [*path, "--help"], prog_name="sac").output)
            nxt = lines[lines.index(usage) + 1].strip()
            assert summary.startswith(nxt.removesuffix("...")), (usage, nxt, summary)
    assert len([ln for ln in lines if ln.startswith("sac ")]) == len(expected)  # and nothing else
    assert "--help-recursive" in sac("--help", check=True).stdout


def fake_sac_on_path(tmp_path) -> dict[str, str]:
    """A `sac` on PATH that is this interpreter's sac (the completion scripts run `sac`)."""
    import os

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sac").write_text(f'#!/bin/sh\nexec {sys.executable} -m sac "$@"\n')
    (bin_dir / "sac").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_the_bash_completion_script_completes(sac, tmp_path):
    """The script `sac completion bash` prints, sourced in a real bash, offers `agents` for
    `sac ag` and `start` for `sac agents st` (click's bash protocol: COMP_WORDS, COMP_CWORD)."""
    import shutil

    if shutil.which("bash") is None:
        import pytest

        pytest.skip("needs bash")
    script = tmp_path / "sac.bash"
    script.write_text(sac("completion", "bash", check=True).stdout)
    env = fake_sac_on_path(tmp_path)

    def complete(*words: str) -> list[str]:
        code = (
            f"source {script}\n"
            f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}\n"
            "_sac_completion sac\n"
            'printf "%s\\n" "${COMPREPLY[@]}"\n'
        )
        done = subprocess.run(["bash", "-c", code], capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("sac", "ag") == ["agents"]
    assert "start" in complete("sac", "agents", "st") and "status" in complete("sac", "agents", "st")
    assert "--help-recursive" in complete("sac", "--h")


def test_zsh_and_fish_scripts_use_clicks_protocol_and_bad_shells_are_usage_errors(sac, tmp_path):
    import os

    for shell in ("zsh", "fish"):
        src = sac("completion", shell, check=True).stdout
        assert "_SAC_COMPLETE" in src and f"{shell}_complete" in src
        # what the script sets to ask sac (zsh: the word's index; fish: the word itself)
        env = {
            "_SAC_COMPLETE": f"{shell}_complete",
            "COMP_WORDS": "sac ag",
            "COMP_CWORD": "1" if shell == "zsh" else "ag",
        }
        done = subprocess.run(
            [sys.executable, "-m", "sac"], capture_output=True, text=True, env={**os.environ, **env}, timeout=60
        )
        assert "agents" in done.stdout, (shell, done.stdout, done.stderr)
    bad = sac("completion", "tcsh")
    assert bad.returncode == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in bad.stderr
