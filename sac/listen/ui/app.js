// The sac dashboard: the fleet, and one agent's page. Plain JavaScript, no library and no
// build step, so the pyz serves it as it is, air-gapped. Every byte of data comes from the
// control plane's own /v1/ routes, with the session's cookie and key (sac/listen/web.py).
"use strict";

const KEY = localStorage.getItem("sac-key") || "";
const POLL_FLEET_MS = 1500;
const POLL_EVENTS_MS = 700;
const POLL_EVENTS_BUSY_MS = 250;

// -- talking to the control plane ---------------------------------------------------------

// path -> [etag, data, when it came]: an unchanged answer is a 304, no body. (The ETag leaves
// out uptimes; `age` says how old the kept answer is, and uptimes are counted on by it.)
const etags = new Map();

class SignedOut extends Error {}

async function api(method, path, body) {
  const headers = { "X-Sac-Key": KEY };
  const cached = method === "GET" ? etags.get(path) : undefined;
  if (cached) headers["If-None-Match"] = cached[0];
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  heard();
  if (r.status === 401 || r.status === 403) throw new SignedOut();
  if (r.status === 304 && cached) return { data: cached[1], changed: false, age: (Date.now() - cached[2]) / 1000 };
  const data = await r.json().catch(() => null);
  if (!r.ok) {
    const err = new Error((data && data.error) || `HTTP ${r.status}`);
    err.status = r.status;
    err.data = data;
    throw err;
  }
  const etag = r.headers.get("ETag");
  if (method === "GET" && etag) etags.set(path, [etag, data, Date.now()]);
  return { data, changed: true, age: 0 };
}

const get = async (path) => (await api("GET", path)).data;
const post = (path, body) => api("POST", path, body || {});
const agentPath = (name, rest) => `/v1/agents/${encodeURIComponent(name)}${rest || ""}`;

function heard() {
  const live = document.getElementById("live");
  live.textContent = "live";
  live.dataset.at = Date.now();
}

setInterval(() => {
  const live = document.getElementById("live");
  if (live.dataset.at && Date.now() - live.dataset.at > 10000) live.textContent = "not answering";
}, 2000);

function signedOut() {
  stopTimers();
  const main = document.getElementById("main");
  main.replaceChildren(
    el("h1", { id: "signin" }, "Sign in to sac"),
    el("p", {}, "This page's session is over (or it never had one). On this machine, run"),
    el("p", {}, el("code", {}, "sac listen open")),
    el("p", {}, "and open the link it prints."),
  );
}

// -- small DOM helpers ---------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : String(c));
  return node;
}

function toast(text, bad) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = bad ? "show bad" : "show";
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => (t.className = ""), bad ? 8000 : 3000);
}

function confirmAction(text, ok) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = ok;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    document.getElementById("confirm-cancel").focus();
  });
}

const money = (usd) => (usd ? `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}` : "$0");
const tokens = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(n));

// an uptime as of `age` seconds after its answer came
const uptime = (r, age) => (r.uptime_s === null || r.uptime_s === undefined ? "" : ago(r.uptime_s + (age || 0)));

function ago(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

const SOURCES = { send: "sac agents send", listen: "sac listen (this page, or the API)", startup: "startup prompt", a2a: "A2A" };
const GOOD = new Set(["ready"]);
const BUSY = new Set(["busy", "starting", "stopping"]);
const BAD = new Set(["failed", "dead", "unresponsive", "unhealthy", "unknown", "unreachable"]);
const LIVE = new Set(["ready", "busy", "starting", "unresponsive", "unhealthy", "unknown"]);

function badge(state) {
  const kind = GOOD.has(state) ? "good" : BUSY.has(state) ? "busy" : BAD.has(state) ? "bad" : "off";
  return el("span", { class: `state ${kind}`, "data-state": state }, state);
}

// -- timers: each view owns its own, all cleared on leaving it ------------------------------

let timers = [];
function every(ms, fn) {
  let stopped = false;
  const run = async () => {
    if (stopped) return;
    try {
      await fn();
    } catch (e) {
      if (e instanceof SignedOut) return signedOut();
      document.getElementById("live").textContent = "not answering";
    }
    if (!stopped) handle.id = setTimeout(run, typeof ms === "function" ? ms() : ms);
  };
  const handle = { id: 0, stop: () => ((stopped = true), clearTimeout(handle.id)) };
  timers.push(handle);
  run();
  return handle;
}
function stopTimers() {
  timers.forEach((t) => t.stop());
  timers = [];
}

// -- actions (start/stop/restart), with a confirmation for the destructive ones ------------

async function act(name, action) {
  if (action !== "start") {
    const what = action === "stop" ? "Stop" : "Restart";
    if (!(await confirmAction(`${what} ${name}? A turn in progress is cut short.`, `${what} ${name}`))) return;
  }
  toast(`${action} ${name}…`);
  try {
    const { data } = await post(agentPath(name, `/${action}`));
    toast(`${name}: ${data.message || "done"}`, !data.ok);
  } catch (e) {
    if (e instanceof SignedOut) return signedOut();
    toast(`${action} ${name}: ${e.message}`, true);
  }
  refresh();
}

function actionButtons(name, state) {
  const live = LIVE.has(state);
  return el(
    "span",
    { class: "actions" },
    live ? null : el("button", { type: "button", "data-action": "start", onclick: () => act(name, "start") }, "Start"),
    live
      ? el("button", { type: "button", class: "danger", "data-action": "stop", onclick: () => act(name, "stop") }, "Stop")
      : null,
    el("button", { type: "button", "data-action": "restart", onclick: () => act(name, "restart") }, "Restart"),
  );
}

let refresh = () => {};

// -- the fleet ------------------------------------------------------------------------------

function matches(row, labels, terms) {
  if (!terms.length) return true;
  const l = labels.get(row.name) || { labels: {}, description: "" };
  const words = [row.name, row.state, row.runtime || "", row.host || "", l.description || ""];
  for (const [k, v] of Object.entries(l.labels || {})) {
    for (const w of Array.isArray(v) ? v : [v]) words.push(`${k}=${w}`, String(w));
  }
  const hay = words.map((w) => String(w).toLowerCase());
  return terms.every((t) => hay.some((w) => w === t || w.includes(t)));
}

function fleetView() {
  const filter = el("input", {
    type: "search",
    id: "filter",
    placeholder: "filter: name, label (team=x), capability",
    "aria-label": "filter agents by name, label or capability",
    value: sessionStorage.getItem("sac-filter") || "",
  });
  const summary = el("p", { class: "muted", id: "summary" });
  const body = el("tbody", { id: "fleet" });
  const headings = ["Agent", "State", "Runtime", "Isolation", "Host / node", "Uptime", "Restarts", "Turns", "Cost", "Last error", ""];
  const table = el("table", { class: "fleet" }, el("thead", {}, el("tr", {}, headings.map((h) => el("th", { scope: "col" }, h)))), body);
  document.getElementById("main").replaceChildren(el("h1", {}, "Fleet"), el("div", { class: "bar" }, filter, summary), table);
  document.getElementById("where").textContent = "";

  let rows = [];
  let age = 0;
  let labels = new Map();
  let remote = { hosts: [], agents: [] }; // the agents on `sac host`s, read-only here
  const draw = () => {
    const terms = filter.value.toLowerCase().split(/\s+/).filter(Boolean);
    const there = remote.agents.map((r) => ({ ...r, host: r.fleet_host, remote: true }));
    const all = [...rows, ...there];
    const shown = all.filter((r) => matches(r, labels, terms));
    const live = all.filter((r) => LIVE.has(r.state)).length;
    const down = remote.hosts.filter((h) => !h.reachable);
    summary.textContent =
      `${all.length} agents, ${live} live` +
      (remote.hosts.length ? ` · ${remote.hosts.length} hosts${down.length ? `, ${down.length} unreachable` : ""}` : "") +
      (shown.length !== all.length ? ` · ${shown.length} shown` : "");
    const focused = document.activeElement && document.activeElement.closest("tr[data-name]");
    const keep = focused ? [focused.dataset.name, document.activeElement.dataset.action] : null;
    body.replaceChildren(
      ...shown.map((r) =>
        el(
          "tr",
          { "data-name": r.remote ? `${r.name}@${r.host}` : r.name, class: r.remote ? "remote" : null },
          el("td", { "data-label": "Agent" }, r.remote ? `${r.name}@${r.host}` : el("a", { href: `#/agent/${encodeURIComponent(r.name)}` }, r.name)),
          el("td", { "data-label": "State" }, badge(r.state), r.job_state ? el("small", {}, ` ${r.job_state}`) : null),
          el("td", { "data-label": "Runtime" }, r.runtime || ""),
          el("td", { "data-label": "Isolation" }, r.isolation || ""),
          el("td", { "data-label": "Host" }, [r.host, r.placement && r.job_id ? `${r.placement} ${r.job_id}` : null].filter(Boolean).join(" · ")),
          el("td", { "data-label": "Uptime" }, uptime(r, r.remote ? 0 : age)),
          el("td", { "data-label": "Restarts", class: "num" }, r.restarts),
          el("td", { "data-label": "Turns", class: "num" }, r.turns),
          el("td", { "data-label": "Cost", class: "num" }, money(r.cost_usd)),
          el("td", { "data-label": "Last error", class: "error", title: r.last_error || "" }, r.last_error || ""),
          el("td", {}, r.remote ? el("small", { class: "muted" }, `sac agents … ${r.name}@${r.host}`) : actionButtons(r.name, r.state)),
        ),
      ),
      ...down.map((h) =>
        el(
          "tr",
          { "data-host": h.name, class: "remote" },
          el("td", { "data-label": "Host" }, h.name),
          el("td", { "data-label": "State" }, badge("unreachable")),
          el("td", { colspan: 9, class: "error", "data-label": "Why" }, h.error || ""),
        ),
      ),
    );
    if (keep) {
      const again = body.querySelector(`tr[data-name="${CSS.escape(keep[0])}"] [data-action="${keep[1]}"]`);
      if (again) again.focus();
    }
  };
  filter.addEventListener("input", () => {
    sessionStorage.setItem("sac-filter", filter.value);
    draw();
  });
  const poll = async () => {
    const got = await api("GET", "/v1/agents");
    rows = got.data;
    age = got.age;
    draw(); // even unchanged: the uptimes count on
  };
  every(POLL_FLEET_MS, poll);
  every(10000, async () => {
    const got = await api("GET", "/v1/hosts");
    if (got.changed) {
      remote = got.data;
      draw();
    }
  });
  every(10000, async () => {
    const got = await api("GET", "/v1/labels");
    if (got.changed) {
      labels = new Map(got.data.map((l) => [l.name, l]));
      draw();
    }
  });
  refresh = () => poll().catch(() => {});
}

// -- one agent --------------------------------------------------------------------------------

function agentView(name) {
  const main = document.getElementById("main");
  // this view's elements, held here: a poll that lands after leaving the view draws into
  // them, detached, harmlessly
  const stateEl = el("span", { id: "agent-state" });
  const actionsEl = el("span", { id: "agent-actions" });
  const healthEl = el("div", { id: "health" });
  const chartsEl = el("div", { id: "charts" });
  const cardEl = el("div", { id: "card" });
  const specEl = el("pre", { id: "spec", class: "spec" });
  let logEl = el("ol", { class: "events", id: "health-log" });
  const head = el("div", { class: "agent-head" }, el("h1", {}, name), stateEl, actionsEl);
  const transcript = el("div", { id: "transcript", class: "transcript", "aria-live": "polite" });
  const input = el("textarea", {
    id: "prompt",
    rows: 3,
    placeholder: "Send a turn (Enter sends, Shift+Enter for a new line, Esc interrupts)",
    "aria-label": "prompt",
  });
  const sendButton = el("button", { type: "submit", id: "send" }, "Send");
  const stopButton = el("button", { type: "button", id: "interrupt", class: "danger", disabled: true, title: "Esc" }, "Interrupt");
  const form = el("form", { id: "send-form", class: "send" }, input, el("div", { class: "buttons" }, stopButton, sendButton));
  const side = el(
    "aside",
    { class: "side" },
    el("section", {}, el("h2", {}, "Health"), healthEl),
    el("section", {}, el("h2", {}, "Usage"), chartsEl),
    el("section", {}, el("h2", {}, "Card"), cardEl),
    el("section", {}, el("h2", {}, "Spec"), specEl),
  );
  main.replaceChildren(
    el("p", { class: "crumbs" }, el("a", { href: "#/" }, "← Fleet")),
    head,
    el("div", { class: "agent" }, el("section", { class: "talk" }, transcript, form), side),
  );
  document.getElementById("where").textContent = name;

  let offset = -1;
  let turnInFlight = false;
  let status = null;
  let statusAge = 0;
  const tools = new Map(); // tool_use id -> its <details>
  const replies = new Map(); // turn -> the reply's element

  const nearBottom = () => transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80;
  const add = (node) => {
    const stick = nearBottom();
    transcript.append(node);
    if (stick) transcript.scrollTop = transcript.scrollHeight;
  };
  const replyOf = (turn) => {
    if (!replies.has(turn)) {
      const r = el("div", { class: "msg reply", "data-turn": turn });
      replies.set(turn, r);
      add(r);
    }
    return replies.get(turn);
  };
  const short = (v) => {
    const s = typeof v === "string" ? v : JSON.stringify(v, null, 1);
    return s.length > 4000 ? s.slice(0, 4000) + " …" : s;
  };
  const show = (ev) => {
    switch (ev.type) {
      case "prompt":
        add(el("div", { class: "msg prompt", "data-turn": ev.turn }, el("span", { class: "who" }, SOURCES[ev.source] || ev.source), ev.text));
        break;
      case "text":
        replyOf(ev.turn).append(el("p", {}, ev.text));
        if (nearBottom()) transcript.scrollTop = transcript.scrollHeight;
        break;
      case "tool_use": {
        const d = el("details", { class: "tool" }, el("summary", {}, `tool: ${ev.name}`), el("pre", {}, short(ev.input)));
        if (ev.id) tools.set(ev.id, d);
        replyOf(ev.turn).append(d);
        break;
      }
      case "tool_result": {
        const into = tools.get(ev.id);
        const r = el("pre", { class: ev.is_error ? "result bad" : "result" }, short(ev.content));
        if (into) into.append(el("div", { class: "muted" }, ev.is_error ? "error:" : "result:"), r);
        else replyOf(ev.turn).append(el("details", { class: "tool" }, el("summary", {}, "tool result"), r));
        break;
      }
      case "result":
        replyOf(ev.turn).append(
          el(
            "div",
            { class: ev.ok ? "meta" : "meta bad" },
            `turn ${ev.turn} · ${ev.ok ? "done" : ev.error || "failed"} · ${(ev.duration_ms / 1000).toFixed(1)} s · ${tokens(ev.input_tokens)} in / ${tokens(ev.output_tokens)} out · ${money(ev.cost_usd)}`,
          ),
        );
        history();
        break;
      case "error":
        add(el("div", { class: "msg note bad" }, `error${ev.turn ? ` in turn ${ev.turn}` : ""}: ${ev.error}`));
        break;
      case "interrupt":
        add(el("div", { class: "msg note", "data-kind": "interrupt" }, `turn ${ev.turn} was interrupted`));
        break;
      case "restart":
        add(el("div", { class: "msg note" }, `the CLI was restarted (attempt ${ev.attempt})`));
        break;
      default:
        add(el("div", { class: "msg note" }, short(ev)));
    }
  };

  const drawStatus = () => {
    if (!status) return;
    stateEl.replaceChildren(badge(status.state));
    actionsEl.replaceChildren(actionButtons(name, status.state));
    const busy = status.state === "busy" || turnInFlight;
    stopButton.disabled = !busy;
    const facts = [
      ["runtime", `${status.runtime || "?"}${status.isolation ? ` (${status.isolation})` : ""}`],
      ["host", [status.host, status.placement && `${status.placement} ${status.job_id || ""}`].filter(Boolean).join(" · ")],
      ["uptime", uptime(status, statusAge)],
      ["restarts", status.restarts],
      ["turns", status.turns],
      ["cost", `${money(status.cost_usd)} · ${tokens(status.input_tokens)} in / ${tokens(status.output_tokens)} out`],
      ["session", status.session_id || ""],
      ["last error", status.last_error || "none"],
    ];
    const dl = el("dl", { class: "facts" }, facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, String(v ?? ""))]));
    healthEl.replaceChildren(dl, logEl);
  };

  const history = async () => {
    const { data } = await api("GET", agentPath(name, "/history"));
    const log = el("ol", { class: "events", id: "health-log" });
    for (const e of data.health.slice(-20).reverse()) {
      log.append(el("li", { class: e.kind }, el("time", {}, new Date(e.ts * 1000).toLocaleString()), ` ${e.kind}: ${e.text}`));
    }
    if (!data.health.length) log.append(el("li", { class: "muted" }, "no restarts, errors or interrupts"));
    if (logEl.parentNode) logEl.replaceWith(log);
    else healthEl.append(log);
    logEl = log;
    chartsEl.replaceChildren(...charts(data.turns));
  };

  const pollEvents = async () => {
    const q = offset < 0 ? "?n=300" : `?after=${offset}`;
    const { data } = await api("GET", agentPath(name, `/events${q}`));
    if (offset >= 0 && data.offset < offset) {
      transcript.replaceChildren(); // a new transcript
      replies.clear();
      tools.clear();
    }
    offset = data.offset;
    data.events.forEach(show);
  };
  const pollStatus = async () => {
    const got = await api("GET", agentPath(name));
    status = got.data;
    statusAge = got.age;
    drawStatus();
  };

  const interrupt = async () => {
    if (stopButton.disabled) return;
    try {
      const { data } = await post(agentPath(name, "/interrupt"));
      toast(data.interrupted ? "interrupted" : "no turn was running");
    } catch (e) {
      if (e instanceof SignedOut) return signedOut();
      toast(`interrupt: ${e.message}`, true);
    }
  };
  stopButton.addEventListener("click", interrupt);
  const onKey = (e) => {
    if (e.key === "Escape" && !document.getElementById("confirm").open && !stopButton.disabled) {
      e.preventDefault();
      interrupt();
    }
  };
  document.addEventListener("keydown", onKey);
  timers.push({ stop: () => document.removeEventListener("keydown", onKey) });

  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim() || turnInFlight) return;
    turnInFlight = true;
    sendButton.disabled = true;
    stopButton.disabled = false;
    input.value = "";
    try {
      await post(agentPath(name, "/send"), { text });
    } catch (err) {
      if (err instanceof SignedOut) return signedOut();
      toast(`${name}: ${err.message}`, true);
    } finally {
      turnInFlight = false;
      sendButton.disabled = false;
      drawStatus();
      input.focus();
    }
  });

  every(() => (turnInFlight || (status && status.state === "busy") ? POLL_EVENTS_BUSY_MS : POLL_EVENTS_MS), pollEvents);
  every(POLL_FLEET_MS, pollStatus);
  every(30000, history);
  get(agentPath(name, "/card"))
    .then((card) => cardEl.replaceChildren(cardView(card)))
    .catch(() => {});
  get(agentPath(name, "/spec"))
    .then((spec) => {
      specEl.textContent = spec.text;
      specEl.title = spec.path;
    })
    .catch((e) => (specEl.textContent = e.message));
  refresh = () => pollStatus().catch(() => {});
  input.focus();
}

function cardView(card) {
  const skills = (card.skills || []).map((s) => el("li", {}, s.name || s.id));
  const iso = card.isolation || {};
  return el(
    "div",
    {},
    el("p", {}, card.description || ""),
    skills.length ? el("ul", { class: "skills" }, skills) : el("p", { class: "muted" }, "no skills listed"),
    iso.level ? el("p", { class: "muted" }, `isolation: ${iso.level}${iso.runtime ? ` on ${iso.runtime}` : ""}`) : null,
    Object.entries(card.urls || {}).map(([k, v]) => el("p", { class: "muted" }, `${k}: ${v}`)),
  );
}

// -- charts: turns, tokens and cost over time, as plain SVG ---------------------------------

function charts(turns) {
  if (!turns.length) return [el("p", { class: "muted" }, "no turns yet")];
  let cost = 0;
  const cumulative = turns.map((t) => (cost += t.cost_usd));
  return [
    chart("Turns over time", turns.map((t, i) => [t.ts, i + 1]), "line", String),
    chart("Tokens per turn (in + out)", turns.map((t) => [t.ts, t.input_tokens + t.output_tokens]), "bars", tokens),
    chart("Cost, cumulative", turns.map((t, i) => [t.ts, cumulative[i]]), "line", money),
  ];
}

function chart(title, points, kind, fmt) {
  const W = 300,
    H = 90,
    P = 10;
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const x0 = Math.min(...xs),
    x1 = Math.max(...xs),
    y1 = Math.max(...ys, 1e-9);
  const X = (x) => (x1 === x0 ? W / 2 : P + ((x - x0) / (x1 - x0)) * (W - 2 * P));
  const Y = (y) => H - P - (y / y1) * (H - 2 * P);
  const g = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: `chart ${kind}`, role: "img", "aria-label": `${title}: latest ${fmt(ys[ys.length - 1])}` });
  g.append(svg("line", { x1: 0, y1: H - P, x2: W, y2: H - P, class: "axis" }));
  if (kind === "bars") {
    const w = Math.max(2, Math.min(16, (W - 2 * P) / points.length - 2));
    points.forEach(([x, y]) => g.append(svg("rect", { x: X(x) - w / 2, y: Y(y), width: w, height: H - P - Y(y) }, svg("title", {}, fmt(y)))));
  } else {
    g.append(svg("polyline", { points: points.map(([x, y]) => `${X(x)},${Y(y)}`).join(" ") }));
    points.forEach(([x, y]) => g.append(svg("circle", { cx: X(x), cy: Y(y), r: 2.5 }, svg("title", {}, fmt(y)))));
  }
  return el("figure", { class: "chart" }, el("figcaption", {}, title, el("span", { class: "muted" }, ` · ${fmt(ys[ys.length - 1])}`)), g);
}

// -- the router: #/ is the fleet, #/agent/NAME an agent --------------------------------------

function route() {
  stopTimers();
  refresh = () => {};
  const m = location.hash.match(/^#\/agent\/(.+)$/);
  if (m) agentView(decodeURIComponent(m[1]));
  else fleetView();
  document.getElementById("main").focus({ preventScroll: true });
}

document.getElementById("signout").addEventListener("click", async () => {
  try {
    await fetch("/ui/logout", { method: "POST", headers: { "X-Sac-Key": KEY }, credentials: "same-origin" });
  } finally {
    localStorage.removeItem("sac-key");
    signedOut();
  }
});

document.addEventListener("keydown", (e) => {
  // "/" jumps to the fleet's filter, as in many web tools
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement;
  if (e.key === "/" && !typing && document.getElementById("filter")) {
    e.preventDefault();
    document.getElementById("filter").focus();
  }
});

window.addEventListener("hashchange", route);
if (!KEY) signedOut();
else route();
