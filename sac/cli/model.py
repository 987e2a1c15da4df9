"""``sac model ...``: the built-in offline model."""

from __future__ import annotations

from pathlib import Path

import click

from sac.cli.root import builtin_group


@builtin_group("model")
def model() -> None:
    pass


@model.command("serve")
@click.option(
    "--script", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A script of rules (YAML)."
)
@click.option(
    "--port",
    default=0,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port on 127.0.0.1 (0: any free port).",
)
@click.option(
    "--log", "log", type=click.Path(dir_okay=False, path_type=Path), help="Append each request as a JSON line."
)
def serve(script: Path | None, port: int, log: Path | None) -> None:
    """Serve an Anthropic Messages API on 127.0.0.1 that plays a script of rules.

    Point any claude CLI at it: ANTHROPIC_BASE_URL=<printed URL> ANTHROPIC_API_KEY=x.
    The same script is what `provider: {name: scripted, script: FILE}` plays for an agent.

    The script (YAML) is a list of rules, tried in order against the last user text; the
    first that matches answers:

    \b
      rules:
        - match: "2+2"             # a case-insensitive substring of the prompt
          reply: "4"               # the text to answer with
        - regex: 'write (\\S+)'     # or a regular expression (searched)
          tools:                   # answer with tool calls instead of text:
            - name: Bash           #   the tool, and its input
              input: {command: "echo hi > /work/{1}"}
          then: "Wrote /work/{1}." # the reply once the tool results come back
          delay: 0.5               # seconds to wait before answering
        - match: "fail"
          status: 500              # answer with this HTTP error
        - match: "hang"
          stall: 30                # start a message, then say nothing for 30 s

    In a reply, `then` or a tool input, {prompt} is the prompt and {1}, {2} ... are the
    regex's groups. After the script's rules, built-in ones answer "Reply with the string
    'X' ..." with X and "What is A+B?" (+ - * /) with the result; anything else gets a
    deterministic echo that quotes the prompt. Without --script only the built-ins answer.

    \b
    Examples:
      sac model serve --script script.yaml --log requests.jsonl
    """
    import time

    from sac.errors import UsageError
    from sac.model.script import Script, load_script
    from sac.model.server import ModelServer

    if log is not None:  # fail now, not with a traceback on every request later
        try:
            with open(log, "a"):
                pass
        except OSError as e:
            raise UsageError(f"--log {log}: cannot write it ({e.strerror})") from None

    server = ModelServer(load_script(script) if script else Script(), port=port, log=log).start()
    click.echo(server.url, nl=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
