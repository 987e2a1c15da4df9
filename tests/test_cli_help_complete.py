"""Every command's help is complete (issue 14): each option says what it does, and each
command shows an example of its use, one that click's parser accepts. The whole click tree
is walked: every built-in command module and every plugin's commands are loaded."""

from __future__ import annotations

import re
import shlex

import click

from sac.cli.root import cli


def walk(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()):
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        sub = click.Context(cmd, info_name=name, parent=ctx)
        yield (*path, name), cmd, sub
        if isinstance(cmd, click.Group):
            yield from walk(cmd, sub, (*path, name))


def examples(help_text: str) -> list[str]:
    """The command lines under an "Example:" or "Examples:" heading, up to a blank line."""
    found = []
    for block in re.findall(r"^[ \t]*Examples?:\n((?:[ \t]+\S.*\n?)+)", help_text, re.M):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("sac "):
                found.append(line)
    return found


def parses(line: str) -> str | None:
    """None if click accepts the example's arguments (up to a pipe or a comment), else why not."""
    words = []
    for word in shlex.split(line, comments=True):
        if word in ("|", "<", ">", "&&", ";"):
            break
        words.append(word)
    cmd, ctx, rest = cli, click.Context(cli, info_name="sac"), words[1:]
    try:
        while isinstance(cmd, click.Group) and rest:
            name, cmd, rest = cmd.resolve_command(ctx, rest)
            ctx = click.Context(cmd, info_name=name, parent=ctx)
        cmd.make_context(cmd.name, list(rest), parent=ctx.parent)
    except click.UsageError as e:
        return e.format_message()
    return None


def test_every_option_has_help_and_every_command_an_example(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sb").mkdir()  # what the examples name: a sandbox directory, a script
    (tmp_path / "script.yaml").write_text("rules: []\n")
    root = click.Context(cli, info_name="sac")
    no_help, no_example, bad_example = [], [], []
    commands = list(walk(cli, root))
    for path, cmd, ctx in commands:
        name = "sac " + " ".join(path)
        for p in cmd.params:
            if isinstance(p, click.Option) and not p.hidden and not (p.help or "").strip():
                no_help.append(f"{name} {p.opts[-1]}")
        if isinstance(cmd, click.Group):
            continue  # a group's help lists its commands; theirs show the examples
        shown = examples(cmd.get_help(ctx))
        if not shown:
            no_example.append(name)
        bad_example += [f"{line!r}: {why}" for line in shown if (why := parses(line))]
    assert len(commands) >= 40  # the whole tree was walked
    assert no_help == [], "options without help text"
    assert no_example == [], "commands whose --help shows no example (an `Examples:` paragraph after \\b)"
    assert bad_example == [], "examples that do not parse"


def test_send_help_says_the_prompt_can_come_from_standard_input(sac):
    out = " ".join(sac("agents", "send", "--help", check=True).stdout.split())
    assert "Without PROMPT, the prompt is read from standard input" in out


def test_model_serve_help_documents_the_script_format_with_a_script_that_loads(sac, tmp_path):
    """The docs send readers to `sac model serve --help` for the rule format: it shows every
    field of a rule, in a script that the scripted model itself accepts."""
    import msgspec

    from sac.model.script import Rule, ToolCall, load_script

    out = sac("model", "serve", "--help", check=True).stdout
    for field in (*msgspec.structs.fields(Rule), *msgspec.structs.fields(ToolCall)):
        assert f" {field.name}: " in out, field.name
    assert "{prompt}" in out and "{1}" in out
    block = out.split("\n    rules:\n", 1)[1].split("\n\n", 1)[0]
    script = tmp_path / "script.yaml"
    script.write_text("rules:\n" + "\n".join(line[4:] for line in block.splitlines()) + "\n")
    rules = load_script(script).rules
    assert [r.match or r.regex for r in rules] == ["2+2", r"write (\S+)", "fail", "hang"]
