"""The dashboard's sign-in, sessions and page routes, through the real ASGI app (no server,
no browser: tests/live/test_dashboard.py drives those), and the transcript's history."""

from __future__ import annotations

import asyncio
import os
import time

import msgspec
import pytest

from sac.controlplane import listen_dir, new_login, use_login
from sac.listen import web
from sac.listen.app import ListenApp
from sac.transcript import Error, Interrupt, Prompt, Restart, Result, Text, history

TOKEN = "t" * 43
PORT = 7878
HOST = f"sac-0123456789abcdef.localhost:{PORT}"  # the dashboard's origin


def call(app: ListenApp, method: str, path: str, headers: dict[str, str] | None = None, query: str = ""):
    """One request through the app; (status, headers, body)."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "server": ("127.0.0.1", PORT),
        "headers": [(k.lower().encode(), v.encode()) for k, v in {"host": HOST, **(headers or {})}.items()],
    }
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, sent[1]["body"]


@pytest.fixture
def app(home) -> ListenApp:
    return ListenApp(TOKEN, dashboard=HOST)


def signed_in(app: ListenApp) -> dict[str, str]:
    status, headers, body = call(app, "GET", "/ui/login", query=f"code={new_login()}")
    assert status == 200, body
    key = body.split(b'name="sac-key" content="')[1].split(b'"')[0].decode()
    return {"cookie": headers["set-cookie"].split(";")[0], "x-sac-key": key}


def test_the_sign_in_link_gives_a_cookie_and_a_key_and_works_once(app):
    code = new_login()
    status, headers, body = call(app, "GET", "/ui/login", query=f"code={code}")
    assert status == 200
    cookie = headers["set-cookie"]
    assert cookie.startswith(f"sac_session_{PORT}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert TOKEN.encode() not in body
    assert call(app, "GET", "/ui/login", query=f"code={code}")[0] == 401  # once


def test_without_a_session_every_page_is_the_sign_in_page(app):
    for path in ("/ui/", "/ui/index.html", "/ui/static/app.js", "/ui/static/keep.js", "/ui/nope"):
        status, headers, body = call(app, "GET", path)
        assert status == 401 and b"sac listen open" in body, path
        assert headers["content-security-policy"] == web.CSP
    assert call(app, "GET", "/")[0] == 303


def test_a_session_gets_the_page_and_the_api_and_nothing_outside_the_page_files(app):
    session = signed_in(app)
    cookie_only = {"cookie": session["cookie"]}
    assert call(app, "GET", "/ui/", cookie_only)[0] == 200  # a page: no data in it
    assert call(app, "GET", "/ui/static/app.js", cookie_only)[0] == 200
    for path in ("/ui/static/web.py", "/ui/static/../web.py", "/ui/static/", "/ui/static/index.html/x"):
        assert call(app, "GET", path, cookie_only)[0] == 404, path
    assert call(app, "GET", "/v1/agents", session)[0] == 200
    assert call(app, "GET", "/v1/agents", cookie_only)[0] == 403  # the API needs the key too
    assert call(app, "GET", "/v1/agents", {"x-sac-key": session["x-sac-key"]})[0] == 403
    assert call(app, "GET", "/v1/agents")[0] == 401


def test_a_post_needs_this_origin(app):
    session = signed_in(app)
    path = "/v1/agents/nobody/stop"
    headers = {**session, "content-type": "application/json"}
    for foreign in ({"origin": "http://127.0.0.1:9999"}, {"origin": "null"}, {"sec-fetch-site": "same-site"}):
        assert call(app, "POST", path, {**headers, **foreign})[0] == 403, foreign
    # this origin's POST gets as far as the route (no such agent)
    assert call(app, "POST", path, {**headers, "origin": f"http://{HOST}", "sec-fetch-site": "same-origin"})[0] == 404
    assert call(app, "POST", path, {**headers, "origin": f"http://127.0.0.1:{PORT}"})[0] == 403


def test_a_session_is_good_only_at_the_dashboards_own_origin(app):
    session = signed_in(app)
    # a rebound name; 127.0.0.1 (an origin anyone may have held); another port
    for host in ("rebound.example:7878", f"127.0.0.1:{PORT}", "localhost:7878", HOST.replace("7878", "7879")):
        assert call(app, "GET", "/v1/agents", {**session, "host": host})[0] == 403, host
        assert call(app, "GET", "/ui/", {**session, "host": host})[0] == 401, host
        code = new_login()
        assert call(app, "GET", "/ui/login", {"host": host}, query=f"code={code}")[0] == 401
        assert use_login(code)  # refused there without being used up
    assert call(app, "GET", "/v1/agents", {**session, "host": HOST.upper()})[0] == 200  # names ignore case
    assert call(app, "GET", "/v1/agents", {"host": HOST, "authorization": f"Bearer {TOKEN}"})[0] == 200


def test_no_dashboard_no_sessions(home):
    app = ListenApp(TOKEN)  # as a ListenApp made without one
    assert call(app, "GET", "/ui/login", query=f"code={new_login()}")[0] == 401


def test_a_cookie_another_server_set_under_the_same_name_does_not_push_ours_out(app):
    session = signed_in(app)
    name, ours = session["cookie"].split("=", 1)
    tossed = {**session, "cookie": f"{name}=junk; {name}={ours}"}
    assert call(app, "GET", "/v1/agents", tossed)[0] == 200
    assert call(app, "GET", "/ui/", {"cookie": tossed["cookie"]})[0] == 200


def test_sign_out_ends_the_session(app):
    session = signed_in(app)
    assert call(app, "POST", "/ui/logout", {"cookie": session["cookie"]})[0] == 403  # the key too
    status, headers, _ = call(app, "POST", "/ui/logout", session)
    assert status == 200 and "Max-Age=0" in headers["set-cookie"]
    assert call(app, "GET", "/v1/agents", session)[0] == 403


def test_an_unchanged_answer_is_a_304_without_a_body(app):
    session = signed_in(app)
    status, headers, body = call(app, "GET", "/v1/agents", session)
    assert status == 200 and headers["etag"]
    again = call(app, "GET", "/v1/agents", {**session, "if-none-match": headers["etag"]})
    assert again[0] == 304 and again[2] == b""
    assert call(app, "GET", "/v1/agents", {**session, "if-none-match": '"other"'})[0] == 200


def test_login_codes_are_one_time_fresh_and_private(home):
    code = new_login()
    folder = listen_dir() / "logins"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert code not in " ".join(os.listdir(folder))  # files are named by the code's hash
    assert use_login(code) and not use_login(code)
    stale = new_login()
    for f in folder.iterdir():
        os.utime(f, (time.time() - 3600, time.time() - 3600))
    assert not use_login(stale)
    for bad in ("", "short", "x" * 200, "../../token", "a b c d e f g h i j k l m n o p q"):
        assert not use_login(bad)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to plant a file as another uid")
def test_a_code_file_another_user_planted_is_not_one(home):
    new_login()  # makes the folder
    code = "p" * 43
    from sac.controlplane import _login_path

    path = _login_path(code)
    path.write_bytes(b"")
    os.chown(path, 65534, 65534)
    assert not use_login(code)


def test_sessions_expire_and_are_bounded():
    s = web.Sessions(ttl=60)
    sid, key = s.new()
    assert s.check(sid, key) and not s.check(sid, key + "x") and not s.check("x" + sid, key)
    ids = [s.new()[0] for _ in range(web.MAX_SESSIONS)]
    assert not s.known(sid)  # the oldest went
    assert s.known(ids[-1])
    short = web.Sessions(ttl=-1)
    sid, key = short.new()
    assert not short.check(sid, key)


def test_the_history_of_a_transcript():
    events = [
        Prompt(turn=1, text="hi", ts=1),
        Text(turn=1, text="hello", ts=2),
        Result(turn=1, ok=True, cost_usd=0.5, input_tokens=10, output_tokens=3, ts=3),
        Restart(attempt=1, ts=4),
        Interrupt(turn=2, ts=5),
        Result(turn=2, ok=False, error="the turn was interrupted", ts=6),
        Error(error="boom", ts=7),
        {"type": "from-a-newer-sac", "ts": 8},
    ]
    h = msgspec.to_builtins(history(events))
    assert [(t["turn"], t["ok"], t["cost_usd"], t["input_tokens"]) for t in h["turns"]] == [
        (1, True, 0.5, 10),
        (2, False, 0.0, 0),
    ]
    assert [(e["kind"], e["ts"]) for e in h["health"]] == [
        ("restart", 4),
        ("interrupt", 5),
        ("failed_turn", 6),
        ("error", 7),
    ]


def test_the_etag_leaves_out_uptimes_and_nothing_else():
    from sac.listen.app import etag_of

    a = b'[{"name":"a","state":"ready","uptime_s":1.5,"turns":1}]'
    assert etag_of(a) == etag_of(a.replace(b"1.5", b"2.75")) == etag_of(a.replace(b"1.5", b"3e-05"))
    assert etag_of(a) != etag_of(a.replace(b"ready", b"busy"))
    assert etag_of(a) != etag_of(a.replace(b'"turns":1', b'"turns":2'))
    text = b'[{"last_error":"\\"uptime_s\\":1","uptime_s":1}]'  # inside a string: part of the answer
    assert etag_of(text) != etag_of(text.replace(b'\\"uptime_s\\":1', b'\\"uptime_s\\":2'))
    assert etag_of(a).startswith(b'W/"')


def test_at_port_80_the_host_has_no_port():
    s = web.Sessions("sac-abc.localhost:80")
    assert web.at_dashboard({"host": "sac-abc.localhost"}, s) and web.at_dashboard({"host": "sac-abc.localhost:80"}, s)
    assert not web.at_dashboard({"host": "sac-abc.localhost"}, web.Sessions("sac-abc.localhost:8080"))
    assert not web.at_dashboard({"host": ""}, web.Sessions(""))
