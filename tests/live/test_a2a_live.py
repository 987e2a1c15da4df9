"""Agents over A2A: the a2a-sdk client (not our code) against a live agent driven by the
real claude CLI and the scripted model; POST /v1/turn; bearer auth; 32 concurrent turns."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import urllib.error
import urllib.request
import uuid

import httpx
import pytest
from a2a.client import A2ACardResolver, ClientConfig, create_client
from a2a.helpers import get_message_text
from a2a.types import CancelTaskRequest, GetTaskRequest, Message, Part, Role, SendMessageRequest, TaskState

from sac.testing import make_agent, status, transcript

pytestmark = pytest.mark.live

TWO_BLOCKS = (
    '  - match: "two parts"\n    reply: "First part."\n    tools:\n      - name: Bash\n'
    '        input: {command: "true", description: noop}\n    then: "Second part."\n'
)
SLOW_TWO = (
    '  - match: "slow halves"\n    reply: "First half."\n    tools:\n      - name: Bash\n'
    '        input: {command: "sleep 1 && touch halfway.flag", description: wait}\n    then: "Second half."\n'
)


TOKENS: dict[str, str] = {}  # an agent's URL -> its A2A token (read from its 0600 file, as sac's clients do)
OWN = object()  # post(): send the agent's own token


def auth(url: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[url]}"}


@pytest.fixture
def a2a_agent(home, sac):
    def start(name: str, extra: str = "  a2a: {port: auto}\n", env: dict | None = None) -> str:
        make_agent(home, name, "local", extra=extra)
        script = home / "agents" / name / "script.yaml"
        script.write_text(script.read_text() + TWO_BLOCKS + SLOW_TWO)
        done = sac("agents", "start", name, env=env)
        assert done.returncode == 0, done.stderr
        state = json.loads((home / "runtime" / name / "state.json").read_text())
        url = state["urls"]["a2a"]
        assert url and url.startswith("http://127.0.0.1:")
        # where it answers is said by start and shown by status (issue 14)
        assert f"{name}: ready on local (pid {state['pid']}), a2a at {url}" in done.stderr, done.stderr
        row = next(ln.split() for ln in sac("agents", "status").stdout.splitlines() if ln.startswith(name + " "))
        assert url in row, row
        if "a2a" in state["token_files"]:
            TOKENS[url] = (home / "runtime" / name / "a2a.token").read_text().strip()
        return url

    yield start
    names = [p.name for p in (home / "runtime").iterdir()] if (home / "runtime").is_dir() else []
    if names:
        sac("agents", "stop", *names)


def message(text: str) -> SendMessageRequest:
    return SendMessageRequest(
        message=Message(message_id=str(uuid.uuid4()), role=Role.ROLE_USER, parts=[Part(text=text)])
    )


def test_a2a_sdk_client_card_send_stream_get_cancel(a2a_agent, home, sac):
    url = a2a_agent("a2a-1")

    async def run() -> dict:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None), headers=auth(url)) as http:
            card = await A2ACardResolver(http, url).get_agent_card()
            out: dict = {"card": card}
            client = await create_client(card, ClientConfig(streaming=False, httpx_client=http))
            async for ev in client.send_message(message("What is 6*7?")):
                out["task"] = ev.task
            out["got"] = await client.get_task(GetTaskRequest(id=out["task"].id))
            await client.close()

            client = await create_client(card, ClientConfig(streaming=True, httpx_client=http))
            out["stream"] = []
            async for ev in client.send_message(message("two parts please")):
                kind = ev.WhichOneof("payload")
                if kind == "artifact_update":
                    out["stream"].append(ev.artifact_update.artifact.parts[0].text)
                elif kind == "status_update":
                    out["final"] = ev.status_update.status.state

            hanging: dict = {}

            async def hang() -> None:
                async for ev in client.send_message(message("please hang")):
                    if ev.WhichOneof("payload") == "task":
                        hanging["id"] = ev.task.id
                    elif ev.WhichOneof("payload") == "status_update":
                        hanging["state"] = ev.status_update.status.state

            task = asyncio.create_task(hang())
            for _ in range(200):
                if "id" in hanging and status(sac, "a2a-1")["state"] == "busy":
                    break
                await asyncio.sleep(0.05)
            out["cancel"] = await client.cancel_task(CancelTaskRequest(id=hanging["id"]))
            # D26: the caller's stream ends with CANCELED at once; it stayed open ~30 s (the
            # stall) before. 10 s is no timing claim: far below the stall, far above a turn.
            await asyncio.wait_for(task, 10)
            out["hang_state"] = hanging["state"]
            await client.close()
            return out

    out = asyncio.run(run())
    card = out["card"]
    assert card.name == "a2a-1" and card.capabilities.streaming
    assert [s.id for s in card.skills] == ["greeting", "arithmetic"]
    ext = {e.uri: dict(e.params) for e in card.capabilities.extensions}
    assert ext["urn:sac:a2a:ext:isolation:v1"]["level"] == "none"
    assert out["task"].status.state == TaskState.TASK_STATE_COMPLETED
    assert get_message_text(out["task"].status.message) == "42"
    assert out["got"].status.state == TaskState.TASK_STATE_COMPLETED
    assert out["stream"] == ["First part.", "Second part."]  # each block as it arrived
    assert out["final"] == TaskState.TASK_STATE_COMPLETED
    assert out["cancel"].status.state == TaskState.TASK_STATE_CANCELED
    assert out["hang_state"] == TaskState.TASK_STATE_CANCELED
    assert sac("agents", "send", "a2a-1", "What is 1+1?").stdout == "2\n"  # the agent stays up
    assert any(e["type"] == "interrupt" for e in transcript(home, "a2a-1"))


def test_v0_3_method_names_work(a2a_agent):
    url = a2a_agent("a2a-3")
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "messageId": "m1",
                "role": "user",
                "parts": [{"kind": "text", "text": "What is 9+9?"}],
            }
        },
    }
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **auth(url)}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        result = json.loads(r.read())["result"]
    assert result["kind"] == "task" and result["status"]["state"] == "completed"
    assert result["status"]["message"]["parts"][0]["text"] == "18"


def post(url: str, body: bytes, token: object = OWN, ctype: str = "application/json") -> tuple[int, dict]:
    token = TOKENS.get(url) if token is OWN else token
    headers = {"Content-Type": ctype, **({"Authorization": f"Bearer {token}"} if token else {})}
    req = urllib.request.Request(url + "v1/turn", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_v1_turn(a2a_agent, home):
    url = a2a_agent("t1")
    code, body = post(url, b'{"text": "What is 4*4?"}')
    assert code == 200 and body["text"] == "16" and body["session_id"] and body["ok"]
    assert post(url, b'{"text": "  "}')[0] == 400
    code, body = post(url, b'{"text": "hi", "extra": 1, "timeout": -1}')
    assert code == 400 and body["problems"] == [
        "body:1:16: extra: unknown field (did you mean `text`? allowed: text, timeout)",
        "body:1:39: timeout: -1 is out of range (seconds > 0)",
    ]
    assert post(url, b'{"text": "\xff"}')[0] == 400  # not UTF-8
    assert post(url, b"{oops")[0] == 400
    assert post(url, b"hi", ctype="text/plain")[0] == 415
    code, body = post(url, b'{"text": "please hang", "timeout": 2}')
    assert code == 504 and "took longer than 2 s" in body["error"]
    assert post(url, b'{"text": "What is 2+2?"}')[1]["text"] == "4"


def test_peer_post_turn_to_an_a2a_url(a2a_agent, sac):
    url = a2a_agent("u1")
    done = sac("peer", "post-turn", url, "What is 20+22?")
    assert (done.returncode, done.stdout) == (0, "42\n"), done.stderr
    assert sac("peer", "resolve-url", url).stdout.strip() == url


def test_bearer_auth_on_the_agent_port(a2a_agent, home):
    url = a2a_agent("s1", extra="  a2a: {port: auto, auth_token_env: AGENT_TOKEN}\n", env={"AGENT_TOKEN": "tok-123"})
    with urllib.request.urlopen(url + ".well-known/agent-card.json", timeout=10) as r:  # the card is public
        card = json.loads(r.read())
    assert card["securitySchemes"]["bearer"]["httpAuthSecurityScheme"]["scheme"] == "Bearer"
    assert card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    assert "tok-123" not in json.dumps(card)
    assert post(url, b'{"text": "What is 1+1?"}', token=None)[0] == 401
    assert post(url, b'{"text": "What is 1+1?"}', token="wrong")[0] == 401
    code, body = post(url, b'{"text": "What is 3+1?"}', token="tok-123")
    assert (code, body["text"]) == (200, "4")
    assert TOKENS[url] == "tok-123"  # the variable's token is what sac's clients find


def test_32_concurrent_turns_all_answered_in_order(a2a_agent, home):
    url = a2a_agent("load1")
    prompts = [f"What is {i}+1000?" for i in range(32)]

    def one(i: int) -> tuple[int, str]:
        code, body = post(url, json.dumps({"text": prompts[i]}).encode())
        return code, body.get("text", body.get("error"))

    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        results = list(pool.map(one, range(32)))
    assert results == [(200, str(i + 1000)) for i in range(32)]  # each caller got its own reply
    events = [e for e in transcript(home, "load1") if e["type"] in ("prompt", "result") and e.get("turn", 0) > 1]
    assert len(events) == 64
    for prompt, result in zip(
        events[::2], events[1::2], strict=True
    ):  # one turn at a time, each prompt then its result
        assert prompt["type"] == "prompt" and result["type"] == "result" and prompt["turn"] == result["turn"]
        assert result["text"] == str(int(prompt["text"].split()[2].split("+")[0]) + 1000)


def test_a_non_loopback_a2a_port_needs_a_token_even_in_the_foreground(home, sac):
    make_agent(home, "open1", "local", extra="  a2a: {port: auto, host: 0.0.0.0, auth: none}\n")
    done = sac("agents", "start", "--foreground", "open1")  # the preflight of every start refuses it
    assert done.returncode == 1
    assert "a2a exposure: 0.0.0.0 is not loopback and spec.a2a.auth is none" in done.stderr, done.stderr
    # and the runner itself refuses it too (its own entry point skips the preflight its parent ran)
    done = sac("_runner", "open1")
    assert done.returncode == 1
    assert "spec.a2a.host 0.0.0.0 is not loopback: `auth: none` is allowed on loopback only" in done.stderr


def test_the_port_needs_a_token_by_default_and_sacs_clients_find_it(a2a_agent, home, sac):
    """Review D1: with no auth settings at all, a caller without the agent's token is
    refused on every route but the card; the token is the agent's own (0600 file), kept
    across restarts; `sac peer post-turn URL` finds it by itself; the card says Bearer."""
    url = a2a_agent("tok1", extra="  a2a: {port: auto}\n")
    token_file = home / "runtime" / "tok1" / "a2a.token"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600" and len(TOKENS[url]) >= 32
    assert status(sac, "tok1")["token_files"] == {"a2a": str(token_file)}
    assert post(url, b'{"text": "What is 1+1?"}', token=None)[0] == 401
    rpc = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "message/send",
            "params": {
                "message": {
                    "kind": "message",
                    "messageId": "m1",
                    "role": "user",
                    "parts": [{"kind": "text", "text": "hi"}],
                }
            },
        }
    ).encode()
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(
            urllib.request.Request(url, data=rpc, headers={"Content-Type": "application/json"}), timeout=30
        )
    assert denied.value.code == 401
    with urllib.request.urlopen(url + ".well-known/agent-card.json", timeout=10) as r:
        card = json.loads(r.read())
    assert card["securityRequirements"] == [{"schemes": {"bearer": {}}}]
    assert TOKENS[url] not in json.dumps(card)
    done = sac("peer", "post-turn", url, "What is 5+5?")
    assert (done.returncode, done.stdout) == (0, "10\n"), done.stderr
    before = TOKENS[url]
    assert sac("agents", "restart", "tok1").returncode == 0
    assert token_file.read_text().strip() == before  # peers holding it keep working


def test_auth_none_is_loopback_only_and_check_warns(home, sac):
    make_agent(home, "open2", "local", extra="  a2a: {port: auto, auth: none}\n")
    done = sac("agents", "check", "open2")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warn" in done.stdout and "every user of this host can drive this agent" in done.stdout
    report = json.loads(sac("agents", "check", "open2", "--json").stdout)[0]
    [row] = [c for c in report["checks"] if c["name"] == "a2a auth"]
    assert row["ok"] and row["warn"]
    try:
        assert sac("agents", "start", "open2").returncode == 0
        url = status(sac, "open2")["urls"]["a2a"]
        code, body = post(url, b'{"text": "What is 2+5?"}', token=None)
        assert (code, body["text"]) == (200, "7")  # what the user opted into
        with urllib.request.urlopen(url + ".well-known/agent-card.json", timeout=10) as r:
            assert "securityRequirements" not in json.loads(r.read())
    finally:
        sac("agents", "stop", "open2")


def test_no_body_over_the_cap_reaches_json_rpc(a2a_agent):
    """D4: the 1 MiB cap held only on /v1/turn; a huge JSON-RPC body was read and parsed."""
    url = a2a_agent("cap1")
    # A body declared bigger than the cap is refused from its headers alone. (Sending the body
    # raced the refusal: the server answers 413 and closes while the client still writes.)
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(url)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    conn.putrequest("POST", where.path or "/")
    headers = {"Content-Type": "application/json", "A2A-Version": "1.0", "Content-Length": str(2 << 20), **auth(url)}
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()

    def chunked():  # no Content-Length: the cap must hold while the body streams in
        for _ in range(40):
            yield b"x" * 65536

    # the refusal comes mid-stream, so the client may see it as a closed connection instead;
    # it must see the 413 itself at least once in a few tries
    seen = []
    for _ in range(5):
        try:
            with httpx.Client(timeout=30) as http:
                seen.append(
                    http.post(
                        url, content=chunked(), headers={"Content-Type": "application/json", **auth(url)}
                    ).status_code
                )
        except (httpx.TransportError, OSError) as e:
            seen.append(type(e).__name__)
        if 413 in seen:
            break
    assert 413 in seen and all(s == 413 for s in seen if isinstance(s, int)), seen  # never taken in
    code, body = post(url, b'{"text": "What is 2+3?"}')
    assert (code, body["text"]) == (200, "5")  # the agent is fine


def test_the_task_store_keeps_only_the_newest_tasks():
    """D4: every A2A task was kept forever. The store is the SDK's own, bounded."""
    from a2a.server.context import ServerCallContext
    from a2a.types import Task, TaskStatus
    from sac_transport_a2a.server import BoundedTaskStore

    store, ctx = BoundedTaskStore(), ServerCallContext()

    async def run() -> tuple:
        for i in range(BoundedTaskStore.MAX_TASKS + 50):
            await store.save(
                Task(id=f"t{i}", context_id="c", status=TaskStatus(state=TaskState.TASK_STATE_COMPLETED)), ctx
            )
        return await store.get("t0", ctx), await store.get(f"t{BoundedTaskStore.MAX_TASKS + 49}", ctx)

    oldest, newest = asyncio.run(run())
    assert oldest is None and newest is not None
    assert len(store._order) == BoundedTaskStore.MAX_TASKS


def test_localhost_is_an_address_and_host_names_are_caught_by_check(a2a_agent, home, sac):
    """D18: `host: localhost` passed check ("ready") and then failed at start."""
    url = a2a_agent("lh1", extra="  a2a: {port: auto, host: localhost}\n")
    assert url.startswith("http://127.0.0.1:")
    assert post(url, b'{"text": "What is 3+3?"}')[1]["text"] == "6"
    make_agent(home, "named", "local", extra="  a2a: {port: auto, host: example.org}\n")
    done = sac("agents", "check", "named")
    assert done.returncode == 1 and "'example.org' is not an IP address" in done.stdout, done.stdout


def test_listen_binds_localhost_as_loopback():
    from sac.listen.server import parse_bind

    assert parse_bind("localhost:7878", False) == ("127.0.0.1", 7878)


@pytest.mark.parametrize("method", ["message/send", "message/stream"])
def test_a_message_without_text_is_refused(a2a_agent, home, method):
    """D27: an empty A2A message reached the model as an empty prompt (/v1/turn says 400)."""
    url = a2a_agent("empty1")
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": method,
        "params": {
            "message": {"kind": "message", "messageId": "m1", "role": "user", "parts": [{"kind": "text", "text": "  "}]}
        },
    }
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **auth(url)}
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        raw = r.read().decode()
    answer = json.loads(raw.split("data:", 1)[1]) if raw.lstrip().startswith(("data:", "event:")) else json.loads(raw)
    assert answer["error"]["code"] == -32602 and "no text" in answer["error"]["message"], answer
    assert not [e for e in transcript(home, "empty1") if e["type"] == "prompt" and not e["text"].strip()]


def test_check_catches_an_a2a_host_that_is_not_this_hosts(home, sac):
    make_agent(home, "far", "local", extra="  a2a: {port: auto, host: 192.0.2.1, auth_token_env: T}\n")
    done = sac("agents", "check", "far", env={"T": "a-token-of-sixteen-chars"})
    assert done.returncode == 1 and "192.0.2.1 is not an address of this host" in done.stdout, done.stdout


def test_a_stream_delivers_each_block_as_the_cli_produces_it(a2a_agent, home):
    """Not held to the end: when the first block reaches the A2A client, the tool call that
    comes after it (it sleeps, then writes a flag file) has not finished yet."""
    url = a2a_agent("a2a-s")
    flag = home / "runtime" / "a2a-s" / "work" / "halfway.flag"

    async def run() -> list[tuple[str, bool]]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None), headers=auth(url)) as http:
            card = await A2ACardResolver(http, url).get_agent_card()
            client = await create_client(card, ClientConfig(streaming=True, httpx_client=http))
            seen = []
            async for ev in client.send_message(message("slow halves please")):
                if ev.WhichOneof("payload") == "artifact_update":
                    seen.append((ev.artifact_update.artifact.parts[0].text, flag.exists()))
            await client.close()
            return seen

    assert asyncio.run(run()) == [("First half.", False), ("Second half.", True)]
