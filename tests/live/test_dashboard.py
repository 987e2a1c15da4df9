"""The dashboard, end to end in a real browser: Debian's headless Chromium (never a
downloaded one), driven by Playwright, against a real `sac listen` and two live agents on
the real claude CLI (scripted model).

Screenshots go to $SAC_SCREENSHOTS (default build/screenshots); `make screenshots` writes
the ones docs/ shows.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from sac.testing import make_agent, wait_for
from sac.testing.home import isolate, run_sac

pytestmark = pytest.mark.live

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
# as root on a closed network: no sandbox (root), and none of Chromium's own calls home
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# a turn that takes a while: its tool call shows on the page while the turn still runs
SLOW_TOOL = """\
  - match: "take your time"
    tools:
      - name: Bash
        input: {command: "sleep 4; echo slept", description: "sleep a while"}
    then: "Slept well."
"""
SHOTS = REPO / os.environ.get("SAC_SCREENSHOTS", "build/screenshots")  # relative: to the repository


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dash:
    def __init__(self, home: Path, url: str, log: Path) -> None:
        self.home, self.url, self.log = home, url, log

    @property
    def token(self) -> str:
        return (self.home / "listen" / "token").read_text().strip()

    @property
    def ui(self) -> str:
        """The dashboard's origin: http://sac-RANDOM.localhost:PORT, new at each start."""
        return json.loads((self.home / "listen" / "listen.json").read_text())["dashboard"]

    def login_url(self) -> str:
        done = run_sac("listen", "open", "--json", check=True)
        return json.loads(done.stdout)["url"]

    def login_file(self) -> str:
        """What `sac listen open` prints: a file:// page (0600) that goes on to the link."""
        return run_sac("listen", "open", check=True).stdout.strip()

    def state(self, name: str) -> str:
        done = run_sac("agents", "status", name, "--json", check=True)
        return json.loads(done.stdout)["state"]


@pytest.fixture(scope="module")
def dash(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    home = isolate(mp, tmp_path_factory.mktemp("dash"))
    for name in ("alpha", "beta"):
        make_agent(home, name, "local")
    with open(home / "agents" / "alpha" / "script.yaml", "a") as script:
        script.write(SLOW_TOOL)
    run_sac("agents", "start", "alpha", "beta", check=True, timeout=180)
    port = free_port()
    log = home.parent / "listen.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sac", "listen", "--bind", f"127.0.0.1:{port}"], stdout=out, stderr=out
        )
    d = Dash(home, f"http://127.0.0.1:{port}", log)
    wait_for(lambda: _answers(d.url), timeout=30, what="sac listen")
    yield d
    run_sac("agents", "stop", "alpha", "beta", timeout=120)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    run_sac("listen", "stop", timeout=60)  # the one the last test restarted, detached
    mp.undo()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/v1/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no {CHROMIUM}: apt-get install chromium (the tests never download a browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Seen:
    """Every URL the browser asked for, and every line its console printed."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.console: list[str] = []


@pytest.fixture(scope="module")
def seen() -> Seen:
    return Seen()


def new_page(browser, seen: Seen, **kw):
    ctx = browser.new_context(viewport=kw.pop("viewport", {"width": 1280, "height": 860}), **kw)
    page = ctx.new_page()
    page.on("request", lambda r: seen.urls.append(r.url))
    page.on("console", lambda m: seen.console.append(m.text))
    page.on("pageerror", lambda e: seen.console.append(f"page error: {e}"))
    return page


@pytest.fixture(scope="module")
def page(dash, browser, seen):
    """One browser signed in as the owner does: the file `sac listen open` prints."""
    p = new_page(browser, seen)
    p.goto(dash.login_file())
    p.wait_for_url(f"{dash.ui}/ui/")
    yield p
    p.context.close()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def test_1_without_a_session_every_page_is_the_sign_in_page_and_the_link_signs_in_once(dash, browser, seen):
    from playwright.sync_api import expect

    stranger = new_page(browser, seen)
    for origin in (dash.ui, dash.url):
        for path in ("/ui/", "/ui/static/app.js", "/", f"/ui/login?code={'x' * 43}"):
            stranger.goto(origin + path)
            expect(stranger.locator("#signin")).to_have_text("Sign in to sac")
            assert "alpha" not in stranger.content() and "beta" not in stranger.content()
    # a made-up cookie (and key) is no session: still the sign-in page, and the API refuses
    cookie = f"sac_session_{dash.url.rsplit(':', 1)[1]}"
    stranger.context.add_cookies([{"name": cookie, "value": "forged" * 8, "url": dash.ui}])
    stranger.goto(dash.ui + "/ui/")
    expect(stranger.locator("#signin")).to_be_visible()
    status = stranger.evaluate("async () => (await fetch('/v1/agents', {headers: {'X-Sac-Key': 'forged'}})).status")
    assert status == 403

    link = dash.login_url()
    assert dash.token not in link and link.startswith(dash.ui)
    stranger.goto(link)
    stranger.wait_for_url(f"{dash.ui}/ui/")  # the link is gone from the address bar (and the history entry)
    expect(stranger.locator("tr[data-name=alpha] .state")).to_have_text("ready")
    expect(stranger.locator("tr[data-name=beta] .state")).to_have_text("ready")
    cookie = next(c for c in stranger.context.cookies() if c["name"].startswith("sac_session_"))
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert stranger.evaluate("document.cookie") == ""  # HttpOnly: the page's script cannot read it

    other = new_page(browser, seen)  # the same link again, in another browser: used up
    other.goto(link)
    expect(other.locator("#signin")).to_be_visible()
    assert "alpha" not in other.content()
    other.context.close()
    stranger.context.close()


def test_2_the_fleet_shows_both_live_agents_and_filters_by_label(dash, page):
    from playwright.sync_api import expect

    expect(page.locator("tr[data-name]")).to_have_count(2)
    for name in ("alpha", "beta"):
        row = page.locator(f"tr[data-name={name}]")
        expect(row.locator(".state")).to_have_text("ready")
        expect(row.locator("td[data-label=Runtime]")).to_have_text("local")
        expect(row.locator("td[data-label=Turns]")).to_have_text(re.compile(r"[1-9]"))  # its startup prompt
    page.fill("#filter", "alph")
    expect(page.locator("tr[data-name]")).to_have_count(1)
    page.fill("#filter", "capabilities=arithmetic")  # both specs carry it
    expect(page.locator("tr[data-name]")).to_have_count(2)
    page.fill("#filter", "no-such-capability")
    expect(page.locator("tr[data-name]")).to_have_count(0)
    page.fill("#filter", "")
    expect(page.locator("tr[data-name]")).to_have_count(2)
    shot(page, "fleet")


def test_3_a_turn_sent_from_the_page_shows_the_prompt_the_tool_call_and_the_reply(dash, page):
    from playwright.sync_api import expect

    page.click("tr[data-name=alpha] a")
    expect(page.locator(".agent-head h1")).to_have_text("alpha")
    expect(page.locator("#spec")).to_contain_text("provider: {name: scripted")  # its spec, read-only
    expect(page.locator("#card")).to_contain_text("arithmetic")
    page.fill("#prompt", "What is 19+23?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.prompt").last).to_contain_text("What is 19+23?")
    expect(page.locator(".msg.reply").last).to_contain_text("42", timeout=60_000)
    expect(page.locator(".msg.reply .meta").last).to_contain_text("done")

    # a turn with a tool call: the call and its result folded into the reply, as they happen
    page.fill("#prompt", "please write the proof")
    page.keyboard.press("Enter")
    tool = page.locator(".msg.reply details.tool").last
    expect(tool.locator("summary")).to_have_text("tool: Bash", timeout=60_000)
    expect(tool).not_to_have_attribute("open", "")  # folded until opened
    expect(page.locator(".msg.reply").last).to_contain_text("I wrote proof.txt", timeout=60_000)
    tool.locator("summary").click()
    expect(tool.locator("pre").first).to_contain_text("proof from HOME=")
    expect(tool.locator("pre.result")).to_be_visible()
    assert (dash.home / "runtime" / "alpha").exists()
    # the reply as it happens: the tool call is on the page while the turn still runs
    page.fill("#prompt", "take your time")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.reply details.tool summary").last).to_have_text("tool: Bash", timeout=30_000)
    assert not page.locator(".msg.reply").last.inner_text().count("Slept well.")
    expect(page.locator("#send")).to_be_disabled()  # the send has not come back yet
    expect(page.locator(".msg.reply").last).to_contain_text("Slept well.", timeout=60_000)
    expect(page.locator("#send")).to_be_enabled()
    # the charts and the health panel follow the turns
    expect(page.locator("#charts figure")).to_have_count(3, timeout=35_000)
    expect(page.locator("#health dl")).to_contain_text("turns")
    shot(page, "agent")


def test_4_escape_interrupts_a_stalled_turn_and_the_next_turn_works(dash, page):
    from playwright.sync_api import expect

    page.goto(f"{dash.ui}/ui/#/agent/alpha")
    expect(page.locator(".agent-head h1")).to_have_text("alpha")
    page.fill("#prompt", "please hang")  # the scripted model starts a reply, then says nothing
    page.keyboard.press("Enter")
    expect(page.locator("#interrupt")).to_be_enabled()
    wait_for(lambda: dash.state("alpha") == "busy", timeout=30, what="alpha busy")
    page.locator("body").press("Escape")
    expect(page.locator(".msg.note[data-kind=interrupt]").last).to_contain_text("interrupted", timeout=30_000)
    expect(page.locator("#send")).to_be_enabled(timeout=30_000)  # the stalled send came back
    wait_for(lambda: dash.state("alpha") == "ready", timeout=60, what="alpha ready again")
    page.fill("#prompt", "What is 2+3?")
    page.keyboard.press("Enter")
    expect(page.locator(".msg.reply").last).to_contain_text("5", timeout=60_000)
    expect(page.locator("#health-log li.interrupt")).to_contain_text("interrupted")  # its health history


def test_5_stop_asks_first_then_the_state_changes_without_a_reload(dash, page):
    from playwright.sync_api import expect

    page.goto(f"{dash.ui}/ui/#/")
    row = page.locator("tr[data-name=beta]")
    expect(row.locator(".state")).to_have_text("ready")
    page.evaluate("window.__sameDocument = 'yes'")  # gone if the page reloads

    row.locator("[data-action=stop]").click()
    expect(page.locator("#confirm")).to_be_visible()
    page.keyboard.press("Escape")  # cancel: nothing happens
    expect(page.locator("#confirm")).to_be_hidden()
    time.sleep(1)
    assert dash.state("beta") == "ready"

    row.locator("[data-action=stop]").click()
    page.click("#confirm-ok")
    expect(row.locator(".state")).to_have_text(re.compile("stopp"), timeout=60_000)
    expect(row.locator(".state")).to_have_text("stopped", timeout=60_000)
    assert dash.state("beta") == "stopped"
    assert page.evaluate("window.__sameDocument") == "yes"
    expect(page.locator("tr[data-name=alpha] .state")).to_have_text("ready")

    row.locator("[data-action=start]").click()  # no confirmation for a start
    expect(row.locator(".state")).to_have_text("ready", timeout=120_000)
    assert page.evaluate("window.__sameDocument") == "yes"
    # started by the control plane's worker: the dashboard's name is not in its environment
    pid = json.loads(run_sac("agents", "status", "beta", "--json", check=True).stdout)["pid"]
    assert b"SAC_LISTEN_DASHBOARD" not in Path(f"/proc/{pid}/environ").read_bytes()


def test_6_a_phone_sees_the_fleet_as_cards(dash, browser, seen, page):
    from playwright.sync_api import expect

    phone = new_page(browser, seen, viewport={"width": 390, "height": 800}, is_mobile=True, has_touch=True)
    phone.goto(dash.login_url())
    expect(phone.locator("tr[data-name=alpha] .state")).to_have_text("ready")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the fleet needs {width} px: it scrolls sideways on a phone"
    shot(phone, "fleet-phone")
    phone.context.close()


def test_7_the_token_is_in_no_url_the_browser_asked_for_nor_the_log(dash, seen):
    token = dash.token
    assert len(seen.urls) > 20
    assert not [u for u in seen.urls if token in u]
    assert all(u.startswith((dash.url, dash.ui, "data:", "file://")) for u in seen.urls), "loaded from elsewhere"
    assert token not in dash.log.read_text()
    assert not [line for line in seen.console if "Content Security Policy" in line or "page error" in line]


# -- the page's security, over plain HTTP ------------------------------------------------------


def request(dash, method: str, path: str, headers: dict | None = None, body: bytes | None = None):
    """To the dashboard's origin (its name in Host: Python does not resolve *.localhost)."""
    headers = {"Host": dash.ui.split("//", 1)[1], **(headers or {})}
    req = urllib.request.Request(dash.url + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


def sign_in(dash) -> dict[str, str]:
    """The headers of a signed-in browser (cookie and key), as the sign-in link gives them."""
    req = urllib.request.Request(
        dash.login_url().replace(dash.ui, dash.url), headers={"Host": dash.ui.split("//", 1)[1]}
    )
    opener = urllib.request.build_opener(NoRedirect)
    with opener.open(req, timeout=10) as r:
        cookie = r.headers["Set-Cookie"].split(";")[0]
        key = re.search(rb'name="sac-key" content="([^"]+)"', r.read()).group(1).decode()
    return {"Cookie": cookie, "X-Sac-Key": key}


def routes():
    from sac.listen.app import ROUTES

    return [(r.method, r.path.replace("{name}", "alpha")) for r in ROUTES if not r.public]


PAGES = ["/ui/", "/ui/index.html", "/ui/static/app.js", "/ui/static/app.css", "/ui/static/keep.js"]


def test_no_route_answers_without_the_cookie_and_key(dash):
    session = sign_in(dash)
    cookie_only = {"Cookie": session["Cookie"]}
    key_only = {"X-Sac-Key": session["X-Sac-Key"]}
    forged = {"Cookie": session["Cookie"].split("=")[0] + "=forged-forged-forged", "X-Sac-Key": session["X-Sac-Key"]}
    for method, path in routes():
        body = b"{}" if method == "POST" else None
        json_type = {"Content-Type": "application/json"} if body else {}
        assert request(dash, method, path, json_type, body)[0] == 401, path
        for partial in (cookie_only, key_only, forged):
            got = request(dash, method, path, {**partial, **json_type}, body)
            assert got[0] == 403, (path, partial.keys(), got)
    for path in PAGES:
        status, headers, body = request(dash, "GET", path)
        assert status == 401 and b"Sign in to sac" in body and b"alpha" not in body, path
        assert "script-src 'self'" in headers["Content-Security-Policy"]
    # the same with the session: every page and every read answers
    for path in PAGES:
        assert request(dash, "GET", path, session)[0] == 200, path
    assert dash.state("alpha") == "ready"  # none of the refused POSTs stopped it


def test_a_cross_site_post_is_refused_even_with_the_session(dash):
    session = sign_in(dash)
    json_type = {"Content-Type": "application/json"}
    # another user's page on this host (same site: 127.0.0.1, another port), with the cookie
    # and even the key: its Origin gives it away
    for foreign in ({"Origin": "http://127.0.0.1:9999"}, {"Sec-Fetch-Site": "cross-site"}, {"Origin": "null"}):
        got = request(dash, "POST", "/v1/agents/alpha/stop", {**session, **json_type, **foreign}, b"{}")
        assert got[0] == 403, (foreign, got)
    # a name that resolves to 127.0.0.1 (DNS rebinding) is not this page
    # a name that resolves to 127.0.0.1 (DNS rebinding), or 127.0.0.1 itself, is not the page
    for host in ("evil.example:80", dash.url.split("//", 1)[1]):
        assert request(dash, "GET", "/v1/agents", {**session, "Host": host})[0] == 403
        assert request(dash, "GET", "/ui/", {**session, "Host": host})[0] == 401
    assert dash.state("alpha") == "ready"
    # the page's own origin is accepted
    ok = request(
        dash,
        "POST",
        "/v1/agents/alpha/interrupt",
        {**session, **json_type, "Origin": dash.ui},
        b"{}",
    )
    assert ok[0] == 200 and json.loads(ok[2]) == {"ok": True, "interrupted": False}


def test_the_token_is_in_no_answer_and_sign_out_ends_the_session(dash):
    token = dash.token.encode()
    session = sign_in(dash)
    for method, path in routes():
        if method == "GET":
            status, headers, body = request(dash, method, path, session)
            assert status == 200, (path, body[:200])
            assert token not in body and token.decode() not in str(headers), path
    for path in PAGES + ["/ui/login?code=nope"]:
        assert token not in request(dash, "GET", path, session)[2]
    assert token not in dash.log.read_text().encode()

    out = request(dash, "POST", "/ui/logout", {**session, "Origin": dash.ui}, b"")
    assert out[0] == 200 and "Max-Age=0" in out[1]["Set-Cookie"]
    assert request(dash, "GET", "/v1/agents", session)[0] == 403
    assert request(dash, "GET", "/ui/", session)[0] == 401


def test_a_sign_in_link_is_good_once_and_for_two_minutes(dash):
    opener = urllib.request.build_opener(NoRedirect)
    stale = dash.login_url()
    for f in (dash.home / "listen" / "logins").iterdir():  # older than LOGIN_TTL
        os.utime(f, (time.time() - 600, time.time() - 600))
    assert _open_status(opener, stale) == 401
    fresh = dash.login_url()
    assert _open_status(opener, fresh) == 200
    assert _open_status(opener, fresh) == 401  # once
    assert _open_status(opener, fresh.replace("code=", "code=x")) == 401
    assert (dash.home / "listen" / "logins").stat().st_mode & 0o077 == 0
    assert not list((dash.home / "listen" / "logins").iterdir())  # used and stale codes are gone


def _open_status(opener, url: str) -> int:
    origin = url.split("/ui/", 1)[0]
    req = urllib.request.Request(
        url.replace(origin, f"http://127.0.0.1:{origin.rsplit(':', 1)[1]}"), headers={"Host": origin.split("//")[1]}
    )
    try:
        with opener.open(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_sac_listen_open_prints_a_private_file_and_no_code(dash):
    printed = dash.login_file()
    assert printed.startswith("file:///") and "code=" not in printed
    path = Path(urllib.parse.unquote(printed.removeprefix("file://")))
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert f'content="0;url={dash.ui}/ui/login?code=' in path.read_text()
    url = run_sac("listen", "open", "--url", check=True).stdout.strip()
    assert url.startswith(f"{dash.ui}/ui/login?code=")


def test_the_other_loopback_address_is_held_and_leads_to_the_dashboard(dash):
    """The dashboard's name resolves to ::1 as well (Chromium tries it first): sac listen
    holds [::1]:PORT itself, so nobody else can listen there."""
    port = int(dash.url.rsplit(":", 1)[1])
    if not socket.has_ipv6 or not Path("/proc/net/if_inet6").exists():
        pytest.skip("no IPv6 on this machine: ::1 cannot be taken by anyone")
    with socket.create_connection(("::1", port), timeout=10) as c:
        c.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {dash.ui.split('//')[1]}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := c.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b'"ok":true' in answer
    squatter = socket.socket(socket.AF_INET6)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with pytest.raises(OSError) as taken:
        squatter.bind(("::1", port))
        squatter.listen()
    squatter.close()
    assert taken.value.errno == 98  # EADDRINUSE


def test_sac_listen_will_not_start_while_another_program_holds_the_other_loopback_address(dash):
    if not Path("/proc/net/if_inet6").exists():
        pytest.skip("no IPv6 on this machine")
    with socket.socket(socket.AF_INET6) as squatter:
        squatter.bind(("::1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with socket.socket() as free:  # the same port on 127.0.0.1 is free
            free.bind(("127.0.0.1", port))
        done = run_sac("listen", "--bind", f"127.0.0.1:{port}", env={"SAC_HOME": str(dash.home.parent / "other-home")})
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on [::1]:{port} too" in done.stderr and "Traceback" not in done.stderr


def test_z_each_start_of_sac_listen_is_a_new_origin_and_ends_every_session(dash):
    """Last: it restarts the control plane. Nothing planted in an earlier origin (a cached
    script, a service worker, a cookie) can reach the next one."""
    session = sign_in(dash)
    before = dash.ui
    run_sac("listen", "restart", "--bind", dash.url.split("//", 1)[1], check=True)
    wait_for(lambda: _answers(dash.url), timeout=30, what="sac listen again")
    assert dash.ui != before and re.fullmatch(r"http://sac-[0-9a-f]{16}\.localhost:\d+", dash.ui)
    assert request(dash, "GET", "/v1/agents", session)[0] == 403
    assert request(dash, "GET", "/v1/agents", {**session, "Host": before.split("//", 1)[1]})[0] == 403
