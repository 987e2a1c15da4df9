"""What the scripted model says: rules matched against the last user text.

A script is YAML::

    rules:
      - match: "2+2"                  # case-insensitive substring of the prompt
        reply: "4"
      - regex: "write (\\S+)"         # or a regular expression (search)
        tools:                        # answer with tool calls instead of text
          - name: Bash
            input: {command: "echo hi > /work/{1}"}
        then: "Wrote /work/{1}."      # the reply once the tool results come back
      - match: "fail"
        status: 500                   # answer with an HTTP error
      - match: "hang"
        stall: 30                     # start a message, then say nothing for 30 s

``{prompt}`` in a reply or a tool input is the prompt; ``{1}``, ``{2}`` ... are regex
groups. After the script's rules, built-in ones answer "Reply with the string 'X' ..."
with X and "What is A+B?" (+ - * /) with the result; anything else gets a deterministic
echo that quotes the prompt.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec


class ToolCall(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: str
    input: dict[str, Any] = msgspec.field(default_factory=dict)


class Rule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    match: str | None = None
    regex: str | None = None
    reply: str | None = None
    tools: list[ToolCall] = msgspec.field(default_factory=list)
    then: str = "Done."
    status: int | None = None
    stall: float | None = None
    delay: float = 0.0


class Script(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    rules: list[Rule] = msgspec.field(default_factory=list)


class Answer(msgspec.Struct, kw_only=True):
    """What to send back for one request."""

    text: str = ""
    tools: list[ToolCall] = msgspec.field(default_factory=list)
    rule: int = -1  # index of the rule that answered; -1 for a built-in
    status: int | None = None
    stall: float | None = None
    delay: float = 0.0
    prompt: str = ""  # the prompt this answers


def load_script(path: Path) -> Script:
    """A script file, validated with the same located errors as spec.yaml."""
    from sac.spec.load import load_file

    def regexes(script: Script):
        for i, rule in enumerate(script.rules):
            if rule.match is None and rule.regex is None:
                yield ("rules", i), "a rule needs `match` or `regex`"
            if rule.regex is not None:
                try:
                    re.compile(rule.regex)
                except re.error as e:
                    yield ("rules", i, "regex"), f"not a regular expression: {e}"

    return load_file(path, Script, [regexes], empty=Script())


def _fill(template: Any, prompt: str, groups: tuple[str, ...]) -> Any:
    if isinstance(template, str):
        out = template.replace("{prompt}", prompt)
        for i, g in enumerate(groups, 1):
            out = out.replace(f"{{{i}}}", g or "")
        return out
    if isinstance(template, dict):
        return {k: _fill(v, prompt, groups) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, prompt, groups) for v in template]
    return template


_REPLY_WITH = re.compile(r"reply with (?:the string |exactly )?['\"](.+?)['\"]", re.I | re.S)
_ARITH = re.compile(r"what is (-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)", re.I)


def _builtin(prompt: str) -> str:
    m = _REPLY_WITH.search(prompt)
    if m:
        return m.group(1)
    m = _ARITH.search(prompt)
    if m:
        a, op, b = float(m.group(1)), m.group(2), float(m.group(3))
        if op == "/" and b == 0:
            return "Division by zero is undefined."
        value = {"+": a + b, "-": a - b, "*": a * b, "x": a * b, "×": a * b, "/": a / (b or 1)}[op]
        if value != value or value in (float("inf"), float("-inf")):
            return f"{value}"
        return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:g}"
    flat = " ".join(prompt.split())
    return f'You said: "{flat[:200]}"'


def answer(script: Script, prompt: str) -> Answer:
    """The answer to a new prompt (not a tool-result continuation)."""
    low = prompt.lower()
    for i, rule in enumerate(script.rules):
        groups: tuple[str, ...] = ()
        if rule.regex is not None:
            m = re.search(rule.regex, prompt)
            if not m:
                continue
            groups = m.groups()
        elif rule.match is None or rule.match.lower() not in low:
            continue
        tools = [ToolCall(name=t.name, input=_fill(t.input, prompt, groups)) for t in rule.tools]
        text = _fill(rule.reply, prompt, groups) if rule.reply is not None else ("" if tools else _builtin(prompt))
        return Answer(
            text=text, tools=tools, rule=i, status=rule.status, stall=rule.stall, delay=rule.delay, prompt=prompt
        )
    return Answer(text=_builtin(prompt), prompt=prompt)


def continuation(script: Script, rule: int, prompt: str) -> Answer:
    """The answer once the tool calls of ``rule`` have their results."""
    if 0 <= rule < len(script.rules):
        r = script.rules[rule]
        m = re.search(r.regex, prompt) if r.regex else None
        groups = m.groups() if m else ()
        return Answer(text=_fill(r.then, prompt, groups), rule=rule, delay=r.delay, prompt=prompt)
    return Answer(text="Done.", prompt=prompt)
