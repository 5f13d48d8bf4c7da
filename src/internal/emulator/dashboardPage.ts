/**
 * The dashboard page: one HTML document with its style and script inline, so that it works
 * offline and loads nothing from anywhere. It reads `/_dashboard/state`, listens to
 * `/_dashboard/events` to refresh itself, and acts through `/_dashboard/action`.
 *
 * The script builds every element with `textContent`, never `innerHTML`: task bodies and
 * headers are shown as text, whatever they contain.
 *
 * @internal
 */

const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5d6675; --line: #dde1e7; --bg: #f6f7f9; --card: #fff;
  --ok: #137333; --bad: #b3261e; --warn: #a15c00; --info: #1a56c4; --idle: #5d6675; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: baseline; gap: 16px; padding: 14px 24px; background: #1d2330; color: #fff; }
header h1 { margin: 0; font-size: 18px; font-weight: 600; }
header .live { font-size: 12px; color: #b9c2d0; }
header .live.on::before { content: "●"; color: #4cd07d; margin-right: 6px; }
main { padding: 20px 24px; max-width: 1400px; }
h2 { font-size: 15px; margin: 22px 0 10px; }
.queues { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
.card .name { font-family: ui-monospace, monospace; font-size: 12.5px; word-break: break-all; }
.settings { color: var(--muted); font-size: 12px; margin: 6px 0; }
.counts { display: flex; flex-wrap: wrap; gap: 6px; margin: 8px 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; background: #eef0f3; color: var(--idle); }
.badge.RUNNING, .badge.succeeded { background: #e3f3e8; color: var(--ok); }
.badge.PAUSED, .badge.retrying { background: #fdf0dc; color: var(--warn); }
.badge.exhausted, .badge.dropped { background: #fbe3e1; color: var(--bad); }
.badge.running, .badge.due { background: #e4ecfb; color: var(--info); }
button { font: inherit; font-size: 12.5px; padding: 3px 10px; border: 1px solid var(--line); border-radius: 6px; background: #fff; cursor: pointer; }
button:hover { background: #eef0f3; }
button.danger { color: var(--bad); }
.filters { display: flex; gap: 6px; flex-wrap: wrap; margin-bottom: 8px; }
.filters button.active { background: #1d2330; color: #fff; border-color: #1d2330; }
table { width: 100%; border-collapse: collapse; background: var(--card); border: 1px solid var(--line); border-radius: 8px; }
th, td { text-align: left; padding: 7px 10px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
tr.task { cursor: pointer; }
tr.task:hover { background: #fafbfc; }
td.mono, .mono { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
td.actions { white-space: nowrap; }
.details { background: #fafbfc; }
.attempt { border-left: 3px solid var(--line); padding: 6px 10px; margin: 8px 0; }
.attempt.ok { border-color: var(--ok); } .attempt.fail { border-color: var(--bad); }
.attempt .head { font-weight: 600; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 12px; margin: 6px 0; }
.kv .k { color: var(--muted); font-family: ui-monospace, monospace; }
pre { margin: 6px 0; padding: 8px; background: #fff; border: 1px solid var(--line); border-radius: 6px; font-size: 12px; white-space: pre-wrap; word-break: break-all; max-height: 240px; overflow: auto; }
pre.detail { border-color: #f0c8c4; background: #fdf5f4; color: var(--bad); }
.empty { color: var(--muted); padding: 16px; text-align: center; }
.error { color: var(--bad); margin: 8px 0; }
`

const SCRIPT = `
"use strict";
var STATES = ["scheduled", "due", "running", "retrying", "succeeded", "dropped", "exhausted", "deleted"];
var state = { queues: [], tasks: [] };
var filter = "all";
var open = {};

function el(tag, attrs, children) {
  var node = document.createElement(tag);
  Object.keys(attrs || {}).forEach(function (key) {
    if (key === "text") node.textContent = attrs[key];
    else if (key === "onclick") node.addEventListener("click", attrs[key]);
    else node.setAttribute(key, attrs[key]);
  });
  (children || []).forEach(function (child) { if (child) node.appendChild(child); });
  return node;
}
function shortName(name) { return name.slice(name.lastIndexOf("/") + 1); }
function time(iso) { return iso ? new Date(iso).toLocaleTimeString() : ""; }
function ms(value) { return value >= 1000 ? (value / 1000) + " s" : value + " ms"; }
function limit(value) { return value === null ? "unlimited" : String(value); }
function showError(message) { document.getElementById("error").textContent = message || ""; }

function act(op, name) {
  return fetch("/_dashboard/action?op=" + op + "&name=" + encodeURIComponent(name), { method: "POST" })
    .then(function (response) {
      if (response.ok) { showError(""); return refresh(); }
      return response.json().then(function (body) { showError(body.error ? body.error.message : response.statusText); });
    });
}
function action(label, op, name, danger) {
  return el("button", { text: label, "data-action": label.toLowerCase().replace(/ /g, "-"), class: danger ? "danger" : "",
    onclick: function (event) { event.stopPropagation(); act(op, name); } });
}

function kv(pairs) {
  var grid = el("div", { class: "kv" });
  pairs.forEach(function (pair) {
    grid.appendChild(el("div", { class: "k", text: pair[0] }));
    grid.appendChild(el("div", { class: "mono", text: pair[1] }));
  });
  return grid;
}
function bodyBlock(body) {
  if (body.bytes === 0) return el("div", { class: "settings", text: "no body" });
  var note = body.bytes + " bytes" + (body.encoding === "base64" ? ", binary, shown as base64" : "") + (body.truncated ? ", preview" : "");
  return el("div", {}, [el("div", { class: "settings", text: "Body (" + note + ")" }), el("pre", { class: "body", text: body.preview })]);
}

function renderQueues() {
  var box = document.getElementById("queues");
  box.replaceChildren();
  if (state.queues.length === 0) box.appendChild(el("div", { class: "empty", text: "No queues yet." }));
  state.queues.forEach(function (queue) {
    var retry = queue.retryConfig, rate = queue.rateLimits;
    var counts = el("div", { class: "counts" }, STATES.map(function (s) {
      return el("span", { class: "badge " + s, "data-count": s, text: s + " " + queue.counts[s] });
    }));
    box.appendChild(el("div", { class: "card queue", "data-queue": queue.name }, [
      el("div", {}, [el("span", { class: "badge " + queue.state, "data-queue-state": "", text: queue.state }), document.createTextNode(" "),
        el("span", { class: "name", text: queue.name })]),
      el("div", { class: "settings", text: limit(rate.maxDispatchesPerSecond) + " dispatches/s, " + limit(rate.maxConcurrentDispatches) +
        " concurrent; " + (retry.maxAttempts < 0 ? "unlimited" : retry.maxAttempts) + " attempts, backoff " + ms(retry.minBackoffMs) +
        " to " + ms(retry.maxBackoffMs) + ", " + retry.maxDoublings + " doublings" +
        (retry.maxRetryDurationMs > 0 ? ", retry for " + ms(retry.maxRetryDurationMs) : "") }),
      counts,
      el("div", {}, [
        queue.state === "PAUSED" ? action("Resume", "resume", queue.name) : action("Pause", "pause", queue.name),
        document.createTextNode(" "),
        action("Purge", "purge", queue.name, true)
      ])
    ]));
  });
}

function renderFilters() {
  var box = document.getElementById("filters");
  box.replaceChildren();
  ["all"].concat(STATES).forEach(function (s) {
    var count = s === "all" ? state.tasks.length : state.tasks.filter(function (t) { return t.state === s; }).length;
    box.appendChild(el("button", { class: s === filter ? "active" : "", "data-filter": s, text: s + " (" + count + ")",
      onclick: function () { filter = s; render(); } }));
  });
}

function attemptBlock(attempt) {
  var outcome = attempt.status !== null ? "HTTP " + attempt.status : attempt.error;
  return el("div", { class: "attempt " + (attempt.succeeded ? "ok" : "fail"), "data-attempt": String(attempt.attempt) }, [
    el("div", { class: "head", text: "Attempt " + attempt.attempt + ": " + outcome }),
    el("div", { class: "settings", text: attempt.method + " " + attempt.url + " at " + time(attempt.startedAt) + ", " + ms(attempt.durationMs) }),
    attempt.detail === null ? null : el("pre", { class: "detail", "data-detail": "", text: attempt.detail }),
    kv(attempt.headers),
    bodyBlock(attempt.body)
  ]);
}

function renderTasks() {
  var body = document.getElementById("tasks");
  body.replaceChildren();
  var shown = state.tasks.filter(function (t) { return filter === "all" || t.state === filter; });
  if (shown.length === 0) body.appendChild(el("tr", {}, [el("td", { colspan: "7", class: "empty", text: "No tasks." })]));
  shown.forEach(function (task) {
    var last = task.attempts[task.attempts.length - 1];
    var finished = ["succeeded", "dropped", "exhausted", "deleted"].indexOf(task.state) >= 0;
    var actions = finished
      ? [action("Replay", "replay", task.name)]
      : [action("Run now", "run", task.name), document.createTextNode(" "), action("Delete", "delete", task.name, true)];
    var row = el("tr", { class: "task", "data-task": task.name, "data-state": task.state, onclick: function () {
      open[task.name] = !open[task.name]; render();
    } }, [
      el("td", { class: "mono", text: task.id }),
      el("td", { class: "mono", text: shortName(task.queue) }),
      el("td", {}, [el("span", { class: "badge " + task.state, "data-task-state": "", text: task.state })]),
      el("td", { text: String(task.attempts.length) }),
      el("td", { "data-last-status": "", text: last ? (last.status !== null ? String(last.status) : "no response") : "" }),
      el("td", { class: "mono", text: task.method + " " + task.url }),
      el("td", { class: "actions" }, actions)
    ]);
    body.appendChild(row);
    if (open[task.name]) {
      body.appendChild(el("tr", { class: "details", "data-details": task.name }, [el("td", { colspan: "7" }, [
        kv([["name", task.name], ["target", task.target], ["created", task.createTime], ["scheduled", task.scheduleTime],
          ["deadline", ms(task.dispatchDeadlineMs)]].concat(task.finishedAt ? [["finished", task.result + " at " + task.finishedAt]] : [])),
        el("div", { class: "settings", text: "Stored headers" }),
        kv(task.headers),
        bodyBlock(task.body),
        el("div", {}, task.attempts.length === 0 ? [el("div", { class: "settings", text: "No attempt yet." })] : task.attempts.map(attemptBlock))
      ])]));
    }
  });
}

function render() { renderQueues(); renderFilters(); renderTasks(); }

function refresh() {
  return fetch("/_dashboard/state", { cache: "no-store" })
    .then(function (response) { return response.json(); })
    .then(function (next) { state = next; render(); document.body.setAttribute("data-loaded", "true"); })
    .catch(function (error) { showError("Cannot reach the server: " + error.message); });
}

var events = new EventSource("/_dashboard/events");
events.addEventListener("change", refresh);
events.addEventListener("open", function () { document.getElementById("live").className = "live on"; refresh(); });
events.addEventListener("error", function () { document.getElementById("live").className = "live"; });
refresh();
`

const escapeHtml = (text: string) =>
  text.replace(/[&<>"]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : c === ">" ? "&gt;" : "&quot;"))

/** The page served at `/`, titled `title`. */
export const dashboardPage = (title: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><span id="live" class="live">live</span></header>
<main>
<div id="error" class="error" role="alert"></div>
<h2>Queues</h2>
<div id="queues" class="queues"></div>
<h2>Tasks</h2>
<div id="filters" class="filters"></div>
<table>
<thead><tr><th>Task</th><th>Queue</th><th>State</th><th>Attempts</th><th>Last status</th><th>Request</th><th></th></tr></thead>
<tbody id="tasks"></tbody>
</table>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`
