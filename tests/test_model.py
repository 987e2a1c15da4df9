"""The scripted model: rule matching, and the server spoken to over real HTTP."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sac.model.script import Rule, Script, ToolCall, answer, load_script
from sac.model.server import ModelServer, respond_to
from sac.spec.errors import SpecError

SCRIPT = Script(
    rules=[
        Rule(match="2+2", reply="four"),
        Rule(regex=r"make (\w+)", tools=[ToolCall(name="Bash", input={"command": "touch {1}"})], then="made {1}"),
        Rule(match="boom", status=500),
    ]
)


def test_rules_then_builtins_then_echo():
    assert answer(SCRIPT, "What is 2+2?").text == "four"  # a rule wins over the built-in arithmetic
    assert answer(Script(), "What is 2+2?").text == "4"
    assert answer(Script(), "what is 7 / 2").text == "3.5"
    assert answer(Script(), "Reply with the string 'Hello! I am x' and nothing else.").text == "Hello! I am x"
    assert answer(Script(), "tell me  a\nstory").text == 'You said: "tell me a story"'
    assert answer(Script(), "What is 1/0?").text == "Division by zero is undefined."
    assert answer(Script(), "what is 99999999999999999999 * 99999999999999999999").text == "1e+40"
    made = answer(SCRIPT, "please make widget")
    assert (made.text, made.rule, made.tools) == ("", 1, [ToolCall(name="Bash", input={"command": "touch widget"})])
    assert answer(SCRIPT, "boom").status == 500


@given(
    st.text(max_size=200)
    | st.builds(
        "What is {} {} {}?".format, st.floats() | st.integers(), st.sampled_from("+-*/x"), st.floats() | st.integers()
    )
)
def test_any_prompt_gets_a_deterministic_answer(prompt):
    first, second = answer(Script(), prompt), answer(Script(), prompt)
    assert first == second and first.text


def test_script_files_are_validated_with_locations(tmp_path):
    bad = tmp_path / "s.yaml"
    bad.write_text("rules:\n  - reply: x\n  - regex: '('\n    reply: y\n  - match: a\n    stauts: 500\n")
    with pytest.raises(SpecError) as info:
        load_script(bad)
    found = [p.render() for p in info.value.problems]
    assert found == [
        f"{bad}:6:5: rules[2].stauts: unknown field (did you mean `status`? allowed: match, regex, "
        "reply, tools, then, status, stall, delay)"
    ]
    bad.write_text("rules:\n  - reply: x\n  - regex: '('\n    reply: y\n")
    with pytest.raises(SpecError) as info:
        load_script(bad)
    assert [p.render() for p in info.value.problems] == [
        f"{bad}:2:5: rules[0]: a rule needs `match` or `regex`",
        f"{bad}:3:12: rules[1].regex: not a regular expression: missing ), unterminated subpattern at position 0",
    ]


def test_continuations_find_their_rule_from_the_tool_use_id():
    first = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>x</system-reminder>"},
                    {"type": "text", "text": "make gadget"},
                ],
            }
        ]
    }
    ans = respond_to(SCRIPT, first)
    assert ans.rule == 1 and ans.tools
    follow = {
        "messages": [
            first["messages"][0],
            {"role": "system", "content": "mid-conversation system message"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_sac_r1_7_0", "name": "Bash", "input": {}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_sac_r1_7_0", "content": "ok"}]},
        ]
    }
    assert respond_to(SCRIPT, follow).text == "made gadget"


@pytest.fixture
def server(tmp_path):
    s = ModelServer(SCRIPT, log=tmp_path / "model.log").start()
    yield s
    s.stop()


def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, bytes, str]:
    req = urllib.request.Request(
        url + "/v1/messages?beta=true",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read(), r.headers.get("content-type")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("content-type")


def test_server_non_streaming(server):
    status, body, ctype = post(server.url, {"model": "m", "messages": [{"role": "user", "content": "2+2?"}]})
    msg = json.loads(body)
    assert (status, ctype, msg["content"], msg["stop_reason"]) == (
        200,
        "application/json",
        [{"type": "text", "text": "four"}],
        "end_turn",
    )


def test_server_streams_sse_with_text_and_tool_calls(server, tmp_path):
    status, body, ctype = post(
        server.url,
        {"model": "claude-x", "stream": True, "messages": [{"role": "user", "content": "make thing"}]},
        {"x-api-key": "sk-very-secret-1234"},
    )
    assert (status, ctype) == (200, "text/event-stream")
    events = [line[len("event: ") :] for line in body.decode().splitlines() if line.startswith("event: ")]
    assert events[0] == "message_start" and events[-2:] == ["message_delta", "message_stop"]
    datas = [json.loads(line[6:]) for line in body.decode().splitlines() if line.startswith("data: ")]
    tool = next(d for d in datas if d["type"] == "content_block_start")["content_block"]
    assert tool["type"] == "tool_use" and tool["name"] == "Bash" and tool["id"].startswith("toolu_sac_r1_")
    partial = next(d for d in datas if d["type"] == "content_block_delta")["delta"]["partial_json"]
    assert json.loads(partial) == {"command": "touch thing"}
    assert datas[-2]["delta"]["stop_reason"] == "tool_use"
    logged = json.loads((tmp_path / "model.log").read_text().splitlines()[-1])
    assert logged["model"] == "claude-x" and logged["x-api-key"] == "...1234"  # never the whole key
    assert "sk-very-secret" not in (tmp_path / "model.log").read_text()


def test_server_scripted_http_error(server):
    status, body, _ = post(server.url, {"messages": [{"role": "user", "content": "boom"}]})
    assert status == 500 and json.loads(body)["error"]["type"] == "api_error"
    status, _, _ = post(server.url, {"messages": []})  # no user message at all: answered, not an error
    assert status == 200
